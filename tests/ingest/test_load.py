"""Loading files into the real graph: bad lines, strict mode, resume after SIGKILL, export round trip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.graph_schema.store import GraphStore
from skd.graph_schema.triples_io import read_triples, write_jsonl
from skd.ingest.load import Checkpoint, count_lines, load_path

BAD_TSV = (
    "PersonX buys a car\txWant\tto drive it\n"
    "PersonX buys a car\txWant\n"  # line 2: two columns
    "PersonX sells a car\txWants\tmoney\n"  # line 3: unknown relation
    "\txNeed\tmoney\n"  # line 4: empty head
    "PersonX sells a car\txNeed\t  \n"  # line 5: empty tail
    "PersonX sells a car\txNeed\ta buyer\n"
)


def test_bad_lines_are_reported_with_file_and_line_and_skipped(store: GraphStore, tmp_path: Path) -> None:
    f = tmp_path / "bad.tsv"
    f.write_text(BAD_TSV)
    report = load_path(store, f, checkpoints=tmp_path / "ck")
    assert report.triples == 2
    assert [(e.line, e.path) for e in report.errors] == [(n, str(f)) for n in (2, 3, 4, 5)]
    messages = [e.message for e in report.errors]
    assert "found 2" in messages[0] and "'xWants'" in messages[1]
    assert messages[2] == "empty head" and messages[3] == "empty tail"
    assert store.stats()["triples"] == 2


def test_strict_stops_before_writing_anything(store: GraphStore, tmp_path: Path) -> None:
    f = tmp_path / "bad.tsv"
    f.write_text(BAD_TSV)
    with pytest.raises(InputError, match=r"bad\.tsv:2: expected 3"):
        load_path(store, f, checkpoints=tmp_path / "ck", strict=True)
    assert store.stats()["triples"] == 0


def test_bad_jsonl_rows_are_reported(store: GraphStore, tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    f.write_text(
        '{"head": "PersonX runs", "relation": "xWant", "tail": "to rest", "critic_score": 0.7}\n'
        '{"head": "PersonX runs", "relation": "xWant"\n'
        '{"head": "PersonX runs", "relation": "xNeed", "tail": "shoes", "score": "high"}\n'
    )
    report = load_path(store, f, checkpoints=tmp_path / "ck")
    assert report.triples == 1
    assert [e.line for e in report.errors] == [2, 3]
    assert "invalid JSON" in report.errors[0].message and "'high'" in report.errors[1].message
    edge = store.triple("PersonX runs", "xWant", "to rest")
    assert edge is not None and edge.score == pytest.approx(0.7) and edge.sources == ["import"]


def test_export_then_load_into_a_fresh_graph_is_identical(
    store: GraphStore, atomic_sample: Path, tmp_path: Path
) -> None:
    load_path(store, atomic_sample, checkpoints=tmp_path / "ck")
    store.set_scores([("PersonX takes things for granted", "xNeed", "to have wasted resources", 0.42)])
    store.annotate("PersonX takes things for granted", "xNeed", "to have wasted resources", 2)
    exported = list(store.export())
    out = tmp_path / "export.jsonl"
    with out.open("w", encoding="utf-8") as f:
        write_jsonl(exported, f)
    store.clear()
    assert store.stats()["triples"] == 0
    load_path(store, out, checkpoints=tmp_path / "ck")
    assert list(store.export()) == exported
    edge = store.triple("PersonX takes things for granted", "xNeed", "to have wasted resources")
    assert edge is not None and edge.labels == [2] and edge.score == pytest.approx(0.42)
    assert edge.sources == ["atomic2020", "human"]


def _skd(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skd.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


#: The kill waits for the checkpoint to pass this line; batches of KILL_BATCH triples leave about two hundred
#: transactions (seconds of work) after it, so the load cannot end between the last look and the kill.
KILL_AFTER_LINE = 3000
KILL_BATCH = 50


def test_load_killed_with_sigkill_and_rerun_gives_the_uninterrupted_graph(
    store: GraphStore, atomic_sample: Path, settings: object, tmp_path: Path
) -> None:
    # the graph an uninterrupted load makes
    load_path(store, atomic_sample, checkpoints=tmp_path / "ck")
    expected = list(store.export())
    store.clear()
    lines = count_lines(atomic_sample)
    assert (lines - KILL_AFTER_LINE) // KILL_BATCH >= 150  # batches still to commit when the kill lands

    env = {"SKD_GRAPH_BATCH_SIZE": str(KILL_BATCH)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "skd.cli", "load", str(atomic_sample)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = Checkpoint(Path(os.environ["SKD_DATA_DIR"]) / "load-checkpoints", atomic_sample, None)
    try:
        deadline = time.monotonic() + 120
        while checkpoint.line() < KILL_AFTER_LINE and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.005)
        # freeze it first: what is checked below is then the state the kill meets
        proc.send_signal(signal.SIGSTOP)
        assert proc.poll() is None, "the load finished before it could be killed"
        stopped_at = checkpoint.line()
        assert KILL_AFTER_LINE <= stopped_at < lines, stopped_at  # committed batches, and more to come
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = store.stats()["triples"]
    assert 0 < partial < len(expected)
    resumed_at = checkpoint.line()
    assert resumed_at >= KILL_AFTER_LINE and resumed_at == stopped_at

    result = _skd("load", str(atomic_sample), env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["resumed_from"] == {str(atomic_sample): resumed_at}
    assert list(store.export()) == expected
    assert checkpoint.line() == 0  # a finished load leaves no checkpoint


def test_cli_load_stats_export(store: GraphStore, tmp_path: Path) -> None:
    f = tmp_path / "bad.tsv"
    f.write_text(BAD_TSV)
    result = _skd("load", str(f))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["bad_lines"] == 4
    assert "bad.tsv:3" in result.stderr
    stats = json.loads(_skd("stats").stdout)
    assert stats["triples"] == 2 and stats["by_relation"] == {"xNeed": 1, "xWant": 1}
    out = tmp_path / "out.tsv"
    assert _skd("export", "--format", "tsv", "--out", str(out)).returncode == 0
    assert sorted(out.read_text().splitlines()) == [
        "PersonX buys a car\txWant\tto drive it",
        "PersonX sells a car\txNeed\ta buyer",
    ]
    strict = _skd("load", "--strict", str(f))
    assert strict.returncode == 2 and "bad.tsv:2" in strict.stderr


def test_loading_a_missing_path_is_a_clear_error(store: GraphStore, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_path(store, tmp_path / "nope.tsv", checkpoints=tmp_path / "ck")
    with pytest.raises(InputError, match="unknown triples format"):
        list(read_triples(tmp_path.parent / "x.csvx"))


def _run_folder(root: Path, accepted: bool) -> Path:
    """A run folder as generation and the critic leave it: raw shards, scored shards, what was accepted."""
    rows = [("PersonX runs", "xWant", "to rest", 0.9), ("PersonX runs", "xNeed", "a gas leak", 0.1)]
    (root / "scored").mkdir(parents=True)
    (root / "config.json").write_text("{}")
    with (root / "triples-00000.jsonl").open("w") as raw, (root / "scored" / "triples-00000.jsonl").open("w") as sc:
        for h, r, t, s in rows:
            row = {"head": h, "relation": r, "tail": t, "sources": ["teacher"]}
            raw.write(json.dumps(row) + "\n")
            sc.write(json.dumps({**row, "critic_score": s}) + "\n")
    if accepted:
        (root / "accepted.jsonl").write_text(
            json.dumps(
                {
                    **dict(zip(("head", "relation", "tail"), rows[0][:3], strict=True)),
                    "sources": ["teacher"],
                    "critic_score": 0.9,
                }
            )
            + "\n"
        )
    return root


def test_a_run_folder_loads_what_the_critic_accepted(store: GraphStore, tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "run", accepted=True)
    report = load_path(store, run, checkpoints=tmp_path / "ck")
    assert report.files == [str(run / "accepted.jsonl")] and report.triples == 1
    edge = store.triple("PersonX runs", "xWant", "to rest")
    assert edge is not None and edge.score == pytest.approx(0.9)
    assert store.triple("PersonX runs", "xNeed", "a gas leak") is None  # the critic's reject stays out
    everything = load_path(store, run, checkpoints=tmp_path / "ck", everything=True)
    assert everything.files == [str(run / "scored" / "triples-00000.jsonl")] and everything.triples == 2
    rejected = store.triple("PersonX runs", "xNeed", "a gas leak")
    assert rejected is not None and rejected.score == pytest.approx(0.1)  # --all keeps every score


def test_an_unfiltered_run_folder_needs_the_critic_or_all(store: GraphStore, tmp_path: Path) -> None:
    run = _run_folder(tmp_path / "run", accepted=False)
    with pytest.raises(InputError, match=r"no accepted\.jsonl.*--all"):
        load_path(store, run, checkpoints=tmp_path / "ck")
    assert store.stats()["triples"] == 0
    result = _skd("load", str(run))
    assert result.returncode == 2 and "--all" in result.stderr
    assert _skd("load", "--all", str(run)).returncode == 0
    assert store.stats()["triples"] == 2
