"""The Bloom perspective: the committed file is what the code generates, it covers the whole catalogue,
and its search phrases run against the real graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skd.cli.main import app
from skd.graph_schema.bloom import CATEGORY_COLOURS, perspective, perspective_json, search_phrases
from skd.graph_schema.records import make_triple
from skd.graph_schema.relations import RELATIONS, Category
from skd.graph_schema.store import GraphStore

COMMITTED = Path(__file__).resolve().parents[2] / "docker" / "bloom" / "skd-perspective.json"


def test_committed_perspective_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == perspective_json(), (
        "docker/bloom/skd-perspective.json is stale: run "
        "`skd bloom-perspective --out docker/bloom/skd-perspective.json`"
    )


def test_perspective_covers_every_relation_coloured_and_grouped_by_category() -> None:
    p = perspective()
    types = [t["name"] for t in p["relationshipTypes"]]
    assert sorted(types) == sorted(r.rel_type for r in RELATIONS) and len(types) == 23
    by_type = {r.rel_type: r for r in RELATIONS}
    for t in p["relationshipTypes"]:
        assert t["color"] == CATEGORY_COLOURS[by_type[t["name"]].category]
        assert {"score", "sources", "labels"} <= {x["propertyKey"] for x in t["properties"]}
    # grouped: all social types first, then event, then physical
    cats = [by_type[t].category for t in types]
    assert cats == sorted(cats, key=[Category.SOCIAL, Category.EVENT, Category.PHYSICAL].index)
    assert len(set(CATEGORY_COLOURS.values())) == 3
    assert {s["relationshipType"] for s in p["metadata"]["pathSegments"]} == set(types)


def test_event_and_inference_categories_are_captioned_by_text() -> None:
    p = perspective()
    cats = {c["name"]: c for c in p["categories"]}
    assert set(cats) == {"Event", "Inference"}
    for name, c in cats.items():
        assert c["labels"] == [name] and c["captionKeys"] == ["text"]
        assert c["captions"][0]["key"] == "text" and c["captions"][0]["isCaption"]
    assert set(p["labels"]) == {"Event", "Inference"}
    assert len({p["id"], perspective()["id"]}) == 1  # deterministic


def test_search_phrases_run_on_the_real_graph(store: GraphStore) -> None:
    store.upsert(
        [
            make_triple("PersonX buys a car", rel, tail, score=score, sources=["teacher"])
            for rel, tail, score in [
                ("xWant", "to drive it", 0.9),
                ("xReact", "happy", 0.4),
                ("HinderedBy", "PersonX has no money", 0.7),
                ("ObjectUse", "driving to work", 0.6),
            ]
        ]
    )
    store.upsert([make_triple("PersonX sells a bike", "xWant", "to get money", sources=["teacher"])])
    templates = {t["text"]: t for t in perspective()["templates"]}
    assert "inferences of $event" in templates
    assert all(
        t["params"][0]["name"] == "$event" and t["params"][0]["suggestionLabel"] == "Event" for t in templates.values()
    )
    expected = {
        "inferences of $event": {"X_WANT", "X_REACT", "HINDERED_BY", "OBJECT_USE"},
        "social inferences of $event": {"X_WANT", "X_REACT"},
        "event inferences of $event": {"HINDERED_BY"},
        "physical inferences of $event": {"OBJECT_USE"},
        "best inferences of $event": {"X_WANT", "X_REACT", "HINDERED_BY", "OBJECT_USE"},
    }
    assert set(expected) == {text for text, _ in search_phrases()}
    with store.driver.session(database=store.database) as s:
        for text, cypher in search_phrases():
            rows = list(s.run(cypher, event="PersonX buys a car"))
            found = set()
            for row in rows:
                for value in row.values():
                    rels = getattr(value, "relationships", None)
                    if rels is not None:
                        found |= {r.type for r in rels}
                    elif getattr(value, "type", None):
                        found.add(value.type)
            assert found == expected[text], text


def test_cli_writes_the_perspective(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = CliRunner().invoke(app, ["bloom-perspective", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == perspective()
    printed = CliRunner().invoke(app, ["bloom-perspective"])
    assert printed.exit_code == 0 and json.loads(printed.stdout) == perspective()


def test_best_inferences_put_scored_triples_before_unscored_and_match_the_key(store: GraphStore) -> None:
    """Neo4j sorts nulls first under DESC: 30 unscored triples must not push the scored one out of the 25."""
    unscored = [make_triple("PersonX buys a car", "xWant", f"thing {n}", sources=["teacher"]) for n in range(30)]
    store.upsert([*unscored, make_triple("PersonX buys a car", "xNeed", "money", score=0.8, sources=["teacher"])])
    best = dict(search_phrases())["best inferences of $event"]
    with store.driver.session(database=store.database) as s:
        rows = list(s.run(best, event="  personx BUYS a car "))  # as a person types it
    assert len(rows) == 25
    assert rows[0]["r"]["score"] == pytest.approx(0.8) and rows[0]["i"]["text"] == "money"
