"""The schema called directly (`schema.execute`), with the real graph: loaders, limits, errors, no student."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx
from neo4j import GraphDatabase

from skd.core.settings import Settings
from skd.graph_schema.relations import RELATIONS
from skd.graph_schema.store import GraphStore
from skd.service.app import build_services, create_app
from skd.service.context import Context
from skd.service.errors import GRAPH_UNAVAILABLE_MESSAGE
from skd.service.metrics import Metrics
from skd.service.schema import build_schema
from tests.service.conftest import API_KEY, Expected, LiveServer, free_port, service_settings

CATALOGUE = [r.name for r in RELATIONS]


class CountingStore(GraphStore):
    """The real store, counting the read queries it sends."""

    reads = 0

    def _read(self, cypher: str, /, **params: Any) -> list[Any]:
        self.reads += 1
        return super()._read(cypher, **params)


class BrokenStatsStore(GraphStore):
    """A real store whose `stats` fails with a bug-like error, to show internals are masked."""

    def stats(self) -> dict[str, Any]:
        raise RuntimeError("secret internal detail")


def execute(
    settings: Settings,
    store: GraphStore,
    query: str,
    variables: dict | None = None,
    api_key: str | None = None,
    student: Any = None,
) -> Any:
    async def run() -> Any:
        services = build_services(settings, store, student, None, Metrics())
        try:
            return await build_schema(settings).execute(
                query, variable_values=variables, context_value=Context(services, api_key)
            )
        finally:
            await services.completion.aclose()

    return asyncio.run(run())


def _codes(result: Any) -> list[str]:
    return [e.extensions["code"] for e in result.errors or []]


def test_dataloaders_fetch_each_kind_of_row_once(
    loaded_store: GraphStore, settings: Settings, expected_inferences: dict[str, list[Expected]]
) -> None:
    store = CountingStore(loaded_store.driver, loaded_store.database, loaded_store.dialect)
    q = """{ searchEvents(query: "PersonX", first: 20) { edges { node { key
             inferences(first: 5) { totalCount } byRelation { relation { name } totalCount } } } } }"""
    try:
        result = execute(service_settings(settings), store, q)
    finally:
        store.close()  # its read sessions; the driver stays the loaded store's
    assert result.errors is None
    nodes = [e["node"] for e in result.data["searchEvents"]["edges"]]
    assert len(nodes) == 20
    # counts worked out from the loaded triples, not asked of the store the loaders call
    assert [n["inferences"]["totalCount"] for n in nodes] == [len(expected_inferences[n["key"]]) for n in nodes]
    assert [[g["relation"]["name"] for g in n["byRelation"]] for n in nodes] == [
        sorted({e.relation for e in expected_inferences[n["key"]]}, key=CATALOGUE.index) for n in nodes
    ]
    # one search, one batched inference query for all twenty events (their first pages and their groups),
    # one batched count: totalCount is counted by the server, not by fetching every edge
    assert store.reads == 3


def test_an_event_with_its_first_page_is_one_query(loaded_store: GraphStore, settings: Settings) -> None:
    """The usual lookup (an event, its first page, its count) reads the graph once, and answers exactly
    what the same request answers when a filter sends it down the general path (event, page, count)."""
    key = next(
        h.key for h in loaded_store.search_events("PersonX", first=50) if len(loaded_store.inferences(h.key)) > 3
    )
    fields = "totalCount pageInfo { hasNextPage endCursor } edges { cursor node { relation text score } }"
    plain = f"query($k: String!) {{ event(key: $k) {{ key inferences(first: 3) {{ {fields} }} }} }}"
    every = ", ".join(CATALOGUE)  # a filter that lets every triple through, so only the path differs
    general = plain.replace("inferences(first: 3)", f"inferences(first: 3, relations: [{every}])")
    answers = []
    for q, reads in ((plain, 1), (general, 3)):
        store = CountingStore(loaded_store.driver, loaded_store.database, loaded_store.dialect)
        try:
            result = execute(service_settings(settings), store, q, {"k": key})
        finally:
            store.close()
        assert result.errors is None and store.reads == reads
        answers.append(result.data)
    assert answers[0] == answers[1]
    assert len(answers[0]["event"]["inferences"]["edges"]) == 3
    assert answers[0]["event"]["inferences"]["totalCount"] == len(loaded_store.inferences(key, first=1000))
    # an event not stored: still one query, and null
    store = CountingStore(loaded_store.driver, loaded_store.database, loaded_store.dialect)
    try:
        result = execute(service_settings(settings), store, plain, {"k": "personx is nowhere to be found"})
    finally:
        store.close()
    assert result.errors is None and result.data == {"event": None} and store.reads == 1


def test_complete_without_a_student_answers_from_the_graph(loaded_store: GraphStore, settings: Settings) -> None:
    key = loaded_store.search_events("PersonX", first=1)[0].key
    rels = sorted({e.relation for e in loaded_store.inferences(key)})
    q = """query($e: String!, $r: [RelationName!]) { complete(event: $e, relations: $r, n: 5) {
             inferences { origin relation text } live { available relations notice student } } }"""
    result = execute(service_settings(settings), loaded_store, q, {"e": key, "r": [*rels, "xWant"]})
    c = result.data["complete"]
    assert not c["live"]["available"] and c["live"]["relations"] == [] and c["live"]["student"] is None
    assert "SKD_STUDENT_PATH" in c["live"]["notice"]
    assert {i["origin"] for i in c["inferences"]} == {"GRAPH"}
    assert {i["relation"] for i in c["inferences"]} == set(rels)


def test_query_depth_limit(loaded_store: GraphStore, settings: Settings) -> None:
    q = '{ searchEvents(query: "PersonX") { edges { node { inferences { edges { node { text } } } } } } }'
    result = execute(service_settings(settings, service_max_query_depth=4), loaded_store, q)
    assert (
        _codes(result) == ["GRAPHQL_VALIDATION_FAILED"]
        and "exceeds maximum operation depth" in result.errors[0].message
    )


def test_token_limit(loaded_store: GraphStore, settings: Settings) -> None:
    q = "{ " + " ".join("relations { name }" for _ in range(40)) + " }"
    result = execute(service_settings(settings, service_max_tokens=50), loaded_store, q)
    assert _codes(result) == ["GRAPHQL_VALIDATION_FAILED"]


def test_writes_are_refused_without_a_configured_key(loaded_store: GraphStore, settings: Settings) -> None:
    m = 'mutation { annotate(head: "PersonX hums", relation: xAttr, tail: "musical", label: SOMETIMES) { labels } }'
    result = execute(settings.model_copy(update={"service_api_key": None}), loaded_store, m, api_key=API_KEY)
    assert _codes(result) == ["FORBIDDEN"] and "SKD_SERVICE_API_KEY" in result.errors[0].message


def test_unexpected_errors_are_masked_with_a_broken_store(loaded_store: GraphStore, settings: Settings) -> None:
    store = BrokenStatsStore(loaded_store.driver, loaded_store.database, loaded_store.dialect)
    try:
        result = execute(service_settings(settings), store, "{ stats { events } }")
    finally:
        store.close()  # its read sessions; the driver stays the loaded store's
    assert _codes(result) == ["INTERNAL_SERVER_ERROR"]
    assert "secret" not in result.errors[0].message


def test_a_down_graph_is_an_error_not_a_hang(loaded_store: GraphStore, settings: Settings) -> None:
    driver = GraphDatabase.driver(
        f"bolt://127.0.0.1:{free_port()}", auth=("u", "p"), connection_timeout=1, max_transaction_retry_time=0
    )
    down = GraphStore(driver, None, loaded_store.dialect)
    try:
        result = execute(service_settings(settings), down, '{ event(text: "PersonX eats") { key } }')
        assert _codes(result) == ["GRAPH_UNAVAILABLE"]
        with LiveServer(create_app(service_settings(settings), store=down)) as live:
            ready = httpx.get(f"{live.url}/readyz", timeout=30)
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            assert live.gql("{ stats { events } }")["errors"][0]["extensions"]["code"] == "GRAPH_UNAVAILABLE"
    finally:
        down.close()
        driver.close()


def test_a_silent_graph_hits_the_deadline(loaded_store: GraphStore, settings: Settings) -> None:
    """A server that accepts connections and never answers: the service's deadline ends the wait."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        driver = GraphDatabase.driver(
            f"bolt://127.0.0.1:{port}", auth=("u", "p"), connection_timeout=3, max_transaction_retry_time=0
        )
        try:
            result = execute(
                service_settings(settings, service_graph_timeout_s=0.5),
                GraphStore(driver, None, loaded_store.dialect),
                "{ stats { events } }",
            )
            assert _codes(result) == ["GRAPH_UNAVAILABLE"] and result.errors[0].message == GRAPH_UNAVAILABLE_MESSAGE
        finally:
            driver.close()
