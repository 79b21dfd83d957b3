"""Test session setup: an isolated data folder, and every graph test run against each real local server.

Graph tests run once per backend: the embedded ArcadeDB and a real Neo4j Community server. Pick one
with `pytest --backend arcadedb` (or `neo4j`), or `SKD_TEST_BACKENDS=arcadedb`; the default is both.
A server that cannot start is an error, never a skip.
"""

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

from skd.cli.common import get_settings  # noqa: E402
from skd.core.settings import Settings  # noqa: E402
from skd.graph_schema.connect import connect, embedded_server  # noqa: E402
from skd.graph_schema.store import GraphStore  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
ATOMIC_SAMPLE = SHARED / "data" / "atomic2020" / "atomic2020-sample.tsv"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


BACKENDS = ("arcadedb", "neo4j")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=[*BACKENDS, "both"],
        default=os.environ.get("SKD_TEST_BACKENDS", "both"),
        help="which local graph server the graph tests run against (default: both, one after the other)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "graph_backend" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--backend")
        metafunc.parametrize(
            "graph_backend", BACKENDS if chosen == "both" else [chosen], indirect=True, scope="session"
        )


@pytest.fixture(scope="session")
def graph_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The local server of this run of the graph tests; CLI commands the tests run see it too."""
    name = str(request.param)
    before = os.environ.get("SKD_GRAPH_BACKEND")
    os.environ["SKD_GRAPH_BACKEND"] = name
    get_settings.cache_clear()
    yield name
    if before is None:
        os.environ.pop("SKD_GRAPH_BACKEND", None)
    else:
        os.environ["SKD_GRAPH_BACKEND"] = before
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def graph_settings(graph_backend: str, settings: Settings) -> Settings:
    return settings.model_copy(update={"graph_backend": graph_backend})


@pytest.fixture(scope="session")
def graph_server(graph_settings: Settings) -> Iterator[None]:
    server = embedded_server(graph_settings)
    server.start()
    yield
    server.stop()


@pytest.fixture(scope="session")
def session_store(graph_server: None, graph_settings: Settings) -> Iterator[GraphStore]:
    store = connect(graph_settings)
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
