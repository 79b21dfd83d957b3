"""The Relay `PageInfo` type."""

from __future__ import annotations

import strawberry

from skd.graph_schema.store import encode_cursor


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, offset: int, count: int, has_next: bool) -> PageInfo:
        """The page of `count` items starting at `offset`."""
        return cls(
            has_next_page=has_next,
            has_previous_page=offset > 0,
            start_cursor=encode_cursor(offset) if count else None,
            end_cursor=encode_cursor(offset + count - 1) if count else None,
        )
