"""The graph store seen from the event loop: each call runs in a bounded thread pool with a deadline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from skd.core.errors import GraphUnavailableError
from skd.graph_schema.records import Edge, EventNode, SearchHit, Triple
from skd.graph_schema.relations import Relation
from skd.graph_schema.store import GraphStore

T = TypeVar("T")


class AsyncGraph:
    """Awaitable wrappers of the synchronous `GraphStore` (the neo4j driver blocks).

    Calls share a capacity limiter of their own, so graph lookups never queue behind other thread
    work; a call that outlives `timeout_s` (a graph that accepts connections but never answers, or
    the driver's retries on a refused one) ends with GraphUnavailableError instead of a hang.
    """

    def __init__(self, store: GraphStore, timeout_s: float, threads: int) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self._limiter = anyio.CapacityLimiter(threads)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            with anyio.fail_after(self.timeout_s):
                return await anyio.to_thread.run_sync(
                    partial(fn, *args, **kwargs), limiter=self._limiter, abandon_on_cancel=True
                )
        except TimeoutError as e:
            raise GraphUnavailableError(f"the graph did not answer within {self.timeout_s:g} s") from e

    async def ping(self) -> None:
        await self.call(self.store.events, [])

    async def events(self, keys: Sequence[str]) -> dict[str, EventNode]:
        return await self.call(self.store.events, list(keys))

    async def inferences_of_events(
        self,
        keys: Sequence[str],
        relations: Sequence[Relation] | None,
        min_score: float | None,
        sources: Sequence[str] | None,
    ) -> dict[str, list[Edge]]:
        return await self.call(self.store.inferences_of_events, list(keys), relations, min_score, sources)

    async def search_events(self, query: str, first: int, offset: int) -> list[SearchHit]:
        return await self.call(self.store.search_events, query, first, offset)

    async def count_search(self, query: str) -> int:
        return await self.call(self.store.count_search, query)

    async def stats(self) -> dict[str, Any]:
        return await self.call(self.store.stats)

    async def upsert(self, triples: Sequence[Triple]) -> int:
        return await self.call(self.store.upsert, list(triples))

    async def annotate(self, head: str, relation: str, tail: str, label: int) -> Edge:
        return await self.call(self.store.annotate, head, relation, tail, label)
