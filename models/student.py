"""The student: a causal LM fine-tuned to continue "event. relation phrase" with an inference; batched generation."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from skd.core.errors import InputError, ModelError
from skd.graph_schema.relations import get_relation
from skd.graph_schema.text import clean_text, text_key
from skd.models.loading import CausalLM, load_causal_lm
from skd.models.student_data import FORMAT, prompt_text

if TYPE_CHECKING:
    from transformers import GenerationConfig, PreTrainedTokenizerBase

__all__ = ["DECODINGS", "INFO_FILE", "Generation", "Student", "read_info", "write_info"]

#: The file beside the weights that says how the student was made (format, base, data, metrics).
INFO_FILE = "student.json"
DECODINGS = ("greedy", "beam", "sample")


@dataclass(frozen=True, slots=True)
class Generation:
    """One generated inference and its log-probability under the student (summed over its tokens,
    end token included), so texts of one request can be ranked."""

    text: str
    logprob: float


def read_info(folder: Path) -> dict[str, Any]:
    path = Path(folder) / INFO_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelError(f"{path}: not valid JSON: {e}") from e


def write_info(folder: Path, info: dict[str, Any]) -> None:
    (Path(folder) / INFO_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def newline_token_ids(tok: PreTrainedTokenizerBase) -> list[int]:
    """Every token whose text holds a newline: with byte-level BPE a newline is often merged with
    punctuation ('.\\n'), so stopping on the single '\\n' token alone would miss most stops."""
    ids = list(range(len(tok)))
    texts = tok.batch_decode([[i] for i in ids])
    return [i for i, s in zip(ids, texts, strict=True) if "\n" in s]


class Student:
    """A loaded student. `generate` is thread-safe: one lock serialises calls on the shared model."""

    def __init__(
        self,
        model: CausalLM,
        tokenizer: PreTrainedTokenizerBase,
        info: dict[str, Any] | None = None,
        name: str = "student",
        batch_size: int = 32,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        self.info = dict(info or {})
        self.name = str(self.info.get("name") or name)
        self.batch_size = batch_size
        fmt = self.info.get("format", FORMAT)
        if fmt != FORMAT:
            raise ModelError(f"student format {fmt!r} is not supported (this code reads {FORMAT!r})")
        eos = tokenizer.eos_token_id
        self._stop_ids = sorted({*newline_token_ids(tokenizer), *([eos] if eos is not None else [])})
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, batch_size: int = 32, models_dir: Path | None = None) -> Student:
        """A saved student folder; a base model name or folder also loads (untrained, for comparison;
        the bundled `smollm2` needs `models_dir`, where it is converted once)."""
        model, tok = load_causal_lm(path, models_dir)
        folder = Path(str(path))
        info = read_info(folder) if folder.is_dir() else {}
        name = folder.name if folder.is_dir() else str(path)
        return cls(model, tok, info, name=name, batch_size=batch_size)

    def quantize_int8(self) -> int:
        """Swap the model's linear layers for dynamically quantized int8 ones (torch's `quantize_dynamic`;
        CPU inference only, not saved): a 7-relation generation of a SmolLM2-135M student ran 4 times as
        fast on a 2-core CPU (bench/service.py), and its texts are worse (the README's service figures:
        the critic accepted 51% of a demo student's answers against 66%). Returns how many layers were
        swapped."""
        from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear
        from torch.ao.quantization import quantize_dynamic

        with self._lock, warnings.catch_warnings():
            # torch 2.13 marks its quantized tensors deprecated (torchao is to replace them); they still work
            warnings.filterwarnings("ignore", message=r".*quantize_per_tensor.*deprecated", category=UserWarning)
            self.model = quantize_dynamic(self.model, {torch.nn.Linear}, dtype=torch.qint8)
            self.info["quantized"] = "int8-dynamic"
        return sum(isinstance(m, QuantizedLinear) for m in self.model.modules())

    def save(self, folder: str | Path) -> Path:
        """Write the weights, tokenizer, `student.json` and model card to `folder`."""
        from skd.models.student_card import write_model_card

        out = Path(folder)
        self.model.save_pretrained(out)
        self.tokenizer.save_pretrained(out)
        info = {**self.info, "format": self.info.get("format", FORMAT)}
        write_info(out, info)
        write_model_card(out, info)
        return out

    def generate(
        self,
        requests: Sequence[tuple[str, str]],
        n: int = 1,
        decoding: str = "greedy",
        max_new_tokens: int = 24,
        num_beams: int = 4,
        temperature: float = 0.7,
        seed: int | None = None,
    ) -> list[list[Generation]]:
        """Up to `n` distinct inferences per (event, relation) request, best first, one list per request.

        `greedy` gives one text whatever `n` is; `beam` returns the `n` best of max(num_beams, n)
        beams; `sample` draws `n` at `temperature`. Duplicates (same normalised text) and empty texts
        are dropped, so a list may hold fewer than `n`.
        """
        if decoding not in DECODINGS:
            raise InputError(f"decoding must be one of {', '.join(DECODINGS)}, got {decoding!r}")
        if n < 1 or max_new_tokens < 1:
            raise InputError("n and max_new_tokens must be at least 1")
        if decoding == "sample" and temperature <= 0:
            raise InputError("temperature must be above 0 for sampling")
        prompts = [prompt_text(event, get_relation(rel).name) for event, rel in requests]
        per_request = 1 if decoding == "greedy" else n
        out: list[list[Generation]] = []
        with self._lock, torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            for i in range(0, len(prompts), self.batch_size):
                chunk = prompts[i : i + self.batch_size]
                out.extend(self._generate_chunk(chunk, per_request, decoding, max_new_tokens, num_beams, temperature))
        return out

    def _config(
        self, per_request: int, decoding: str, max_new_tokens: int, num_beams: int, temperature: float
    ) -> GenerationConfig:
        from transformers import GenerationConfig

        beam = decoding == "beam"
        # the scores (beam) or raw logits (greedy, sampling) give each token's log-probability
        common = dict(
            max_new_tokens=max_new_tokens,
            num_return_sequences=per_request,
            eos_token_id=self._stop_ids,
            pad_token_id=self.tokenizer.pad_token_id,
            return_dict_in_generate=True,
            output_scores=beam,
            output_logits=not beam,
        )
        if beam:
            return GenerationConfig(
                do_sample=False, num_beams=max(num_beams, per_request), early_stopping=True, **common
            )
        if decoding == "sample":
            return GenerationConfig(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, **common)
        return GenerationConfig(do_sample=False, num_beams=1, **common)

    def _generate_chunk(
        self,
        prompts: list[str],
        per_request: int,
        decoding: str,
        max_new_tokens: int,
        num_beams: int,
        temperature: float,
    ) -> list[list[Generation]]:
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.model.device)
        config = self._config(per_request, decoding, max_new_tokens, num_beams, temperature)
        beam = decoding == "beam"
        out = self.model.generate(**enc, generation_config=config)
        width = enc["input_ids"].shape[1]
        completions = [self._until_stop(row[width:].tolist()) for row in out.sequences]
        steps = self._token_logprobs(out, beam, width)
        logprobs = [float(steps[i, : len(c)].sum()) for i, c in enumerate(completions)]
        owners = [i // per_request for i in range(len(completions))]
        grouped: list[dict[str, Generation]] = [{} for _ in prompts]
        for owner, ids, lp in zip(owners, completions, logprobs, strict=True):
            text = self._text(ids)
            key = text_key(text)
            if key and (key not in grouped[owner] or grouped[owner][key].logprob < lp):
                grouped[owner][key] = Generation(text, lp)
        return [sorted(g.values(), key=lambda g: -g.logprob) for g in grouped]

    def _until_stop(self, ids: list[int]) -> list[int]:
        """The generated tokens up to and including the first stop token (padding after it dropped)."""
        stops = set(self._stop_ids)
        for j, t in enumerate(ids):
            if t in stops:
                return ids[: j + 1]
        return ids

    def _text(self, ids: list[int]) -> str:
        text = cast(str, self.tokenizer.decode(ids, skip_special_tokens=True))  # one sequence: one str
        # a token cap can cut a multi-byte character; its stray bytes decode to U+FFFD
        return clean_text(text.split("\n", 1)[0].replace("\ufffd", ""))

    # `out` is what `generate` returned: a beam or a non-beam output class, whose fields transformers types
    # as optional although the generation config asked for them
    def _token_logprobs(self, out: Any, beam: bool, width: int) -> torch.Tensor:
        """Log-probability of each generated token under the model (rows x steps), from what generate
        kept, so no second forward pass: raw logits for greedy and sampling (the temperature only
        shapes the draw), beam search's per-step log-softmax scores traced back along each beam."""
        if beam:
            return self.model.compute_transition_scores(
                out.sequences, out.scores, out.beam_indices, normalize_logits=False
            ).float()
        logp = torch.log_softmax(torch.stack(out.logits, dim=1).float(), dim=-1)
        return logp.gather(-1, out.sequences[:, width:].unsqueeze(-1)).squeeze(-1)
