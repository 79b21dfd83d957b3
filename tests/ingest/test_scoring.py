"""Applying a tiny real critic to run folders, files and the real graph: scores, resumption, filtering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.graph_schema.records import Triple
from skd.graph_schema.store import GraphStore
from skd.ingest.scoring import filter_path, score_graph, score_path
from skd.models.critic import Critic
from skd.models.critic_labels import bootstrap_labels
from skd.models.critic_train import train_critic
from tests.tiny_models import tiny_bert


@pytest.fixture(scope="module")
def critic(atomic_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Critic:
    folder = tmp_path_factory.mktemp("scoring-critic")
    sample = folder / "sample.tsv"
    sample.write_text("".join(atomic_sample.read_text(encoding="utf-8").splitlines(True)[:120]), encoding="utf-8")
    bootstrap_labels(sample, folder / "weak.jsonl")
    return train_critic(
        folder / "weak.jsonl", folder / "critic", encoder=str(tiny_bert(folder / "bert")), mode="head", epochs=2
    )


def _rows(n: int, start: int = 0) -> list[dict]:
    return [
        {
            "head": f"PersonX plays game {i}",
            "relation": "xWant" if i % 2 else "xNeed",
            "tail": f"to win round {i}",
            "source": "teacher",
            "run": "run-1",
            "example_ids": [i],
        }
        for i in range(start, start + n)
    ]


def _write(path: Path, rows: list[dict], extra: list[str] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(x + "\n" for x in extra), encoding="utf-8")
    return path


def _read(path: Path) -> list[dict]:
    """The well-formed rows of a JSONL file (test inputs include one broken line on purpose)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.endswith("}")]


def test_score_run_folder_in_place_keeps_fields_and_bad_rows(critic: Critic, tmp_path: Path) -> None:
    run = tmp_path / "run"
    _write(run / "triples-00000.jsonl", _rows(30), extra=["{broken json"])
    _write(run / "triples-00001.jsonl", _rows(12, start=30))
    (run / "manifest.json").write_text("{}", encoding="utf-8")
    seen: list[tuple[str, int, int]] = []
    summary = score_path(critic, run, batch_size=8, progress=lambda *a: seen.append(a))

    assert summary.files == 2 and summary.scored == 42 and summary.bad_lines == 1
    assert "triples-00000.jsonl:31" in summary.errors[0]
    rows = _read(run / "triples-00000.jsonl") + _read(run / "triples-00001.jsonl")
    expected = critic.score([(r["head"], r["relation"], r["tail"]) for r in rows])
    assert [r["critic_score"] for r in rows] == pytest.approx(expected, abs=1e-5)
    assert rows[0]["example_ids"] == [0] and rows[0]["run"] == "run-1"  # the producer's fields stay
    assert "{broken json" in (run / "triples-00000.jsonl").read_text(encoding="utf-8")
    assert seen[-1][1:] == (43, 43)
    assert not list(run.glob("*.partial*"))
    # a second run finds everything scored and skips it
    again = score_path(critic, run)
    assert again.files_skipped == 2 and again.scored == 0
    assert score_path(critic, run / "triples-00001.jsonl").files_skipped == 1


def test_score_resumes_from_the_last_batch_written(critic: Critic, tmp_path: Path) -> None:
    src = _write(tmp_path / "triples.jsonl", _rows(20))
    # an interrupted run: 5 rows written and noted, then half of a sixth that the note does not cover
    done = [{**r, "critic_score": 0.123} for r in _rows(5)]
    partial = tmp_path / "triples.jsonl.partial"
    text = "".join(json.dumps(r) + "\n" for r in done)
    partial.write_text(text + '{"head": "half a ro', encoding="utf-8")
    (tmp_path / "triples.jsonl.partial.pos").write_text(
        json.dumps({"line": 5, "offset": len(text.encode())}), encoding="utf-8"
    )
    summary = score_path(critic, src)
    rows = _read(src)
    assert summary.resumed_from_line == 5 and summary.scored == 15
    assert len(rows) == 20 and [r["tail"] for r in rows] == [r["tail"] for r in _rows(20)]
    assert [r["critic_score"] for r in rows[:5]] == [0.123] * 5  # kept, not scored again
    assert all(r["critic_score"] != 0.123 for r in rows[5:])
    assert not partial.exists()


def test_score_tsv_writes_a_scored_jsonl_beside_it_or_to_out(
    critic: Critic, atomic_sample: Path, tmp_path: Path
) -> None:
    tsv = tmp_path / "atomic.tsv"
    tsv.write_text("".join(atomic_sample.read_text(encoding="utf-8").splitlines(True)[:50]), encoding="utf-8")
    summary = score_path(critic, tsv)
    rows = _read(tmp_path / "atomic.scored.jsonl")
    assert summary.outputs == [str(tmp_path / "atomic.scored.jsonl")] and len(rows) == 50
    assert all(0 <= r["critic_score"] <= 1 and r["sources"] == ["atomic2020"] and "score" not in r for r in rows)
    out = score_path(critic, tsv, out=tmp_path / "elsewhere" / "scored.jsonl")
    assert _read(tmp_path / "elsewhere" / "scored.jsonl") == rows and out.scored == 50
    # an `out` without a JSONL suffix is a folder
    assert score_path(critic, tsv, out=tmp_path / "scored").outputs == [str(tmp_path / "scored" / "atomic.jsonl")]


def test_filter_keeps_the_triples_at_or_above_the_cutoff(critic: Critic, tmp_path: Path) -> None:
    src = _write(tmp_path / "in" / "triples.jsonl", _rows(40))
    score_path(critic, src)
    scores = [r["critic_score"] for r in _read(src)]
    out = tmp_path / "accepted.jsonl"
    summary = filter_path(critic, src, out, recall_level=0.5)
    cutoff = critic.cutoff(recall_level=0.5)
    kept = _read(out)
    assert summary.selection["cutoff"] == cutoff and summary.scored_now == 0  # used the stored scores
    assert summary.total == 40 and summary.accepted == len(kept) == sum(s >= cutoff for s in scores)
    assert all(r["critic_score"] >= cutoff for r in kept)
    assert sum(summary.accepted_by_relation.values()) == summary.accepted
    # unscored input is scored on the way; a stricter level never keeps more
    raw = _write(tmp_path / "raw.jsonl", _rows(40))
    loose = filter_path(critic, raw, tmp_path / "loose.jsonl", recall_level=0.9)
    assert loose.scored_now == 40 and loose.accepted >= summary.accepted
    with pytest.raises(InputError, match="not both"):
        filter_path(critic, raw, tmp_path / "x.jsonl", recall_level=0.8, min_precision=0.9)
    with pytest.raises(InputError, match="must not be one of the input"):
        filter_path(critic, raw, raw)


def test_score_graph_writes_scores_back(critic: Critic, store: GraphStore) -> None:
    triples = [
        Triple(f"PersonX reads book {i}", "xWant", f"to read chapter {i}", sources=["atomic2020"]) for i in range(30)
    ]
    store.upsert(triples)
    summary = score_graph(critic, store, chunk=7)
    assert summary.seen == summary.scored == summary.updated == 30
    stored = {(t.head, t.tail): t.score for t in store.export()}
    expected = critic.score(triples)
    assert [stored[(t.head, t.tail)] for t in triples] == pytest.approx(expected, abs=1e-5)
    assert store.stats()["scored"] == 30
    again = score_graph(critic, store, missing_only=True)
    assert again.scored == 0 and again.skipped_scored == 30
