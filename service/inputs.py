"""Checks of request arguments (texts, relation names, page sizes, cursors), each failing with its code."""

from __future__ import annotations

from collections.abc import Sequence

from skd.core.errors import InputError
from skd.graph_schema.relations import Relation, get_relation
from skd.graph_schema.store import decode_cursor
from skd.graph_schema.text import clean_text
from skd.service.errors import ApiError, Code


def text_arg(value: str, name: str, max_chars: int) -> str:
    """A cleaned, non-empty text of at most `max_chars` characters."""
    if len(value) > max_chars:
        raise ApiError(f"{name} is {len(value)} characters long; the limit is {max_chars}", Code.INPUT_TOO_LONG)
    text = clean_text(value)
    if not text:
        raise ApiError(f"{name} must not be empty", Code.EMPTY_TEXT)
    return text


def relations_arg(names: Sequence[str] | None) -> list[Relation] | None:
    """The catalogue relations named, or None (all) when no names are given."""
    if not names:
        return None
    out: list[Relation] = []
    for name in names:
        try:
            rel = get_relation(name)
        except InputError as e:
            raise ApiError(str(e), Code.UNKNOWN_RELATION) from e
        if rel not in out:
            out.append(rel)
    return out


def page_arg(first: int, max_page_size: int, name: str = "first") -> int:
    if not 1 <= first <= max_page_size:
        raise ApiError(f"{name} must be between 1 and {max_page_size}, got {first}", Code.PAGE_SIZE)
    return first


def cursor_arg(after: str | None) -> int:
    """The offset after which a page starts (0 without a cursor)."""
    try:
        return decode_cursor(after) + (1 if after else 0)
    except InputError as e:
        raise ApiError(str(e), Code.BAD_CURSOR) from e


def score_arg(min_score: float | None) -> float | None:
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ApiError(f"minScore must be between 0 and 1, got {min_score}", Code.BAD_USER_INPUT)
    return min_score
