"""Test session setup: an isolated data folder and one real embedded ArcadeDB shared by all graph tests."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Isolate every test run's state (database, caches) before any settings are read; converted
# model weights stay in the user's cache so repeated local runs do not convert SmolLM2 again.
_DATA = Path(tempfile.mkdtemp(prefix="skd-test-"))
os.environ.setdefault("SKD_MODEL_CACHE_DIR", str(Path.home() / ".cache" / "skd" / "models"))
os.environ["SKD_DATA_DIR"] = str(_DATA)
os.environ.pop("SKD_GRAPH_URI", None)

from skd.core.settings import Settings  # noqa: E402
from skd.graph_schema.connect import connect, embedded_server  # noqa: E402
from skd.graph_schema.store import GraphStore  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
ATOMIC_SAMPLE = SHARED / "data" / "atomic2020" / "atomic2020-sample.tsv"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def _arcadedb(settings: Settings) -> Iterator[None]:
    server = embedded_server(settings)
    server.start()
    yield
    server.stop()


@pytest.fixture(scope="session")
def session_store(_arcadedb: None, settings: Settings) -> Iterator[GraphStore]:
    store = connect(settings)
    yield store
    store.close()


@pytest.fixture
def store(session_store: GraphStore) -> GraphStore:
    """The real graph, emptied before each test that uses it."""
    session_store.clear()
    return session_store


@pytest.fixture(scope="session")
def atomic_sample() -> Path:
    if not ATOMIC_SAMPLE.exists():
        pytest.skip(f"shared ATOMIC 2020 sample not found at {ATOMIC_SAMPLE}")
    return ATOMIC_SAMPLE
