"""`skd critic ...` end to end with a tiny real BERT: bootstrap, train, info, score, filter, eval, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from skd.cli.main import app
from skd.graph_schema.store import GraphStore
from skd.models.critic import Critic
from skd.models.critic_labels import read_labels
from tests.known_metrics import pairwise_auc
from tests.tiny_models import tiny_bert

runner = CliRunner()


def _said(result: Result) -> str:
    """The command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def _ok(args: list[str]) -> dict:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained(atomic_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("critic-cli")
    sample = folder / "sample.tsv"
    sample.write_text("".join(atomic_sample.read_text(encoding="utf-8").splitlines(True)[:120]), encoding="utf-8")
    counts = _ok(["critic", "bootstrap", str(sample), "--out", str(folder / "weak.jsonl"), "--relations", "all"])
    assert counts["positives"] > 0 and counts["negatives_total"] > 0
    bert = tiny_bert(folder / "bert")
    report = _ok(
        [
            "critic",
            "train",
            str(folder / "weak.jsonl"),
            "--out",
            str(folder / "critic"),
            "--encoder",
            str(bert),
            "--epochs",
            "2",
            "--encoder-layers",
            "2",
        ]
    )
    assert report["critic"] == str(folder / "critic") and "0.8" in report["levels"]
    return folder, folder / "critic", sample


def test_info_score_filter_and_eval(trained: tuple[Path, Path, Path]) -> None:
    folder, critic, sample = trained
    info = _ok(["critic", "info", "--critic", str(critic)])
    assert info["mode"] == "pair" and info["encoder_layers"] == 2
    assert set(info["levels"]) == {"0.5", "0.6", "0.7", "0.8", "0.9"}

    scored = _ok(["critic", "score", str(sample), "--critic", str(critic), "--out", str(folder / "scored.jsonl")])
    assert scored["scored"] == 120 and scored["files"] == 1
    rows = [json.loads(x) for x in (folder / "scored.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 120 and all("critic_score" in r for r in rows)

    kept = _ok(
        [
            "critic",
            "filter",
            str(folder / "scored.jsonl"),
            "--critic",
            str(critic),
            "--out",
            str(folder / "kept.jsonl"),
            "--recall-level",
            "0.7",
        ]
    )
    cutoff = info["levels"]["0.7"]["cutoff"]
    assert kept["selection"]["cutoff"] == cutoff
    assert kept["accepted"] == sum(r["critic_score"] >= cutoff for r in rows)
    assert len((folder / "kept.jsonl").read_text(encoding="utf-8").splitlines()) == kept["accepted"]

    report = _ok(
        [
            "critic",
            "eval",
            str(folder / "weak.jsonl"),
            "--critic",
            str(critic),
            "--plot",
            str(folder / "pr.png"),
            "--out",
            str(folder / "eval.json"),
            "--json",
        ]
    )
    assert 0 <= report["roc_auc"] <= 1 and (folder / "pr.png").read_bytes()[:4] == b"\x89PNG"
    # the ROC-AUC of the critic's own scores of those labels, worked out here
    labels = read_labels(folder / "weak.jsonl")
    scores = Critic.load(critic).score([e.item for e in labels])
    assert report["n"] == len(labels) and report["positives"] == sum(e.acceptable for e in labels)
    assert report["roc_auc"] == pytest.approx(pairwise_auc([int(e.acceptable) for e in labels], scores), abs=1e-9)
    assert json.loads((folder / "eval.json").read_text(encoding="utf-8"))["n"] == report["n"]


def test_score_graph_through_the_cli(trained: tuple[Path, Path, Path], store: GraphStore) -> None:
    _, critic, sample = trained
    from skd.graph_schema.triples_io import read_triples

    store.upsert([n.triple for n in read_triples(sample)])
    summary = _ok(["critic", "score", "--graph", "--critic", str(critic)])
    assert summary["scored"] == summary["seen"] == store.stats()["triples"] > 0
    assert store.stats()["scored"] == summary["scored"]


def test_errors_name_what_is_wrong(
    trained: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, critic, sample = trained
    from skd.cli.common import get_settings

    monkeypatch.delenv("SKD_CRITIC_PATH", raising=False)
    get_settings.cache_clear()
    try:
        missing = runner.invoke(app, ["critic", "score", str(sample)])
        assert missing.exit_code == 2 and "SKD_CRITIC_PATH" in _said(missing)
    finally:
        get_settings.cache_clear()
    both = runner.invoke(app, ["critic", "score", str(sample), "--graph", "--critic", str(critic)])
    assert both.exit_code == 2 and "one of the two" in _said(both)
    bad_mode = runner.invoke(app, ["critic", "train", str(sample), "--out", str(tmp_path / "c"), "--mode", "x"])
    assert bad_mode.exit_code == 2 and "unknown mode" in _said(bad_mode)
    not_critic = runner.invoke(app, ["critic", "info", "--critic", str(tmp_path)])
    assert not_critic.exit_code == 4 and "not a critic folder" in _said(not_critic)
