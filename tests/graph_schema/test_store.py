"""The store against the real embedded ArcadeDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.graph_schema.records import Triple, make_triple
from skd.graph_schema.store import GraphStore, decode_cursor, encode_cursor
from skd.graph_schema.triples_io import read_triples


def _load_sample(store: GraphStore, path: Path) -> int:
    return store.upsert_all(n.triple for n in read_triples(path))


def test_same_triple_from_two_sources_is_one_relationship_listing_both(store: GraphStore) -> None:
    store.upsert([make_triple("PersonX buys a car", "xWant", "to drive", sources=["atomic2020"])])
    store.upsert(
        [
            make_triple(
                "personx buys a car.",
                "xWant",
                "To drive",
                sources=["teacher"],
                runs=["r1"],
                teachers=["smollm2"],
                prompts=["xWant@v1"],
                score=0.8,
            )
        ]
    )
    stats = store.stats()
    assert stats["triples"] == 1 and stats["events"] == 1 and stats["inferences"] == 1
    edge = store.triple("PersonX buys a car", "xWant", "to drive")
    assert edge is not None
    assert edge.sources == ["atomic2020", "teacher"]
    assert edge.runs == ["r1"] and edge.teachers == ["smollm2"] and edge.prompts == ["xWant@v1"]
    assert edge.score == pytest.approx(0.8)
    # a later load without a score keeps the critic's score
    store.upsert([make_triple("PersonX buys a car", "xWant", "to drive", sources=["atomic2020"])])
    again = store.triple("PersonX buys a car", "xWant", "to drive")
    assert again is not None and again.score == pytest.approx(0.8) and again.sources == edge.sources


def _scored(store: GraphStore) -> None:
    rows = [
        ("xWant", "to drive", 0.9, "teacher"),
        ("xWant", "to sell it", 0.2, "teacher"),
        ("xNeed", "money", 0.7, "atomic2020"),
        ("xAttr", "rich", None, "atomic2020"),
        ("xNeed", "a licence", 0.5, "teacher"),
    ]
    store.upsert(
        [make_triple("PersonX buys a car", rel, tail, score=score, sources=[src]) for rel, tail, score, src in rows]
    )


def test_lookup_sorts_by_score_and_filters(store: GraphStore) -> None:
    _scored(store)
    all_edges = store.inferences("PersonX buys a car")
    assert [e.tail for e in all_edges] == ["to drive", "money", "a licence", "to sell it", "rich"]
    assert [e.tail for e in store.inferences("personx buys a car", relations=["xNeed"])] == ["money", "a licence"]
    assert [e.tail for e in store.inferences("PersonX buys a car", min_score=0.5)] == ["to drive", "money", "a licence"]
    assert {e.tail for e in store.inferences("PersonX buys a car", sources=["atomic2020"])} == {"money", "rich"}
    assert [e.tail for e in store.inferences("PersonX buys a car", first=2, offset=1)] == ["money", "a licence"]
    assert store.inferences("PersonX never existed") == []


def test_batched_lookup_matches_single_lookups(store: GraphStore) -> None:
    _scored(store)
    store.upsert([make_triple("PersonX sells a car", "xWant", "money", score=0.6)])
    many = store.inferences_of_events(["personx buys a car", "personx sells a car", "personx is absent"])
    assert [e.tail for e in many["personx buys a car"]] == [e.tail for e in store.inferences("PersonX buys a car")]
    assert [e.tail for e in many["personx sells a car"]] == ["money"]
    assert many["personx is absent"] == []
    assert set(store.events(["personx buys a car", "personx is absent"])) == {"personx buys a car"}


def test_annotate_keeps_labels_and_marks_source_human(store: GraphStore) -> None:
    store.upsert([make_triple("PersonX buys a car", "xWant", "to drive", sources=["teacher"])])
    edge = store.annotate("PersonX buys a car", "xWant", "to drive", 2)
    edge = store.annotate("PersonX buys a car", "xWant", "to drive", -1)
    assert edge.labels == [2, -1]
    assert edge.sources == ["teacher", "human"]
    new = store.annotate("PersonX sings", "xReact", "happy", 1)
    assert new.sources == ["human"] and new.labels == [1]


def test_set_scores_updates_existing_triples_only(store: GraphStore) -> None:
    _scored(store)
    n = store.set_scores([("PersonX buys a car", "xAttr", "rich", 0.33), ("PersonX flies", "xWant", "up", 0.1)])
    assert n == 1
    edge = store.triple("PersonX buys a car", "xAttr", "rich")
    assert edge is not None and edge.score == pytest.approx(0.33)
    assert store.stats()["triples"] == 5


def test_export_streams_every_triple_with_min_score(store: GraphStore) -> None:
    _scored(store)
    exported = list(store.export())
    assert len(exported) == 5 and all(isinstance(t, Triple) for t in exported)
    assert {t.tail for t in store.export(min_score=0.6)} == {"to drive", "money"}
    store.annotate("PersonX buys a car", "xNeed", "money", 2)
    assert [(t.tail, t.labels) for t in store.export(labelled=True)] == [("money", [2])]


def test_cursors_round_trip_and_reject_garbage() -> None:
    assert decode_cursor(encode_cursor(40)) == 40
    assert decode_cursor(None) == 0
    with pytest.raises(InputError, match="invalid cursor"):
        decode_cursor("not-a-cursor")


def test_schema_creation_is_idempotent(store: GraphStore) -> None:
    store.ensure_schema()
    store.ensure_schema()
    store.upsert([make_triple("PersonX runs", "xWant", "to rest")])
    assert store.count_search("runs") == 1
