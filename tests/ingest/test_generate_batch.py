"""`skd generate events|inferences --teacher openai-batch:...` against a FAKE OpenAI Batch API (the paid API
cannot run here): the same corpus as the synchronous teacher, the batches in the run manifest, and a run
killed with SIGKILL mid-batch that resumes polling the same batch instead of submitting it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skd.cli.common import get_settings
from skd.cli.main import app
from skd.core.errors import TeacherError
from skd.core.settings import Settings
from skd.graph_schema.triples_io import read_triples, triple_files
from skd.ingest.inferences import generate_inferences
from skd.models.teacher_batch import OpenAIBatchTeacher
from skd.pipeline.config import parse_config
from skd.pipeline.runner import run_pipeline
from tests.openai_batch_fake_server import BatchPlan, FakeBatchServer
from tests.openai_stub_server import StubServer

EVENTS = [
    "PersonX paints the fence",
    "PersonX buys a new phone",
    "PersonX visits PersonY's house",
    "PersonX bakes a cake",
]
FAST = {
    "SKD_TEACHER_BATCH_POLL_S": "0.02",
    "SKD_TEACHER_BATCH_POLL_MAX_S": "0.05",
    "SKD_TEACHER_BACKOFF_BASE_S": "0.01",
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBatchServer]:
    with FakeBatchServer() as srv:
        yield srv


@pytest.fixture
def fake(server: FakeBatchServer) -> FakeBatchServer:
    server.state.reset()
    return server


@pytest.fixture
def batch_env(fake: FakeBatchServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "SKD_TEACHER_BASE_URL": fake.base_url,
        "SKD_TEACHER_API_KEY": "k",
        "SKD_TEACHER_CACHE_PATH": str(tmp_path / "cache.sqlite"),
        "SKD_TEACHER_PRICE_PER_1K_PROMPT_TOKENS": "1.0",
        "SKD_TEACHER_PRICE_PER_1K_COMPLETION_TOKENS": "2.0",
        **FAST,
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def cli(*args: str) -> dict:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def triple_keys(run: Path) -> list[tuple[str, str, str]]:
    return [n.triple.key for f in triple_files(run) for n in read_triples(f)]


def batch_teacher(fake: FakeBatchServer) -> OpenAIBatchTeacher:
    return OpenAIBatchTeacher("fake-model", base_url=fake.base_url, api_key="k", poll_s=0.01, poll_max_s=0.03)


def test_cli_events_then_inferences_through_the_batch_api(
    batch_env: dict[str, str], fake: FakeBatchServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    events = cli(
        "generate", "events", "--teacher", "openai-batch:fake-model", "--n", "15", "--run", str(run), "--no-graph"
    )
    inf = cli("generate", "inferences", "--run", str(run), "--relations", "xWant,xNeed", "--per-pair", "3")
    assert events["complete"] and events["teacher"] == "openai-batch:fake-model"
    assert inf["complete"] and inf["pairs"] == 30 and inf["teacher"] == "openai-batch:fake-model"
    # the run's manifest holds every batch the fake created, with what each held and what it cost
    manifest = json.loads((run / "manifest.json").read_text())
    records = manifest["teacher_batches"]
    assert [r["batch_id"] for r in records] == fake.state.created and fake.state.uploads == len(records)
    assert all(r["status"] == "completed" and r["processed"] and r["input_file_id"] for r in records)
    assert [r["custom_ids"] for r in records] == [fake.state.custom_ids[b] for b in fake.state.created]
    usage = manifest["stages"]["inferences"]["usage"]
    assert usage["requests"] == 30 and usage["cost"] > 0
    # the same corpus as the synchronous teacher writes from the same answers, at half the price
    with StubServer() as stub:
        monkeypatch.setenv("SKD_TEACHER_BASE_URL", stub.base_url)
        get_settings.cache_clear()
        sync_run = tmp_path / "sync"
        cli("generate", "events", "--teacher", "openai:fake-model", "--n", "15", "--run", str(sync_run), "--no-graph")
        sync = cli("generate", "inferences", "--run", str(sync_run), "--relations", "xWant,xNeed", "--per-pair", "3")
    assert triple_keys(run) == triple_keys(sync_run) and inf["triples"] == sync["triples"] > 0
    assert usage["cost"] == pytest.approx(sync["usage"]["cost"] * 0.5, rel=1e-3)
    rows = [n.triple for f in triple_files(run) for n in read_triples(f)]
    assert all(t.teachers == ["openai-batch:fake-model"] for t in rows)


FAULTS = {
    # a line of the error file, every time it is tried
    "failed line": (
        [BatchPlan(fail=1)] * 3,
        r"1 requests failed \(after 3 batches\): skd-\w+ \(500: fake failure\)",
        1,
    ),
    # an output line that is not JSON, every time
    "malformed line": ([BatchPlan(malformed=1)] * 3, r"\(after 3 batches\).*is not JSON", 1),
    # a 404 for the line (an unknown model, say): not tried again
    "404 line": ([BatchPlan(fail=1, fail_status=404)], r"\(after 1 batch\).*404: fake failure", 1),
    # the batch refused at validation (the model does not exist): nothing answered
    "failed batch": ([BatchPlan(fail_code="model_not_found")], r"batch batch-fake\d+ failed: model_not_found", 4),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_stage_stopped_by_a_fault_resumes_without_losing_or_duplicating_triples(
    fake: FakeBatchServer, tmp_path: Path, fault: str
) -> None:
    plans, message, asked_again = FAULTS[fault]
    run, whole = tmp_path / "run", tmp_path / "whole"
    # the stage's second batch of pairs (5-8 of 8) meets the fault: the stage stops with a one-line error
    fake.state.plans.extend([BatchPlan(), *plans])
    with pytest.raises(TeacherError, match=message) as err:
        generate_inferences(batch_teacher(fake), run, "xWant,xNeed", 2, events=EVENTS, batch_pairs=4)
    assert "\n" not in str(err.value)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["stages"]["inferences"]["status"].startswith("failed")
    assert [r["batch_id"] for r in manifest["teacher_batches"]] == fake.state.created
    before, done = len(fake.state.created), len(triple_keys(run))
    again = generate_inferences(batch_teacher(fake), run, "xWant,xNeed", 2, events=EVENTS, batch_pairs=4)
    assert again.complete
    # the rerun asked only what no recorded batch had answered (those were downloaded again, not paid)
    assert sum(len(fake.state.custom_ids[b]) for b in fake.state.created[before:]) == asked_again
    generate_inferences(batch_teacher(fake), whole, "xWant,xNeed", 2, events=EVENTS, batch_pairs=4)
    keys = triple_keys(run)
    assert len(keys) == len(set(keys)) and keys == triple_keys(whole) and 0 < done < len(keys)


def test_a_wrong_key_is_one_line_and_a_nonzero_exit(
    batch_env: dict[str, str], fake: FakeBatchServer, tmp_path: Path
) -> None:
    fake.state.api_key = "the-right-one"
    res = CliRunner().invoke(
        app,
        [
            *("generate", "inferences", "--teacher", "openai-batch:fake-model", "--run", str(tmp_path / "r")),
            *("--events", str(_events_file(tmp_path)), "--relations", "xWant"),
        ],
    )
    assert res.exit_code == 4
    lines = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "401 Incorrect API key" in lines[0] and "SKD_TEACHER_API_KEY" in lines[0]


def _events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.txt"
    path.write_text("\n".join(EVENTS) + "\n")
    return path


def _manifest_batch_ids(run: Path) -> list[str]:
    try:
        records = json.loads((run / "manifest.json").read_text()).get("teacher_batches", [])
    except (OSError, json.JSONDecodeError):
        return []
    return [r["batch_id"] for r in records if r.get("batch_id")]


def test_a_killed_cli_run_resumes_polling_its_batch(fake: FakeBatchServer, tmp_path: Path) -> None:
    """SIGKILL a real `skd generate inferences` while its batch runs; the rerun polls that same batch."""
    run, events = tmp_path / "run", _events_file(tmp_path)
    env = {
        **os.environ,
        "SKD_TEACHER_BASE_URL": fake.base_url,
        "SKD_TEACHER_API_KEY": "k",
        "SKD_TEACHER_CACHE_PATH": str(tmp_path / "cache.sqlite"),
        **FAST,
    }
    command = [sys.executable, "-c", "from skd.cli.main import app; app()", "generate", "inferences"]
    command += ["--teacher", "openai-batch:fake-model", "--events", str(events), "--run", str(run)]
    command += ["--relations", "xWant,xNeed,xAttr", "--per-pair", "2", "--json"]
    fake.state.polls_to_complete = 10**6  # it runs until the test lets it finish
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not _manifest_batch_ids(run):
            time.sleep(0.02)
        assert _manifest_batch_ids(run) == fake.state.created and len(fake.state.created) == 1
        while fake.state.retrieves < 3 and time.monotonic() < deadline:  # polling, not yet done
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL and not triple_keys(run)
    fake.state.polls_to_complete = 2
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["complete"] and summary["pairs"] == 12
    # exactly one batch and one upload for those requests, across both processes
    assert len(fake.state.created) == 1 and fake.state.uploads == 1
    assert _manifest_batch_ids(run) == fake.state.created
    # and the same triples as a run that was never interrupted
    whole = tmp_path / "whole"
    generate_inferences(batch_teacher(fake), whole, "xWant,xNeed,xAttr", 2, events=str(events))
    assert triple_keys(run) == triple_keys(whole) and summary["triples"] == len(triple_keys(whole)) > 0
    assert summary["usage"]["requests"] == 12  # the killed process's requests were counted once, here


def test_the_pipeline_runs_its_teacher_stages_through_the_batch_api(fake: FakeBatchServer, tmp_path: Path) -> None:
    doc = {
        "run": {"name": "batch", "dir": str(tmp_path / "run"), "relations": ["xWant", "xNeed"]},
        "teacher": {"model": "openai-batch:fake-model", "base_url": fake.base_url, "cache": False},
        "events": {"n": 8, "prompts_per_batch": 8},
        "inferences": {"per_pair": 2, "max_tokens": 8},
    }
    settings = Settings(teacher_api_key="k", teacher_batch_poll_s=0.01, teacher_batch_poll_max_s=0.03)
    result = run_pipeline(parse_config(doc, tmp_path), settings=settings, until_stage="inferences")
    counts = result.report["counts"]
    assert counts["events"]["events"] == 8 and counts["inferences"]["pairs"] == 16
    # each teacher stage's batches are in its own folder's manifest: every batch the fake made, once
    recorded = [r["batch_id"] for name in ("events", "inferences") for r in _manifest_records(tmp_path / "run" / name)]
    assert recorded == fake.state.created and len(recorded) >= 2


def _manifest_records(run: Path) -> list[dict]:
    path = run / "manifest.json"
    return json.loads(path.read_text()).get("teacher_batches", []) if path.exists() else []
