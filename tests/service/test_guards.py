"""The service's guards over real HTTP: per-client rate limits on model work, a bounded model queue, a
deadline, a body limit, the key for `complete`, introspection off, and free text read as an event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx

from skd.core.settings import Settings
from skd.graph_schema.records import make_triple
from skd.graph_schema.store import GraphStore
from skd.service.app import create_app
from tests.service.conftest import API_KEY, LiveServer, service_settings

COMPLETE = "query($e: String!) { complete(event: $e, relations: [xWant], n: 1) { key inferences { text } } }"


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def _server(store: GraphStore, settings: Settings, student: Any, **overrides: object) -> LiveServer:
    return LiveServer(create_app(service_settings(settings, **overrides), store=store, student=student))


def test_model_work_is_rate_limited_per_client(loaded_store: GraphStore, settings: Settings, tiny_student: Any) -> None:
    with _server(loaded_store, settings, tiny_student, service_model_rate_limit="2/minute") as live:
        assert [_codes(live.gql(COMPLETE, {"e": f"PersonX hums tune {i}"})) for i in range(2)] == [[], []]
        refused = live.gql(COMPLETE, {"e": "PersonX hums tune 3"})
        assert _codes(refused) == ["RATE_LIMITED"] and refused["data"] is None
        assert 0 < refused["errors"][0]["extensions"]["retryAfter"] <= 60
        # another client (here: another key) has its own allowance; lookups are not model work
        assert _codes(live.gql(COMPLETE, {"e": "PersonX hums tune 4"}, api_key=API_KEY)) == []
        assert _codes(live.gql("{ stats { events } }")) == []


def test_a_full_model_queue_answers_overloaded(loaded_store: GraphStore, settings: Settings, tiny_student: Any) -> None:
    with _server(loaded_store, settings, tiny_student, service_max_queue=2) as live:
        q = '{ complete(event: "PersonX juggles five oranges", n: 1) { inferences { text } } }'  # seven relations
        body = live.gql(q)
        assert _codes(body) == ["OVERLOADED"] and "busy" in body["errors"][0]["message"]
        # nothing is left behind: a request that fits is answered
        small = '{ complete(event: "PersonX juggles five oranges", relations: [xWant, xNeed], n: 1) { key } }'
        assert _codes(live.gql(small)) == []


def test_model_work_has_a_deadline(loaded_store: GraphStore, settings: Settings, tiny_student: Any) -> None:
    with _server(loaded_store, settings, tiny_student, service_model_timeout_s=0.001) as live:
        body = live.gql(COMPLETE, {"e": "PersonX counts the stars slowly"})
        assert _codes(body) == ["DEADLINE_EXCEEDED"] and "0.001 s" in body["errors"][0]["message"]
        # an answer from the graph alone needs no model work, so no deadline applies
        key = "personx waters a fern"
        loaded_store.upsert([make_triple(key, "xWant", "to see it grow")])
        assert _codes(live.gql(COMPLETE, {"e": key})) == []


def test_too_much_work_in_one_request(loaded_store: GraphStore, settings: Settings, tiny_student: Any) -> None:
    with _server(loaded_store, settings, tiny_student, service_max_live_generations=10) as live:
        body = live.gql('{ complete(event: "PersonX sings", n: 2) { key } }')  # 7 relations x 2
        assert _codes(body) == ["TOO_MUCH_WORK"] and "14 generations" in body["errors"][0]["message"]


def test_complete_can_require_the_key(loaded_store: GraphStore, settings: Settings, tiny_student: Any) -> None:
    with _server(loaded_store, settings, tiny_student, service_complete_requires_key=True) as live:
        assert _codes(live.gql(COMPLETE, {"e": "PersonX sings"})) == ["UNAUTHENTICATED"]
        assert _codes(live.gql(COMPLETE, {"e": "PersonX sings"}, api_key="wrong")) == ["FORBIDDEN"]
        assert _codes(live.gql(COMPLETE, {"e": "PersonX sings"}, api_key=API_KEY)) == []
        assert _codes(live.gql("{ stats { events } }")) == []  # lookups stay open


def test_an_oversized_body_is_413(loaded_store: GraphStore, settings: Settings, tiny_student: Any) -> None:
    with _server(loaded_store, settings, tiny_student, service_max_body_bytes=2048) as live:
        big = {"query": "{ stats { events } }", "variables": {"pad": "x" * 5000}}
        r = httpx.post(f"{live.url}/graphql", json=big)
        assert r.status_code == 413 and r.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while the body streams
            data = json.dumps(big).encode()
            for i in range(0, len(data), 512):
                yield data[i : i + 512]

        r = httpx.post(f"{live.url}/graphql", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        small = httpx.post(f"{live.url}/graphql", json={"query": "{ stats { events } }"})
        assert small.status_code == 200 and "errors" not in small.json()
        assert 'status="413"' in httpx.get(f"{live.url}/metrics").text


def test_introspection_can_be_switched_off(loaded_store: GraphStore, settings: Settings, tiny_student: Any) -> None:
    q = "{ __schema { queryType { name } } }"
    with _server(loaded_store, settings, tiny_student) as live:
        assert live.gql(q)["data"]["__schema"]["queryType"]["name"] == "Query"
    with _server(loaded_store, settings, tiny_student, service_introspection=False) as live:
        body = live.gql(q)
        assert set(_codes(body)) == {"GRAPHQL_VALIDATION_FAILED"} and "introspection" in body["errors"][0]["message"]
        assert _codes(live.gql("{ relations { name } }")) == []


def test_complete_reads_an_everyday_sentence(loaded_store: GraphStore, settings: Settings, tiny_student: Any) -> None:
    loaded_store.upsert([make_triple("PersonX lends PersonY a ladder", "xWant", "to help PersonY")])
    q = """query($e: String!, $norm: Boolean!) { complete(event: $e, relations: [xWant], n: 1, normalise: $norm) {
             input event interpretation inGraph inferences { text origin } } }"""
    with _server(loaded_store, settings, tiny_student) as live:
        c = live.gql(q, {"e": "I lent my neighbour a ladder", "norm": True})["data"]["complete"]
        assert c["input"] == "I lent my neighbour a ladder" and c["event"] == "PersonX lends PersonY a ladder"
        assert c["interpretation"] == [
            "read 'I' as PersonX",
            "read 'lent' as 'lends'",
            "read 'my neighbour' as PersonY",
        ]
        assert c["inGraph"] and c["inferences"] == [{"text": "to help PersonY", "origin": "GRAPH"}]
        raw = live.gql(q, {"e": "I lent my neighbour a ladder", "norm": False})["data"]["complete"]
        assert raw["event"] == "I lent my neighbour a ladder" and raw["interpretation"] == [] and not raw["inGraph"]


def test_the_rate_limit_can_be_switched_off_and_a_bad_one_is_named() -> None:
    import pytest

    from skd.core.errors import ConfigError
    from skd.service.guards import ModelRateLimit

    unlimited = ModelRateLimit("none")
    for _ in range(1000):
        unlimited.check("ip:127.0.0.1")  # never refused
    one = ModelRateLimit("1/minute")
    one.check("ip:127.0.0.1")
    with pytest.raises(Exception, match="rate limit of model work reached"):
        one.check("ip:127.0.0.1")
    with pytest.raises(ConfigError, match="SKD_SERVICE_MODEL_RATE_LIMIT 'often'"):
        ModelRateLimit("often")
