"""The request cache keys on everything that changes a teacher's answer: endpoint, API mode, weights."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from skd.core.settings import Settings
from skd.ingest.cache import CachedTeacher, RequestCache
from skd.models.teacher import TeacherSample
from skd.models.teacher_local import LocalTeacher
from skd.models.teacher_openai import OpenAITeacher
from tests.tiny_models import tiny_gpt2


class CountingTeacher:
    """A teacher that answers with its own label, so a stale cache hit is visible in the text."""

    def __init__(self, name: str, identity: str, label: str) -> None:
        self.name, self.identity, self.label, self.calls = name, identity, label, 0

    async def complete(
        self, prompts: Sequence[str], *, n: int, max_tokens: int, temperature: float, top_p: float, stop: Sequence[str]
    ) -> list[list[TeacherSample]]:
        self.calls += len(prompts)
        return [[TeacherSample(text=f"{self.label}: {p}")] * n for p in prompts]


def _ask(teacher: CachedTeacher, prompt: str) -> str:
    got = asyncio.run(teacher.complete([prompt], n=1, max_tokens=8, temperature=0.0, top_p=1.0, stop=[]))
    return got[0][0].text


def test_same_name_other_identity_is_not_served_from_the_cache(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite")
    first = CountingTeacher("openai:m", "endpoint-a", "A")
    second = CountingTeacher("openai:m", "endpoint-b", "B")
    assert _ask(CachedTeacher(first, cache), "p") == "A: p"
    assert _ask(CachedTeacher(second, cache), "p") == "B: p"  # a switch of endpoint asks again
    again = CountingTeacher("openai:m", "endpoint-a", "A2")
    assert _ask(CachedTeacher(again, cache), "p") == "A: p" and again.calls == 0  # same identity: a hit
    cache.close()


def test_openai_identity_names_endpoint_and_mode() -> None:
    base = OpenAITeacher("m", base_url="http://127.0.0.1:1/v1", api_key="k")
    other_url = OpenAITeacher("m", base_url="http://127.0.0.1:2/v1", api_key="k")
    chat = OpenAITeacher("m", base_url="http://127.0.0.1:1/v1", api_key="k", mode="chat")
    same = OpenAITeacher("m", base_url="http://127.0.0.1:1/v1/", api_key="other-key")
    assert len({base.identity, other_url.identity, chat.identity}) == 3
    assert base.identity == same.identity  # a trailing slash or another key changes no answer
    assert base.name == other_url.name == chat.name == "openai:m"


def test_local_identity_follows_the_weights_in_the_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    folder = tiny_gpt2(tmp_path / "teacher", seed=0)
    before = LocalTeacher.load(folder, settings)
    tiny_gpt2(folder, seed=1)  # new weights, same folder and name
    after = LocalTeacher.load(folder, settings)
    assert before.name == after.name and before.identity != after.identity
    # a model built in code is fingerprinted by its parameters
    assert (
        LocalTeacher(after.model, after.tokenizer, "x").identity
        == LocalTeacher(after.model, after.tokenizer, "x").identity
    )
    assert (
        LocalTeacher(before.model, before.tokenizer, "x").identity
        != LocalTeacher(after.model, after.tokenizer, "x").identity
    )


def test_many_requests_are_read_and_kept_in_one_go(tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite")
    answers = {f"k{i}": [TeacherSample(text=f"answer {i}", logprob=-1.5, prompt_tokens=i)] for i in range(1200)}
    cache.put_many(list(answers.items()))
    keys = ["k3", "missing", "k1199", "k3", *(f"k{i}" for i in range(600, 1200))]
    got = cache.get_many(keys)  # more keys than one query takes, one asked twice, one never kept
    assert got[0] == got[3] == answers["k3"] and got[1] is None and got[2] == answers["k1199"]
    assert got[4:] == [answers[f"k{i}"] for i in range(600, 1200)]
    assert (cache.hits, cache.misses) == (len(keys) - 1, 1) and len(cache) == 1200
    cache.put_many([])
    cache.close()
