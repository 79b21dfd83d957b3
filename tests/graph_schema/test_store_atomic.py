"""The store over the whole ATOMIC 2020 sample, loaded once for this module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from skd.core.errors import InputError
from skd.graph_schema.store import GraphStore
from skd.graph_schema.triples_io import read_triples


def _load_sample(store: GraphStore, path: Path) -> int:
    return store.upsert_all(n.triple for n in read_triples(path))


@pytest.fixture(scope="module")
def loaded(session_store: GraphStore, atomic_sample: Path) -> Iterator[GraphStore]:
    session_store.clear()
    _load_sample(session_store, atomic_sample)
    yield session_store
    session_store.clear()


def test_atomic_sample_loads_with_expected_counts(loaded: GraphStore, atomic_sample: Path) -> None:
    with atomic_sample.open(encoding="utf-8") as f:
        lines = sum(1 for line in f if line.strip())
    assert lines == 12_770
    distinct = {n.triple.key for n in read_triples(atomic_sample)}
    stats = loaded.stats()
    assert stats["triples"] == len(distinct)
    assert stats["events"] == 1_828
    assert len(stats["by_relation"]) == 21
    assert stats["by_source"] == {"atomic2020": len(distinct)}
    assert stats["by_relation"]["xWant"] == len({k for k in distinct if k[1] == "xWant"})


def test_loading_twice_changes_nothing(loaded: GraphStore, atomic_sample: Path) -> None:
    first = list(loaded.export())
    _load_sample(loaded, atomic_sample)
    assert list(loaded.export()) == first
    assert loaded.stats()["triples"] == len(first)


def test_full_text_search_finds_events_and_counts_them(loaded: GraphStore) -> None:
    hits = loaded.search_events("ambulance", first=50)
    assert hits and all("ambulance" in h.text.lower() for h in hits)
    assert loaded.count_search("ambulance") == len(hits)
    page2 = loaded.search_events("ambulance", first=1, offset=1)
    assert page2 == hits[1:2]
    # Lucene syntax in user text is escaped, not interpreted
    assert loaded.search_events('ambulance) OR "(', first=5)
    with pytest.raises(InputError):
        loaded.search_events("   ")
