"""Reading acceptability labels (paper scale, booleans, label lists) and bootstrapping weak labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.graph_schema.records import Triple
from skd.graph_schema.text import is_none_tail, text_key
from skd.graph_schema.triples_io import LineError
from skd.models.critic_labels import bootstrap_labels, decide, read_labels, split_by_event


def test_decide_follows_the_paper_scale_and_the_mean_of_several_labels() -> None:
    assert decide([2]) is True and decide([1]) is True
    assert decide([-1]) is False and decide([-2]) is False
    assert decide([-9]) is None
    assert decide([True]) is True and decide([False]) is False
    assert decide([2, -1, -9]) is True  # mean of 2 and -1
    assert decide([1, -1]) is None  # a tie is no decision
    assert decide([1, -2, -1]) is False
    with pytest.raises(InputError, match="scale"):
        decide([0])
    with pytest.raises(InputError, match="scale"):
        decide(["yes"])


def test_read_labels_from_jsonl_keeps_good_rows_and_names_bad_lines(tmp_path: Path) -> None:
    rows = [
        {"head": "PersonX buys a car", "relation": "xWant", "tail": "to drive it", "label": 2},
        {"head": "PersonX buys a car", "relation": "xWant", "tail": "buys a car", "label": -2},
        {"head": "PersonX eats", "relation": "xNeed", "tail": "food", "labels": [1, 1, -1]},
        {"head": "PersonX eats", "relation": "xNeed", "tail": "sleep", "label": False},
        {"head": "PersonX eats", "relation": "xNeed", "tail": "a fork", "label": -9},
        {"head": "PersonX eats", "relation": "xNeed", "tail": "no label"},
        {"head": "PersonX eats", "relation": "bogus", "tail": "x", "label": 1},
    ]
    path = tmp_path / "labels.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n", encoding="utf-8")
    errors: list[LineError] = []
    got = read_labels(path, errors=errors)
    assert [(e.tail, e.acceptable) for e in got] == [
        ("to drive it", True),
        ("buys a car", False),
        ("food", True),
        ("sleep", False),
    ]
    assert [e.line for e in errors] == [6, 7, 8]
    assert "no `label`" in errors[0].message and "unknown relation" in errors[1].message
    with pytest.raises(InputError, match=r"labels.jsonl:6"):
        read_labels(path, strict=True)


def test_read_labels_accepts_graph_triples_with_label_lists() -> None:
    triples = [
        Triple("PersonX eats", "xNeed", "food", labels=[2, 1]),
        Triple("PersonX eats", "xNeed", "a chair", labels=[-1, -2, 1]),
    ]
    got = read_labels(triples)
    assert [e.acceptable for e in got] == [True, False]
    with pytest.raises(InputError, match="labels must be a JSONL"):
        read_labels(Path("labels.tsv"))


def test_split_by_event_never_puts_an_event_on_both_sides() -> None:
    rows = [
        {"head": f"PersonX does thing {i % 7}", "relation": "xWant", "tail": f"tail {i}", "label": 1} for i in range(70)
    ]
    train, val = split_by_event(read_labels(rows), 0.3, seed=1)
    assert train and val and len(train) + len(val) == 70
    assert not {e.event for e in train} & {e.event for e in val}
    assert len({e.event for e in val}) == 2  # 30% of 7 events
    again = split_by_event(read_labels(rows), 0.3, seed=1)
    assert [e.tail for e in again[1]] == [e.tail for e in val]


def test_bootstrap_makes_positives_and_corrupted_negatives(atomic_sample: Path, tmp_path: Path) -> None:
    sample = tmp_path / "sample.tsv"
    lines = atomic_sample.read_text(encoding="utf-8").splitlines()[:800]
    sample.write_text("\n".join([*lines, "broken line without tabs"]) + "\n", encoding="utf-8")
    out = tmp_path / "weak.jsonl"
    counts = bootstrap_labels(sample, out, seed=3, negatives_per_positive=1)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    real = {(text_key(h), r, text_key(t)) for h, r, t in (line.split("\t") for line in lines)}
    positives = [r for r in rows if r["label"] == 1]
    negatives = [r for r in rows if r["label"] == -1]

    assert counts.bad_lines == 1
    assert counts.none_tails_skipped == sum(1 for line in lines if is_none_tail(line.split("\t")[2]))
    assert counts.positives == len(positives) > 0
    assert not any(is_none_tail(r["tail"]) for r in positives)
    assert all((text_key(r["head"]), r["relation"], text_key(r["tail"])) in real for r in positives)
    # about one negative per positive (a few events allow no new one), of every kind, none of them a
    # real triple, none repeated
    assert sum(counts.negatives.values()) == len(negatives)
    assert 0.98 * len(positives) <= len(negatives) <= len(positives)
    assert Counter(r["weak"] for r in negatives) == Counter(counts.negatives)
    assert all(counts.negatives[k] > 0 for k in ("other_relation", "other_event", "event_copy", "degenerate"))
    neg_keys = [(text_key(r["head"]), r["relation"], text_key(r["tail"])) for r in negatives]
    assert not set(neg_keys) & real and len(set(neg_keys)) == len(neg_keys)
    # an "other relation" negative is a real tail of the same event under another relation
    tails_of: dict[str, set[str]] = {}
    for h, _, t in (line.split("\t") for line in lines):
        tails_of.setdefault(text_key(h), set()).add(text_key(t))
    assert all(text_key(r["tail"]) in tails_of[text_key(r["head"])] for r in negatives if r["weak"] == "other_relation")
    # the same seed gives the same file; the temporary file is gone
    bootstrap_labels(sample, tmp_path / "again.jsonl", seed=3, negatives_per_positive=1)
    assert (tmp_path / "again.jsonl").read_text(encoding="utf-8") == out.read_text(encoding="utf-8")
    assert not list(tmp_path.glob("*.partial"))


def test_bootstrap_rejects_unknown_kinds_and_empty_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_text("PersonX eats\txNeed\tnone\n", encoding="utf-8")
    with pytest.raises(InputError, match="no usable triples"):
        bootstrap_labels(empty, tmp_path / "out.jsonl")
    with pytest.raises(InputError, match="unknown negative kind"):
        bootstrap_labels(empty, tmp_path / "out.jsonl", kinds={"typo": 1.0})
