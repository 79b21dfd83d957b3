"""The `StoreResult` type: what `storeCompletions` wrote."""

from __future__ import annotations

import strawberry


@strawberry.type
class StoredCompletion:
    event: str
    relation: str
    text: str
    score: float | None
    stored: bool


@strawberry.type(description="Generations written back, and those refused by the critic's minimum score.")
class StoreResult:
    stored: int
    rejected: int
    items: list[StoredCompletion]
