"""The store against the real embedded ArcadeDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.graph_schema.records import EdgeFilter, SearchPosition, Triple, make_triple
from skd.graph_schema.store import GraphStore, position_of
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


def test_keyset_pages_read_the_lookup_order_both_ways(store: GraphStore) -> None:
    _scored(store)
    key, flt = "personx buys a car", EdgeFilter()
    order = [e.tail for e in store.inferences(key)]
    forward, after = [], None
    while page := store.edge_page("out", key, flt, 2, after):
        forward += [e.tail for e in page]
        after = position_of(page[-1], "out")
    assert forward == order
    backward, before = [], None
    while page := store.edge_page("out", key, flt, 2, before, backward=True):
        backward = [e.tail for e in page] + backward
        before = position_of(page[0], "out")
    assert backward == order
    # a page is anchored on a triple, not an offset: a triple stored before it does not shift what follows
    first = store.edge_page("out", key, flt, 2)
    store.upsert([make_triple("PersonX buys a car", "xWant", "to show off", score=0.95)])
    rest = store.edge_page("out", key, flt, 10, position_of(first[-1], "out"))
    assert [e.tail for e in rest] == order[2:]


def test_a_node_with_its_first_page_in_one_query(store: GraphStore) -> None:
    """`node_with_page` answers what `events`, `edge_page` and `edge_counts` answer together, both ways,
    filtered, unscored triples last, and nothing for a node not stored."""
    _scored(store)
    store.upsert([make_triple("PersonX buys a car", "xWant", "to show off")])  # unscored: last
    key = "personx buys a car"
    for flt in (EdgeFilter(), EdgeFilter(min_score=0.5), EdgeFilter(relations=("xNeed", "xWant"))):
        found = store.node_with_page("out", key, flt, 3)
        assert found is not None
        node, page, total = found
        assert node == store.events([key])[key]
        assert page == store.edge_page("out", key, flt, 3)
        assert total == store.edge_counts("out", [key], flt)[key]
    node, page, total = store.node_with_page("out", key, EdgeFilter(), 100) or (None, [], 0)
    assert {e.tail for e in page[-2:]} == {"rich", "to show off"} and total == len(page) == 6
    inward = store.node_with_page("in", "money", EdgeFilter(), 5)
    assert inward is not None and inward[0].text == "money"
    assert inward[1] == store.edge_page("in", "money", EdgeFilter(), 5) and inward[2] >= 1
    nothing = store.node_with_page("out", key, EdgeFilter(min_score=2.0), 5)
    assert nothing is not None and nothing[1:] == ([], 0)  # the event is there, none of its triples pass
    assert store.node_with_page("out", "personx is not stored", EdgeFilter(), 5) is None


def test_inward_edges_counts_and_provenance_filters(store: GraphStore) -> None:
    store.upsert(
        [
            make_triple("PersonX buys a car", "xNeed", "money", score=0.7, runs=["r1"], teachers=["t1"]),
            make_triple("PersonX sells a car", "xWant", "money", score=0.9, runs=["r2"], prompts=["xWant@v1"]),
            make_triple("PersonX gambles", "xEffect", "money", sources=["atomic2020"]),
        ]
    )
    into = store.edges_of("in", ["money"], EdgeFilter())["money"]
    assert [(e.head, e.relation) for e in into] == [
        ("PersonX sells a car", "xWant"),
        ("PersonX buys a car", "xNeed"),
        ("PersonX gambles", "xEffect"),
    ]
    assert all(e.created_at is not None and e.created_at > 1_700_000_000_000 for e in into)
    page = store.edge_page("in", "money", EdgeFilter(), 1, position_of(into[0], "in"))
    assert [e.head for e in page] == ["PersonX buys a car"]
    assert store.edge_counts("in", ["money", "nothing"], EdgeFilter()) == {"money": 3, "nothing": 0}
    assert store.edge_counts("in", ["money"], EdgeFilter(runs=("r1", "r9"))) == {"money": 1}
    assert store.edge_counts("in", ["money"], EdgeFilter(teachers=("t1",), runs=("r2",))) == {"money": 0}
    assert [e.head for e in store.edges_of("in", ["money"], EdgeFilter(prompts=("xWant@v1",)))["money"]] == [
        "PersonX sells a car"
    ]
    assert store.edge_counts("out", ["personx buys a car"], EdgeFilter(min_score=0.8)) == {"personx buys a car": 0}
    assert set(store.inference_nodes(["money", "absent"])) == {"money"}


def test_inference_search_pages_by_score_then_key(store: GraphStore) -> None:
    tails = ["a new car", "car keys", "to wash the car", "money", "to drive the car home"]
    store.upsert([make_triple("PersonX buys a car", "xWant", t) for t in tails])
    hits = store.search("inference", "car", 10)
    assert {h.text for h in hits} == set(tails) - {"money"}
    assert store.count_search("car", kind="inference") == 4
    pages = store.search("inference", "car", 2) + store.search(
        "inference", "car", 10, SearchPosition(hits[1].score, hits[1].key)
    )
    assert [h.key for h in pages] == [h.key for h in hits]
    last = store.search("inference", "car", 1, SearchPosition(hits[-1].score, hits[-1].key), backward=True)
    assert [h.key for h in last] == [hits[-2].key]


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(InputError, match="unknown source 'bench'"):
        make_triple("PersonX runs", "xWant", "to rest", sources=["bench"])


def test_schema_creation_is_idempotent(store: GraphStore) -> None:
    store.ensure_schema()
    store.ensure_schema()
    store.upsert([make_triple("PersonX runs", "xWant", "to rest")])
    assert store.count_search("runs") == 1
    assert store.count_search("rest", kind="inference") == 1
