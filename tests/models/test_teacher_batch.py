"""The `openai-batch:` teacher over real HTTP against a FAKE OpenAI Batch API (the paid API cannot run here):
answers, retries of failed lines, expiry, splitting, caps, resume from the journal, faults."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skd.core.errors import BudgetExceededError, TeacherError
from skd.core.settings import Settings
from skd.models.teacher import Budget, make_teacher, run_sync
from skd.models.teacher_batch import BatchPendingError, FileJournal, OpenAIBatchTeacher
from skd.models.teacher_openai import OpenAITeacher
from tests.openai_batch_fake_server import BatchPlan, FakeBatchServer, FakeBatchState
from tests.openai_stub_server import StubServer

DECODING = dict(n=2, max_tokens=16, temperature=0.9, top_p=0.95, stop=["\n"])
PROMPTS = [f"PersonX paints fence {i}. As a result, PersonX wants" for i in range(6)] + ["1. a\n2. b\n3."]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBatchServer]:
    with FakeBatchServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    with StubServer() as srv:
        yield srv


@pytest.fixture
def fake(server: FakeBatchServer) -> FakeBatchServer:
    """The shared fake, emptied and answering normally after one status check."""
    server.state.reset()
    return server


def batch_teacher(fake: FakeBatchServer, **kw: object) -> OpenAIBatchTeacher:
    opts: dict[str, object] = dict(
        base_url=fake.base_url,
        api_key="k",
        timeout_s=5.0,
        poll_s=0.01,
        poll_max_s=0.03,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        max_retries=2,
    )
    opts.update(kw)
    return OpenAIBatchTeacher("fake-model", **opts)  # type: ignore[arg-type]


def ask(t: OpenAIBatchTeacher, prompts: list[str] = PROMPTS) -> list:
    return run_sync(t.complete(prompts, **DECODING))  # type: ignore[arg-type]


def expected(stub: StubServer, prompts: list[str] = PROMPTS, mode: str = "completion") -> list:
    """What the synchronous teacher gets for the same prompts from the stub server."""
    t = OpenAITeacher("fake-model", base_url=stub.base_url, api_key="k", mode=mode)  # type: ignore[arg-type]
    return run_sync(t.complete(prompts, **DECODING))  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_fake_batch_answers_as_the_synchronous_teacher_does(fake: FakeBatchServer, stub: StubServer, mode: str) -> None:
    t = batch_teacher(fake, mode=mode)
    got = ask(t, [*PROMPTS, PROMPTS[0]])  # a repeated prompt is one line of the file
    assert got == [*expected(stub, mode=mode), expected(stub, mode=mode)[0]]
    assert t.name == "openai-batch:fake-model" and json.loads(t.identity)["kind"] == "openai-batch"
    assert fake.state.created == t.batches and len(t.batches) == 1 and fake.state.uploads == 1
    lines = [json.loads(x) for x in next(iter(fake.state.files.values()))["bytes"].decode().splitlines()]
    url = "/v1/chat/completions" if mode == "chat" else "/v1/completions"
    assert len(lines) == len(PROMPTS) and all(x["method"] == "POST" and x["url"] == url for x in lines)
    assert lines[0]["body"]["n"] == 2 and lines[0]["body"]["model"] == "fake-model"
    assert fake.state.batches[t.batches[0]]["batch"]["endpoint"] == url
    assert t.usage.requests == len(PROMPTS) and t.usage.tokens > 0
    (rec,) = t.journal.load()
    assert rec["batch_id"] == t.batches[0] and rec["status"] == "completed" and rec["processed"]
    assert rec["custom_ids"] == [x["custom_id"] for x in lines] and rec["output_file_id"]
    assert rec["usage"]["completion_tokens"] == t.usage.completion_tokens


def test_failed_lines_are_retried_in_a_later_batch(fake: FakeBatchServer, stub: StubServer) -> None:
    # the first batch: 2 lines in the error file, one 500 in the output, one not JSON, one missing
    fake.state.plans.append(BatchPlan(fail=2, non_200=1, malformed=1, drop=1))
    t = batch_teacher(fake)
    assert ask(t) == expected(stub)
    assert len(fake.state.created) == 2
    first, second = (fake.state.custom_ids[b] for b in fake.state.created)
    assert second == first[:5]  # exactly the five that failed, in order
    assert t.usage.requests == len(PROMPTS) + 5
    records = t.journal.load()
    assert [r["attempt"] for r in records] == [1, 2] and records[0]["answered"] == 2


def test_requests_failing_every_batch_end_with_an_error_naming_them(fake: FakeBatchServer, stub: StubServer) -> None:
    fake.state.plans.extend([BatchPlan(malformed=1), BatchPlan(malformed=1)])
    t = batch_teacher(fake, max_attempts=2)
    with pytest.raises(TeacherError, match=r"1 requests failed \(after 2 batches\)") as err:
        ask(t)
    message = str(err.value)
    cid = fake.state.custom_ids[fake.state.created[0]][0]
    assert cid in message and "not JSON" in message and "\n" not in message
    partial = err.value.partial  # type: ignore[attr-defined]
    assert partial[0] is None and partial[1:] == expected(stub)[1:]


def test_a_model_the_server_lacks(fake: FakeBatchServer) -> None:
    fake.state.known_models = {"fake-model"}
    # refused at validation: the batch fails, nothing is retried
    with pytest.raises(TeacherError, match=r"failed: model_not_found: The model 'gpt-nope' does not exist"):
        ask(OpenAIBatchTeacher("gpt-nope", base_url=fake.base_url, api_key="k", poll_s=0.01))
    assert len(fake.state.created) == 1
    # or answered 404 line by line: final, not retried either
    fake.state.unknown_model = "lines"
    with pytest.raises(TeacherError, match=r"7 requests failed \(after 1 batch\).*404: The model 'gpt-nope'"):
        ask(OpenAIBatchTeacher("gpt-nope", base_url=fake.base_url, api_key="k", poll_s=0.01))
    assert len(fake.state.created) == 2


def test_an_expired_batch_gives_its_finished_part_and_the_rest_goes_again(
    fake: FakeBatchServer, stub: StubServer
) -> None:
    fake.state.plans.append(BatchPlan(expire_after=3))
    t = batch_teacher(fake)
    assert ask(t) == expected(stub)
    first, second = (fake.state.custom_ids[b] for b in fake.state.created)
    assert second == first[3:]
    assert [r["status"] for r in t.journal.load()] == ["expired", "completed"]


def test_a_batch_cancelled_elsewhere_is_an_error_and_asking_again_submits_the_rest(
    fake: FakeBatchServer, stub: StubServer
) -> None:
    fake.state.plans.append(BatchPlan(cancel_after_polls=1))
    t = batch_teacher(fake)
    with pytest.raises(TeacherError, match="was cancelled outside skd"):
        ask(t)
    assert ask(t) == expected(stub) and len(fake.state.created) == 2
    # the cancel endpoint works too
    resp = httpx.post(f"{fake.base_url}/batches/{fake.state.created[1]}/cancel")
    assert resp.status_code == 200 and resp.json()["status"] == "completed"  # too late: it had finished


def test_large_calls_are_split_at_the_request_and_byte_limits(fake: FakeBatchServer, stub: StubServer) -> None:
    fake.state.max_requests = 3
    t = batch_teacher(fake, max_requests_per_batch=3)
    assert ask(t) == expected(stub)
    assert [len(fake.state.custom_ids[b]) for b in fake.state.created] == [3, 3, 1]
    one = max(r["bytes"] / r["requests"] for r in t.journal.load())  # the largest line, about
    fake.state.reset()
    fake.state.max_bytes = int(2.5 * one)
    t = batch_teacher(fake, max_bytes_per_batch=int(2.5 * one))
    assert ask(t) == expected(stub)
    sizes = [len(fake.state.custom_ids[b]) for b in fake.state.created]
    assert sum(sizes) == len(PROMPTS) and len(sizes) >= 3 and max(sizes) <= 2
    assert all(fake.state.batches[b]["batch"]["status"] == "completed" for b in fake.state.created)


def test_caps_are_applied_before_a_batch_is_submitted(fake: FakeBatchServer, stub: StubServer) -> None:
    t = batch_teacher(fake, budget=Budget(max_requests=4))
    with pytest.raises(BudgetExceededError, match="request cap") as err:
        ask(t)
    assert [len(fake.state.custom_ids[b]) for b in fake.state.created] == [4]
    assert err.value.partial[:4] == expected(stub)[:4] and err.value.partial[4:] == [None] * 3  # type: ignore[attr-defined]
    # a token cap with room for two requests' worst case: two are sent
    t = batch_teacher(fake)
    worst = t.estimate(PROMPTS[0], {**DECODING, "stop": ["\n"]})[0]
    t.budget = Budget(max_tokens=2 * worst + 1)
    with pytest.raises(BudgetExceededError, match="token cap"):
        ask(t, PROMPTS[:4])
    assert len(fake.state.custom_ids[fake.state.created[-1]]) == 2
    assert t.usage.tokens <= 2 * worst


def test_cost_is_at_the_batch_price_and_the_cost_cap_holds(fake: FakeBatchServer, stub: StubServer) -> None:
    prices = dict(teacher_price_per_1k_prompt_tokens=1.0, teacher_price_per_1k_completion_tokens=2.0)
    settings = Settings(teacher_base_url=fake.base_url, teacher_api_key="k", teacher_batch_poll_s=0.01, **prices)
    t = make_teacher("openai-batch:fake-model", settings)
    assert isinstance(t, OpenAIBatchTeacher) and t.name == "openai-batch:fake-model"
    sync = OpenAITeacher.from_settings("fake-model", settings.model_copy(update={"teacher_base_url": stub.base_url}))
    run_sync(sync.complete(PROMPTS, **DECODING))  # type: ignore[arg-type]
    ask(t)
    assert t.usage.tokens == sync.usage.tokens and t.usage.cost == pytest.approx(sync.usage.cost * 0.5)
    # a cost cap of one and a half requests' worst case (at the batch price): one request, then a clean stop
    one = t.estimate(PROMPTS[1], {**DECODING, "stop": ["\n"]})[1]
    capped = make_teacher("openai-batch:fake-model", settings.model_copy(update={"teacher_max_cost": 1.5 * one}))
    assert isinstance(capped, OpenAIBatchTeacher)
    with pytest.raises(BudgetExceededError, match="cost cap"):
        ask(capped, PROMPTS[1:4])
    assert len(fake.state.custom_ids[fake.state.created[-1]]) == 1 and 0 < capped.usage.cost <= one


def test_a_new_process_resumes_recorded_batches_instead_of_submitting_again(
    fake: FakeBatchServer, stub: StubServer, tmp_path: Path
) -> None:
    journal = tmp_path / "batches.json"
    fake.state.polls_to_complete = 10**6
    with pytest.raises(BatchPendingError, match="still running"):
        ask(batch_teacher(fake, journal=FileJournal(journal), wait_s=0.1))
    assert len(fake.state.created) == 1
    fake.state.polls_to_complete = 1
    again = batch_teacher(fake, journal=FileJournal(journal))  # a fresh teacher, as a new process has
    assert ask(again) == expected(stub)
    assert len(fake.state.created) == 1 and fake.state.uploads == 1 and again.batches == []
    assert again.usage.requests == len(PROMPTS)  # its first process never got to count them
    # finished batches are downloaded again for free, not paid twice
    third = batch_teacher(fake, journal=FileJournal(journal))
    assert ask(third) == expected(stub) and len(fake.state.created) == 1 and third.usage.tokens == 0
    # killed between the upload and batches.create's answer: the batch is found by its input file
    fake.state.polls_to_complete = 10**6
    others = [p + " again" for p in PROMPTS]
    with pytest.raises(BatchPendingError):
        ask(batch_teacher(fake, journal=FileJournal(journal), wait_s=0.05), others)
    records = json.loads(journal.read_text())["batches"]
    records[-1].update(batch_id=None, status="uploaded")
    journal.write_text(json.dumps({"batches": records}))
    fake.state.polls_to_complete = 0
    assert ask(batch_teacher(fake, journal=FileJournal(journal)), others) == expected(stub, others)
    assert len(fake.state.created) == 2 and fake.state.uploads == 2


def test_a_wrong_key_is_a_one_line_error(fake: FakeBatchServer) -> None:
    fake.state.api_key = "right"
    with pytest.raises(TeacherError, match=r"refused the credentials \(401 Incorrect API key") as err:
        ask(batch_teacher(fake, api_key="wrong"))
    assert "\n" not in str(err.value) and fake.state.uploads == 0


def test_a_server_that_disappears_then_comes_back_is_resumed(stub: StubServer, tmp_path: Path) -> None:
    state = FakeBatchState(polls_to_complete=10**6)
    journal = FileJournal(tmp_path / "batches.json")
    first = FakeBatchServer(state).start()
    port = first.port

    def pull_the_plug() -> None:
        deadline = time.monotonic() + 20
        while not state.created and time.monotonic() < deadline:
            time.sleep(0.01)
        first.stop()

    killer = threading.Thread(target=pull_the_plug)
    killer.start()
    try:
        with pytest.raises(TeacherError, match=r"cannot reach the Batch API at http://127\.0\.0\.1") as err:
            ask(batch_teacher(first, journal=journal, max_retries=1))
    finally:
        killer.join()
    assert "run again to resume" in str(err.value) and len(state.created) == 1
    state.polls_to_complete = 1
    with FakeBatchServer(state, port=port) as back:
        assert ask(batch_teacher(back, journal=journal)) == expected(stub)
    assert len(state.created) == 1 and state.uploads == 1


def test_the_journal_keeps_its_records_whole_with_custom_ids_encoded_once(tmp_path: Path) -> None:
    from skd.models.batch_journal import journal_json

    ids = [f"skd-{i:024x}" for i in range(1000)]
    records = [
        {"input_file_id": "file-1", "status": "in_progress", "custom_ids": ids[:600], "notes": ['"x:0" \\u0000']},
        {"input_file_id": "file-2", "status": "completed", "custom_ids": ids[600:], "usage": {"cost": 0.5}},
    ]
    journal = FileJournal(tmp_path / "batches.json")
    journal.save(records)
    records[0]["status"] = "completed"
    journal.save(records)
    assert FileJournal(tmp_path / "batches.json").load() == records
    cache: dict = {}
    text = journal_json({"batches": records}, "batches", cache)
    assert json.loads(text) == {"batches": records} and len(cache) == 2
    assert journal_json({"batches": records[1:]}, "batches", cache) and len(cache) == 1  # gone lists are let go
