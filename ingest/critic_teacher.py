"""The teacher scores a triple: log p(tail | the teacher's own prompt) and a PMI-style contrast with the event left out.

A teacher run records, for each tail it wrote, the sum of its token log-probabilities under its own prompt
(`provenance["logprob"]`); this computes the same figure for any triple (a student's generation, a graph
triple), with the same prompt (`ingest.prompts`: the relation's instruction, five few-shot examples chosen
for the event, and the event's sentence cut before the tail) and the same ending (the tail, then the
period that ends every example line). On the bundled judged SmolLM2 rows it reproduces the recorded
log-probabilities to 0.01.

The contrast: the same prompt with the event replaced by a neutral one (`NEUTRAL_EVENT`, fixed few-shot
examples), so log p(tail | event, relation) - log p(tail | relation) says how much the event itself makes the
tail likely (a generic "to relax" scores high under both). Its prompt is one per relation, so its key/value
cache is computed once and every tail of that relation only pays for its own tokens.

Both need a forward pass of a 135M-parameter language model per triple: a few triples per second on a
2-core CPU (README, the critic section), so this is an opt-in feature, not the default critic's.
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["NEUTRAL_EVENT", "TeacherScorer"]

#: what stands for the event in the contrast prompt
NEUTRAL_EVENT = "PersonX does something"
#: few-shot examples per prompt, as `skd generate inferences` uses by default
EXAMPLES_PER_PROMPT = 5


def _repeat_cache(past: Any, rows: int) -> Any:
    """A fresh copy of a one-row key/value cache, repeated for `rows` rows (the forward pass extends it)."""
    from transformers import DynamicCache

    layers = getattr(past, "layers", None)
    if layers is None:  # another cache layout: the slow generic copy
        cache = copy.deepcopy(past)
        cache.batch_repeat_interleave(rows)
        return cache
    cache = DynamicCache()
    for i, layer in enumerate(layers):
        cache.update(
            layer.keys.expand(rows, -1, -1, -1).contiguous(), layer.values.expand(rows, -1, -1, -1).contiguous(), i
        )
    return cache


class TeacherScorer:
    """Log-probabilities of tails under a causal LM teacher's own prompts (sum over the tail's tokens and
    the period after it), with and without the event."""

    def __init__(self, model: Any, tokenizer: Any, *, examples: int = EXAMPLES_PER_PROMPT, seed: int | str = 0,
                 batch_size: int = 32) -> None:  # fmt: skip
        self.model, self.tokenizer = model.eval(), tokenizer
        self.examples, self.seed, self.batch_size = examples, seed, batch_size
        self._prefix_cache: dict[str, tuple[list[int], Any]] = {}
        # what the forward pass calls its key/value cache: `cache` in newer transformers, `past_key_values` before
        params = inspect.signature(self.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    @classmethod
    def load(cls, models_dir: Path, name_or_path: str = "smollm2", **kwargs: Any) -> TeacherScorer:
        """The teacher named (the bundled SmolLM2 by default, converted into `models_dir`, the settings'
        models folder) as a scorer."""
        from skd.models.loading import load_causal_lm

        model, tok = load_causal_lm(name_or_path, models_dir)
        return cls(model, tok, **kwargs)

    # -- prompts --------------------------------------------------------------------------------------
    def prompt(self, head: str, relation: str) -> str:
        from skd.ingest.prompts import choose_examples, template_for

        return template_for(relation).render(choose_examples(relation, head, self.examples, self.seed), head)

    def _tail_ids(self, tail: str) -> list[int]:
        from skd.graph_schema.text import clean_text

        return list(self.tokenizer(f" {clean_text(tail)}.", add_special_tokens=False)["input_ids"])

    # -- scoring --------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _prefix(self, prompt: str) -> tuple[list[int], Any]:
        got = self._prefix_cache.get(prompt)
        if got is None:
            ids = list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
            x = torch.tensor([ids], device=self.model.device)
            out = self.model(input_ids=x, use_cache=True)
            cache = out.get("cache", None)  # `cache` since transformers 5.2x, `past_key_values` before
            cache = out.get("past_key_values", None) if cache is None else cache
            got = (ids, (cache, out.logits[0, -1].float().log_softmax(-1)))
            if len(self._prefix_cache) > 64:  # the contrast prompts (one per relation) are what repeats
                self._prefix_cache.clear()
            self._prefix_cache[prompt] = got
        return got

    @torch.inference_mode()
    def _tails_after(self, prompt: str, tails: Sequence[str]) -> list[tuple[float, int]]:
        """(sum of log-probabilities, token count) of each tail after one prompt, the prompt's cache reused."""
        ids, (past, first) = self._prefix(prompt)
        out: list[tuple[float, int]] = []
        for start in range(0, len(tails), self.batch_size):
            chunk = [self._tail_ids(t) for t in tails[start : start + self.batch_size]]
            longest = max(len(c) for c in chunk)
            pad = self.tokenizer.pad_token_id or 0
            x = torch.full((len(chunk), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), len(ids) + longest), dtype=torch.long)
            mask[:, : len(ids)] = 1
            for row, c in enumerate(chunk):  # right-padded: padding comes after every real token
                x[row, : len(c)] = torch.tensor(c)
                mask[row, len(ids) : len(ids) + len(c)] = 1
            cache = _repeat_cache(past, len(chunk))
            dev = self.model.device
            logits = self.model(input_ids=x.to(dev), attention_mask=mask.to(dev), **{self._cache_arg: cache}).logits
            lp = logits.float().log_softmax(-1).cpu()
            for row, c in enumerate(chunk):
                total = float(first[c[0]].cpu()) + sum(float(lp[row, j - 1, c[j]]) for j in range(1, len(c)))
                out.append((total, len(c)))
        return out

    def _group_score(self, prompts: Sequence[str], tails: Sequence[str]) -> list[tuple[float, int]]:
        groups: dict[str, list[int]] = defaultdict(list)
        for i, p in enumerate(prompts):
            groups[p].append(i)
        out: list[tuple[float, int]] = [(0.0, 0)] * len(prompts)
        for prompt, rows in groups.items():
            for i, v in zip(rows, self._tails_after(prompt, [tails[i] for i in rows]), strict=True):
                out[i] = v
        return out

    def conditional(self, items: Sequence[tuple[str, str, str]]) -> list[tuple[float, int]]:
        """log p(tail | the teacher's prompt for the event and relation) and the tail's token count."""
        return self._group_score([self.prompt(h, r) for h, r, _ in items], [t for _, _, t in items])

    def unconditional(self, items: Sequence[tuple[str, str, str]]) -> list[tuple[float, int]]:
        """log p(tail | the relation's prompt with a neutral event) and the tail's token count."""
        return self._group_score([self.prompt(NEUTRAL_EVENT, r) for _, r, _ in items], [t for _, _, t in items])


class TeacherColumns:
    """Stack columns from the teacher scoring every triple (`train_critic(extra_columns=...)`): the
    log-probability of the tail under the teacher's own prompt (the one the triple carries, else computed),
    and its PMI-style contrast with the prompt without the event, summed and per token. The contrast prompt's
    scores are kept by (relation, tail), so a tail is scored once per relation; those of the teacher's prompt by
    triple (`known` seeds them, e.g. with log-probabilities a teacher run recorded)."""

    names = ("teacher_score", "teacher_pmi", "teacher_pmi_per_token")

    def __init__(self, scorer: TeacherScorer, known: dict[tuple[str, str, str], float] | None = None) -> None:
        self.scorer = scorer
        self._unconditional: dict[tuple[str, str], tuple[float, int]] = {}
        self._conditional: dict[tuple[str, str, str], float] = dict(known or {})

    def contrast_scores(self) -> dict[str, list[float]]:
        """The contrast prompt's scores so far, as `"relation\ttail": [log-probability, tokens]` (to keep)."""
        return {f"{r}\t{t}": [lp, n] for (r, t), (lp, n) in self._unconditional.items()}

    def add_contrast_scores(self, scores: dict[str, Sequence[float]]) -> None:
        """Scores kept by `contrast_scores` (of the same teacher and prompts)."""
        for key, (lp, n) in scores.items():
            r, t = key.split("\t", 1)
            self._unconditional[(r, t)] = (float(lp), int(n))

    def __call__(self, items: Sequence[Any]) -> list[list[float]]:
        from skd.models.critic import split_item
        from skd.models.critic_stack import item_logprob

        parts = [split_item(it) for it in items]
        recorded = [item_logprob(it)[0] for it in items]
        todo = list(dict.fromkeys((r, t) for _, r, t in parts if (r, t) not in self._unconditional))
        for pair, got in zip(todo, self.scorer.unconditional([("", r, t) for r, t in todo]), strict=True):
            self._unconditional[pair] = got
        for i, lp in enumerate(recorded):
            if lp is None:
                recorded[i] = self._conditional.get(parts[i])
        missing = list(dict.fromkeys(parts[i] for i, lp in enumerate(recorded) if lp is None))
        for key, (lp, _) in zip(missing, self.scorer.conditional(missing), strict=True):
            self._conditional[key] = lp
        recorded = [self._conditional[p] if lp is None else lp for p, lp in zip(parts, recorded, strict=True)]
        out = []
        for (_, r, t), lp in zip(parts, recorded, strict=True):
            base, n = self._unconditional[(r, t)]
            pmi = (lp or 0.0) - base
            out.append([lp or 0.0, pmi, pmi / max(n, 1)])
        return out
