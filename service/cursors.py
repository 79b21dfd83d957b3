"""Opaque keyset cursors: a page starts after (or ends before) the item a cursor names, not at an offset.

A cursor is URL-safe base64 of a small JSON array: a version, what it pages through, the scope it
belongs to (the node whose triples are paged, or a digest of a search's terms) and the item's place in
the order. A triple stored or removed elsewhere does not shift the pages that follow it, and a cursor
used on another connection, edited or truncated is refused with BAD_CURSOR.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from skd.graph_schema.records import EdgePosition, SearchPosition
from skd.graph_schema.relations import BY_REL_TYPE
from skd.graph_schema.store import Direction, NodeKind
from skd.service.errors import ApiError, Code

VERSION = 1


def _encode(payload: list[object]) -> str:
    raw = json.dumps([VERSION, *payload], separators=(",", ":"), ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, kind: str, scope: str, width: int) -> list[Any]:
    bad = ApiError(f"invalid cursor {cursor[:80]!r}: it does not belong to this list", Code.BAD_CURSOR)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError) as e:
        raise bad from e
    if not (isinstance(value, list) and len(value) == 3 + width and value[:3] == [VERSION, kind, scope]):
        raise bad
    return value[3:]


def _score(value: object, cursor: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ApiError(f"invalid cursor {cursor[:80]!r}", Code.BAD_CURSOR)
    return float(value)


def edge_cursor(direction: Direction, node_key: str, p: EdgePosition) -> str:
    return _encode([f"edges-{direction}", node_key, p.score, p.rel_type, p.key])


def edge_position(cursor: str, direction: Direction, node_key: str) -> EdgePosition:
    score, rel_type, key = _decode(cursor, f"edges-{direction}", node_key, 3)
    if rel_type not in BY_REL_TYPE or not isinstance(key, str):
        raise ApiError(f"invalid cursor {cursor[:80]!r}", Code.BAD_CURSOR)
    return EdgePosition(_score(score, cursor), rel_type, key)


def _search_scope(kind: NodeKind, terms: str) -> str:
    return f"{kind}:{hashlib.sha256(terms.encode()).hexdigest()[:16]}"


def search_cursor(kind: NodeKind, terms: str, p: SearchPosition) -> str:
    return _encode(["search", _search_scope(kind, terms), p.score, p.key])


def search_position(cursor: str, kind: NodeKind, terms: str) -> SearchPosition:
    score, key = _decode(cursor, "search", _search_scope(kind, terms), 2)
    if not isinstance(key, str):
        raise ApiError(f"invalid cursor {cursor[:80]!r}", Code.BAD_CURSOR)
    return SearchPosition(_score(score, cursor), key)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Relay's `first`/`after` (forward) or `last`/`before` (backward), checked: `limit` items from the
    cursor named by `cursor` (None: from the start, or the end when backward)."""

    limit: int
    cursor: str | None
    backward: bool


def page_request(
    first: int | None, after: str | None, last: int | None, before: str | None, default: int, max_size: int
) -> PageRequest:
    if (last is not None or before is not None) and (first is not None or after is not None):
        raise ApiError("page forward (first, after) or backward (last, before), not both", Code.BAD_USER_INPUT)
    backward = last is not None or before is not None
    given = last if backward else first
    size = default if given is None else given
    name = "last" if backward else "first"
    if not 1 <= size <= max_size:
        raise ApiError(f"{name} must be between 1 and {max_size}, got {size}", Code.PAGE_SIZE)
    return PageRequest(size, before if backward else after, backward)
