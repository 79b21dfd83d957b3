"""`skd student train | generate | eval` end to end with a tiny GPT-2 base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skd.cli.main import app
from tests.tiny_models import tiny_gpt2

runner = CliRunner()
DATA = """\
PersonX buys a car\txWant\tto drive it
PersonX buys a car\txNeed\tto save money
PersonX buys a car\txWant\tnone
PersonX eats pizza\txReact\tfull
PersonX goes to school\toReact\tproud
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    base = tiny_gpt2(root / "base")
    data = root / "data.tsv"
    data.write_text(DATA, encoding="utf-8")
    out = root / "student"
    result = runner.invoke(
        app,
        [
            "student",
            "train",
            "--from",
            str(data),
            "--out",
            str(out),
            "--base",
            str(base),
            "--max-steps",
            "80",
            "--batch-size",
            "4",
            "--lr",
            "0.01",
            "--eval-every",
            "40",
            "--val-fraction",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 80 and summary["train_examples"] == 4  # the `none` tail is left out
    return out, data


def test_train_writes_a_student_folder_with_its_card(trained: tuple[Path, Path]) -> None:
    out, data = trained
    info = json.loads((out / "student.json").read_text())
    assert info["data"]["sources"] == str(data) and info["data"]["triples_read"] == 5
    assert info["data"]["triples_kept"] == 4 and "triples_kept" in (out / "README.md").read_text()


def test_train_again_resumes_and_has_nothing_left_to_do(trained: tuple[Path, Path]) -> None:
    out, _ = trained
    result = runner.invoke(app, ["student", "train", "--out", str(out), "--max-steps", "80"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resumed_from"] == 80


def test_generate_prints_json(trained: tuple[Path, Path]) -> None:
    out, _ = trained
    result = runner.invoke(
        app, ["student", "generate", "PersonX buys a car", "--relation", "xWant,xNeed", "--model", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["inferences"]
    assert [(r["relation"], r["inference"]) for r in rows] == [("xWant", "to drive it"), ("xNeed", "to save money")]
    table = runner.invoke(
        app,
        ["student", "generate", "PersonX eats pizza", "-r", "xReact", "-m", str(out), "-n", "2", "--decoding", "beam"],
    )
    assert table.exit_code == 0 and "full" in table.output


def test_eval_reports_student_beside_teacher_run(trained: tuple[Path, Path], tmp_path: Path) -> None:
    out, data = trained
    run = tmp_path / "run"
    run.mkdir()
    (run / "triples-00000.jsonl").write_text(
        json.dumps({"head": "PersonX buys a car", "relation": "xWant", "tail": "to sell it", "source": "teacher"})
        + "\n"
    )
    result = runner.invoke(
        app,
        [
            "student",
            "eval",
            "--references",
            str(data),
            "--model",
            str(out),
            "--teacher-run",
            str(run),
            "--out",
            str(tmp_path / "report"),
            "--update-card",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "| metric | student | teacher |" in result.stdout and "| bleu1 | 1.000 | 0.667 |" in result.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["references"]["pairs"] == 1 and report["systems"]["teacher"]["outputs"] == 1
    assert "## Evaluation" in (out / "README.md").read_text()


def test_cli_errors_are_clear(trained: tuple[Path, Path], tmp_path: Path) -> None:
    out, data = trained
    no_data = runner.invoke(app, ["student", "train", "--out", str(tmp_path / "s")])
    assert no_data.exit_code == 2 and "--from" in no_data.output
    bad_rel = runner.invoke(app, ["student", "generate", "PersonX eats", "-r", "xFeels", "-m", str(out)])
    assert bad_rel.exit_code == 2 and "xFeels" in bad_rel.output
    both = runner.invoke(
        app,
        [
            "student",
            "eval",
            "--references",
            str(data),
            "-m",
            str(out),
            "--teacher-run",
            str(data),
            "--teacher",
            "smollm2",
        ],
    )
    assert both.exit_code == 2 and "not both" in both.output
