"""The schema's typed vocabularies, the inference side of the graph, single triples, inference search,
provenance filters and keyset cursors, over real HTTP against the real graph."""

from __future__ import annotations

from typing import Any

import pytest

from skd.core.labels import Label
from skd.graph_schema.records import SOURCES, make_triple
from skd.graph_schema.relations import RELATIONS
from skd.graph_schema.store import GraphStore
from skd.service.enums import LabelValue, RelationName, Source
from tests.service.conftest import LiveServer

#: one inference that several events lead to, each triple with its own score and provenance
MONEY = [
    ("PersonX sells the old car", "xWant", 0.9, "r1", "teacher-a", "xWant@v1"),
    ("PersonX robs a bank", "xWant", 0.9, "r2", "teacher-b", "xWant@v1"),
    ("PersonX works overtime", "xWant", 0.7, "r1", "teacher-a", "xWant@v2"),
    ("PersonX works overtime", "xNeed", 0.4, "r2", "teacher-a", "xNeed@v1"),
    ("PersonX plays the lottery", "xEffect", None, "r3", "teacher-b", "xEffect@v1"),
    ("PersonX goes to the bank", "xNeed", 0.8, "r3", "teacher-b", "xNeed@v1"),
]


@pytest.fixture(scope="module")
def graph(loaded_store: GraphStore) -> GraphStore:
    loaded_store.upsert(
        [
            make_triple(h, r, "some extra money", score=s, sources=["teacher"], runs=[run], teachers=[t], prompts=[p])
            for h, r, s, run, t, p in MONEY
        ]
    )
    return loaded_store


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def test_the_enums_are_the_catalogues() -> None:
    assert [r.value for r in RelationName] == [r.name for r in RELATIONS]
    assert [s.value for s in Source] == list(SOURCES)
    assert {v.name: v.value for v in LabelValue} == {label.name: label.value for label in Label}


INFERENCE = """query($text: String!, $first: Int, $after: String, $last: Int, $before: String,
                     $runs: [String!], $teachers: [String!], $prompts: [String!], $rels: [RelationName!]) {
  inference(text: $text) { key text
    events(first: $first, after: $after, last: $last, before: $before, runs: $runs, teachers: $teachers,
           prompts: $prompts, relations: $rels) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { head headKey relation tail score sources runs teachers prompts createdAt } } }
    byRelation { relation { name } totalCount triples { head } } } }"""

#: MONEY in the lookup order: best score first, unscored last, then relationship type, then event key
ORDER = [
    ("PersonX robs a bank", "xWant"),
    ("PersonX sells the old car", "xWant"),
    ("PersonX goes to the bank", "xNeed"),
    ("PersonX works overtime", "xWant"),
    ("PersonX works overtime", "xNeed"),
    ("PersonX plays the lottery", "xEffect"),
]


def _events(server: LiveServer, **variables: Any) -> dict[str, Any]:
    body = server.gql(INFERENCE, {"text": "Some extra money.", **variables})
    assert "errors" not in body, body
    return body["data"]["inference"]


def test_an_inference_lists_the_events_that_lead_to_it(server: LiveServer, graph: GraphStore) -> None:
    node = _events(server, first=10)
    assert node["key"] == "some extra money" and node["text"] == "some extra money"
    edges = [e["node"] for e in node["events"]["edges"]]
    assert [(e["head"], e["relation"]) for e in edges] == ORDER
    assert node["events"]["totalCount"] == len(MONEY)
    first = edges[0]
    assert first["tail"] == "some extra money" and first["headKey"] == "personx robs a bank"
    assert first["sources"] == ["TEACHER"] and first["runs"] == ["r2"] and first["teachers"] == ["teacher-b"]
    assert first["prompts"] == ["xWant@v1"] and first["createdAt"].endswith("+00:00")
    groups = {g["relation"]["name"]: [t["head"] for t in g["triples"]] for g in node["byRelation"]}
    assert groups == {
        "xNeed": ["PersonX goes to the bank", "PersonX works overtime"],
        "xEffect": ["PersonX plays the lottery"],
        "xWant": ["PersonX robs a bank", "PersonX sells the old car", "PersonX works overtime"],
    }
    assert [g["relation"]["name"] for g in node["byRelation"]] == ["xNeed", "xEffect", "xWant"]  # catalogue order
    assert server.gql('{ inference(text: "no such inference anywhere") { key } }') == {"data": {"inference": None}}


def test_keyset_pages_forward_and_backward(server: LiveServer, graph: GraphStore) -> None:
    forward, after, pages = [], None, 0
    while True:
        conn = _events(server, first=2, after=after)["events"]
        forward += [(e["node"]["head"], e["node"]["relation"]) for e in conn["edges"]]
        pages += 1
        assert conn["pageInfo"]["hasPreviousPage"] == (after is not None)
        if not conn["pageInfo"]["hasNextPage"]:
            break
        after = conn["pageInfo"]["endCursor"]
    assert forward == ORDER and pages == 3
    backward, before = [], None
    while True:
        conn = _events(server, last=4, before=before)["events"]
        backward = [(e["node"]["head"], e["node"]["relation"]) for e in conn["edges"]] + backward
        assert conn["pageInfo"]["hasNextPage"] == (before is not None)
        if not conn["pageInfo"]["hasPreviousPage"]:
            break
        before = conn["pageInfo"]["startCursor"]
    assert backward == ORDER
    # a cursor names a triple: what is stored before it does not move the next page
    reward = [("PersonX returns a lost dog", 0.8), ("PersonX wins a race", 0.6), ("PersonX sells art", 0.4)]
    graph.upsert([make_triple(h, "xEffect", "a small reward", score=sc) for h, sc in reward])
    conn = '{ inference(text: "a small reward") { events(first: 2%s) { totalCount edges { node { head } } '
    conn += "pageInfo { endCursor } } } }"
    page = server.gql(conn % "")["data"]["inference"]["events"]
    graph.upsert([make_triple("PersonX finds a wallet", "xEffect", "a small reward", score=0.95)])
    after = f', after: "{page["pageInfo"]["endCursor"]}"'
    rest = server.gql(conn % after)["data"]["inference"]["events"]
    assert [e["node"]["head"] for e in rest["edges"]] == ["PersonX sells art"] and rest["totalCount"] == 4
    # a cursor belongs to its list: another node's, or an edited one, is refused
    cursor = page["pageInfo"]["endCursor"]
    other = server.gql(f'{{ inference(text: "some extra money") {{ events(after: "{cursor}") {{ totalCount }} }} }}')
    assert _codes(other) == ["BAD_CURSOR"]
    assert _codes(server.gql(INFERENCE, {"text": "some extra money", "after": cursor[:-3]})) == ["BAD_CURSOR"]


def test_provenance_filters(server: LiveServer, graph: GraphStore) -> None:
    def heads(**flt: Any) -> list[tuple[str, str]]:
        conn = _events(server, first=10, **flt)["events"]
        assert conn["totalCount"] == len(conn["edges"])
        return [(e["node"]["head"], e["node"]["relation"]) for e in conn["edges"]]

    assert heads(runs=["r1"]) == [("PersonX sells the old car", "xWant"), ("PersonX works overtime", "xWant")]
    assert heads(teachers=["teacher-b"], rels=["xNeed", "xEffect"]) == [
        ("PersonX goes to the bank", "xNeed"),
        ("PersonX plays the lottery", "xEffect"),
    ]
    assert heads(prompts=["xNeed@v1"], runs=["r2"]) == [("PersonX works overtime", "xNeed")]
    assert heads(runs=["r9"]) == []
    q = """{ event(text: "PersonX works overtime") {
             inferences(prompts: ["xWant@v2"], sources: [TEACHER]) { edges { node { text relation } } }
             atomic: inferences(sources: [ATOMIC2020]) { totalCount } } }"""
    event = server.gql(q)["data"]["event"]
    assert event["inferences"]["edges"] == [{"node": {"text": "some extra money", "relation": "xWant"}}]
    assert event["atomic"]["totalCount"] == 0


def test_one_triple(server: LiveServer, graph: GraphStore) -> None:
    q = """query($h: String!, $t: String!) { triple(head: $h, relation: xNeed, tail: $t) {
             head relation tail tailKey score sources runs createdAt } }"""
    t = server.gql(q, {"h": "personx goes to the bank", "t": "Some extra money"})["data"]["triple"]
    assert t["head"] == "PersonX goes to the bank" and t["relation"] == "xNeed" and t["tailKey"] == "some extra money"
    assert t["score"] == pytest.approx(0.8) and t["sources"] == ["TEACHER"] and t["runs"] == ["r3"]
    assert server.gql(q, {"h": "PersonX robs a bank", "t": "some extra money"})["data"]["triple"] is None  # xWant only


def test_search_inferences(server: LiveServer, graph: GraphStore) -> None:
    q = """query($q: String!, $first: Int, $after: String, $last: Int, $before: String) {
             searchInferences(query: $q, first: $first, after: $after, last: $last, before: $before) {
               totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
               edges { score node { key text events(first: 1) { totalCount } } } } }"""
    everything = server.gql(q, {"q": "money", "first": 100})["data"]["searchInferences"]
    keys = [e["node"]["key"] for e in everything["edges"]]
    assert "some extra money" in keys and everything["totalCount"] == len(keys) == graph.count_search(
        "money", "inference"
    )
    scores = [e["score"] for e in everything["edges"]]
    assert scores == sorted(scores, reverse=True)
    money = next(e["node"] for e in everything["edges"] if e["node"]["key"] == "some extra money")
    assert money["events"]["totalCount"] == len(MONEY)
    walked, after = [], None
    while True:
        page = server.gql(q, {"q": "money", "first": 2, "after": after})["data"]["searchInferences"]
        walked += [e["node"]["key"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert walked == keys
    tail = server.gql(q, {"q": "money", "last": 2})["data"]["searchInferences"]
    assert [e["node"]["key"] for e in tail["edges"]] == keys[-2:]
    # a search's cursor is bound to its terms
    other = server.gql(q, {"q": "bank", "first": 2, "after": everything["pageInfo"]["startCursor"]})
    assert _codes(other) == ["BAD_CURSOR"]
