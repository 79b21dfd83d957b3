"""The `RelationGroup` type: an event's inferences for one relation."""

from __future__ import annotations

import strawberry

from skd.service.types.inference import Inference
from skd.service.types.relation import Relation


@strawberry.type(description="The inferences of an event for one relation, best score first.")
class RelationGroup:
    relation: Relation
    total_count: int = strawberry.field(description="All matching inferences, before `first` cut them.")
    inferences: list[Inference]
