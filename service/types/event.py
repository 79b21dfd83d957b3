"""The `Event` and `InferenceNode` types: the two kinds of node, each with its triples paged by keyset or
grouped by relation, filtered by relation, score, source, run, teacher and prompt."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from skd.service.enums import RelationName, Source
from skd.service.inputs import edge_filter, page_arg
from skd.service.paging import triple_page
from skd.service.types.connection import Connection
from skd.service.types.inference import Inference, Triple
from skd.service.types.relation_group import RelationGroup, TripleGroup, grouped, relation_group, triple_group

_FILTERS = (
    "Filters: `relations`; `minScore` (unscored triples then fail); `sources`, `runs`, `teachers`, `prompts` "
    "(a triple passes when any of its values is listed)."
)


@strawberry.type(description="An event (a head) of the commonsense graph.")
class Event:
    key: str
    text: str

    @strawberry.field(
        description="The event's inferences, best score first, a page at a time (Relay: first/after or "
        "last/before). " + _FILTERS
    )
    async def inferences(
        self,
        info: Info,
        relations: list[RelationName] | None = None,
        min_score: float | None = None,
        sources: list[Source] | None = None,
        runs: list[str] | None = None,
        teachers: list[str] | None = None,
        prompts: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Inference]:
        flt = edge_filter(info.context.settings, relations, min_score, sources, runs, teachers, prompts)
        return await triple_page(info, "out", self.key, flt, Inference.of, first, after, last, before)

    @strawberry.field(
        description="The event's inferences grouped by relation (the order asked, else the catalogue's), "
        "at most `first` per relation; relations without inferences are left out. " + _FILTERS
    )
    async def by_relation(
        self,
        info: Info,
        relations: list[RelationName] | None = None,
        min_score: float | None = None,
        sources: list[Source] | None = None,
        runs: list[str] | None = None,
        teachers: list[str] | None = None,
        prompts: list[str] | None = None,
        first: int = 10,
    ) -> list[RelationGroup]:
        first = page_arg(first, info.context.settings.service_max_page_size)
        flt = edge_filter(info.context.settings, relations, min_score, sources, runs, teachers, prompts)
        edges = await info.context.loaders.edges.load(("out", self.key, flt))
        return grouped(edges, flt.relations, first, relation_group(first))


@strawberry.type(description="An inference (a tail) of the commonsense graph, with the events that lead to it.")
class InferenceNode:
    key: str
    text: str

    @strawberry.field(
        description="The triples that lead to this inference (its events), best score first, a page at a "
        "time (Relay: first/after or last/before). " + _FILTERS
    )
    async def events(
        self,
        info: Info,
        relations: list[RelationName] | None = None,
        min_score: float | None = None,
        sources: list[Source] | None = None,
        runs: list[str] | None = None,
        teachers: list[str] | None = None,
        prompts: list[str] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Triple]:
        flt = edge_filter(info.context.settings, relations, min_score, sources, runs, teachers, prompts)
        return await triple_page(info, "in", self.key, flt, Triple.of, first, after, last, before)

    @strawberry.field(
        description="The triples that lead to this inference grouped by relation, at most `first` per "
        "relation. " + _FILTERS
    )
    async def by_relation(
        self,
        info: Info,
        relations: list[RelationName] | None = None,
        min_score: float | None = None,
        sources: list[Source] | None = None,
        runs: list[str] | None = None,
        teachers: list[str] | None = None,
        prompts: list[str] | None = None,
        first: int = 10,
    ) -> list[TripleGroup]:
        first = page_arg(first, info.context.settings.service_max_page_size)
        flt = edge_filter(info.context.settings, relations, min_score, sources, runs, teachers, prompts)
        edges = await info.context.loaders.edges.load(("in", self.key, flt))
        return grouped(edges, flt.relations, first, triple_group(first))
