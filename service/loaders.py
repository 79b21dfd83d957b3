"""Per-request DataLoaders: every event and inference list a query asks for is fetched in one batched query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from strawberry.dataloader import DataLoader

from skd.graph_schema.records import Edge, EventNode
from skd.graph_schema.relations import Relation, get_relation
from skd.service.graph import AsyncGraph


@dataclass(frozen=True, slots=True)
class InferenceFilter:
    """The filters of an inference lookup; lookups with equal filters share one query."""

    relations: tuple[str, ...] = ()
    min_score: float | None = None
    sources: tuple[str, ...] = ()

    def relation_list(self) -> list[Relation] | None:
        return [get_relation(r) for r in self.relations] or None


InferenceKey = tuple[str, InferenceFilter]


class Loaders:
    """Fresh for every request, so nothing cached leaks from one user to another."""

    def __init__(self, graph: AsyncGraph) -> None:
        self._graph = graph
        self.event = DataLoader[str, EventNode | None](load_fn=self._load_events)
        self.inferences = DataLoader[InferenceKey, list[Edge]](load_fn=self._load_inferences)

    async def _load_events(self, keys: Sequence[str]) -> list[EventNode | None]:
        found = await self._graph.events(keys)
        return [found.get(k) for k in keys]

    async def _load_inferences(self, keys: Sequence[InferenceKey]) -> list[list[Edge]]:
        by_filter: dict[InferenceFilter, list[str]] = defaultdict(list)
        for event_key, flt in keys:
            by_filter[flt].append(event_key)
        results: dict[InferenceKey, list[Edge]] = {}
        for flt, event_keys in by_filter.items():
            edges = await self._graph.inferences_of_events(
                event_keys, flt.relation_list(), flt.min_score, list(flt.sources) or None
            )
            for k in event_keys:
                results[(k, flt)] = edges.get(k, [])
        return [results[k] for k in keys]
