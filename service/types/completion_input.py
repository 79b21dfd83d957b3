"""The `CompletionInput` input: a generation to write back to the graph."""

from __future__ import annotations

import strawberry

from skd.service.enums import RelationName


@strawberry.input(description="A generation to store: the event, the relation and the generated tail.")
class CompletionInput:
    event: str
    relation: RelationName
    text: str
