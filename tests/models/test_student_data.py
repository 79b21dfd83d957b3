"""Formatting triples into student examples, score filters, the event split, and reading the data sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.graph_schema.records import make_triple
from skd.graph_schema.text import text_key
from skd.models.student_data import (
    prompt_text,
    read_examples,
    select_triples,
    split_by_event,
    target_text,
    to_example,
    triples_from_graph,
    triples_from_path,
    write_examples,
)


def test_prompt_is_event_then_relation_phrase() -> None:
    assert prompt_text("personx buys a car.", "xWant") == "PersonX buys a car. As a result, PersonX wants"
    assert prompt_text("PersonX falls", "HinderedBy") == "PersonX falls. This would not happen if"
    assert target_text(" to drive it. ") == " to drive it"
    ex = to_example(make_triple("PersonX eats", "xNeed", "food"))
    assert (ex.prompt, ex.target) == ("PersonX eats. Before that, PersonX needed", " food")


def test_prompt_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="xWhatever"):
        prompt_text("PersonX eats", "xWhatever")
    with pytest.raises(InputError, match="empty event"):
        prompt_text("  ", "xWant")


def test_select_drops_none_duplicates_and_low_scores() -> None:
    triples = [
        make_triple("PersonX eats", "xNeed", "food", score=0.9),
        make_triple("personx eats.", "xNeed", "Food", score=0.8),  # same key as the first
        make_triple("PersonX eats", "xWant", "none", score=0.99),
        make_triple("PersonX eats", "xReact", "full", score=0.3),
        make_triple("PersonX eats", "xIntent", "to be fed"),  # unscored
    ]
    assert [t.tail for t in select_triples(triples)] == ["food", "full", "to be fed"]
    assert [t.tail for t in select_triples(triples, min_score=0.5)] == ["food"]


def test_split_keeps_each_event_on_one_side_whatever_the_order(atomic_sample: Path) -> None:
    triples = select_triples(triples_from_path(atomic_sample))[:3000]
    train, val = split_by_event(triples, val_fraction=0.1, seed=0)
    assert len(train) + len(val) == len(triples) and val
    assert not {text_key(t.head) for t in train} & {text_key(t.head) for t in val}
    _, val2 = split_by_event(list(reversed(triples)), val_fraction=0.1, seed=0)
    assert {t.key for t in val2} == {t.key for t in val}
    _, val3 = split_by_event(triples, val_fraction=0.1, seed=1)
    assert {t.key for t in val3} != {t.key for t in val}


def test_split_of_one_event_has_no_validation() -> None:
    triples = [make_triple("PersonX eats", "xNeed", "food"), make_triple("PersonX eats", "xWant", "more")]
    assert split_by_event(triples, 0.5) == (triples, [])
    with pytest.raises(InputError, match="val_fraction"):
        split_by_event(triples, 1.5)


def test_run_folder_shards_and_examples_round_trip(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    rows = [
        {"head": "PersonX eats", "relation": "xNeed", "tail": "food", "critic_score": 0.7, "source": "teacher"},
        {"head": "PersonX runs", "relation": "xReact", "tail": "tired", "score": 0.2, "source": "teacher"},
    ]
    (run / "triples-00000.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken", encoding="utf-8")
    (run / "manifest.json").write_text("{}", encoding="utf-8")
    triples = triples_from_path(run)
    assert [(t.tail, t.score, t.sources) for t in triples] == [("food", 0.7, ["teacher"]), ("tired", 0.2, ["teacher"])]
    write_examples(triples, tmp_path / "ex.jsonl")
    assert [(t.head, t.relation, t.tail, t.score) for t in read_examples(tmp_path / "ex.jsonl")] == [
        (t.head, t.relation, t.tail, t.score) for t in triples
    ]


def test_graph_source_filters_by_score(store) -> None:  # type: ignore[no-untyped-def]
    store.upsert(
        [
            make_triple("PersonX eats", "xNeed", "food", score=0.9, sources=["teacher"]),
            make_triple("PersonX eats", "xWant", "to sleep", score=0.2, sources=["teacher"]),
            make_triple("PersonX runs", "xReact", "none", score=0.95, sources=["teacher"]),
        ]
    )
    got = select_triples(triples_from_graph(store, min_score=0.5))
    assert [(t.head, t.relation, t.tail) for t in got] == [("PersonX eats", "xNeed", "food")]
