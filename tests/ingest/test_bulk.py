"""Bulk first loads into a real local Neo4j: the same graph as the online load, and refusals before any change."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import pytest

from skd.core.errors import ConfigError, InputError
from skd.core.settings import Settings
from skd.graph_schema.connect import connect, embedded_server
from skd.graph_schema.neo4j_import import ARRAY_DELIMITER
from skd.ingest.bulk import bulk_load
from skd.ingest.load import load_path

PROVENANCE = [
    # the same triple twice with other provenance, a label, an unscored one, text that needs CSV quoting
    {"head": "PersonX buys a car", "relation": "xWant", "tail": "to drive it", "sources": ["teacher"],
     "runs": ["r1"], "teachers": ["smollm2"], "prompts": ["xWant@v1"], "critic_score": 0.75},
    {"head": "personx  buys a car.", "relation": "xWant", "tail": "To drive it", "sources": ["teacher"],
     "runs": ["r2"], "teachers": ["openai:m"], "prompts": ["xWant@v2"], "labels": [1]},
    {"head": 'PersonX says "hi, there"', "relation": "xReact", "tail": "friendly; warm", "sources": ["human"]},
]  # fmt: skip


@pytest.fixture
def inputs(tmp_path: Path, atomic_sample: Path, request: pytest.FixtureRequest) -> list[Path]:
    if request.config.getoption("--backend") == "arcadedb":
        pytest.skip("bulk import is Neo4j's; this run tests ArcadeDB only (--backend arcadedb)")
    tsv = tmp_path / "sample.tsv"
    with atomic_sample.open(encoding="utf-8") as f:
        tsv.write_text("".join(islice(f, 1500)), encoding="utf-8")
    jsonl = tmp_path / "provenance.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in PROVENANCE), encoding="utf-8")
    return [tsv, jsonl]


@pytest.fixture
def neo4j_settings(tmp_path: Path) -> Iterator[list[Settings]]:
    made: list[Settings] = []
    yield made
    for s in made:
        embedded_server(s).stop()


def _fresh(tmp_path: Path, name: str, made: list[Settings]) -> Settings:
    s = Settings(data_dir=tmp_path / name, graph_backend="neo4j")
    made.append(s)
    return s


def test_bulk_and_online_loads_give_identical_graphs(
    tmp_path: Path, inputs: list[Path], neo4j_settings: list[Settings]
) -> None:
    online = _fresh(tmp_path, "online", neo4j_settings)
    with connect(online) as store:
        for path in inputs:
            load_path(store, path, checkpoints=tmp_path / "ck")
        expected = list(store.export())
        stats = store.stats()
    # a bulk load into a database that holds anything is refused before anything is touched
    with pytest.raises(InputError, match="only fills an empty database"):
        bulk_load(online, inputs)
    with connect(online) as store:
        assert store.stats() == stats

    bulk = _fresh(tmp_path, "bulk", neo4j_settings)
    report = bulk_load(bulk, inputs)
    assert report.triples == stats["triples"] == len(expected) and report.read == 1503
    with connect(bulk) as store:
        assert list(store.export()) == expected  # keys, texts, scores, provenance, labels
        assert store.stats() == stats
        assert store.search_events("car")  # the full-text index is online after a bulk load
        merged = store.triple("PersonX buys a car", "xWant", "to drive it")
    assert merged is not None and merged.score == pytest.approx(0.75) and merged.labels == [1]
    assert merged.runs == ["r1", "r2"] and merged.teachers == ["smollm2", "openai:m"]


def test_bulk_needs_the_local_neo4j_and_names_what_to_do(tmp_path: Path, inputs: list[Path]) -> None:
    with pytest.raises(ConfigError, match="SKD_GRAPH_BACKEND=neo4j"):
        bulk_load(Settings(data_dir=tmp_path / "a", graph_backend="arcadedb"), inputs)
    with pytest.raises(ConfigError, match="neo4j-import"):
        bulk_load(Settings(data_dir=tmp_path / "b", graph_uri="bolt://127.0.0.1:1"), inputs)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()  # nothing started or written


def test_export_for_neo4j_admin_writes_the_import_files(
    tmp_path: Path, inputs: list[Path], neo4j_settings: list[Settings]
) -> None:
    s = _fresh(tmp_path, "graph", neo4j_settings)
    with connect(s) as store:
        load_path(store, inputs[1], checkpoints=tmp_path / "ck")
    out = tmp_path / "import"
    env = {**os.environ, "SKD_DATA_DIR": str(s.data_dir), "SKD_GRAPH_BACKEND": "neo4j"}
    proc = subprocess.run(
        [sys.executable, "-m", "skd.cli", "export", "--format", "neo4j-import", "--out", str(out)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with (out / "rel-X_WANT.csv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == [":START_ID(Event)", ":END_ID(Inference)", "score:double"]
    assert rows[1][:4] == ["personx buys a car", "to drive it", "0.75", "teacher"]
    assert rows[1][4].split(ARRAY_DELIMITER) == ["r1", "r2"]
    assert "database import full" in (out / "import-command.txt").read_text()
    again = subprocess.run(
        [sys.executable, "-m", "skd.cli", "export", "--format", "neo4j-import", "--out", str(out)],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert again.returncode == 2 and "not empty" in again.stderr
