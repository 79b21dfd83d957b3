"""Fine-tuning the student: a plain loop with accumulation, validation, early stopping and resumable checkpoints.

The output folder holds the best weights so far (`save_pretrained`), the tokenizer, `student.json`
and a model card; `checkpoint/` holds what resuming needs: `ckpt.pt` (config, step, weights,
optimiser, best validation loss) and the exact train/validation triples, so a resumed run needs
nothing but the folder.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from skd.core.errors import InputError, ModelError
from skd.graph_schema.records import Triple
from skd.graph_schema.text import text_key
from skd.models.loading import CausalLM, load_causal_lm
from skd.models.student import read_info, write_info
from skd.models.student_card import write_model_card
from skd.models.student_data import (
    FORMAT,
    read_examples,
    select_triples,
    split_by_event,
    to_example,
    write_examples,
)

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["CKPT_DIR", "TrainConfig", "TrainProgress", "TrainResult", "train_student", "validation_loss"]

CKPT_DIR = "checkpoint"


@dataclass
class TrainConfig:
    base: str = "smollm2"
    max_steps: int = 1000
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 5e-5
    min_lr_ratio: float = 0.1  # cosine decay ends at lr * this
    warmup_steps: int | None = None  # None: a tenth of max_steps, at most 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_every: int = 100
    patience: int = 3  # evaluations without a better validation loss before stopping
    val_fraction: float = 0.05
    max_val_examples: int = 512
    max_len: int = 64
    seed: int = 0
    data: dict[str, Any] = field(default_factory=dict)  # where the triples came from, for the card


@dataclass(frozen=True)
class TrainProgress:
    step: int
    max_steps: int
    train_loss: float
    lr: float
    val_loss: float | None = None  # set on evaluation steps
    best_val_loss: float | None = None


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    best_step: int
    best_val_loss: float | None
    train_loss: float | None
    stopped_early: bool
    train_examples: int
    val_examples: int
    resumed_from: int | None = None
    seconds: float = 0.0


# -- examples to tensors -------------------------------------------------------------------------


def encode(tok: PreTrainedTokenizerBase, prompt: str, target: str, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 on the prompt). Prompt and target are tokenised apart, exactly as
    generation sees them: the prompt alone, then whatever the model writes after it."""
    p = tok(prompt)["input_ids"]
    t = [*tok(target, add_special_tokens=False)["input_ids"][: max_len // 2], tok.eos_token_id]
    p = p[-(max_len - len(t)) :]  # keep the relation phrase at the end when a long event is cut
    return p + t, [-100] * len(p) + t


def collate(rows: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (x, y) in enumerate(rows):  # right padding, so positions need no adjusting
        ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


@lru_cache(maxsize=4)
def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()


def micro_batch(n: int, batch_size: int, seed: int, k: int) -> list[int]:
    """Indices of the k-th micro-batch: a fresh shuffle each epoch, a pure function of (seed, k), so a
    resumed run sees exactly the batches the interrupted one would have."""
    start = k * batch_size
    return [_epoch_order(n, seed, p // n)[p % n] for p in range(start, start + batch_size)]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to lr * min_lr_ratio (as in nanoGPT)."""
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else min(100, cfg.max_steps // 10)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, cfg.max_steps - warmup)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def validation_loss(
    model: CausalLM, rows: Sequence[tuple[list[int], list[int]]], pad_id: int, batch_size: int
) -> float:
    """Mean loss per target token over the validation rows."""
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        batch = collate(rows[i : i + batch_size], pad_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        total += float(
            torch.nn.functional.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(), labels.flatten(), ignore_index=-100, reduction="sum"
            )
        )
        count += int((labels != -100).sum())
    model.train()
    return total / max(1, count)


# -- the run ---------------------------------------------------------------------------------------


def _prepare(triples: Sequence[Triple], out: Path, cfg: TrainConfig) -> tuple[list[Triple], list[Triple]]:
    chosen = select_triples(triples)
    if not chosen:
        raise InputError("no training triples left (after dropping `none` tails, duplicates and score filters)")
    train, val = split_by_event(chosen, cfg.val_fraction, cfg.seed)
    write_examples(train, out / CKPT_DIR / "train.jsonl")
    write_examples(val, out / CKPT_DIR / "val.jsonl")
    return train, val


def _save_best(
    model: CausalLM,
    tok: PreTrainedTokenizerBase,
    out: Path,
    cfg: TrainConfig,
    metrics: dict[str, Any],
    train: list[Triple],
    val: list[Triple],
) -> None:
    model.save_pretrained(out)
    tok.save_pretrained(out)
    info = read_info(out)
    info.update(
        name=out.name,
        format=FORMAT,
        base=cfg.base,
        data={
            **cfg.data,
            "train_triples": len(train),
            "val_triples": len(val),
            "train_events": len({text_key(t.head) for t in train}),
            "val_events": len({text_key(t.head) for t in val}),
        },
        training={k: v for k, v in asdict(cfg).items() if k != "data"},
        metrics=metrics,
    )
    write_info(out, info)
    write_model_card(out, info)


def train_student(
    triples: Sequence[Triple],
    out_dir: str | Path,
    base: str = "smollm2",
    max_steps: int = 1000,
    batch_size: int = 16,
    grad_accum: int = 1,
    lr: float = 5e-5,
    eval_every: int = 100,
    patience: int = 3,
    seed: int = 0,
    resume: bool = True,
    progress: Callable[[TrainProgress], None] | None = None,
    models_dir: Path | None = None,
    **options: Any,
) -> TrainResult:
    """Fine-tune `base` on `triples` (event, relation -> inference) and save the best student in `out_dir`.

    With `resume` and a checkpoint in `out_dir`, the run goes on from it with its stored config and
    data (`triples` is then not read; `max_steps` may be raised to train longer). Other `TrainConfig`
    fields (val_fraction, max_len, warmup_steps, weight_decay, data, ...) go in `options`. `models_dir`
    (`Settings.models_dir`) is where a bundled base such as `smollm2` is converted once.
    """
    unknown = set(options) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise InputError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    out = Path(out_dir)
    ckpt_path = out / CKPT_DIR / "ckpt.pt"
    ckpt = torch.load(ckpt_path, weights_only=False) if resume and ckpt_path.exists() else None
    if ckpt:
        cfg = TrainConfig(**{**ckpt["config"], "max_steps": max(max_steps, ckpt["config"]["max_steps"])})
        train, val = read_examples(out / CKPT_DIR / "train.jsonl"), read_examples(out / CKPT_DIR / "val.jsonl")
    else:
        cfg = TrainConfig(
            base=str(base),
            max_steps=max_steps,
            batch_size=batch_size,
            grad_accum=grad_accum,
            lr=lr,
            eval_every=eval_every,
            patience=patience,
            seed=seed,
            **options,
        )
        train, val = _prepare(triples, out, cfg)
    if min(cfg.max_steps, cfg.batch_size, cfg.grad_accum, cfg.eval_every) < 1:
        raise InputError("max_steps, batch_size, grad_accum and eval_every must be at least 1")

    torch.manual_seed(cfg.seed)
    model, tok = load_causal_lm(cfg.base, models_dir)
    if tok.eos_token_id is None:
        raise ModelError(f"base model {cfg.base!r} has no end-of-sequence token")
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best, best_step, bad_evals, stopped = 0, math.inf, 0, 0, False
    if ckpt:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        step, best, best_step = ckpt["step"], ckpt["best_val_loss"], ckpt["best_step"]
        bad_evals, stopped = ckpt["bad_evals"], ckpt["stopped_early"]
        torch.set_rng_state(ckpt["rng"])  # dropout draws on from where the interrupted run was

    train_rows = [encode(tok, e.prompt, e.target, cfg.max_len) for e in map(to_example, train)]
    val_rows = [encode(tok, e.prompt, e.target, cfg.max_len) for e in map(to_example, val)][: cfg.max_val_examples]
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    started, first_step, loss_ema = time.monotonic(), step, None

    model.train()
    while step < cfg.max_steps and not stopped:
        lr_now = lr_at(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr_now
        for micro in range(cfg.grad_accum):
            idx = micro_batch(len(train_rows), cfg.batch_size, cfg.seed, step * cfg.grad_accum + micro)
            loss = model(**collate([train_rows[i] for i in idx], pad)).loss / cfg.grad_accum
            loss.backward()
            loss_now = loss.item() * cfg.grad_accum
            loss_ema = loss_now if loss_ema is None else 0.9 * loss_ema + 0.1 * loss_now
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        val_loss = None
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            # without validation data the latest weights count as the best
            val_loss = validation_loss(model, val_rows, pad, cfg.batch_size) if val_rows else -float(step)
            if val_loss < best:
                best, best_step, bad_evals = val_loss, step, 0
                metrics = {
                    "best_val_loss": best if val_rows else None,
                    "best_step": best_step,
                    "steps": step,
                    "train_loss": loss_ema,
                }
                _save_best(model, tok, out, cfg, metrics, train, val)
            else:
                bad_evals += 1
                stopped = bad_evals >= cfg.patience
            torch.save(
                {
                    "config": asdict(cfg),
                    "step": step,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "best_val_loss": best,
                    "best_step": best_step,
                    "bad_evals": bad_evals,
                    "stopped_early": stopped,
                    "rng": torch.get_rng_state(),
                },
                ckpt_path,
            )
        if progress:
            progress(
                TrainProgress(
                    step,
                    cfg.max_steps,
                    loss_ema or 0.0,
                    lr_now,
                    val_loss if val_rows else None,
                    best if val_rows else None,
                )
            )

    info = read_info(out)
    info.setdefault("metrics", {}).update(steps=step, stopped_early=stopped)
    write_info(out, info)
    write_model_card(out, info)
    return TrainResult(
        out,
        step,
        best_step,
        best if val_rows and best < math.inf else None,
        info["metrics"].get("train_loss"),
        stopped,
        len(train),
        len(val),
        resumed_from=first_step if ckpt else None,
        seconds=time.monotonic() - started,
    )
