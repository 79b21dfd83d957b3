"""The graph store: every read and write of the knowledge graph, over the official `neo4j` driver.

The store is handed a driver and never makes one (see `graph_schema.connect`). Writes go as
`UNWIND $rows` batches, one transaction per batch, so a batch is stored whole or not at all.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal

from neo4j import READ_ACCESS, WRITE_ACCESS, Driver, GraphDatabase, ManagedTransaction, Session
from neo4j.exceptions import (
    ClientError,
    ConstraintError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
    TransientError,
)

from skd.core.errors import ConfigError, GraphError, GraphUnavailableError, InputError
from skd.graph_schema import queries
from skd.graph_schema.dialect import ArcadeDBDialect, Dialect, lucene_terms
from skd.graph_schema.records import (
    Edge,
    EdgeFilter,
    EdgePosition,
    EventNode,
    SearchHit,
    SearchPosition,
    Triple,
)
from skd.graph_schema.relations import BY_NAME, BY_REL_TYPE, RELATIONS, Relation, get_relation
from skd.graph_schema.text import clean_text, text_key

ALL_TYPES = [r.rel_type for r in RELATIONS]
#: tries of an auto-commit read that failed transiently (a leader switch, a lock timeout, a dropped connection)
READ_TRIES = 3
#: nodes deleted per transaction by `clear`
DELETE_BATCH_SIZE = 5000
#: where an unscored triple sorts: after every score (scores are in [0, 1])
UNSCORED = -1.0

#: `out`: from an event to its inferences; `in`: from an inference to the events it follows
Direction = Literal["out", "in"]
#: what a full-text search looks through
NodeKind = Literal["event", "inference"]


def _names(relations: Sequence[str | Relation] | None) -> list[str]:
    return [r.name if isinstance(r, Relation) else r for r in relations or ()]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _smallest_text(nodes: dict[str, str], key: str, text: str) -> None:
    if key not in nodes or text < nodes[key]:
        nodes[key] = text


class _Batch:
    """One write batch: its nodes deduplicated by key, its triples grouped by relationship type with
    repeats of one triple folded into one row."""

    def __init__(self, triples: Iterable[Triple]) -> None:
        self.events: dict[str, str] = {}
        self.inferences: dict[str, str] = {}
        by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
        now = _now_ms()
        for t in triples:
            hk, rel, tk = t.key
            _smallest_text(self.events, hk, t.head)
            _smallest_text(self.inferences, tk, t.tail)
            row = by_key.get((hk, rel, tk))
            if row is None:
                by_key[(hk, rel, tk)] = {
                    "hk": hk,
                    "tk": tk,
                    "score": t.score,
                    "sources": list(dict.fromkeys(t.sources)),
                    "runs": list(dict.fromkeys(t.runs)),
                    "teachers": list(dict.fromkeys(t.teachers)),
                    "prompts": list(dict.fromkeys(t.prompts)),
                    "labels": list(t.labels),
                    "now": now,
                    "_rel": rel,
                }
                continue
            if t.score is not None:
                row["score"] = t.score
            for name in ("sources", "runs", "teachers", "prompts"):
                row[name] = list(dict.fromkeys([*row[name], *getattr(t, name)]))
            if not row["labels"]:
                row["labels"] = list(t.labels)
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in by_key.values():
            self.rows[get_relation(row.pop("_rel")).rel_type].append(row)

    @staticmethod
    def nodes(texts: dict[str, str]) -> list[dict[str, str]]:
        return [{"key": k, "text": v} for k, v in texts.items()]


#: How many values `queries._EDGE_FIELDS` returns; they end every record that describes an edge.
_EDGE_WIDTH = 12


def _edge(record: Any) -> Edge:
    """An Edge from the trailing `_EDGE_FIELDS` values of a record, read by position: a record is a tuple,
    and reading a dozen values by name costs more than the rest of a lookup's client work."""
    (head_key, head, rel_type, tail_key, tail, score, sources, runs, teachers, prompts, labels, created) = tuple(
        record
    )[-_EDGE_WIDTH:]
    return Edge(
        relation=BY_REL_TYPE[rel_type].name,
        tail=tail,
        tail_key=tail_key,
        score=score,
        sources=list(sources or []),
        runs=list(runs or []),
        teachers=list(teachers or []),
        prompts=list(prompts or []),
        labels=[int(x) for x in (labels or [])],
        head=head,
        head_key=head_key,
        created_at=None if created is None else int(created),
    )


def _types(relations: Sequence[str | Relation] | None) -> list[str]:
    if not relations:
        return ALL_TYPES
    return [(r if isinstance(r, Relation) else get_relation(r)).rel_type for r in relations]


def _filter_params(flt: EdgeFilter) -> dict[str, Any]:
    return {
        "types": _types(flt.relations),
        "min_score": flt.min_score,
        "sources": list(flt.sources) or None,
        "runs": list(flt.runs) or None,
        "teachers": list(flt.teachers) or None,
        "prompts": list(flt.prompts) or None,
    }


def position_of(edge: Edge, direction: Direction) -> EdgePosition:
    """Where `edge` stands in the lookup order of the node it was read from."""
    score = edge.score if edge.score is not None else UNSCORED
    far = edge.tail_key if direction == "out" else edge.head_key
    return EdgePosition(score, BY_NAME[edge.relation].rel_type, far)


def _sort_key(direction: Direction) -> Callable[[Edge], tuple[float, str, str]]:
    def key(e: Edge) -> tuple[float, str, str]:
        p = position_of(e, direction)
        return (-p.score, p.rel_type, p.key)

    return key


class GraphStore:
    """Reads and writes of the commonsense graph through one `neo4j` driver."""

    def __init__(
        self, driver: Driver, database: str | None, dialect: Dialect, batch_size: int = 2000, owns_driver: bool = False
    ) -> None:
        self.driver = driver
        self.database = database
        self.dialect = dialect
        self.batch_size = batch_size
        self._owns_driver = owns_driver
        self._local = threading.local()
        # every session, the reused read sessions included, shares one bookmark manager, so a read right
        # after a write sees it even on a cluster (causal consistency)
        self.bookmarks = GraphDatabase.bookmark_manager()
        self._sessions: set[Session] = set()  # each thread's read session, so `close` closes them all
        self._sessions_lock = threading.Lock()

    def close(self) -> None:
        with self._sessions_lock:
            sessions, self._sessions = list(self._sessions), set()
        for session in sessions:
            with contextlib.suppress(Exception):
                session.close()
        self._local.session = None
        if self._owns_driver:
            self.driver.close()

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------------
    def _session(self) -> Session:
        """This thread's read session. Reusing it (auto-commit) saves most of a lookup's cost: a managed
        transaction per lookup costs three round trips instead of one."""
        session = getattr(self._local, "session", None)
        if session is None or session.closed():
            session = self.driver.session(
                database=self.database, default_access_mode=READ_ACCESS, bookmark_manager=self.bookmarks
            )
            self._local.session = session
            with self._sessions_lock:
                self._sessions.add(session)
        return session

    def _drop_session(self) -> None:
        session = getattr(self._local, "session", None)
        self._local.session = None
        if session is not None:
            with self._sessions_lock:
                self._sessions.discard(session)
            with contextlib.suppress(Exception):
                session.close()

    def _read(self, cypher: str, /, **params: Any) -> list[Any]:
        """One auto-commit read, tried again on a fresh session when it failed transiently."""
        for attempt in range(READ_TRIES):
            try:
                return list(self._session().run(cypher, params))
            except (ServiceUnavailable, SessionExpired, TransientError, OSError) as e:
                self._drop_session()
                if attempt + 1 >= READ_TRIES:
                    if isinstance(e, TransientError):
                        raise GraphError(f"graph query failed {READ_TRIES} times: {e.message or e}") from e
                    raise GraphUnavailableError(f"graph unreachable: {e}") from e
                time.sleep(0.1 * 2**attempt)
            except Neo4jError as e:
                self._drop_session()
                raise GraphError(f"graph query failed: {e.message or e}") from e
            except BaseException:
                self._drop_session()
                raise
        raise AssertionError("unreachable")

    def _write(self, work: Any) -> Any:
        """Run `work(tx)` in one write transaction, retried on the dialect's MERGE conflicts."""
        attempts = self.dialect.merge_retries + 1
        for attempt in range(attempts):
            try:
                with self.driver.session(
                    database=self.database, default_access_mode=WRITE_ACCESS, bookmark_manager=self.bookmarks
                ) as s:
                    return s.execute_write(work)
            except ConstraintError as e:
                if attempt + 1 >= attempts:
                    raise GraphError(f"graph write failed: {e.message or e}") from e
                time.sleep(0.05 * (attempt + 1))
            except (ServiceUnavailable, SessionExpired) as e:
                raise GraphUnavailableError(f"graph unreachable: {e}") from e
            except Neo4jError as e:
                raise GraphError(f"graph write failed: {e.message or e}") from e
        raise AssertionError("unreachable")

    # -- schema ---------------------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        """Create the key constraints and the full-text index on event text, idempotently, and wait until
        they are online. Needs schema rights; see `check_schema` for accounts without them."""
        try:
            with self.driver.session(database=self.database, bookmark_manager=self.bookmarks) as s:
                for stmt in queries.CONSTRAINTS.values():
                    s.run(stmt).consume()
                self.dialect.ensure_fulltext(lambda q: list(s.run(q)))
        except (ServiceUnavailable, SessionExpired) as e:
            raise GraphUnavailableError(f"graph unreachable: {e}") from e
        except ClientError as e:
            raise GraphError(
                f"cannot create the graph schema ({e.code}): {e.message or e}; create it once as a user with "
                "schema rights (`skd db start` or `skd load`)"
            ) from e

    def check_schema(self) -> None:
        """Check that the schema `ensure_schema` makes is there, without schema rights; say what is missing.
        Where the server cannot list its schema (ArcadeDB), it is ensured instead."""
        if isinstance(self.dialect, ArcadeDBDialect):
            self.ensure_schema()
            return
        try:
            missing = self.dialect.missing_schema(lambda q: self._read(q), queries.CONSTRAINTS)
        except GraphError as e:
            raise ConfigError(f"cannot read the graph's schema: {e}") from e
        if missing:
            raise ConfigError(
                f"the graph lacks {', '.join(missing)}: create the schema once as a user with schema rights "
                "(`skd db start`, or any `skd load`)"
            )

    # -- writes ---------------------------------------------------------------------------------------
    def upsert(self, triples: Sequence[Triple]) -> int:
        """Merge one batch of triples in one transaction; returns the number of distinct triples."""
        batch = _Batch(triples)

        def work(tx: ManagedTransaction) -> int:
            tx.run(queries.MERGE_EVENTS, nodes=batch.nodes(batch.events)).consume()
            tx.run(queries.MERGE_INFERENCES, nodes=batch.nodes(batch.inferences)).consume()
            return sum(
                tx.run(queries.upsert(rel_type), rows=rows).single(strict=True)["n"]
                for rel_type, rows in batch.rows.items()
            )

        return self._write(work) if batch.rows else 0

    def upsert_all(self, triples: Iterable[Triple]) -> int:
        """Merge any number of triples in batches of `batch_size`."""
        total, batch = 0, []
        for t in triples:
            batch.append(t)
            if len(batch) >= self.batch_size:
                total += self.upsert(batch)
                batch = []
        return total + self.upsert(batch)

    def set_scores(self, scored: Sequence[tuple[str, str, str, float]]) -> int:
        """Set critic scores on stored triples given as (head, relation, tail, score)."""
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for head, rel, tail, score in scored:
            grouped[get_relation(rel).rel_type].append(
                {"hk": text_key(head), "tk": text_key(tail), "score": float(score)}
            )

        def work(tx: ManagedTransaction) -> int:
            return sum(
                tx.run(queries.set_scores(rt), rows=rows).single(strict=True)["n"] for rt, rows in grouped.items()
            )

        return self._write(work) if grouped else 0

    def annotate(self, head: str, relation: str, tail: str, label: int, label_id: str | None = None) -> Edge:
        """Keep a human acceptability label on a triple (made if new); returns the updated edge.

        `label_id` names this judgment (a fresh one by default): storing it twice, as a retried transaction
        would, keeps one label.
        """
        h, t = clean_text(head), clean_text(tail)
        if not h or not t:
            raise InputError("head and tail must not be empty")
        rel = get_relation(relation)
        judgment = label_id or uuid.uuid4().hex

        def work(tx: ManagedTransaction) -> Any:
            return tx.run(
                queries.annotate(rel.rel_type),
                hk=text_key(h),
                h=h,
                tk=text_key(t),
                t=t,
                label=int(label),
                label_id=judgment,
                now=_now_ms(),
            ).single(strict=True)

        return _edge(self._write(work))

    def clear(self) -> None:
        """Delete every Event and Inference (tests and `skd db reset`), a batch of nodes per transaction."""

        def one_batch(tx: ManagedTransaction) -> int:
            return int(tx.run(queries.DELETE_BATCH, limit=DELETE_BATCH_SIZE).single(strict=True)["n"])

        while self._write(one_batch):
            pass

    # -- reads ----------------------------------------------------------------------------------------
    def event(self, text_or_key: str) -> EventNode | None:
        recs = self._read(queries.EVENT_BY_KEY, key=text_key(text_or_key))
        return EventNode(recs[0]["key"], recs[0]["text"]) if recs else None

    def events(self, keys: Sequence[str]) -> dict[str, EventNode]:
        """The stored events among `keys` (already normalised), in one query."""
        recs = self._read(queries.EVENTS_BY_KEYS, keys=list(keys))
        return {r["key"]: EventNode(r["key"], r["text"]) for r in recs}

    def inference_nodes(self, keys: Sequence[str]) -> dict[str, EventNode]:
        """The stored inferences (tails) among `keys` (already normalised), in one query."""
        recs = self._read(queries.INFERENCES_BY_KEYS, keys=list(keys))
        return {r["key"]: EventNode(r["key"], r["text"]) for r in recs}

    def inferences(
        self,
        event: str,
        relations: Sequence[str | Relation] | None = None,
        min_score: float | None = None,
        sources: Sequence[str] | None = None,
        first: int = 100,
        offset: int = 0,
    ) -> list[Edge]:
        """An event's inferences, best score first, filtered and paginated."""
        if first < 0 or offset < 0:
            raise InputError("first and offset must not be negative")
        flt = EdgeFilter(tuple(_names(relations)), min_score, tuple(sources or ()))
        return self.edge_page("out", text_key(event), flt, first + offset)[offset:]

    def inferences_of_events(
        self,
        keys: Sequence[str],
        relations: Sequence[str | Relation] | None = None,
        min_score: float | None = None,
        sources: Sequence[str] | None = None,
    ) -> dict[str, list[Edge]]:
        """Inferences of many events in one query (for DataLoaders), best score first per event."""
        return self.edges_of("out", keys, EdgeFilter(tuple(_names(relations)), min_score, tuple(sources or ())))

    def edges_of(self, direction: Direction, keys: Sequence[str], flt: EdgeFilter) -> dict[str, list[Edge]]:
        """Every triple passing `flt` of each node in `keys` (events for `out`, inferences for `in`), in
        the lookup order, in one query."""
        out: dict[str, list[Edge]] = {k: [] for k in keys}
        for r in self._read(queries.edges_of(direction), keys=list(keys), **_filter_params(flt)):
            out.setdefault(r["node_key"], []).append(_edge(r))
        order = _sort_key(direction)
        for edges in out.values():
            edges.sort(key=order)  # Cypher's order: by score, then relationship type, then far key
        return out

    def edge_page(
        self,
        direction: Direction,
        key: str,
        flt: EdgeFilter,
        limit: int,
        position: EdgePosition | None = None,
        backward: bool = False,
    ) -> list[Edge]:
        """Up to `limit` triples of one node in the lookup order: those after `position` (the first ones
        without), or with `backward` the last ones before it. Either way in the lookup order."""
        if limit < 0:
            raise InputError("a page size must not be negative")
        if limit == 0:
            return []
        p = position
        recs = self._read(
            queries.edge_page(direction, backward),
            key=key,
            limit=limit,
            ps=None if p is None else p.score,
            pt=None if p is None else p.rel_type,
            pk=None if p is None else p.key,
            **_filter_params(flt),
        )
        edges = [_edge(r) for r in recs]
        return edges[::-1] if backward else edges

    def node_with_page(
        self, direction: Direction, key: str, flt: EdgeFilter, limit: int
    ) -> tuple[EventNode, list[Edge], int] | None:
        """One node (an event for `out`, an inference for `in`), the first `limit` of its triples passing
        `flt` in the lookup order, and how many pass it, in one round trip; None when it is not stored.
        The usual lookup (a node and its first page) costs one query instead of three."""
        if limit < 0:
            raise InputError("a page size must not be negative")
        recs = self._read(queries.node_with_page(direction), key=key, limit=limit, **_filter_params(flt))
        if not recs:
            return None
        r = recs[0]
        return EventNode(r["key"], r["text"]), [_edge(row) for row in r["page"]], int(r["total"])

    def edge_counts(self, direction: Direction, keys: Sequence[str], flt: EdgeFilter) -> dict[str, int]:
        """How many triples passing `flt` each node has, counted by the server (none is sent)."""
        counts = dict.fromkeys(keys, 0)
        for r in self._read(queries.edge_counts(direction), keys=list(keys), **_filter_params(flt)):
            counts[r["node_key"]] = int(r["n"])
        return counts

    def triple(self, head: str, relation: str, tail: str) -> Edge | None:
        recs = self._read(
            queries.TRIPLE, hk=text_key(head), tk=text_key(tail), rel_type=get_relation(relation).rel_type
        )
        return _edge(recs[0]) if recs else None

    def _index(self, kind: NodeKind) -> str:
        return self.dialect.fulltext_index if kind == "event" else self.dialect.inference_fulltext_index

    def search(
        self,
        kind: NodeKind,
        query: str,
        limit: int,
        position: SearchPosition | None = None,
        backward: bool = False,
    ) -> list[SearchHit]:
        """Full-text search of event or inference text, best match first (then by key): up to `limit` hits
        after `position`, or with `backward` the last ones before it."""
        terms = lucene_terms(query)
        if not terms:
            raise InputError("empty search query")
        p = position
        recs = self._read(
            queries.search(backward),
            index=self._index(kind),
            query=terms,
            limit=limit,
            ps=None if p is None else p.score,
            pk=None if p is None else p.key,
        )
        hits = [SearchHit(r["key"], r["text"], float(r["score"])) for r in recs]
        return hits[::-1] if backward else hits

    def search_events(self, query: str, first: int = 10, offset: int = 0) -> list[SearchHit]:
        """Full-text search of event text, best match first."""
        return self.search("event", query, first + offset)[offset:]

    def count_search(self, query: str, kind: NodeKind = "event") -> int:
        """How many events (or inferences) match, counted by the full-text index (no graph scan)."""
        terms = lucene_terms(query)
        if not terms:
            raise InputError("empty search query")
        return int(self._read(queries.SEARCH_COUNT, index=self._index(kind), query=terms)[0]["n"])

    def stats(self) -> dict[str, Any]:
        """Counts of events, inferences and triples, per relation and per source."""
        counted = {r.name: int(self._read(queries.count_of_type(r.rel_type))[0]["n"]) for r in RELATIONS}
        by_rel = {name: n for name, n in counted.items() if n}
        by_source: dict[str, int] = defaultdict(int)
        by_rel_source: dict[str, dict[str, int]] = defaultdict(dict)
        for r in self._read(queries.COUNT_BY_TYPE_AND_SOURCE):
            if r["rel_type"] not in BY_REL_TYPE:
                continue
            name = BY_REL_TYPE[r["rel_type"]].name
            by_source[r["source"]] += int(r["n"])
            by_rel_source[name][r["source"]] = int(r["n"])
        return {
            "backend": self.dialect.name,
            "version": self.dialect.version,
            "events": int(self._read(queries.COUNT_EVENTS)[0]["n"]),
            "inferences": int(self._read(queries.COUNT_INFERENCES)[0]["n"]),
            "triples": sum(by_rel.values()),
            "scored": int(self._read(queries.COUNT_SCORED)[0]["n"]),
            "by_relation": dict(sorted(by_rel.items())),
            "by_source": dict(sorted(by_source.items())),
            "by_relation_and_source": {k: dict(sorted(v.items())) for k, v in sorted(by_rel_source.items())},
        }

    def export(self, min_score: float | None = None, labelled: bool = False, page: int = 500) -> Iterator[Triple]:
        """Stream every triple (with `labelled`, only those with human labels), ordered by event key,
        a page of events per query."""
        after = ""
        while True:
            keys = [r["key"] for r in self._read(queries.EVENT_KEYS_PAGE, after=after, limit=page)]
            if not keys:
                return
            recs = self._read(queries.EXPORT_EVENTS, keys=keys, min_score=min_score, labelled=labelled)
            recs.sort(key=lambda r: (r["head_key"], r["rel_type"], r["tail"]))
            for r in recs:
                yield Triple(
                    head=r["head"],
                    relation=BY_REL_TYPE[r["rel_type"]].name,
                    tail=r["tail"],
                    score=r["score"],
                    sources=list(r["sources"] or []),
                    runs=list(r["runs"] or []),
                    teachers=list(r["teachers"] or []),
                    prompts=list(r["prompts"] or []),
                    labels=[int(x) for x in (r["labels"] or [])],
                )
            after = keys[-1]
