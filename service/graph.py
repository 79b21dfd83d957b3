"""The graph store seen from the event loop: each call runs in a bounded thread pool with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from skd.core.errors import GraphUnavailableError
from skd.graph_schema.records import Edge, EdgeFilter, EdgePosition, EventNode, SearchHit, SearchPosition, Triple
from skd.graph_schema.relations import Relation
from skd.graph_schema.store import Direction, GraphStore, NodeKind

T = TypeVar("T")


class AsyncGraph:
    """Awaitable wrappers of the synchronous `GraphStore` (the neo4j driver blocks).

    A call that outlives `timeout_s` (a graph that accepts connections but never answers, or
    the driver's retries on a refused one) ends with GraphUnavailableError instead of a hang.
    """

    def __init__(self, store: GraphStore, timeout_s: float, threads: int) -> None:
        self.store = store
        self.timeout_s = timeout_s
        # a pool of its own (the event loop's executor, not anyio's worker threads: measured cheaper per
        # hop), so graph lookups never queue behind other thread work
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="graph")

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        work = asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args, **kwargs))
        try:
            return await asyncio.wait_for(work, self.timeout_s)
        except TimeoutError as e:
            raise GraphUnavailableError(f"the graph did not answer within {self.timeout_s:g} s") from e

    def close(self) -> None:
        """Let the pool's threads go once the calls under way are done (a call stuck on a dead graph is
        not waited for)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def ping(self) -> None:
        await self.call(self.store.events, [])

    async def events(self, keys: Sequence[str]) -> dict[str, EventNode]:
        return await self.call(self.store.events, list(keys))

    async def inference_nodes(self, keys: Sequence[str]) -> dict[str, EventNode]:
        return await self.call(self.store.inference_nodes, list(keys))

    async def inferences_of_events(
        self,
        keys: Sequence[str],
        relations: Sequence[Relation] | None,
        min_score: float | None,
        sources: Sequence[str] | None,
    ) -> dict[str, list[Edge]]:
        return await self.call(self.store.inferences_of_events, list(keys), relations, min_score, sources)

    async def edges_of(self, direction: Direction, keys: Sequence[str], flt: EdgeFilter) -> dict[str, list[Edge]]:
        return await self.call(self.store.edges_of, direction, list(keys), flt)

    async def edge_page(
        self,
        direction: Direction,
        key: str,
        flt: EdgeFilter,
        limit: int,
        position: EdgePosition | None,
        backward: bool,
    ) -> list[Edge]:
        return await self.call(self.store.edge_page, direction, key, flt, limit, position, backward)

    async def node_with_page(
        self, direction: Direction, key: str, flt: EdgeFilter, limit: int
    ) -> tuple[EventNode, list[Edge], int] | None:
        return await self.call(self.store.node_with_page, direction, key, flt, limit)

    async def edge_counts(self, direction: Direction, keys: Sequence[str], flt: EdgeFilter) -> dict[str, int]:
        return await self.call(self.store.edge_counts, direction, list(keys), flt)

    async def triple(self, head: str, relation: str, tail: str) -> Edge | None:
        return await self.call(self.store.triple, head, relation, tail)

    async def search(
        self, kind: NodeKind, query: str, limit: int, position: SearchPosition | None, backward: bool
    ) -> list[SearchHit]:
        return await self.call(self.store.search, kind, query, limit, position, backward)

    async def count_search(self, query: str, kind: NodeKind = "event") -> int:
        return await self.call(self.store.count_search, query, kind)

    async def stats(self) -> dict[str, Any]:
        return await self.call(self.store.stats)

    async def upsert(self, triples: Sequence[Triple]) -> int:
        return await self.call(self.store.upsert, list(triples))

    async def annotate(self, head: str, relation: str, tail: str, label: int) -> Edge:
        return await self.call(self.store.annotate, head, relation, tail, label)
