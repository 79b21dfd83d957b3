"""The critic: an encoder and a small head that score how acceptable a triple is, with its cutoffs.

Three modes share one folder format. `pair` (the default) encodes the event and the tail apart with
the frozen encoder (by default only its first half of layers: see `critic_train.default_encoder_layers`)
and gives the head [u, v, |u-v|, u*v, one-hot relation] (the SBERT/InferSent pair classifier), so it
sees whether the tail fits the event; `head` gives it one embedding of the whole
verbalised triple; `finetune` trains the encoder too on the verbalised triple.

Over the encoder's logit a critic may have a stack (`critic_stack`): the teacher's log-probability where a
triple carries one (`provenance["logprob"]`) and, for a pair critic trained on judged and weak labels, the
logit of a second head trained on the weak ones, in a logistic regression; triples without a log-probability
are scored by its fallback, so every triple still gets a score.

A saved critic is a normal Hugging Face folder (the encoder's `config.json`, `model.safetensors` and
tokenizer files) plus `critic_head.safetensors` (and `critic_weak_head.safetensors` for the weak head) and
`critic.json`: the `CriticConfig` with the calibrated cutoffs per recall level, the validation
precision-recall curve, the training metrics and the stack.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from skd.core.errors import InputError, ModelError
from skd.graph_schema.records import Triple
from skd.graph_schema.relations import RELATIONS, get_relation
from skd.models.calibration import cutoff_for_precision, cutoff_for_recall, level_key
from skd.models.critic_stack import Stack, TailBank

__all__ = [
    "CONFIG_NAME",
    "HEAD_NAME",
    "KNN_BANK_NAME",
    "MODES",
    "WEAK_HEAD_NAME",
    "Critic",
    "CriticConfig",
    "CriticModel",
    "ExtraColumns",
    "Item",
    "PairCriticModel",
    "PairInputs",
    "ProgressFn",
    "pair_logits",
    "split_item",
    "verbalise",
]

CONFIG_NAME = "critic.json"
HEAD_NAME = "critic_head.safetensors"
#: a pair critic's second head, trained on weak labels, whose logit its stack also reads
WEAK_HEAD_NAME = "critic_weak_head.safetensors"
#: a pair critic's bank of human-written tails, embedded (`critic_stack.TailBank`), for its kNN columns
KNN_BANK_NAME = "critic_knn_bank.safetensors"
FORMAT_VERSION = 1
#: pair: frozen encoder, event and tail apart; head: frozen encoder, whole sentence; finetune: both trained
MODES = ("pair", "head", "finetune")

#: A triple to score: a `Triple`, or `(head, relation, tail)` with the relation's ATOMIC name.
Item = Triple | tuple[str, str, str] | Sequence[str]
#: Progress reports: (what, done, total); the CLI turns them into a rich progress bar.
ProgressFn = Callable[[str, int, int], None]
#: Stack columns computed outside the critic: their names, and a function of the items giving one row each.
ExtraColumns = tuple[Sequence[str], Callable[[Sequence[Any]], Any]]


@dataclass
class CriticConfig:
    """Everything needed to rebuild and use a critic, saved as `critic.json` beside the weights."""

    encoder: str = "all-MiniLM-L6-v2"  # what it was trained from (a built-in name, id or path), for the record
    mode: str = "pair"  # one of MODES
    max_length: int = 64
    hidden: int = 256
    dropout: float = 0.1
    default_recall_level: float = 0.8
    #: "0.8" -> cutoff, precision, recall (and precision_by_relation: what the level promises per relation)
    levels: dict[str, dict[str, Any]] = field(default_factory=dict)
    curve: list[list[float]] = field(default_factory=list)  # validation (cutoff, precision, recall), high to low
    metrics: dict[str, Any] = field(default_factory=dict)
    relations: list[str] = field(default_factory=list)  # pair mode: the one-hot's order, fixed at training
    #: pair mode: also give the head the tail's embedding in its relation's own slot (critics saved before
    #: this existed lack the field and load without it)
    tail_by_relation: bool = False
    #: how many of the encoder's layers the critic kept (the saved encoder is that deep); None: all, unrecorded
    encoder_layers: int | None = None
    #: what it learnt from: one entry per source (path, kind, rows, acceptable)
    sources: list[dict[str, Any]] = field(default_factory=list)
    #: what its cutoffs and precision figures were measured on
    calibration: str = ""
    #: what the score reads beside the encoder: `teacher_logprob` (critic_stack: the teacher's log-probability,
    #: where a triple carries one); empty: the encoder's logit alone (critics saved before this lack both)
    features: list[str] = field(default_factory=list)
    #: the second stage over the encoder's logit (`critic_stack.Stack.to_json`); empty: none
    stack: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> CriticConfig:
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in obj.items() if k in known}
        given.setdefault("mode", "head")  # critics saved before `pair` existed were all `head` and lack the field
        return cls(**given)


def critic_card(config: CriticConfig) -> str:
    """The critic's model card: what it learnt from, how it was calibrated, what it promises per level."""
    lines = [f"# Critic ({config.mode}, {config.encoder})", "", "## Training sources", ""]
    lines += [
        f"- `{s.get('path', '?')}`: {s.get('kind', '?')} labels, {s.get('rows', 0):,} rows, "
        f"{s.get('acceptable', 0):,} acceptable"
        for s in config.sources
    ] or ["- (not recorded)"]
    lines += ["", "## Features", "", *_feature_lines(config)]
    lines += ["", "## Calibration", "", config.calibration or "(not recorded)", ""]
    m = config.metrics
    if "roc_auc" in m:
        lines += [f"Validation ROC-AUC {m['roc_auc']:.3f}, average precision {m.get('average_precision', 0):.3f}.", ""]
    lines += ["| recall level | cutoff | precision | recall |", "|---|---|---|---|"]
    lines += [
        f"| {k} | {v['cutoff']:.4f} | {v['precision']:.3f} | {v['recall']:.3f} |" for k, v in config.levels.items()
    ]
    return "\n".join(lines) + "\n"


def _feature_lines(config: CriticConfig) -> list[str]:
    reads = "event and tail encoded apart" if config.mode == "pair" else "the verbalised triple"
    lines = [f"- the encoder's logit ({config.mode}: {reads}, {config.encoder_layers or 'all'} encoder layers)"]
    stack = config.stack
    weak = bool(stack.get("weak_head"))
    if weak:
        rows = config.metrics.get("weak_head", {}).get("rows")
        lines.append(
            "- the logit of a second head over the same encoder, trained on weak labels"
            + (f" ({rows:,} of events without judged labels)" if rows else "")
        )
    if stack.get("knn"):
        rows = config.metrics.get("knn_bank_rows")
        lines.append(
            "- how near the tail is to human-written tails of its relation"
            + (f" ({rows:,} rows of the weak labels' graph, embedded by the encoder)" if rows else "")
            + ": the nearest of all, and the nearest among those of the 10 nearest other events"
        )
    logits = "both logits" if weak else "the logit"
    if stack.get("with_logprob"):
        teachers = ", ".join(stack.get("teachers") or []) or "any"
        lines.append(
            "- the teacher's log-probability of the tail where a triple carries one (teacher: "
            f"{teachers}): its sum, its mean per token and the tail's token count, with the relation, "
            f"stacked with {logits} in a logistic regression fitted on out-of-fold logits"
        )
    if stack:
        how = "in a logistic regression of their own" if weak else "alone, Platt-scaled (the encoder's ranking)"
        lines.append(
            f"- every other triple (no log-probability, or another teacher's): {logits} {how}, on the same "
            "probability scale"
        )
    m = config.metrics
    if "roc_auc_without_logprob" in m:
        lines += ["", f"Validation ROC-AUC without the log-probability: {m['roc_auc_without_logprob']:.3f}."]
    return lines


def hidden_size(encoder: nn.Module) -> int:
    """The width of a transformers encoder's hidden states (its config says; torch types it as a Module)."""
    return int(cast(Any, encoder).config.hidden_size)


def mean_pool(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    states = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class CriticModel(nn.Module):
    """Mean-pooled encoder states of the verbalised triple into a one-logit head: the logit of "acceptable"."""

    def __init__(self, encoder: nn.Module, hidden: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        width = hidden_size(encoder)
        # LayerNorm first so one head suits any encoder's scale (MiniLM, BERT, RoBERTa)
        self.head = nn.Sequential(
            nn.LayerNorm(width),
            nn.Dropout(dropout),
            nn.Linear(width, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return mean_pool(self.encoder, input_ids, attention_mask)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(input_ids, attention_mask)).squeeze(-1)


class PairCriticModel(nn.Module):
    """Event embedding u and tail embedding v (frozen encoder, mean-pooled, unit length) into a one-logit MLP
    over [u, v, |u-v|, u*v, one-hot relation] and, with `tail_by_relation`, v once more in a block of its
    own relation (zeros elsewhere): the first layer then holds weights per relation for the tail, so it
    learns what a want, a need or an attribute looks like, which a one-hot beside v barely conveys."""

    def __init__(
        self,
        encoder: nn.Module,
        relations: Sequence[str],
        hidden: int = 256,
        dropout: float = 0.1,
        tail_by_relation: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.relations = list(relations)
        self.width = hidden_size(encoder)
        self.tail_by_relation = tail_by_relation
        inputs = 4 * self.width + len(self.relations) + (len(self.relations) * self.width if tail_by_relation else 0)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(inputs, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
        )

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return mean_pool(self.encoder, input_ids, attention_mask)

    def features(self, u: torch.Tensor, v: torch.Tensor, relation: torch.Tensor) -> torch.Tensor:
        u, v = F.normalize(u.float(), dim=-1), F.normalize(v.float(), dim=-1)
        # a unit vector's parts are ~1/sqrt(width) and products ~1/width: rescale each block to ~1 so
        # no block is drowned out without learning a normalisation (which would need saving)
        root = self.width**0.5
        one_hot = F.one_hot(relation, len(self.relations)).to(u.dtype)
        blocks = [u * root, v * root, (u - v).abs() * root, u * v * self.width, one_hot]
        if self.tail_by_relation:
            blocks.append((one_hot.unsqueeze(-1) * (v * root).unsqueeze(1)).flatten(1))
        return torch.cat(blocks, dim=-1)

    def forward(self, u: torch.Tensor, v: torch.Tensor, relation: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(u, v, relation)).squeeze(-1)


@dataclass(frozen=True, slots=True)
class PairInputs:
    """What a pair critic's head reads, before `PairCriticModel.features` widens it: event embeddings u,
    tail embeddings v and relation indices, one row per triple. Compact (the features are ~27 times
    wider), so training keeps these and widens one mini-batch at a time."""

    u: torch.Tensor
    v: torch.Tensor
    relation: torch.Tensor

    def rows(self, idx: torch.Tensor | slice) -> PairInputs:
        return PairInputs(self.u[idx], self.v[idx], self.relation[idx])

    def to(self, device: torch.device) -> PairInputs:
        return PairInputs(self.u.to(device), self.v.to(device), self.relation.to(device))

    def __len__(self) -> int:
        return int(self.relation.shape[0])


def pair_logits(model: PairCriticModel, inputs: PairInputs, batch: int = 1024) -> list[float]:
    """The head's logits for pair inputs, widened into features a batch at a time."""
    device = next(model.head.parameters()).device
    out: list[float] = []
    for start in range(0, len(inputs), batch):
        part = inputs.rows(slice(start, start + batch)).to(device)
        out.extend(model(part.u, part.v, part.relation).float().cpu().tolist())
    return out


def split_item(item: Item) -> tuple[str, str, str]:
    """(head, relation, tail) of a triple to score; the relation is checked against the catalogue."""
    if isinstance(item, Triple):
        head, relation, tail = item.head, item.relation, item.tail
    else:
        try:
            head, relation, tail = item
        except (TypeError, ValueError) as e:
            raise InputError(f"a triple to score must be a Triple or (head, relation, tail), got {item!r}") from e
    return str(head), get_relation(relation).name, str(tail)


def verbalise(item: Item) -> str:
    """The sentence the critic reads for one triple (the relation catalogue's verbalisation)."""
    head, relation, tail = split_item(item)
    return get_relation(relation).verbalise(head, tail)


def relation_names() -> list[str]:
    return [r.name for r in RELATIONS]


def build_model(encoder: nn.Module, config: CriticConfig) -> CriticModel | PairCriticModel:
    """The module for the config's mode, with a fresh head."""
    if config.mode not in MODES:
        raise ModelError(f"unknown critic mode {config.mode!r}; known: {', '.join(MODES)}")
    if config.mode == "pair":
        if not config.relations:
            config.relations = relation_names()
        return PairCriticModel(
            encoder,
            config.relations,
            hidden=config.hidden,
            dropout=config.dropout,
            tail_by_relation=config.tail_by_relation,
        )
    return CriticModel(encoder, hidden=config.hidden, dropout=config.dropout)


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Critic:
    """A trained critic: scores triples (probability of acceptable) and knows its calibrated cutoffs."""

    def __init__(
        self,
        model: CriticModel | PairCriticModel,
        tokenizer: Any,
        config: CriticConfig,
        path: Path | None = None,
        weak_model: PairCriticModel | None = None,
        knn_bank: TailBank | None = None,
    ) -> None:
        self.model = model
        #: a pair critic's head trained on weak labels, over the same encoder (its logit is a stack feature)
        self.weak_model = weak_model
        #: a pair critic's embedded human-written tails, whose nearest ones to a triple are stack features
        self.knn_bank = knn_bank
        #: columns computed outside the critic for every triple (names, function of the items), read by the
        #: stack after the first stage's: what a critic trained with `train_critic(extra_columns=...)` needs
        #: attached again once loaded (e.g. `critic_teacher.TeacherColumns`: the teacher scores the triple)
        self.extra_columns: ExtraColumns | None = None
        self.tokenizer = tokenizer
        self.config = config
        self.path = path
        self.device = next(model.parameters()).device
        self._stack: tuple[dict[str, Any], Stack] | None = None

    # -- loading and saving ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> Critic:
        """Load a critic folder written by `save` (or by `train_critic`)."""
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer

        folder = Path(path)
        cfg_file = folder / CONFIG_NAME
        if not cfg_file.exists():
            raise ModelError(f"{folder} is not a critic folder (no {CONFIG_NAME}); train one with `skd critic train`")
        try:
            config = CriticConfig.from_json(json.loads(cfg_file.read_text(encoding="utf-8")))
            tokenizer = AutoTokenizer.from_pretrained(folder)
            encoder = AutoModel.from_pretrained(folder)
            model = build_model(encoder, config)
            model.head.load_state_dict(load_file(folder / HEAD_NAME))
            weak = None
            if config.stack.get("weak_head"):
                weak = build_model(encoder, config)  # the same encoder, a second head
                weak.head.load_state_dict(load_file(folder / WEAK_HEAD_NAME))
            bank = None
            if config.stack.get("knn"):
                bank = TailBank.from_tensors(load_file(folder / KNN_BANK_NAME), config.relations)
        except (OSError, ValueError, RuntimeError, json.JSONDecodeError) as e:
            raise ModelError(f"cannot load the critic at {folder}: {e}") from e
        where = torch.device(device) if device else default_device()
        model.to(where).eval()
        if weak is not None:
            weak.to(where).eval()
        weak_model = weak if isinstance(weak, PairCriticModel) else None
        return cls(model, tokenizer, config, folder, weak_model=weak_model, knn_bank=bank)

    def save(self, path: str | Path) -> Path:
        """Write the folder whole or not at all (a `.partial` sibling renamed into place)."""
        from safetensors.torch import save_file

        folder = Path(path)
        tmp = folder.with_name(folder.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        cast(Any, self.model.encoder).save_pretrained(tmp)  # a transformers model, typed as a torch Module
        self.tokenizer.save_pretrained(tmp)
        head = {k: v.detach().cpu().contiguous() for k, v in self.model.head.state_dict().items()}
        save_file(head, tmp / HEAD_NAME)
        if self.weak_model is not None:
            weak = {k: v.detach().cpu().contiguous() for k, v in self.weak_model.head.state_dict().items()}
            save_file(weak, tmp / WEAK_HEAD_NAME)
        if self.knn_bank is not None:
            save_file(self.knn_bank.tensors(), tmp / KNN_BANK_NAME)
        (tmp / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(critic_card(self.config), encoding="utf-8")
        if folder.exists():
            old = folder.with_name(folder.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
        self.path = folder
        return folder

    # -- scoring --------------------------------------------------------------------------------------
    def _batches(self, texts: Sequence[str], batch_size: int) -> Iterable[tuple[list[int], dict[str, torch.Tensor]]]:
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        if not texts:
            return
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.config.max_length)["input_ids"]
        # sorted by token count, each batch padded only to its longest: little compute is spent on padding
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            longest = max(len(ids[i]) for i in idx)
            input_ids = torch.full((len(idx), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), longest), dtype=torch.long)
            for row, i in enumerate(idx):
                input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                mask[row, : len(ids[i])] = 1
            yield idx, {"input_ids": input_ids.to(self.device), "attention_mask": mask.to(self.device)}

    @torch.inference_mode()
    def logits_of_texts(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> list[float]:
        """Logits of verbalised triples (the `head` and `finetune` modes)."""
        if not isinstance(self.model, CriticModel):
            raise ModelError("a pair critic reads (head, relation, tail) triples, not sentences; use `score`")
        self.model.eval()
        out = [0.0] * len(texts)
        done = 0
        for idx, batch in self._batches(texts, batch_size):
            for i, v in zip(idx, self.model(**batch).float().cpu().tolist(), strict=True):
                out[i] = v
            done += len(idx)
            if progress:
                progress("scoring", done, len(texts))
        return out

    @torch.inference_mode()
    def embed_texts(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """Pooled encoder embeddings (on the CPU), in the order of `texts`; the frozen modes train on these."""
        self.model.eval()
        width = hidden_size(self.model.encoder)
        out = torch.zeros(len(texts), width)
        done = 0
        for idx, batch in self._batches(texts, batch_size):
            out[idx] = self.model.embed(**batch).float().cpu()
            done += len(idx)
            if progress:
                progress("embedding", done, len(texts))
        return out

    def pair_features(
        self, items: Iterable[Item], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> torch.Tensor:
        """The pair head's inputs (on the CPU), one row per triple."""
        inputs = self.pair_inputs(items, batch_size, progress)
        assert isinstance(self.model, PairCriticModel)  # pair_inputs has checked it
        return self.model.features(inputs.u, inputs.v, inputs.relation)

    @torch.inference_mode()
    def pair_inputs(
        self, items: Iterable[Item], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> PairInputs:
        """Event and tail embeddings and relation indices (on the CPU), one row per triple, from which
        `PairCriticModel.features` makes the head's inputs; each distinct text is encoded once."""
        model = self.model
        if not isinstance(model, PairCriticModel):
            raise ModelError(f"pair features need a pair critic; this one is {self.config.mode!r}")
        parts = [split_item(it) for it in items]
        index = {name.lower(): i for i, name in enumerate(model.relations)}
        try:
            relations = torch.tensor([index[r.lower()] for _, r, _ in parts], dtype=torch.long)
        except KeyError as e:
            raise ModelError(f"this critic was trained without the relation {e.args[0]}") from e
        # events repeat across relations (and a tail may repeat too): encode each text once
        texts = list(dict.fromkeys(t for h, _, tail in parts for t in (h, tail)))
        row = {t: i for i, t in enumerate(texts)}
        emb = self.embed_texts(texts, batch_size, progress)
        u = emb[torch.tensor([row[h] for h, _, _ in parts], dtype=torch.long)]
        v = emb[torch.tensor([row[t] for _, _, t in parts], dtype=torch.long)]
        return PairInputs(u, v, relations)

    @torch.inference_mode()
    def _pair_logits(self, items: Sequence[Item], batch_size: int, progress: ProgressFn | None) -> list[list[float]]:
        """One column of logits per head (the main one, then the weak one if any) over the same inputs, then,
        for a critic with a bank of human tails, its kNN columns."""
        heads = [m for m in (self.model, self.weak_model) if m is not None]
        for m in heads:
            m.eval()
        knn = 2 if self.knn_bank is not None else 0
        out: list[list[float]] = [[] for _ in range(len(heads) + knn)]
        chunk = 4096  # texts encoded at a time, so long inputs do not hold every embedding at once
        for start in range(0, len(items), chunk):
            inputs = self.pair_inputs(items[start : start + chunk], batch_size)
            for column, m in zip(out, heads, strict=False):
                assert isinstance(m, PairCriticModel)
                column.extend(pair_logits(m, inputs))
            if self.knn_bank is not None:
                cols = self.knn_bank.columns(inputs.u, inputs.v, inputs.relation)
                for j in range(knn):
                    out[len(heads) + j].extend(cols[:, j].tolist())
            if progress:
                progress("scoring", min(start + chunk, len(items)), len(items))
        return out

    def score_texts(
        self, texts: Sequence[str], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> list[float]:
        """Probabilities of verbalised triples from the encoder alone (`head` and `finetune` modes; a
        sentence carries no log-probability, so no stack applies)."""
        logits = torch.tensor(self.logits_of_texts(texts, batch_size, progress), dtype=torch.float64)
        return torch.sigmoid(logits).tolist()

    def encoder_logits(
        self, items: Sequence[Item], batch_size: int = 64, progress: ProgressFn | None = None
    ) -> list[list[float]]:
        """The first stage's logits of triples, before any stack: one column per head (the head trained on
        the judged labels, then, for a critic that has one, the head trained on weak labels), then, for a
        critic with a bank of human tails, its kNN columns (`critic_stack.KNN_COLUMNS`)."""
        if self.config.mode != "pair":
            return [self.logits_of_texts([verbalise(it) for it in items], batch_size, progress)]
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        return self._pair_logits(items, batch_size, progress)

    @property
    def stack(self) -> Stack | None:
        """The second stage (the teacher's log-probability with the logit), or None for an encoder-only critic."""
        if not self.config.stack:
            return None
        if self._stack is None or self._stack[0] is not self.config.stack:  # rebuilt when the config's changes
            self._stack = (self.config.stack, Stack.from_json(self.config.stack))
        return self._stack[1]

    def tail_tokens(self, tails: Sequence[str]) -> list[int]:
        """Token counts of tails under the critic's tokenizer, plus one for the end of the answer (the
        stack's stand-in for the teacher's token count)."""
        if not tails:
            return []
        ids = self.tokenizer(list(tails), add_special_tokens=False)["input_ids"]
        return [len(x) + 1 for x in ids]

    def logits(self, items: Iterable[Item], batch_size: int = 64, progress: ProgressFn | None = None) -> list[float]:
        """The final logits: the encoder's, through the stack when the critic has one."""
        items = list(items)
        base = self.encoder_logits(items, batch_size, progress)
        stack = self.stack
        if stack is not None and self.extra_columns is not None:
            names, columns = self.extra_columns
            extra = [[float(x) for x in row] for row in columns(items)]
            base = [*base, *([row[j] for row in extra] for j in range(len(names)))]
        if stack is not None and len(base) < len(stack.base):
            missing = ", ".join(stack.base[len(base) :])
            raise ModelError(f"this critic's stack reads {missing}, computed outside it: attach them (extra_columns)")
        return stack.logits(base, items, self.tail_tokens) if stack is not None else base[0]

    def score(self, items: Iterable[Item], batch_size: int = 64, progress: ProgressFn | None = None) -> list[float]:
        """The probability that each triple is acceptable, in [0, 1], in the order given. A `Triple` whose
        provenance carries the teacher's `logprob` is scored with it when the critic was trained with that
        feature; every other triple by the encoder (and the stack's fallback)."""
        logits = torch.tensor(self.logits(items, batch_size, progress), dtype=torch.float64)
        return torch.sigmoid(logits).tolist()

    # -- cutoffs --------------------------------------------------------------------------------------
    @property
    def levels(self) -> dict[float, dict[str, float]]:
        """Recall level -> {cutoff, precision, recall} measured on the validation split."""
        return {float(k): dict(v) for k, v in self.config.levels.items()}

    def cutoff(self, recall_level: float | None = None, min_precision: float | None = None) -> float:
        """The score a triple needs to be kept: for a recall level (0.5-0.9, the paper's filtering levels,
        or any other read off the stored curve), or the lowest cutoff reaching a minimum precision.
        With neither, the config's default recall level."""
        if recall_level is not None and min_precision is not None:
            raise InputError("give a recall level or a minimum precision, not both")
        if min_precision is not None:
            return self._cutoff_info(None, min_precision)[0]
        return self._cutoff_info(recall_level, None)[0]

    def _cutoff_info(self, recall_level: float | None, min_precision: float | None) -> tuple[float, float, float]:
        if min_precision is not None:
            if not self.config.curve:
                raise ModelError("this critic has no stored precision-recall curve")
            return cutoff_for_precision(self.config.curve, float(min_precision))
        level = float(recall_level if recall_level is not None else self.config.default_recall_level)
        stored = self.config.levels.get(level_key(level))
        if stored is not None:
            return stored["cutoff"], stored["precision"], stored["recall"]
        if not self.config.curve:
            raise ModelError("this critic has no calibrated cutoffs; train it with `skd critic train`")
        return cutoff_for_recall(self.config.curve, level)

    def selection(self, recall_level: float | None = None, min_precision: float | None = None) -> dict[str, Any]:
        """The chosen cutoff with the validation precision and recall it stands for (for summaries)."""
        if recall_level is not None and min_precision is not None:
            raise InputError("give a recall level or a minimum precision, not both")
        cutoff, precision, recall = self._cutoff_info(recall_level, min_precision)
        by = (
            {"min_precision": min_precision}
            if min_precision is not None
            else {"recall_level": recall_level if recall_level is not None else self.config.default_recall_level}
        )
        out: dict[str, Any] = {**by, "cutoff": cutoff, "validation_precision": precision, "validation_recall": recall}
        if min_precision is None:
            stored = self.config.levels.get(level_key(float(out["recall_level"])), {})
            out["validation_precision_by_relation"] = dict(stored.get("precision_by_relation", {}))
        out["calibration"] = self.config.calibration or "(not recorded)"
        return out

    @property
    def name(self) -> str:
        """How provenance refers to this critic: its folder name, else its encoder."""
        return self.path.name if self.path else f"critic({self.config.encoder})"
