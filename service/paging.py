"""One page of a node's triples or of search hits, read by keyset from the request's Relay arguments."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from skd.graph_schema.dialect import lucene_terms
from skd.graph_schema.records import Edge, EdgeFilter, SearchHit, SearchPosition
from skd.graph_schema.store import Direction, NodeKind, position_of
from skd.service.cursors import edge_cursor, edge_position, page_request, search_cursor, search_position
from skd.service.errors import ApiError, Code
from skd.service.loaders import PageKey
from skd.service.types.connection import Connection, SearchConnection, SearchEdge
from skd.service.types.connection import Edge as ConnectionEdge
from skd.service.types.page_info import PageInfo

T = TypeVar("T")

#: the page size when a request gives neither `first` nor `last`
DEFAULT_PAGE = 20


def selects(info: Info, name: str) -> bool:
    """Whether the field being resolved selects `name` (directly or in a fragment)."""

    def walk(selections: list[Selection]) -> bool:
        for sel in selections:
            if isinstance(sel, SelectedField) and sel.name == name:
                return True
            if not isinstance(sel, SelectedField) and walk(sel.selections):
                return True
        return False

    return any(walk(field.selections) for field in info.selected_fields)


def plain_first_page(info: Info, name: str) -> int | None:
    """The page size (with the one extra item a page is read with) when the field being resolved selects
    its triple list `name` once, plainly, asking for the first page with no filter and no cursor (only
    `first`, or nothing): then the node and that page can be read in one query. None otherwise, and the
    list reads its own page."""
    found = [
        sel
        for field in info.selected_fields
        for sel in field.selections
        if isinstance(sel, SelectedField) and sel.name == name
    ]
    if len(found) != 1 or found[0].directives:
        return None
    args = found[0].arguments
    if any(value is not None for arg, value in args.items() if arg != "first"):
        return None
    first = args.get("first")  # a variable's value, or a literal's text as written
    if isinstance(first, str) and first.isdigit():
        first = int(first)
    if first is not None and not isinstance(first, int):
        return None
    try:
        req = page_request(first, None, None, None, DEFAULT_PAGE, info.context.settings.service_max_page_size)
    except ApiError:
        return None  # the list itself then refuses its arguments, with the error a user should see
    return req.limit + 1


def _trim(rows: list[T], limit: int, backward: bool) -> tuple[list[T], bool]:
    """A page read with one extra item, without it; and whether there was one (more beyond the page)."""
    more = len(rows) > limit
    if more:
        rows = rows[1:] if backward else rows[:limit]
    return rows, more


async def triple_page(
    info: Info,
    direction: Direction,
    node_key: str,
    flt: EdgeFilter,
    make: Callable[[Edge], T],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[T]:
    """A page of the triples of one node (an event's inferences: `out`; an inference's events: `in`)."""
    ctx = info.context
    req = page_request(first, after, last, before, DEFAULT_PAGE, ctx.settings.service_max_page_size)
    position = None if req.cursor is None else edge_position(req.cursor, direction, node_key)
    page = ctx.loaders.page.load(PageKey(direction, node_key, flt, req.limit + 1, position, req.backward))
    counted: asyncio.Future[int] | None = None
    if selects(info, "totalCount"):  # asked now, the count runs beside the page instead of after it
        counted = ctx.loaders.count.load((direction, node_key, flt))
        rows, _ = await asyncio.gather(page, counted)
    else:
        rows = await page
    rows, more = _trim(rows, req.limit, req.backward)

    def cursor(e: Edge) -> str:
        return edge_cursor(direction, node_key, position_of(e, direction))

    # a cursor for every item only when the request asks for them; the page's ends always have theirs
    ends = [cursor(rows[0]), cursor(rows[-1])] if rows else []
    cursors = [cursor(e) for e in rows] if selects(info, "cursor") else [""] * len(rows)

    async def count() -> int:
        n: int = await (counted if counted is not None else ctx.loaders.count.load((direction, node_key, flt)))
        return n

    return Connection(
        edges=[ConnectionEdge(cursor=c, node=make(e)) for c, e in zip(cursors, rows, strict=True)],
        page_info=PageInfo.of(ends, more, req.backward, req.cursor is not None),
        counter=count,
    )


async def search_page(
    info: Info,
    kind: NodeKind,
    query: str,
    make: Callable[[SearchHit], T],
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> SearchConnection[T]:
    """A page of full-text hits over events or inferences, best match first."""
    ctx = info.context
    terms = lucene_terms(query)
    if not terms:
        raise ApiError("the search query has no words to look for", Code.EMPTY_TEXT)
    req = page_request(first, after, last, before, 10, ctx.settings.service_max_page_size)
    position = None if req.cursor is None else search_position(req.cursor, kind, terms)
    hits, more = _trim(
        await ctx.graph.search(kind, query, req.limit + 1, position, req.backward), req.limit, req.backward
    )
    cursors = [search_cursor(kind, terms, SearchPosition(h.score, h.key)) for h in hits]

    async def count() -> int:
        n: int = await ctx.graph.count_search(query, kind)
        return n

    return SearchConnection(
        edges=[SearchEdge(cursor=c, score=h.score, node=make(h)) for c, h in zip(cursors, hits, strict=True)],
        page_info=PageInfo.of(cursors, more, req.backward, req.cursor is not None),
        counter=count,
    )
