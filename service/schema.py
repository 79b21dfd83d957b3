"""The GraphQL schema: thin resolvers over the graph store and the completion service, with limits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import partial
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.types import Info

from skd.core.settings import Settings
from skd.graph_schema.records import EventNode
from skd.graph_schema.relations import PAPER_RELATIONS, RELATIONS
from skd.graph_schema.store import Direction
from skd.graph_schema.text import text_key
from skd.service.enums import LabelValue, RelationName, Source
from skd.service.errors import ApiError, Code, ErrorCodes
from skd.service.guards import client_id
from skd.service.inputs import page_arg, relations_arg, score_arg, text_arg
from skd.service.paging import plain_first_page, search_page
from skd.service.permissions import HasApiKey, require_api_key
from skd.service.types.completion import Completion
from skd.service.types.completion_input import CompletionInput
from skd.service.types.connection import SearchConnection
from skd.service.types.event import Event, InferenceNode
from skd.service.types.inference import Triple
from skd.service.types.relation import Relation
from skd.service.types.stats import Stats
from skd.service.types.store_result import StoredCompletion, StoreResult


def _node_key(info: Info, text: str | None, key: str | None) -> str:
    if (text is None) == (key is None):
        raise ApiError("give exactly one of text and key", Code.BAD_USER_INPUT)
    value = text_arg(
        text if text is not None else key or "",
        "text" if text is not None else "key",
        info.context.settings.service_max_input_chars,
    )
    return text_key(value)


async def _node(info: Info, direction: Direction, key: str) -> EventNode | None:
    """An event (`out`) or an inference (`in`) by key; read with its first page of triples in one query
    when that page is all the request asks of its triples."""
    loaders = info.context.loaders
    limit = plain_first_page(info, "inferences" if direction == "out" else "events")
    if limit is not None:
        first: EventNode | None = await loaders.node_with_first_page(direction, key, limit)
        return first
    node: EventNode | None = await (loaders.event if direction == "out" else loaders.inference).load(key)
    return node


@strawberry.type
class Query:
    @strawberry.field(description="An event by its text or its key (give one), or null if not in the graph.")
    async def event(self, info: Info, text: str | None = None, key: str | None = None) -> Event | None:
        node = await _node(info, "out", _node_key(info, text, key))
        return None if node is None else Event(key=node.key, text=node.text)

    @strawberry.field(
        description="An inference (a tail) by its text or its key (give one), with the events that lead to "
        "it; null if not in the graph."
    )
    async def inference(self, info: Info, text: str | None = None, key: str | None = None) -> InferenceNode | None:
        node = await _node(info, "in", _node_key(info, text, key))
        return None if node is None else InferenceNode(key=node.key, text=node.text)

    @strawberry.field(description="One triple of the graph, or null if it is not stored.")
    async def triple(self, info: Info, head: str, relation: RelationName, tail: str) -> Triple | None:
        s = info.context.settings
        h = text_arg(head, "head", s.service_max_input_chars)
        t = text_arg(tail, "tail", s.service_max_input_chars)
        edge = await info.context.graph.triple(h, relation.value, t)
        return None if edge is None else Triple.of(edge)

    @strawberry.field(description="Full-text search of event text, best match first (Relay connection).")
    async def search_events(
        self,
        info: Info,
        query: str,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> SearchConnection[Event]:
        query = text_arg(query, "query", info.context.settings.service_max_input_chars)
        return await search_page(
            info, "event", query, lambda h: Event(key=h.key, text=h.text), first, after, last, before
        )

    @strawberry.field(description="Full-text search of inference text, best match first (Relay connection).")
    async def search_inferences(
        self,
        info: Info,
        query: str,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> SearchConnection[InferenceNode]:
        query = text_arg(query, "query", info.context.settings.service_max_input_chars)
        return await search_page(
            info, "inference", query, lambda h: InferenceNode(key=h.key, text=h.text), first, after, last, before
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
        relations: list[RelationName] | None = None,
        n: int = 3,
        min_score: float | None = None,
        live_for_all: bool = False,
        normalise: Annotated[
            bool,
            strawberry.argument(
                description="Read an everyday sentence as an ATOMIC event first (PersonX, PersonY, present "
                "tense); `interpretation` says what was changed."
            ),
        ] = True,
    ) -> Completion:
        ctx = info.context
        s = ctx.settings
        if s.service_complete_requires_key:
            require_api_key(ctx)
        text = text_arg(event, "event", s.service_max_input_chars)
        n = page_arg(n, s.service_max_completions, "n")
        rels = relations_arg(relations)
        work = n * len(rels or PAPER_RELATIONS)
        if work > s.service_max_live_generations:
            raise ApiError(
                f"{len(rels or PAPER_RELATIONS)} relations x n={n} is {work} generations; the limit is "
                f"{s.service_max_live_generations}: ask for fewer relations or a smaller n",
                Code.TOO_MUCH_WORK,
            )
        request = ctx.request
        ctx.rate_limit.check(client_id(ctx.api_key, request.client.host if request and request.client else None))
        result = await ctx.completion.complete(text, rels, n, score_arg(min_score), live_for_all, normalise)
        return Completion.of(result)

    @strawberry.field(description="Counts of the graph.")
    async def stats(self, info: Info) -> Stats:
        return Stats.of(await info.context.graph.stats())


@strawberry.type
class Mutation:
    @strawberry.mutation(
        permission_classes=[HasApiKey],
        description="Write generations back to the graph (run `service`), scored again by the critic; "
        "those below minScore are not stored. A text the loaded student generated for that event "
        "and relation is stored as source STUDENT (the student's name in `teachers`); any other "
        "is stored as source CLIENT: the client wrote it.",
    )
    async def store_completions(
        self, info: Info, items: list[CompletionInput], min_score: float | None = None
    ) -> StoreResult:
        s = info.context.settings
        page_arg(len(items), s.service_max_page_size, "the number of items")
        rows = [
            (
                text_arg(item.event, "event", s.service_max_input_chars),
                item.relation.value,
                text_arg(item.text, "text", s.service_max_input_chars),
            )
            for item in items
        ]
        done = await info.context.completion.write_back(rows, score_arg(min_score))
        return StoreResult(
            stored=sum(ok for _, ok in done),
            rejected=sum(not ok for _, ok in done),
            items=[
                StoredCompletion(
                    event=t.head,
                    relation=RelationName(t.relation),
                    text=t.tail,
                    score=t.score,
                    source=Source(t.sources[0]),
                    stored=ok,
                )
                for t, ok in done
            ],
        )

    @strawberry.mutation(
        permission_classes=[HasApiKey],
        description="Keep a human label on a triple (ALWAYS, SOMETIMES acceptable; FARFETCHED, INVALID "
        "not; SKIP could not judge); the triple is made (source HUMAN) if new. `skd export` writes "
        "labels out as critic training data.",
    )
    async def annotate(self, info: Info, head: str, relation: RelationName, tail: str, label: LabelValue) -> Triple:
        s = info.context.settings
        h = text_arg(head, "head", s.service_max_input_chars)
        t = text_arg(tail, "tail", s.service_max_input_chars)
        return Triple.of(await info.context.graph.annotate(h, relation.value, t, label.value))


class CachedParse(ParserCache):
    """Strawberry's parser cache, except that a document which fails to parse (a syntax error, too many
    tokens) is left to strawberry's own parse, whose error then gets its code like any other."""

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        with contextlib.suppress(GraphQLError):
            ctx.graphql_document = self.cached_parse_document(ctx.query, **ctx.parse_options)
        yield


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
        *([] if settings.service_introspection else [NoSchemaIntrospectionCustomRule]),
    ]
    return Schema(
        query=Query,
        mutation=Mutation,
        extensions=[
            partial(AddValidationRules, limits),
            partial(CachedParse, maxsize=DOCUMENT_CACHE_SIZE),
            partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
            partial(MaxTokensLimiter, max_token_count=settings.service_max_tokens),
            ErrorCodes,
        ],
    )
