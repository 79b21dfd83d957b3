"""The Relay `PageInfo` type."""

from __future__ import annotations

import strawberry


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None

    @classmethod
    def of(cls, cursors: list[str], more: bool, backward: bool, from_cursor: bool) -> PageInfo:
        """A page whose items have `cursors`; `more`: items lie beyond it in the direction read;
        `from_cursor`: it was read from a cursor, so items lie behind it too."""
        return cls(
            has_next_page=from_cursor if backward else more,
            has_previous_page=more if backward else from_cursor,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        )
