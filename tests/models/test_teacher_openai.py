"""The OpenAI-compatible teacher over real HTTP against a fake OpenAI server (the paid API cannot run here)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator

import pytest

from skd.core.errors import BudgetExceededError, ConfigError, TeacherError
from skd.core.settings import Settings
from skd.models.teacher import Budget, make_teacher, run_sync
from skd.models.teacher_openai import OpenAITeacher, retry_after_s
from tests.openai_stub_server import StubServer, write_text

DECODING = dict(n=3, max_tokens=16, temperature=0.9, top_p=0.95, stop=["\n"])


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with StubServer() as srv:
        yield srv


@pytest.fixture
def stub(server: StubServer) -> StubServer:
    """The shared server, reset to answering normally once earlier tests' hung requests have ended."""
    for _ in range(400):
        if server.state.in_flight == 0:
            break
        time.sleep(0.01)
    server.state.failures = deque()
    server.state.delay_s, server.state.retry_after, server.state.max_choices = 0.0, None, None
    server.state.requests = server.state.max_in_flight = 0
    server.state.log.clear()
    return server


def teacher(stub: StubServer, **kw: object) -> OpenAITeacher:
    opts: dict[str, object] = dict(
        base_url=stub.base_url, api_key="test", timeout_s=5.0, backoff_base_s=0.01, backoff_max_s=0.05, max_retries=3
    )
    opts.update(kw)
    return OpenAITeacher("stub-model", **opts)  # type: ignore[arg-type]


def test_fake_openai_completion_mode_returns_n_samples_with_logprobs_and_usage(stub: StubServer) -> None:
    t = teacher(stub, budget=Budget(price_per_1k_prompt=1.0, price_per_1k_completion=2.0))
    prompts = ["Next steps.\n\n1. PersonX eats. As a result, PersonX wants", "Feelings.\n\n1. PersonX wins"]
    out = asyncio.run(t.complete(prompts, **DECODING))
    assert [len(samples) for samples in out] == [3, 3]
    # the stub's own text, cut at the stop sequence as a server would
    assert out[0][1].text == write_text(prompts[0], 1, 16).split("\n")[0]
    assert all(c.logprob is not None and c.logprob < 0 for samples in out for c in samples)
    assert stub.state.log[0]["model"] == "stub-model" and stub.state.log[0]["n"] == 3
    assert t.usage.requests == 2
    assert t.usage.prompt_tokens == sum(c.prompt_tokens for s in out for c in s) == sum(len(p.split()) for p in prompts)
    assert t.usage.completion_tokens == sum(c.completion_tokens for s in out for c in s) > 0
    assert t.usage.cost == pytest.approx((t.usage.prompt_tokens * 1.0 + t.usage.completion_tokens * 2.0) / 1000)


def test_fake_openai_chat_mode_sends_messages(stub: StubServer) -> None:
    t = teacher(stub, mode="chat")
    out = asyncio.run(t.complete(["Feelings.\n\n1. PersonX wins. As a result, PersonX feels"], **DECODING))
    body = stub.state.log[-1]
    assert body["messages"][0]["role"] == "system" and body["messages"][1]["content"].endswith("feels")
    assert len(out[0]) == 3 and all(c.text and c.logprob is not None for c in out[0])


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_fake_openai_asks_again_when_the_server_ignores_n(stub: StubServer, mode: str) -> None:
    stub.state.max_choices = 1  # llama.cpp's server (and Ollama's) answer one choice whatever n says
    t = teacher(stub, mode=mode)
    prompts = ["1. PersonX runs\n2.", "1. PersonX sits\n2."]
    out = asyncio.run(t.complete(prompts, **DECODING))
    assert [len(samples) for samples in out] == [3, 3] and all(c.text for s in out for c in s)
    assert stub.state.requests == t.usage.requests == 6
    assert sorted(body["n"] for body in stub.state.log) == [1, 1, 2, 2, 3, 3]  # the rest, each time
    # every request's prompt tokens are paid, and the samples still add up to what was metered
    assert (
        t.usage.prompt_tokens
        == sum(c.prompt_tokens for s in out for c in s)
        == 3 * sum(len(p.split()) for p in prompts)
    )
    assert t.usage.completion_tokens == sum(c.completion_tokens for s in out for c in s)


def test_fake_openai_chat_mode_asks_for_logprobs_with_top_logprobs(stub: StubServer) -> None:
    asyncio.run(teacher(stub, mode="chat").complete(["1. PersonX runs\n2."], **DECODING))
    assert stub.state.log[-1]["logprobs"] is True and stub.state.log[-1]["top_logprobs"] == 0
    asyncio.run(teacher(stub, mode="chat", logprobs=False).complete(["1. PersonX runs\n2."], **DECODING))
    assert "logprobs" not in stub.state.log[-1] and "top_logprobs" not in stub.state.log[-1]


def test_fake_openai_retries_429_honouring_retry_after(stub: StubServer) -> None:
    stub.state.failures = deque([429, 429])
    stub.state.retry_after = "0.2"
    t = teacher(stub)
    out = asyncio.run(t.complete(["1. PersonX runs\n2."], **DECODING))
    assert len(out[0]) == 3
    assert t.usage.retries == 2 and stub.state.requests == 3
    assert all(w >= 0.2 for w in t.waits)  # Retry-After is a floor under the jittered back-off


def test_fake_openai_retries_500_and_a_hung_request(stub: StubServer) -> None:
    stub.state.failures = deque([500, "hang"])
    stub.state.hang_s = 1.5
    t = teacher(stub, timeout_s=0.5)
    out = asyncio.run(t.complete(["1. PersonX runs\n2."], **DECODING))
    assert len(out[0]) == 3 and t.usage.retries == 2


def test_fake_openai_gives_up_after_max_retries(stub: StubServer) -> None:
    stub.state.failures = deque([500] * 10)
    t = teacher(stub, max_retries=2)
    with pytest.raises(TeacherError, match="after 3 tries"):
        asyncio.run(t.complete(["1. PersonX runs\n2."], **DECODING))
    assert stub.state.requests == 3


def test_fake_openai_concurrency_is_bounded(stub: StubServer) -> None:
    stub.state.delay_s = 0.05
    t = teacher(stub, concurrency=4)
    out = asyncio.run(t.complete([f"{i}. PersonX runs\n{i + 1}." for i in range(16)], **DECODING))
    assert len(out) == 16
    assert stub.state.max_in_flight == 4


def test_fake_openai_request_cap_stops_with_partial_results(stub: StubServer) -> None:
    t = teacher(stub, concurrency=1, budget=Budget(max_requests=3))
    with pytest.raises(BudgetExceededError) as info:
        asyncio.run(t.complete([f"{i}. PersonX runs\n{i + 1}." for i in range(5)], **DECODING))
    partial = info.value.partial  # type: ignore[attr-defined]
    assert stub.state.requests == 3 and sum(p is not None for p in partial) == 3


def test_fake_openai_token_cap(stub: StubServer) -> None:
    t = teacher(stub, concurrency=1, budget=Budget(max_tokens=1))
    with pytest.raises(BudgetExceededError, match="token cap"):
        asyncio.run(t.complete(["1. PersonX runs\n2.", "1. PersonX sits\n2."], **DECODING))
    assert stub.state.requests == 1


def test_fake_openai_teacher_survives_several_event_loops(stub: StubServer) -> None:
    t = teacher(stub)
    for _ in range(2):  # each run_sync is a fresh loop; the client must follow it
        assert len(run_sync(t.complete(["1. PersonX runs\n2."], **DECODING))[0]) == 3


def test_make_teacher_reads_the_endpoint_from_settings(stub: StubServer) -> None:
    s = Settings(
        teacher_base_url=stub.base_url,
        teacher_api_key="k",
        teacher_concurrency=3,
        teacher_max_requests=7,
        teacher_price_per_1k_prompt_tokens=0.5,
    )
    t = make_teacher("openai:gpt-x", s)
    assert isinstance(t, OpenAITeacher) and t.name == "openai:gpt-x" and t.mode == "completion"
    assert t.concurrency == 3 and t.budget.max_requests == 7 and t.budget.price_per_1k_prompt == 0.5
    assert make_teacher("openai-chat:gpt-y", s).mode == "chat"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError):
        make_teacher(
            "openai:gpt-x",
            Settings(teacher_base_url=None, teacher_api_key=None, openai_base_url=None, openai_api_key=None),
        )


def test_retry_after_header_forms() -> None:
    import httpx

    assert retry_after_s(httpx.Headers({"retry-after": "2"})) == 2.0
    assert retry_after_s(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert retry_after_s(httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert retry_after_s(httpx.Headers({})) is None


def _one_request(t: OpenAITeacher) -> None:
    run_sync(t.complete(["PersonX buys a car. As a result, PersonX wants"], **DECODING))


def test_the_openai_clients_own_environment_works_and_skd_settings_override_it(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SKD_TEACHER_BASE_URL", "SKD_TEACHER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-1")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-1")
    t = make_teacher("openai:m", Settings())
    assert isinstance(t, OpenAITeacher)
    _one_request(t)
    sent = stub.state.headers[-1]
    assert sent["authorization"] == "Bearer sk-from-env"
    assert sent["openai-organization"] == "org-1" and sent["openai-project"] == "proj-1"
    monkeypatch.setenv("SKD_TEACHER_API_KEY", "sk-skd")  # SKD_TEACHER_* wins
    overridden = make_teacher("openai:m", Settings())
    assert isinstance(overridden, OpenAITeacher)
    _one_request(overridden)
    assert stub.state.headers[-1]["authorization"] == "Bearer sk-skd"


def test_with_no_key_no_authorization_header_is_sent(stub: StubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "SKD_TEACHER_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    t = make_teacher("openai:m", Settings(teacher_base_url=stub.base_url))
    assert isinstance(t, OpenAITeacher)
    _one_request(t)
    assert "authorization" not in stub.state.headers[-1]  # a server of your own without auth sees none
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_teacher("openai:m", Settings(openai_base_url=None))  # OpenAI's own API without a key


@pytest.mark.parametrize(("status", "words"), [(401, "401"), (404, "404")])
def test_fake_openai_a_refusal_is_one_clear_error_not_retried(stub: StubServer, status: int, words: str) -> None:
    """A wrong key (401) or a model the server does not have (404) ends at once, saying what the server said."""
    stub.state.failures = deque([status] * 5)
    t = teacher(stub)
    with pytest.raises(TeacherError) as caught:
        asyncio.run(t.complete(["1. PersonX runs\n2."], **DECODING))
    message = str(caught.value)
    assert words in message and "\n" not in message and "Traceback" not in message
    assert stub.state.requests == 1  # not tried again: it would only be refused again


def test_fake_openai_a_server_that_disappears_is_a_clear_error() -> None:
    with StubServer() as gone:
        url = gone.base_url
    t = OpenAITeacher(
        "stub-model",
        base_url=url,
        api_key="test",
        timeout_s=1.0,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        max_retries=1,
    )
    with pytest.raises(TeacherError, match="after 2 tries") as caught:
        asyncio.run(t.complete(["1. PersonX runs\n2."], **DECODING))
    assert "\n" not in str(caught.value)
