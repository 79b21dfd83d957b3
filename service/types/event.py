"""The `Event` type: a head of the graph and its inferences, filtered, grouped by relation or paginated."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from skd.graph_schema.records import Edge
from skd.graph_schema.relations import RELATIONS, get_relation
from skd.service.inputs import cursor_arg, page_arg, relations_arg, score_arg
from skd.service.loaders import InferenceFilter
from skd.service.types.inference import Inference
from skd.service.types.inference_connection import InferenceConnection
from skd.service.types.relation import Relation
from skd.service.types.relation_group import RelationGroup

_CATALOGUE_ORDER = {r.name: i for i, r in enumerate(RELATIONS)}


async def _edges(
    info: Info, key: str, relations: list[str] | None, min_score: float | None, sources: list[str] | None
) -> list[Edge]:
    rels = relations_arg(relations) or []
    flt = InferenceFilter(tuple(r.name for r in rels), score_arg(min_score), tuple(sources or ()))
    edges: list[Edge] = await info.context.loaders.inferences.load((key, flt))
    return edges


@strawberry.type(description="An event (a head) of the commonsense graph.")
class Event:
    key: str
    text: str

    @strawberry.field(description="The event's inferences, best score first, one page at a time.")
    async def inferences(
        self,
        info: Info,
        relations: list[str] | None = None,
        min_score: float | None = None,
        sources: list[str] | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> InferenceConnection:
        first = page_arg(first, info.context.settings.service_max_page_size)
        offset = cursor_arg(after)
        edges = await _edges(info, self.key, relations, min_score, sources)
        return InferenceConnection.page(edges, offset, first)

    @strawberry.field(
        description="The event's inferences grouped by relation (catalogue order), at most "
        "`first` per relation; relations without inferences are left out."
    )
    async def by_relation(
        self,
        info: Info,
        relations: list[str] | None = None,
        min_score: float | None = None,
        sources: list[str] | None = None,
        first: int = 10,
    ) -> list[RelationGroup]:
        first = page_arg(first, info.context.settings.service_max_page_size)
        groups: dict[str, list[Edge]] = {}
        for e in await _edges(info, self.key, relations, min_score, sources):
            groups.setdefault(e.relation, []).append(e)
        order = [r.name for r in (relations_arg(relations) or [])] or None
        names = order or sorted(groups, key=_CATALOGUE_ORDER.__getitem__)
        return [
            RelationGroup(
                relation=Relation.of(get_relation(n)),
                total_count=len(groups[n]),
                inferences=[Inference.of(e) for e in groups[n][:first]],
            )
            for n in names
            if groups.get(n)
        ]
