"""The service over real HTTP: a real uvicorn, httpx, the real ArcadeDB and a tiny student."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from skd.graph_schema.relations import RELATIONS
from skd.graph_schema.store import GraphStore
from skd.graph_schema.text import text_key
from tests.service.conftest import API_KEY, Expected, LiveServer

EVENT_QUERY = """query($text: String!, $rels: [RelationName!], $first: Int!, $after: String) {
  event(text: $text) { key text
    inferences(relations: $rels, first: $first, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } edges { cursor node { relation text sources } } }
    byRelation(relations: $rels, first: $first) { relation { name relType } totalCount inferences { text } } } }"""


def _busiest_event(store: GraphStore, expected: dict[str, list[Expected]]) -> str:
    """The sample event with the most inferences (so pagination has pages to turn)."""
    hits = store.search_events("PersonX", first=100)
    return max((h.key for h in hits), key=lambda k: len(expected.get(k, ())))


def _codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def test_health_readiness_and_metrics(server: LiveServer) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["student"] == "tiny-student"
    assert ready.json()["critic"] is None
    server.gql("{ relations { name } }")
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'skd_http_requests_total{method="POST",route="/graphql",status="200"}' in metrics
    assert 'skd_model_loaded{role="student"} 1.0' in metrics


def test_graphiql_is_served(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


def test_event_lookup_lists_the_loaded_inferences_in_order(
    server: LiveServer, loaded_store: GraphStore, expected_inferences: dict[str, list[Expected]]
) -> None:
    key = _busiest_event(loaded_store, expected_inferences)
    stored = expected_inferences[key]  # from the loaded triples, ordered by the documented rule
    assert len({e.relation for e in stored}) > 1 and len(stored) > 2  # the order has ties to break
    body = server.gql(EVENT_QUERY, {"text": key.upper(), "first": 100})
    event = body["data"]["event"]
    assert event["key"] == key
    assert event["inferences"]["totalCount"] == len(stored)
    assert [(e["node"]["relation"], e["node"]["text"]) for e in event["inferences"]["edges"]] == [
        (e.relation, e.text) for e in stored
    ]
    assert all(e["node"]["sources"] == ["ATOMIC2020"] for e in event["inferences"]["edges"])
    grouped = {g["relation"]["name"]: [i["text"] for i in g["inferences"]] for g in event["byRelation"]}
    assert grouped == {r: [e.text for e in stored if e.relation == r] for r in {e.relation for e in stored}}
    # the groups come in catalogue order, each with its own count
    present = {e.relation for e in stored}
    assert [g["relation"]["name"] for g in event["byRelation"]] == [r.name for r in RELATIONS if r.name in present]
    assert [g["totalCount"] for g in event["byRelation"]] == [
        sum(e.relation == g["relation"]["name"] for e in stored) for g in event["byRelation"]
    ]


def test_inferences_page_with_cursors(
    server: LiveServer, loaded_store: GraphStore, expected_inferences: dict[str, list[Expected]]
) -> None:
    key = _busiest_event(loaded_store, expected_inferences)
    expected = [e.text for e in expected_inferences[key]]
    seen, after = [], None
    while True:
        page = server.gql(EVENT_QUERY, {"text": key, "first": 2, "after": after})["data"]["event"]["inferences"]
        seen += [e["node"]["text"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected and len(expected) > 2


def test_relation_filter(
    server: LiveServer, loaded_store: GraphStore, expected_inferences: dict[str, list[Expected]]
) -> None:
    key = _busiest_event(loaded_store, expected_inferences)
    rel = expected_inferences[key][0].relation
    page = server.gql(EVENT_QUERY, {"text": key, "first": 100, "rels": [rel]})["data"]["event"]["inferences"]
    assert {e["node"]["relation"] for e in page["edges"]} == {rel}
    assert page["totalCount"] == len(loaded_store.inferences(key, relations=[rel], first=1000))
    assert [e["node"]["text"] for e in page["edges"]] == [e.text for e in expected_inferences[key] if e.relation == rel]


def test_unknown_event_is_null(server: LiveServer) -> None:
    assert server.gql(EVENT_QUERY, {"text": "PersonX flies to the moon on a teaspoon", "first": 5}) == {
        "data": {"event": None}
    }


def test_search_events_connection(server: LiveServer, loaded_store: GraphStore) -> None:
    q = """query($q: String!, $after: String) { searchEvents(query: $q, first: 3, after: $after) {
             totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor score node { key } } } }"""
    first = server.gql(q, {"q": "PersonX"})["data"]["searchEvents"]
    assert first["totalCount"] == loaded_store.count_search("PersonX") > 3
    assert [e["node"]["key"] for e in first["edges"]] == [h.key for h in loaded_store.search_events("PersonX", 3)]
    assert first["pageInfo"]["hasNextPage"] and not first["pageInfo"]["hasPreviousPage"]
    second = server.gql(q, {"q": "PersonX", "after": first["pageInfo"]["endCursor"]})["data"]["searchEvents"]
    assert [e["node"]["key"] for e in second["edges"]] == [
        h.key for h in loaded_store.search_events("PersonX", 3, offset=3)
    ]
    assert second["pageInfo"]["hasPreviousPage"]


def test_relations_catalogue(server: LiveServer) -> None:
    names = [r["name"] for r in server.gql("{ relations { name relType } }")["data"]["relations"]]
    assert len(names) == 23 and "xWant" in names


def test_stats(server: LiveServer, loaded_store: GraphStore) -> None:
    stats = server.gql("{ stats { events triples bySource { name count } } }")["data"]["stats"]
    assert stats["events"] == loaded_store.stats()["events"] > 0
    assert {"name": "atomic2020", "count": stats["triples"]} in stats["bySource"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ('{ event(text: "PersonX eats", key: "x") { key } }', "BAD_USER_INPUT"),
        ('{ event(text: "   ") { key } }', "EMPTY_TEXT"),
        ('{ event(text: "%s") { key } }' % ("a" * 301), "INPUT_TOO_LONG"),
        ('{ event(text: "PersonX eats") { inferences(relations: [xWhatever]) { totalCount } } }', "UNKNOWN_RELATION"),
        ('{ event(text: "PersonX eats") { inferences(relations: ["xWant"]) { totalCount } } }', "UNKNOWN_RELATION"),
        ('{ complete(event: "PersonX eats", relations: [nope]) { key } }', "UNKNOWN_RELATION"),
        ('{ event(text: "PersonX eats") { inferences(sources: [ROBOT]) { totalCount } } }', "UNKNOWN_SOURCE"),
        ('{ searchEvents(query: "PersonX", first: 2, last: 2) { totalCount } }', "BAD_USER_INPUT"),
        ('{ searchInferences(query: "to eat", after: "bm9wZQ") { totalCount } }', "BAD_CURSOR"),
        ('{ searchEvents(query: "PersonX", after: "not-a-cursor") { totalCount } }', "BAD_CURSOR"),
        ('{ searchEvents(query: "PersonX", first: 101) { totalCount } }', "PAGE_SIZE"),
        ('{ complete(event: "PersonX eats", n: 99) { key } }', "PAGE_SIZE"),
        ('{ searchEvents(query: "PersonX") { edges { node { nope } } } }', "GRAPHQL_VALIDATION_FAILED"),
    ],
)
def test_bad_requests_have_codes(server: LiveServer, query: str, code: str) -> None:
    body = server.gql(query)
    assert _codes(body) == [code]


def test_unknown_relation_in_a_filter(
    server: LiveServer, loaded_store: GraphStore, expected_inferences: dict[str, list[Expected]]
) -> None:
    body = server.gql(
        EVENT_QUERY, {"text": _busiest_event(loaded_store, expected_inferences), "first": 5, "rels": ["xWhatever"]}
    )
    assert set(_codes(body)) == {"UNKNOWN_RELATION"}
    assert "xWhatever" in body["errors"][0]["message"]


def test_an_unknown_relation_is_an_error_where_its_field_never_resolves(server: LiveServer) -> None:
    absent = "PersonX flies to the moon on a teaspoon"  # not in the graph: `event` is null
    bodies = [
        server.gql(f'{{ event(text: "{absent}") {{ inferences(relations: [xWhatever]) {{ totalCount }} }} }}'),
        server.gql(EVENT_QUERY, {"text": absent, "first": 5, "rels": ["xWant", "xWhatever"]}),
        server.gql(  # a search without hits: no event to resolve the filter under
            '{ searchEvents(query: "zqxjk") { totalCount edges { node { '
            "byRelation(relations: [xWhatever]) { totalCount } } } } }"
        ),
    ]
    for body in bodies:
        assert _codes(body) == ["UNKNOWN_RELATION"] and body["data"] is None
        assert "'xWhatever' does not exist in 'RelationName' enum" in body["errors"][0]["message"]
    # known names under the same null event are no error
    assert server.gql(EVENT_QUERY, {"text": absent, "first": 5, "rels": ["xWant"]}) == {"data": {"event": None}}


def test_depth_and_alias_limits(server: LiveServer) -> None:
    deep = '{ searchEvents(query: "x") { edges { node { inferences { edges { node { text } } } } } } }'
    assert _codes(server.gql(deep.replace("{ text }", "{ text __typename }"))) == []
    aliases = "{ " + " ".join(f"a{i}: relations {{ name }}" for i in range(30)) + " }"
    assert _codes(server.gql(aliases)) == ["GRAPHQL_VALIDATION_FAILED"]


def test_mutations_need_the_api_key(server: LiveServer) -> None:
    m = """mutation { annotate(head: "PersonX pets a cat", relation: xReact, tail: "happy", label: SOMETIMES) {
             labels } }"""
    assert _codes(server.gql(m)) == ["UNAUTHENTICATED"]
    assert _codes(server.gql(m, api_key="wrong")) == ["FORBIDDEN"]


def test_annotate_keeps_the_label(server: LiveServer, loaded_store: GraphStore) -> None:
    m = """mutation($l: Label!) { annotate(head: "PersonX pets a fluffy cat", relation: xReact, tail: "calm",
             label: $l) { head headKey relation tail labels sources createdAt } }"""
    assert server.gql(m, {"l": "SOMETIMES"}, api_key=API_KEY)["data"]["annotate"]["labels"] == ["SOMETIMES"]
    out = server.gql(m, {"l": "FARFETCHED"}, api_key=API_KEY)["data"]["annotate"]
    assert out["labels"] == ["SOMETIMES", "FARFETCHED"] and "HUMAN" in out["sources"]
    assert out["headKey"] == "personx pets a fluffy cat" and out["createdAt"].startswith("20")
    edge = loaded_store.triple("PersonX pets a fluffy cat", "xReact", "calm")
    assert edge is not None and edge.labels == [1, -1]
    assert _codes(server.gql(m, {"l": "SEVEN"}, api_key=API_KEY)) == ["UNKNOWN_LABEL"]
    assert _codes(server.gql(m.replace("$l: Label!", "$l: Int!"), {"l": 1}, api_key=API_KEY)) == [
        "GRAPHQL_VALIDATION_FAILED"
    ]


def test_complete_answers_from_graph_and_student(
    server: LiveServer, loaded_store: GraphStore, expected_inferences: dict[str, list[Expected]]
) -> None:
    key = _busiest_event(loaded_store, expected_inferences)
    rels = [*sorted({e.relation for e in loaded_store.inferences(key, first=1000)})[:1], "isAfter"]
    assert not loaded_store.inferences(key, relations=["isAfter"])
    q = """query($e: String!, $r: [RelationName!]) { complete(event: $e, relations: $r, n: 2) {
             key inGraph inferences { relation text origin score logprob }
             live { available relations student notice } } }"""
    c = server.gql(q, {"e": key, "r": rels})["data"]["complete"]
    assert c["inGraph"] and c["live"]["available"] and c["live"]["relations"] == ["isAfter"]
    graph_items = [(i["relation"], i["text"]) for i in c["inferences"] if i["origin"] == "GRAPH"]
    assert graph_items == [(e.relation, e.tail) for e in loaded_store.inferences(key, relations=[rels[0]], first=2)]
    assert graph_items == [(e.relation, e.text) for e in expected_inferences[key] if e.relation == rels[0]][:2]
    live = [i for i in c["inferences"] if i["origin"] == "STUDENT"]
    assert live, "the student generated nothing for the relation the graph lacks"
    assert {i["relation"] for i in c["inferences"] if i["origin"] == "STUDENT"} <= {"isAfter"}
    assert [i["relation"] for i in live] == ["isAfter"] * len(live) and len(live) <= 2  # n is per relation
    assert all(i["logprob"] is not None for i in c["inferences"] if i["origin"] == "STUDENT")
    assert all(i["text"] and i["logprob"] < 0 and i["score"] is None for i in live)  # no critic loaded: no scores


def test_complete_an_event_not_in_the_graph(server: LiveServer) -> None:
    q = """{ complete(event: "PersonX paints the fence purple", relations: [xWant, xNeed], n: 1) {
             inGraph inferences { relation origin text } live { relations cached }
             byRelation { relation inferences { text } } } }"""
    c = server.gql(q)["data"]["complete"]
    assert not c["inGraph"] and c["live"]["relations"] == ["xWant", "xNeed"]
    assert all(i["origin"] == "STUDENT" and i["text"] for i in c["inferences"])
    # one greedy generation per asked relation (n: 1), in the order asked
    assert [i["relation"] for i in c["inferences"]] == ["xWant", "xNeed"]
    assert [(g["relation"], [i["text"] for i in g["inferences"]]) for g in c["byRelation"]] == [
        (i["relation"], [i["text"]]) for i in c["inferences"]
    ]
    again = server.gql(q)["data"]["complete"]
    assert again["live"]["cached"] == 2 and again["inferences"] == c["inferences"]


def test_store_completions_records_who_wrote_the_text(server: LiveServer, loaded_store: GraphStore) -> None:
    m = """mutation($items: [CompletionInput!]!) { storeCompletions(items: $items) {
             stored rejected items { event relation text source stored } } }"""
    # a text the client wrote itself is stored as the client's, not the student's
    items = [{"event": "PersonX waters the garden", "relation": "xWant", "text": "to see flowers grow"}]
    out = server.gql(m, {"items": items}, api_key=API_KEY)["data"]["storeCompletions"]
    assert out["stored"] == 1 and out["rejected"] == 0 and out["items"][0]["source"] == "CLIENT"
    edge = loaded_store.triple("PersonX waters the garden", "xWant", "to see flowers grow")
    assert edge is not None
    assert edge.sources == ["client"] and edge.teachers == [] and edge.runs == ["service"]
    # what the student generated for that event and relation is the student's
    event = "PersonX waters the lawn at dawn"
    q = "query($e: String!) { complete(event: $e, relations: [xNeed], n: 1) { inferences { text origin } } }"
    text = server.gql(q, {"e": event})["data"]["complete"]["inferences"][0]["text"]
    own = [{"event": event, "relation": "xNeed", "text": text}]
    assert server.gql(m, {"items": own}, api_key=API_KEY)["data"]["storeCompletions"]["items"][0]["source"] == "STUDENT"
    edge = loaded_store.triple(event, "xNeed", text)
    assert edge is not None and edge.sources == ["student"] and edge.teachers == ["tiny-student"]
    bad = [{"event": "PersonX waters the garden", "relation": "xWhat", "text": "x"}]
    assert _codes(server.gql(m, {"items": bad}, api_key=API_KEY)) == ["UNKNOWN_RELATION"]


def test_fifty_concurrent_requests(server: LiveServer, expected_inferences: dict[str, list[Expected]]) -> None:
    keys = sorted(expected_inferences)[:25]
    expected = {k: len(expected_inferences[k]) for k in keys}
    lookup = "query($t: String!) { event(text: $t) { key inferences(first: 100) { totalCount } } }"
    complete = """query($e: String!) { complete(event: $e, relations: [xWant], n: 1) {
                    key inferences { origin relation } live { relations } } }"""

    async def run() -> list[dict]:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as client:
            reqs = [client.post("/graphql", json={"query": lookup, "variables": {"t": k}}) for k in keys]
            reqs += [
                client.post(
                    "/graphql", json={"query": complete, "variables": {"e": f"PersonX counts sheep number {i}"}}
                )
                for i in range(25)
            ]
            return [r.json() for r in await asyncio.gather(*reqs)]

    answers = asyncio.run(run())
    assert len(answers) == 50 and not any("errors" in a for a in answers)
    for k, a in zip(keys, answers[:25], strict=True):
        assert a["data"]["event"] == {"key": k, "inferences": {"totalCount": expected[k]}}
    for i, a in enumerate(answers[25:]):
        c = a["data"]["complete"]
        assert c["key"] == text_key(f"PersonX counts sheep number {i}") and c["live"]["relations"] == ["xWant"]
        assert all(x["origin"] == "STUDENT" and x["relation"] == "xWant" for x in c["inferences"])
        assert len(c["inferences"]) == 1, c  # the student's one greedy xWant: live generation answered
