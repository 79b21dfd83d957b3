"""Per-request DataLoaders: every node, triple list, page and count a query asks for is fetched batched."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from skd.graph_schema.records import Edge, EdgeFilter, EdgePosition, EventNode
from skd.graph_schema.store import Direction
from skd.service.graph import AsyncGraph

#: a node's triples: which way, whose (a node key), which (the filter)
EdgesKey = tuple[Direction, str, EdgeFilter]


@dataclass(frozen=True, slots=True)
class PageKey:
    """One page of a node's triples: `limit` of them after `position` (before it, `backward`)."""

    direction: Direction
    node_key: str
    flt: EdgeFilter
    limit: int
    position: EdgePosition | None
    backward: bool


class Loaders:
    """Fresh for every request, so nothing cached leaks from one user to another."""

    def __init__(self, graph: AsyncGraph) -> None:
        self._graph = graph
        self.event = DataLoader[str, EventNode | None](load_fn=self._load_events)
        self.inference = DataLoader[str, EventNode | None](load_fn=self._load_inferences)
        self.edges = DataLoader[EdgesKey, list[Edge]](load_fn=self._load_edges)
        self.page = DataLoader[PageKey, list[Edge]](load_fn=self._load_pages)
        self.count = DataLoader[EdgesKey, int](load_fn=self._load_counts)

    async def node_with_first_page(self, direction: Direction, key: str, limit: int) -> EventNode | None:
        """A node (an event for `out`, an inference for `in`) read together with its first unfiltered page
        of `limit` triples and their count, in one query: the page and count loaders then answer the
        node's `inferences`/`events` field from what this read, with no query of their own."""
        nodes = self.event if direction == "out" else self.inference
        found = await self._graph.node_with_page(direction, key, EdgeFilter(), limit)
        if found is None:
            nodes.prime(key, None)
            return None
        node, edges, total = found
        nodes.prime(key, node)
        self.page.prime(PageKey(direction, key, EdgeFilter(), limit, None, False), edges)
        self.count.prime((direction, key, EdgeFilter()), total)
        return node

    async def _load_events(self, keys: Sequence[str]) -> list[EventNode | None]:
        found = await self._graph.events(keys)
        return [found.get(k) for k in keys]

    async def _load_inferences(self, keys: Sequence[str]) -> list[EventNode | None]:
        found = await self._graph.inference_nodes(keys)
        return [found.get(k) for k in keys]

    async def _load_edges(self, keys: Sequence[EdgesKey]) -> list[list[Edge]]:
        """All of each node's triples, one query per (direction, filter)."""
        groups: dict[tuple[Direction, EdgeFilter], list[str]] = defaultdict(list)
        for direction, node_key, flt in keys:
            groups[(direction, flt)].append(node_key)
        found: dict[EdgesKey, list[Edge]] = {}
        for (direction, flt), node_keys in groups.items():
            for node_key, edges in (await self._graph.edges_of(direction, node_keys, flt)).items():
                found[(direction, node_key, flt)] = edges
        return [found.get(k, []) for k in keys]

    async def _load_counts(self, keys: Sequence[EdgesKey]) -> list[int]:
        groups: dict[tuple[Direction, EdgeFilter], list[str]] = defaultdict(list)
        for direction, node_key, flt in keys:
            groups[(direction, flt)].append(node_key)
        found: dict[EdgesKey, int] = {}
        for (direction, flt), node_keys in groups.items():
            for node_key, n in (await self._graph.edge_counts(direction, node_keys, flt)).items():
                found[(direction, node_key, flt)] = n
        return [found.get(k, 0) for k in keys]

    async def _load_pages(self, keys: Sequence[PageKey]) -> list[list[Edge]]:
        """First pages of many nodes with one filter come from one query (each cut to its size); a page
        after a cursor, or of a node alone, is one keyset query, the server stopping at the page's end."""
        alike: dict[tuple[Direction, EdgeFilter, int, bool], list[PageKey]] = defaultdict(list)
        single: list[PageKey] = []
        for k in keys:
            if k.position is None:
                alike[(k.direction, k.flt, k.limit, k.backward)].append(k)
            else:
                single.append(k)
        found: dict[PageKey, list[Edge]] = {}
        for (direction, flt, limit, backward), group in alike.items():
            if len(group) == 1:
                single.append(group[0])
                continue
            # through the edges loader, so `byRelation` under the same nodes shares the query
            lists = await self.edges.load_many([(direction, k.node_key, flt) for k in group])
            for k, mine in zip(group, lists, strict=True):
                found[k] = mine[-limit:] if backward else mine[:limit]
        pages = await asyncio.gather(
            *(self._graph.edge_page(k.direction, k.node_key, k.flt, k.limit, k.position, k.backward) for k in single)
        )
        found.update(zip(single, pages, strict=True))
        return [found[k] for k in keys]
