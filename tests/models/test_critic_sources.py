"""A critic trained on several sources at once: weak labels made from a human graph, judged teacher output;
calibrated on the judged labels whenever there are any, and saying so in its card."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.graph_schema.text import text_key
from skd.models.critic import Critic
from skd.models.critic_train import WEAK_CALIBRATION, gather_labels, train_critic
from tests.tiny_models import tiny_bert

JUDGED = Path(__file__).resolve().parents[2] / "ingest" / "data" / "teacher-labels-smollm2.jsonl"


@pytest.fixture(scope="module")
def sources(atomic_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("sources")
    graph = folder / "graph.tsv"
    with atomic_sample.open(encoding="utf-8") as f:
        graph.write_text("".join(islice(f, 300)), encoding="utf-8")
    judged = folder / "judged.jsonl"
    with JUDGED.open(encoding="utf-8") as f:
        judged.write_text("".join(islice(f, 600)), encoding="utf-8")
    return graph, judged, tiny_bert(folder / "bert")


def test_weak_and_judged_sources_train_one_critic_calibrated_on_the_judged(
    sources: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    graph, judged, bert = sources
    critic = train_critic([graph, judged], tmp_path / "critic", encoder=str(bert), epochs=3, seed=0)
    kinds = [(Path(s["path"]).name, s["kind"]) for s in critic.config.sources]
    assert kinds == [("graph.tsv", "weak"), ("judged.jsonl", "judged")]
    judged_rows = [json.loads(line) for line in judged.read_text(encoding="utf-8").splitlines()]
    usable = [r for r in judged_rows if r["label"] != -9]
    assert critic.config.sources[1]["rows"] == len(usable)
    assert critic.config.sources[1]["acceptable"] == sum(r["label"] > 0 for r in usable)
    # calibrated on held-out events of the judged labels alone
    val_events = critic.config.metrics["val_events"]
    assert critic.config.calibration.startswith(f"judged labels of {val_events} held-out events")
    judged_events = {text_key(r["head"]) for r in usable}
    assert 0 < val_events < len(judged_events)
    level = critic.config.levels["0.8"]
    assert set(level["precision_by_relation"]) <= {r["relation"] for r in usable}
    assert all(0.0 <= p <= 1.0 for p in level["precision_by_relation"].values())
    card = (tmp_path / "critic" / "README.md").read_text(encoding="utf-8")
    assert "graph.tsv" in card and "judged.jsonl" in card and "judged labels of" in card
    again = Critic.load(tmp_path / "critic")
    assert again.config.sources == critic.config.sources and again.selection(0.8)["calibration"].startswith("judged")


def test_weak_labels_alone_say_their_precision_is_an_estimate_on_corruptions(
    sources: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    graph, _, bert = sources
    critic = train_critic([graph], tmp_path / "critic", encoder=str(bert), epochs=2, seed=0)
    assert critic.config.calibration == WEAK_CALIBRATION
    assert "estimates on corruptions" in (tmp_path / "critic" / "README.md").read_text(encoding="utf-8")


def test_bad_sources_are_refused_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"head": "PersonX runs", "relation": "xWant", "tail": "to rest", "label": 2}\n'
        '{"head": "PersonX runs", "relation": "xWhatever", "tail": "to rest", "label": 2}\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"bad\.jsonl:2: .*xWhatever"):
        gather_labels([bad], tmp_path / "work")
    label = tmp_path / "label.jsonl"
    label.write_text('{"head": "PersonX runs", "relation": "xWant", "tail": "to rest", "label": 7}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"label\.jsonl:1: label 7 is not on the scale"):
        gather_labels([label], tmp_path / "work")
    positives = tmp_path / "positives.jsonl"
    positives.write_text(
        "".join(
            json.dumps({"head": f"PersonX runs {i}", "relation": "xWant", "tail": "to rest", "label": 2}) + "\n"
            for i in range(10)
        ),
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="needs acceptable and unacceptable labels"):
        train_critic([positives], tmp_path / "critic", encoder="unused-never-loaded")
