"""Relay connections with keyset cursors: `Connection[T]` for a node's triples, `SearchConnection[T]` for
full-text hits; `totalCount` is counted by the server, and only when selected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry

from skd.service.types.page_info import PageInfo

T = TypeVar("T")


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the list has in all, counted without fetching them.")
    async def total_count(self) -> int:
        return await self.counter()


@strawberry.type
class SearchEdge(Generic[T]):
    cursor: str
    score: float = strawberry.field(description="The full-text relevance of the match.")
    node: T


@strawberry.type
class SearchConnection(Generic[T]):
    edges: list[SearchEdge[T]]
    page_info: PageInfo
    counter: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many match, counted by the full-text index (asked only when selected).")
    async def total_count(self) -> int:
        return await self.counter()
