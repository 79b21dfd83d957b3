"""The `Relation` type: one entry of the relation catalogue."""

from __future__ import annotations

import strawberry

from skd.graph_schema.relations import Relation as CatalogueRelation
from skd.service.enums import RelationName


@strawberry.type(description="An ATOMIC 2020 relation.")
class Relation:
    name: RelationName
    category: str
    subject: str
    rel_type: str = strawberry.field(description="The relationship type in the graph, e.g. X_WANT.")
    phrase: str = strawberry.field(description="How a prompt continues an event for this relation.")
    description: str

    @classmethod
    def of(cls, r: CatalogueRelation) -> Relation:
        return cls(
            name=RelationName(r.name),
            category=str(r.category),
            subject=str(r.subject),
            rel_type=r.rel_type,
            phrase=r.phrase,
            description=r.description,
        )
