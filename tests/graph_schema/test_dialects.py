"""What differs between Neo4j and ArcadeDB, each on the real server where it matters."""

from __future__ import annotations

from typing import Any

import pytest
from neo4j.exceptions import TransientError

from skd.core.errors import ConfigError
from skd.graph_schema import queries
from skd.graph_schema import store as store_module
from skd.graph_schema.dialect import ArcadeDBDialect, Neo4jDialect, dialect_for_agent, lucene_terms
from skd.graph_schema.records import make_triple
from skd.graph_schema.relations import get_relation
from skd.graph_schema.store import GraphStore

AGENT = {"http_url": "", "database": "", "user": "", "password": ""}


def test_the_bolt_agent_tells_the_servers_apart() -> None:
    arcade = dialect_for_agent("Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)", **AGENT)
    assert isinstance(arcade, ArcadeDBDialect) and arcade.version == "26.10.2"
    neo = dialect_for_agent("Neo4j/5.26.30", **AGENT)
    assert isinstance(neo, Neo4jDialect) and neo.version == "5.26.30"
    with pytest.raises(ConfigError, match="Neo4j 5 or later"):
        dialect_for_agent("Neo4j/4.4.12", **AGENT)
    with pytest.raises(ConfigError, match="only Neo4j 5 and ArcadeDB"):
        dialect_for_agent("Memgraph/2.1", **AGENT)


def test_the_store_knows_which_server_it_talks_to(store: GraphStore, graph_backend: str) -> None:
    assert store.dialect.name == graph_backend and store.dialect.version[0].isdigit()


def test_lucene_operator_words_are_plain_terms() -> None:
    assert lucene_terms("NOT") == "not"
    assert lucene_terms("AND OR TO x:y") == "and or to x\\:y"


@pytest.mark.parametrize("query", ["NOT", "AND", "OR NOT", "TO", "buys AND NOT", "car~ (x) [a TO b]"])
def test_searches_that_look_like_lucene_syntax_are_not_errors(store: GraphStore, query: str) -> None:
    store.upsert(
        [make_triple("PersonX buys a car", "xWant", "to drive it"), make_triple("PersonX says NOT", "xWant", "x")]
    )
    hits = store.search_events(query)
    assert isinstance(hits, list)
    assert store.count_search(query) == len(store.search_events(query, first=100))


def test_a_search_right_after_creating_the_index_on_a_populated_graph_works(store: GraphStore) -> None:
    store.upsert([make_triple(f"PersonX buys car number {n}", "xWant", "to drive it") for n in range(300)])
    if isinstance(store.dialect, Neo4jDialect):
        with store.driver.session(database=store.database) as s:
            s.run("DROP INDEX event_text IF EXISTS").consume()
    store.ensure_schema()  # waits until the new index is online
    assert store.count_search("car") == 300


def test_clear_deletes_in_batches(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.upsert([make_triple(f"PersonX eats {n}", "xWant", f"food {n}") for n in range(40)])
    batches: list[int] = []
    real = store._write

    def counting(work: Any) -> Any:
        n = real(work)
        batches.append(n)
        return n

    monkeypatch.setattr(store_module, "DELETE_BATCH_SIZE", 15)
    monkeypatch.setattr(store, "_write", counting)
    store.clear()
    assert batches == [15, 15, 15, 15, 15, 5, 0]  # 80 nodes, 15 a transaction
    assert store.stats()["events"] == store.stats()["inferences"] == 0


def test_a_missing_schema_is_named_and_ensuring_it_restores_it(store: GraphStore) -> None:
    if not isinstance(store.dialect, Neo4jDialect):
        store.check_schema()  # ArcadeDB cannot list its schema: checking ensures it
        return
    with store.driver.session(database=store.database) as s:
        s.run("DROP CONSTRAINT event_key IF EXISTS").consume()
    with pytest.raises(ConfigError, match=r"constraint event_key.*schema rights"):
        store.check_schema()
    store.ensure_schema()
    store.check_schema()


def test_annotating_twice_with_one_label_id_keeps_one_label(store: GraphStore) -> None:
    first = store.annotate("PersonX runs", "xWant", "to rest", 1, label_id="judgment-1")
    again = store.annotate("PersonX runs", "xWant", "to rest", 1, label_id="judgment-1")  # a retried write
    other = store.annotate("PersonX runs", "xWant", "to rest", -1)
    assert first.labels == again.labels == [1] and other.labels == [1, -1]


def test_writes_leave_bookmarks_that_every_read_session_waits_for(store: GraphStore) -> None:
    store.upsert([make_triple("PersonX runs", "xWant", "to rest")])
    assert store.bookmarks.get_bookmarks()  # the write's bookmark is kept for the reads that follow
    assert store.triple("PersonX runs", "xWant", "to rest") is not None


def test_relationship_counts_come_from_the_count_store_on_neo4j(store: GraphStore) -> None:
    store.upsert([make_triple("PersonX runs", "xWant", "to rest"), make_triple("PersonX runs", "xNeed", "shoes")])
    assert store.stats()["by_relation"] == {"xNeed": 1, "xWant": 1}
    if isinstance(store.dialect, Neo4jDialect):
        with store.driver.session(database=store.database) as s:
            plan = s.run("EXPLAIN " + queries.count_of_type(get_relation("xWant").rel_type)).consume().plan
        assert "RelationshipCountFromCountStore" in str(plan)


def test_a_read_that_fails_transiently_is_tried_again(store: GraphStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fault injection: the first read of a session fails as a leader switch would; the store retries."""
    store.upsert([make_triple("PersonX runs", "xWant", "to rest")])
    real_session = store._session
    failures = iter([True, False, False])

    class Flaky:
        def __init__(self) -> None:
            self.inner = real_session()

        def run(self, cypher: str, params: dict[str, Any]) -> Any:
            if next(failures, False):
                raise TransientError("Neo.TransientError.General.DatabaseUnavailable")
            return self.inner.run(cypher, params)

    monkeypatch.setattr(store, "_session", Flaky)
    assert store.triple("PersonX runs", "xWant", "to rest") is not None
