"""A Neo4j server killed in the middle of a load: a clear error, and a rerun that resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import pytest

from skd.core.settings import Settings
from skd.graph_schema.connect import connect, embedded_server
from skd.ingest.load import Checkpoint


def _skd(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skd.cli", *args], capture_output=True, text=True, env=env)


def test_neo4j_killed_mid_load_gives_a_clear_error_and_the_rerun_resumes_exactly(
    tmp_path: Path, atomic_sample: Path, request: pytest.FixtureRequest
) -> None:
    if request.config.getoption("--backend") == "arcadedb":
        pytest.skip("this run tests ArcadeDB only (--backend arcadedb)")
    data = tmp_path / "data"
    settings = Settings(data_dir=data, graph_backend="neo4j")
    server = embedded_server(settings)
    env = {
        **os.environ,
        "SKD_DATA_DIR": str(data),
        "SKD_GRAPH_BACKEND": "neo4j",
        "SKD_GRAPH_BATCH_SIZE": "50",  # many small transactions, so the kill lands mid-load
        "SKD_GRAPH_RETRY_TIME_S": "2",
    }
    source = tmp_path / "triples.tsv"
    with atomic_sample.open(encoding="utf-8") as f:
        source.write_text("".join(islice(f, 3000)), encoding="utf-8")
    try:
        server.start()
        checkpoint = Checkpoint(data / "load-checkpoints", source, None)
        loader = subprocess.Popen(
            [sys.executable, "-m", "skd.cli", "load", str(source)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while checkpoint.line() < 300 and loader.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        info = server.status()
        assert info is not None and loader.poll() is None, "the load ended before the server could be killed"
        os.kill(info.pid, signal.SIGKILL)  # the database goes away, not the loader
        _, err = loader.communicate(timeout=120)
        assert loader.returncode == 3, err
        assert "graph unreachable" in err and "Traceback" not in err
        stopped_at = checkpoint.line()
        assert 0 < stopped_at < 3000

        server.start()  # recovers its store, on the same port
        rerun = _skd(env, "load", str(source))
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["resumed_from"] == {str(source): stopped_at}
        with connect(settings) as store:
            resumed = list(store.export())
            store.clear()
        again = _skd(env, "load", "--restart", str(source))  # the same file, uninterrupted
        assert again.returncode == 0, again.stderr
        with connect(settings) as store:
            assert list(store.export()) == resumed
    finally:
        server.stop()
