"""Service test fixtures: the real graph with part of the ATOMIC sample, a tiny student, a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from skd.core.settings import Settings
from skd.graph_schema.records import Triple
from skd.graph_schema.relations import get_relation
from skd.graph_schema.store import GraphStore
from skd.graph_schema.text import text_key
from skd.graph_schema.triples_io import read_triples
from tests.tiny_models import tiny_gpt2

API_KEY = "test-key"
SAMPLE_TRIPLES = 600


def sample_triples(atomic_sample: Path) -> list[Triple]:
    """The triples `loaded_store` puts in the graph: the first of the ATOMIC 2020 sample."""
    with closing(read_triples(atomic_sample)) as rows:  # closes the file the generator left open
        return [n.triple for n in islice(rows, SAMPLE_TRIPLES)]


@pytest.fixture(scope="module")
def loaded_store(session_store: GraphStore, atomic_sample: Path) -> GraphStore:
    """The real graph holding the first triples of the ATOMIC 2020 sample (loaded once per module)."""
    session_store.clear()
    session_store.upsert_all(sample_triples(atomic_sample))
    return session_store


@dataclass(frozen=True, slots=True)
class Expected:
    """One inference an event should have, worked out from the loaded triples without the store."""

    relation: str
    text: str
    key: str
    score: float | None


@pytest.fixture(scope="session")
def expected_inferences(atomic_sample: Path) -> dict[str, list[Expected]]:
    """Each loaded event's inferences (by event key) as the service should list them, derived here from the
    triples `loaded_store` loaded and the documented rules, not by asking the store: one inference per
    (relation, tail key), its node showing the smallest of the tail texts with that key; ordered best score
    first, unscored ones last, then by relationship type, then by tail key."""
    triples = sample_triples(atomic_sample)
    shown: dict[str, str] = {}
    for t in triples:
        k = text_key(t.tail)
        shown[k] = min(shown.get(k, t.tail), t.tail)
    scores: dict[str, dict[tuple[str, str], float | None]] = {}
    for t in triples:
        per_event = scores.setdefault(text_key(t.head), {})
        pair = (t.relation, text_key(t.tail))
        per_event[pair] = t.score if t.score is not None else per_event.get(pair)
    out: dict[str, list[Expected]] = {}
    for event, pairs in scores.items():
        items = [Expected(rel, shown[tk], tk, score) for (rel, tk), score in pairs.items()]
        items.sort(key=lambda e: (e.score is None, -(e.score or 0.0), get_relation(e.relation).rel_type, e.key))
        out[event] = items
    return out


@pytest.fixture(scope="session")
def tiny_student(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An untrained 2-layer GPT-2 loaded as a student: real forward passes, meaningless text."""
    from skd.models.student import Student

    return Student.load(tiny_gpt2(tmp_path_factory.mktemp("student") / "tiny-student"))


@pytest.fixture(scope="session")
def tiny_critic(tmp_path_factory: pytest.TempPathFactory, atomic_sample: Path):  # type: ignore[no-untyped-def]
    """A critic head trained for two epochs on a tiny BERT with weak labels of the sample."""
    from skd.models.critic_labels import bootstrap_labels
    from skd.models.critic_train import train_critic
    from tests.tiny_models import tiny_bert

    folder = tmp_path_factory.mktemp("critic")
    bootstrap_labels(atomic_sample, folder / "all.jsonl")
    rows = (folder / "all.jsonl").read_text(encoding="utf-8").splitlines()[:400]
    (folder / "labels.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return train_critic(
        folder / "labels.jsonl", folder / "tiny-critic", encoder=str(tiny_bert(folder / "bert")), mode="head", epochs=2
    )


def service_settings(settings: Settings, **overrides: object) -> Settings:
    return settings.model_copy(update={"service_api_key": SecretStr(API_KEY), **overrides})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn serving `app` on a free 127.0.0.1 port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    def gql(self, query: str, variables: dict | None = None, api_key: str | None = None) -> dict:
        headers = {"X-API-Key": api_key} if api_key else {}
        r = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=60
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture(scope="module")
def server(loaded_store: GraphStore, settings: Settings, tiny_student) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    from skd.service.app import create_app

    app = create_app(service_settings(settings), store=loaded_store, student=tiny_student)
    with LiveServer(app) as live:
        yield live
