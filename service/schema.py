"""The GraphQL schema: thin resolvers over the graph store and the completion service, with limits."""

from __future__ import annotations

from functools import partial
from typing import Any

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import Info

from skd.core.labels import SCALE
from skd.core.settings import Settings
from skd.graph_schema.relations import RELATIONS
from skd.graph_schema.store import encode_cursor
from skd.graph_schema.text import text_key
from skd.service.errors import ApiError, Code, ErrorCodes
from skd.service.inputs import RelationArguments, cursor_arg, page_arg, relations_arg, score_arg, text_arg
from skd.service.permissions import HasApiKey
from skd.service.types.completion import Completion
from skd.service.types.completion_input import CompletionInput
from skd.service.types.event import Event
from skd.service.types.event_connection import EventConnection, EventEdge
from skd.service.types.page_info import PageInfo
from skd.service.types.relation import Relation
from skd.service.types.stats import Stats
from skd.service.types.store_result import StoredCompletion, StoreResult
from skd.service.types.triple import StoredTriple


@strawberry.type
class Query:
    @strawberry.field(description="An event by its text or its key (give one), or null if not in the graph.")
    async def event(self, info: Info, text: str | None = None, key: str | None = None) -> Event | None:
        if (text is None) == (key is None):
            raise ApiError("give exactly one of text and key", Code.BAD_USER_INPUT)
        value = text_arg(
            text if text is not None else key or "",
            "text" if text is not None else "key",
            info.context.settings.service_max_input_chars,
        )
        node = await info.context.loaders.event.load(text_key(value))
        return None if node is None else Event(key=node.key, text=node.text)

    @strawberry.field(description="Full-text search of event text, best match first (Relay connection).")
    async def search_events(self, info: Info, query: str, first: int = 10, after: str | None = None) -> EventConnection:
        s = info.context.settings
        query = text_arg(query, "query", s.service_max_input_chars)
        first, offset = page_arg(first, s.service_max_page_size), cursor_arg(after)
        hits = await info.context.graph.search_events(query, first + 1, offset)  # one extra: is there more?
        page = hits[:first]
        return EventConnection(
            edges=[
                EventEdge(cursor=encode_cursor(offset + i), score=h.score, node=Event(key=h.key, text=h.text))
                for i, h in enumerate(page)
            ],
            page_info=PageInfo.of(offset, len(page), len(hits) > first),
            query=query,
        )

    @strawberry.field(description="The relation catalogue (ATOMIC 2020's 23 relations).")
    def relations(self) -> list[Relation]:
        return [Relation.of(r) for r in RELATIONS]

    @strawberry.field(
        description="Stored inferences of an event plus live student generations for the "
        "relations with none stored (or for all, with liveForAll), each scored by "
        "the critic. The event need not be in the graph. Relations default to "
        "the paper's seven; n is per relation."
    )
    async def complete(
        self,
        info: Info,
        event: str,
        relations: list[str] | None = None,
        n: int = 3,
        min_score: float | None = None,
        live_for_all: bool = False,
    ) -> Completion:
        s = info.context.settings
        text = text_arg(event, "event", s.service_max_input_chars)
        n = page_arg(n, s.service_max_completions, "n")
        result = await info.context.completion.complete(
            text, relations_arg(relations), n, score_arg(min_score), live_for_all
        )
        return Completion.of(result)

    @strawberry.field(description="Counts of the graph.")
    async def stats(self, info: Info) -> Stats:
        return Stats.of(await info.context.graph.stats())


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[HasApiKey],
        description="Write generations back to the graph (source `student`, the student's "
        "name in `teachers`, run `service`), scored again by the critic; those "
        "below minScore are not stored.",
    )
    async def store_completions(
        self, info: Info, items: list[CompletionInput], min_score: float | None = None
    ) -> StoreResult:
        s = info.context.settings
        page_arg(len(items), s.service_max_page_size, "the number of items")
        rows = []
        for item in items:
            rel = relations_arg([item.relation])
            assert rel is not None
            rows.append(
                (
                    text_arg(item.event, "event", s.service_max_input_chars),
                    rel[0].name,
                    text_arg(item.text, "text", s.service_max_input_chars),
                )
            )
        done = await info.context.completion.write_back(rows, score_arg(min_score))
        return StoreResult(
            stored=sum(ok for _, ok in done),
            rejected=sum(not ok for _, ok in done),
            items=[
                StoredCompletion(event=t.head, relation=t.relation, text=t.tail, score=t.score, stored=ok)
                for t, ok in done
            ],
        )

    @strawberry.mutation(
        permission_classes=[HasApiKey],
        description="Keep a human label on a triple (the critic's scale: 2, 1 acceptable; "
        "-1, -2 not; -9 could not judge); the triple is made (source `human`) "
        "if new. `skd export` writes labels out as "
        "critic training data.",
    )
    async def annotate(self, info: Info, head: str, relation: str, tail: str, label: int) -> StoredTriple:
        s = info.context.settings
        if label not in SCALE:
            raise ApiError(
                f"label {label} is not on the critic's scale (2, 1 acceptable; -1, -2 not; -9 could not judge)",
                Code.BAD_USER_INPUT,
            )
        h = text_arg(head, "head", s.service_max_input_chars)
        t = text_arg(tail, "tail", s.service_max_input_chars)
        rel = relations_arg([relation])
        assert rel is not None
        edge = await info.context.graph.annotate(h, rel[0].name, t, label)
        return StoredTriple.of(h, edge)


class Schema(strawberry.Schema):
    """Errors are logged once, by `ErrorCodes`, and only when unexpected."""

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        return None


#: Distinct documents whose validation is remembered (validation was most of a lookup's cost).
DOCUMENT_CACHE_SIZE = 256


def build_schema(settings: Settings) -> strawberry.Schema:
    # The limit rules are made once: rules made per request would differ each time and defeat the
    # validation cache, which is keyed by them.
    limits = [
        *QueryDepthLimiter(max_depth=settings.service_max_query_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=settings.service_max_aliases).validation_rules,
    ]
    return Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            partial(AddValidationRules, limits),
            partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
            partial(MaxTokensLimiter, max_token_count=settings.service_max_tokens),
            RelationArguments,
            ErrorCodes,
        ],
    )
