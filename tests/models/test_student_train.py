"""The student's training loop on a tiny real GPT-2: loss goes down, checkpoints resume exactly, early stopping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from skd.core.errors import InputError
from skd.graph_schema.records import Triple
from skd.models.loading import load_causal_lm
from skd.models.student import read_info
from skd.models.student_data import read_examples, select_triples, to_example, triples_from_path
from skd.models.student_train import CKPT_DIR, TrainProgress, encode, micro_batch, train_student, validation_loss
from tests.tiny_models import tiny_gpt2


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


@pytest.fixture(scope="module")
def triples(atomic_sample: Path) -> list[Triple]:
    return select_triples(triples_from_path(atomic_sample))[:600]


class Interrupted(Exception):
    pass


def test_a_few_steps_lower_the_validation_loss(base: Path, triples: list[Triple], tmp_path: Path) -> None:
    seen: list[TrainProgress] = []
    result = train_student(
        triples,
        tmp_path,
        base=str(base),
        max_steps=30,
        batch_size=16,
        lr=3e-3,
        eval_every=10,
        progress=seen.append,
        val_fraction=0.1,
        warmup_steps=3,
    )
    model, tok = load_causal_lm(base)
    held_out = read_examples(tmp_path / CKPT_DIR / "val.jsonl")
    val = [encode(tok, e.prompt, e.target, 64) for e in map(to_example, held_out)]
    untrained = validation_loss(model, val, tok.pad_token_id, 16)
    assert result.best_val_loss is not None and result.best_val_loss < untrained - 0.5
    assert [p.step for p in seen] == list(range(1, 31))
    assert [p.step for p in seen if p.val_loss is not None] == [10, 20, 30]
    assert result.train_examples + result.val_examples == len(triples) and result.val_examples > 0

    info = read_info(tmp_path)
    assert info["base"] == str(base) and info["metrics"]["best_val_loss"] == pytest.approx(result.best_val_loss)
    assert info["data"]["train_triples"] == result.train_examples
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "## Data" in card and "best_val_loss" in card and str(result.train_examples) in card
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "tokenizer.json").exists()


def test_resume_continues_exactly_where_it_stopped(base: Path, triples: list[Triple], tmp_path: Path) -> None:
    kwargs = dict(base=str(base), max_steps=24, batch_size=8, grad_accum=2, lr=3e-3, eval_every=8, seed=3)
    straight = train_student(triples, tmp_path / "straight", **kwargs)

    def stop_at_16(p: TrainProgress) -> None:
        if p.step == 16:
            raise Interrupted

    with pytest.raises(Interrupted):
        train_student(triples, tmp_path / "cut", progress=stop_at_16, **kwargs)
    ckpt = torch.load(tmp_path / "cut" / CKPT_DIR / "ckpt.pt", weights_only=False)
    assert ckpt["step"] == 16 and ckpt["config"]["grad_accum"] == 2
    # the checkpoint carries config and data: resuming needs only the folder
    resumed = train_student([], tmp_path / "cut", max_steps=24)
    assert resumed.resumed_from == 16 and resumed.steps == 24
    assert resumed.best_val_loss == pytest.approx(straight.best_val_loss, abs=1e-5)


def test_early_stopping_when_validation_stops_improving(base: Path, triples: list[Triple], tmp_path: Path) -> None:
    result = train_student(
        triples, tmp_path, base=str(base), max_steps=100, batch_size=4, lr=0.0, eval_every=2, patience=2
    )
    assert result.stopped_early and result.steps == 6 and result.best_step == 2
    assert json.loads((tmp_path / "student.json").read_text())["metrics"]["stopped_early"] is True
    again = train_student([], tmp_path, max_steps=100)  # a stopped run stays stopped
    assert again.steps == 6 and again.stopped_early


def test_micro_batches_cover_each_epoch_once() -> None:
    first_epoch = [i for k in range(5) for i in micro_batch(20, 4, seed=0, k=k)]
    assert sorted(first_epoch) == list(range(20))
    assert micro_batch(20, 4, seed=0, k=7) == micro_batch(20, 4, seed=0, k=7)


def test_bad_training_input(base: Path, tmp_path: Path) -> None:
    none_only = [Triple("PersonX eats", "xNeed", "none")]
    with pytest.raises(InputError, match="no training triples"):
        train_student(none_only, tmp_path / "a", base=str(base), max_steps=1)
    with pytest.raises(InputError, match="unknown training option"):
        train_student(none_only, tmp_path / "b", base=str(base), max_step=1)
