"""`skd generate events|inferences` against the fake OpenAI server (the paid API cannot run here)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skd.cli.common import get_settings
from skd.cli.main import app
from skd.graph_schema.triples_io import read_triples, triple_files
from tests.openai_stub_server import StubServer


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StubServer]:
    with StubServer() as srv:
        monkeypatch.setenv("SKD_TEACHER_BASE_URL", srv.base_url)
        monkeypatch.setenv("SKD_TEACHER_API_KEY", "k")
        monkeypatch.setenv("SKD_TEACHER_CACHE_PATH", str(tmp_path / "cache.sqlite"))
        get_settings.cache_clear()
        yield srv
    get_settings.cache_clear()


def test_fake_openai_cli_generates_events_then_inferences(endpoint: StubServer, tmp_path: Path) -> None:
    runner, run = CliRunner(), tmp_path / "run"
    res = runner.invoke(
        app,
        [
            "generate",
            "events",
            "--teacher",
            "openai:stub",
            "--n",
            "15",
            "--run",
            str(run),
            "--batch",
            "4",
            "--no-graph",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["complete"] and summary["events"] == 15 and summary["teacher"] == "openai:stub"
    # no --teacher: the run's own events teacher is used again
    res = runner.invoke(
        app, ["generate", "inferences", "--run", str(run), "--relations", "xWant,xNeed", "--per-pair", "3", "--json"]
    )
    assert res.exit_code == 0, res.output
    inf = json.loads(res.stdout)
    assert inf["complete"] and inf["pairs"] == 30 and inf["relations"] == ["xWant", "xNeed"]
    triples = [n.triple for f in triple_files(run) for n in read_triples(f)]
    assert len(triples) == inf["triples"] > 0 and all(t.teachers == ["openai:stub"] for t in triples)


def test_fake_openai_cli_reports_bad_input(endpoint: StubServer, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        ["generate", "inferences", "--run", str(tmp_path / "r"), "--teacher", "openai:stub", "--relations", "xWish"],
    )
    assert res.exit_code == 2 and "unknown relation" in res.output
    res = CliRunner().invoke(
        app, ["generate", "events", "--teacher", "openai:stub", "--n", "0", "--run", str(tmp_path / "r"), "--no-graph"]
    )
    assert res.exit_code == 2 and "--n must be at least 1" in res.output


def test_cli_sharded_events_then_inferences_over_all_shards(endpoint: StubServer, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["generate", "events", "--teacher", "openai:stub", "--n", "20", "--batch", "4", "--no-graph", "--json"]
    for i in (1, 2):
        res = runner.invoke(
            app, [*base, "--run", str(tmp_path / f"ev-{i}"), "--shard", f"{i}/2", "--shard-margin", "1"]
        )
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["shard"] == f"{i}/2"
    res = runner.invoke(app, [*base, "--run", str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    inf = ["generate", "inferences", "--teacher", "openai:stub", "--relations", "xWant", "--per-pair", "2", "--json"]
    res = runner.invoke(
        app,
        [*inf, "--run", str(tmp_path / "a"), "--events", str(tmp_path / "ev-1"), "--events", str(tmp_path / "ev-2")],
    )
    assert res.exit_code == 0, res.output
    res2 = runner.invoke(app, [*inf, "--run", str(tmp_path / "b"), "--events", str(tmp_path / "ev")])
    assert res2.exit_code == 0, res2.output
    assert json.loads(res.stdout)["pairs"] == json.loads(res2.stdout)["pairs"] == 20
    res = runner.invoke(app, [*inf, "--run", str(tmp_path / "c"), "--events", str(tmp_path / "ev-1")])
    assert res.exit_code == 2 and "shard 2/2 of this events run is missing" in res.output


def test_fake_openai_a_refused_key_mid_run_ends_in_one_line_and_the_rerun_loses_nothing(
    endpoint: StubServer, tmp_path: Path
) -> None:
    import shutil
    from collections import deque

    runner, run, twin = CliRunner(), tmp_path / "run", tmp_path / "twin"
    events = ["generate", "events", "--teacher", "openai:stub", "--n", "12", "--batch", "4", "--no-graph"]
    assert runner.invoke(app, [*events, "--run", str(run)]).exit_code == 0
    shutil.copytree(run, twin)  # the same events: one copy is interrupted, the other not
    inferences = ["generate", "inferences", "--relations", "xWant,xNeed", "--per-pair", "2", "--json"]
    endpoint.state.failures = deque([401])
    refused = runner.invoke(app, [*inferences, "--run", str(run)])
    assert refused.exit_code == 4, refused.output
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "401" in errors[0] and "Traceback" not in refused.output
    assert runner.invoke(app, [*inferences, "--run", str(run)]).exit_code == 0  # the key is right again
    assert runner.invoke(app, [*inferences, "--run", str(twin)]).exit_code == 0

    def keys(folder: Path) -> list[tuple[str, str, str]]:
        return sorted(n.triple.key for f in triple_files(folder) for n in read_triples(f))

    resumed = keys(run)
    assert resumed == keys(twin) and len(resumed) == len(set(resumed)) > 0
