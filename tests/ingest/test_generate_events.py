"""Event generation: parsing and filtering, run folders, resume after a kill, the request cache, graph dedup."""

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

from skd.core.errors import InputError
from skd.graph_schema.records import make_triple
from skd.graph_schema.text import text_key
from skd.ingest.cache import RequestCache
from skd.ingest.events import event_problem, generate_events, normalise_event, parse_event_list
from skd.ingest.prompts import load_seed_events
from skd.models.teacher import Budget
from skd.models.teacher_openai import OpenAITeacher
from tests.openai_stub_server import StubServer


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with StubServer() as srv:
        yield srv


def teacher(server: StubServer, **kw: object) -> OpenAITeacher:
    return OpenAITeacher("stub-model", base_url=server.base_url, api_key="k", timeout_s=10, backoff_base_s=0.01, **kw)  # type: ignore[arg-type]


def events_of(run: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(run.glob("events-*.jsonl")) for line in p.read_text().splitlines()]


def test_parse_event_list_continues_the_open_item_then_numbered_lines() -> None:
    text = " PersonX goes home\n12. PersonX eats  dinner.\n13) PersonY calls\nThat is all.\n14. PersonX hides"
    assert parse_event_list(text) == [" PersonX goes home", "PersonX eats  dinner.", "PersonY calls"]


def test_normalise_and_junk_filter() -> None:
    assert normalise_event(' "person x  takes   Person y\'s car." ') == "PersonX takes PersonY's car"
    assert event_problem("PersonX runs fast") is None
    assert event_problem("PersonX runs") == "too short"
    assert event_problem("PersonY runs very fast") == "no PersonX"
    assert event_problem("PersonX " + "very " * 20 + "fast") == "too long"
    assert event_problem("PersonX goes goes home") == "repeated words"
    assert event_problem("PersonX plays with toys and toys and toys") == "repeated words"


def test_generate_events_writes_a_run_folder_with_provenance(server: StubServer, tmp_path: Path) -> None:
    run = tmp_path / "run"
    t = teacher(server)
    summary = generate_events(t, run, 30, prompts_per_batch=8)
    assert summary.complete and summary.events == summary.new == 30
    rows = events_of(run)
    assert len(rows) == 30 and len({r["key"] for r in rows}) == 30
    seed_keys = {text_key(s.text) for s in load_seed_events()}
    assert not seed_keys & {r["key"] for r in rows}
    row = rows[0]
    assert row["teacher"] == "openai:stub-model" and row["prompt"] == "events@v1" and row["run"] == summary.run_id
    assert len(row["provenance"]["examples"]) == 10 and row["provenance"]["decoding"]["temperature"] == 0.9
    assert row["provenance"]["logprob"] < 0
    manifest = json.loads((run / "manifest.json").read_text())
    stage = manifest["stages"]["events"]
    assert stage["status"] == "complete" and stage["events"] == 30
    assert stage["usage"]["requests"] == t.usage.requests and stage["usage"]["tokens"] > 0
    # the stub writes junk now and then: counted, and kept with its raw text
    rejects = [json.loads(line) for line in (run / "rejects.jsonl").read_text().splitlines()]
    assert stage["rejected"] == len(rejects) > 0 and all("raw" in r and r["reason"] for r in rejects)
    assert json.loads((run / "config.json").read_text())["stages"]["events"]["teacher"] == "openai:stub-model"


def test_resume_after_a_budget_stop_neither_duplicates_nor_loses(server: StubServer, tmp_path: Path) -> None:
    run, cache = tmp_path / "run", RequestCache(tmp_path / "cache.sqlite")
    first = generate_events(teacher(server, budget=Budget(max_requests=12)), run, 60, prompts_per_batch=8, cache=cache)
    assert not first.complete and "request cap" in (first.stopped or "")
    written = len(events_of(run))
    assert written == first.events > 0
    second = generate_events(teacher(server), run, 60, prompts_per_batch=8, cache=cache)
    assert second.complete and second.events == 60 and second.new == 60 - written
    keys = [r["key"] for r in events_of(run)]
    assert len(keys) == len(set(keys)) == 60
    # requests paid for before the cap were kept by the cache, so the resumed batch cost nothing twice
    assert second.stats["cached"] >= 4


def test_a_rerun_is_answered_by_the_cache(server: StubServer, tmp_path: Path) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite")
    generate_events(teacher(server), tmp_path / "a", 20, prompts_per_batch=8, cache=cache)
    before = server.state.requests
    again = generate_events(teacher(server), tmp_path / "b", 20, prompts_per_batch=8, cache=cache)
    assert server.state.requests == before  # nothing paid twice
    assert [r["event"] for r in events_of(tmp_path / "a")] == [r["event"] for r in events_of(tmp_path / "b")]
    assert again.stats["cached"] == again.stats["prompts"]


def test_a_killed_run_resumes_without_duplicates(server: StubServer, tmp_path: Path) -> None:
    """Kill a real `skd generate events` process with SIGKILL mid-run, then finish the run here."""
    run = tmp_path / "run"
    env = {
        **os.environ,
        "SKD_TEACHER_BASE_URL": server.base_url,
        "SKD_TEACHER_API_KEY": "k",
        "SKD_TEACHER_CACHE_PATH": str(tmp_path / "cache.sqlite"),
    }
    server.state.delay_s = 0.15
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from skd.cli.main import app; app()",
                "generate",
                "events",
                "--teacher",
                "openai:stub-model",
                "--n",
                "200",
                "--run",
                str(run),
                "--batch",
                "4",
                "--no-graph",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(p.read_text().count("\n") for p in run.glob("events-*.jsonl")) >= 10:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        server.state.delay_s = 0.0
    partial = events_of(run)
    assert 0 < len(partial) < 200
    summary = generate_events(teacher(server), run, 200, prompts_per_batch=4, cache=tmp_path / "cache.sqlite")
    keys = [r["key"] for r in events_of(run)]
    assert summary.complete and len(keys) == len(set(keys)) == 200
    assert keys[: len(partial)] == [r["key"] for r in partial]  # nothing already written was lost


def test_a_torn_last_line_is_repaired_on_resume(server: StubServer, tmp_path: Path) -> None:
    run = tmp_path / "run"
    generate_events(teacher(server), run, 10, prompts_per_batch=4)
    shard = next(run.glob("events-*.jsonl"))
    with shard.open("a") as f:
        f.write('{"event": "PersonX half wri')  # what a kill during a write leaves
    summary = generate_events(teacher(server), run, 15, prompts_per_batch=4)
    lines = shard.read_text().splitlines()
    assert all(json.loads(line) for line in lines) and summary.events == len(lines) == 15


def test_events_already_in_the_graph_are_dropped(server: StubServer, tmp_path: Path, store) -> None:
    cache = RequestCache(tmp_path / "cache.sqlite")
    first = [
        r["event"]
        for r in events_of(
            Path(generate_events(teacher(server), tmp_path / "a", 20, prompts_per_batch=8, cache=cache).run_dir)
        )
    ]
    store.upsert([make_triple(e, "xWant", "to rest", sources=["atomic2020"]) for e in first[:5]])
    summary = generate_events(teacher(server), tmp_path / "b", 20, store=store, prompts_per_batch=8, cache=cache)
    second = [r["event"] for r in events_of(tmp_path / "b")]
    assert summary.complete and len(second) == 20
    assert not set(first[:5]) & set(second)
    assert set(first[5:]) <= set(second)


def test_custom_seed_file_and_bad_inputs(server: StubServer, tmp_path: Path) -> None:
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("PersonX walks the dog\nPersonX bakes bread\nperson x paints a wall.\n")
    server.state.log.clear()
    generate_events(teacher(server), tmp_path / "run", 5, seeds, prompts_per_batch=2)
    prompt = server.state.log[0]["prompt"]
    assert "PersonX paints a wall" in prompt and "PersonX bakes bread" in prompt and prompt.endswith("4.")
    one = tmp_path / "one.txt"
    one.write_text("PersonX walks\n")
    with pytest.raises(InputError, match="at least 2"):
        generate_events(teacher(server), tmp_path / "r2", 5, one)
    with pytest.raises(InputError, match="cannot read"):
        generate_events(teacher(server), tmp_path / "r3", 5, tmp_path / "missing.txt")
    with pytest.raises(InputError, match="seed"):
        generate_events(teacher(server), tmp_path / "run", 5, prompts_per_batch=2, seed=7)


def _as_unsplit(rows: list[dict]) -> list[tuple[object, ...]]:
    """An event row less what differs between two runs of the same work: its id, run and time."""
    return [
        (r["event"], r["key"], r["teacher"], r["prompt"], {k: v for k, v in r["provenance"].items() if k != "time"})
        for r in rows
    ]


def test_event_shards_merge_into_exactly_the_unsplit_run(server: StubServer, tmp_path: Path) -> None:
    from skd.ingest.events import merge_event_runs
    from skd.ingest.run import Shard

    whole = generate_events(teacher(server), tmp_path / "whole", 60, prompts_per_batch=4)
    assert whole.complete and whole.stats["duplicates"] > 0  # the unsplit run drops events found twice
    folders = [tmp_path / f"events-{i}" for i in (1, 2, 3)]

    def shard(i: int, margin: float) -> object:
        return generate_events(
            teacher(server), folders[i - 1], 60, prompts_per_batch=4, shard=Shard(i, 3), shard_margin=margin
        )

    parts = [shard(i, 0.0) for i in (1, 2, 3)]
    batches = [{r["provenance"]["batch"] for r in events_of(f)} for f in folders]
    assert all(b and all(x % 3 == i for x in b) for i, b in enumerate(batches))  # round-robin, no batch twice
    assert all(p.shard == f"{i}/3" and p.target == 20 for i, p in zip((1, 2, 3), parts, strict=True))
    # with no margin the duplicates between shards leave their union short of n: the merge says so, and how
    with pytest.raises(InputError, match=r"fewer than the run's n=60.*resume shard 1/3.*--shard-margin") as e:
        merge_event_runs(folders)
    suggested = float(str(e.value).rsplit("about ", 1)[1].split(")")[0])
    shard(1, suggested)  # resumed, the shard goes on from where it stopped
    merged = merge_event_runs(folders)
    assert merged.complete and merged.n == 60 and len(merged.rows) == 60
    # the same events in the same order with the same provenance (batch, prompt, examples, decoding, logprob)
    assert _as_unsplit(merged.rows) == _as_unsplit(events_of(tmp_path / "whole"))
    shard_rows = [r for f in folders for r in events_of(f)]
    assert len({r["key"] for r in shard_rows}) < len(shard_rows)  # the shards found some events twice: kept once
    assert merge_event_runs(list(reversed(folders))).rows == merged.rows  # folder order does not matter
    assert merge_event_runs([tmp_path / "whole"]).events == [r["event"] for r in events_of(tmp_path / "whole")]

    with pytest.raises(InputError, match="shard 2/3 of this events run is missing"):
        merge_event_runs([folders[0], folders[2]])
    with pytest.raises(InputError, match="both shard 1/3"):
        merge_event_runs([folders[0], folders[0], folders[1]])
    with pytest.raises(InputError, match="whole events run, not a shard"):
        merge_event_runs([*folders, tmp_path / "whole"])
    generate_events(teacher(server), tmp_path / "other", 60, prompts_per_batch=4, seed=3, shard=Shard(3, 3))
    with pytest.raises(InputError, match="not shards of one run: seed"):
        merge_event_runs([*folders[:2], tmp_path / "other"])
    with pytest.raises(InputError, match="shard"):  # a folder keeps its shard
        generate_events(teacher(server), folders[0], 60, prompts_per_batch=4, shard=Shard(2, 3))


def test_event_shards_at_the_prompt_limit_are_the_unsplit_run_at_it(server: StubServer, tmp_path: Path) -> None:
    from skd.ingest.events import merge_event_runs
    from skd.ingest.run import Shard

    whole = generate_events(teacher(server), tmp_path / "whole", 500, prompts_per_batch=4, max_prompts=20)
    assert not whole.complete and whole.stop == "prompt_limit"
    folders = [tmp_path / f"events-{i}" for i in (1, 2)]
    for i, f in enumerate(folders, 1):
        part = generate_events(teacher(server), f, 500, prompts_per_batch=4, max_prompts=20, shard=Shard(i, 2))
        assert part.stop == "prompt_limit"
    merged = merge_event_runs(folders)
    assert not merged.complete and merged.covered == 5  # batches 0..4 are the 20 prompts
    assert _as_unsplit(merged.rows) == _as_unsplit(events_of(tmp_path / "whole"))
