"""The `EventConnection` type: a page of full-text search hits with a lazily counted total."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from skd.service.types.event import Event
from skd.service.types.page_info import PageInfo


@strawberry.type
class EventEdge:
    cursor: str
    score: float = strawberry.field(description="The full-text relevance of the match.")
    node: Event


@strawberry.type(description="A page of events matching a search, best match first.")
class EventConnection:
    edges: list[EventEdge]
    page_info: PageInfo
    query: strawberry.Private[str]

    @strawberry.field(
        description="How many events match, counted by the full-text index (asked only when this field is selected)."
    )
    async def total_count(self, info: Info) -> int:
        total: int = await info.context.graph.count_search(self.query)
        return total
