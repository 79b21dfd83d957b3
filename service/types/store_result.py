"""The `StoreResult` type: what `storeCompletions` wrote."""

from __future__ import annotations

import strawberry

from skd.service.enums import RelationName, Source


@strawberry.type
class StoredCompletion:
    event: str
    relation: RelationName
    text: str
    score: float | None
    source: Source = strawberry.field(
        description="STUDENT when the loaded student generated this text for this event and relation, else CLIENT."
    )
    stored: bool


@strawberry.type(description="Generations written back, and those refused by the critic's minimum score.")
class StoreResult:
    stored: int
    rejected: int
    items: list[StoredCompletion]
