"""GraphQL error codes: expected failures carry `extensions.code`, anything else is masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import StrEnum
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from skd.core.errors import ConfigError, GraphError, GraphUnavailableError, InputError, ModelError, SkdError

log = logging.getLogger(__name__)


class Code(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNKNOWN_RELATION = "UNKNOWN_RELATION"
    EMPTY_TEXT = "EMPTY_TEXT"
    INPUT_TOO_LONG = "INPUT_TOO_LONG"
    BAD_CURSOR = "BAD_CURSOR"
    PAGE_SIZE = "PAGE_SIZE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    GRAPH_UNAVAILABLE = "GRAPH_UNAVAILABLE"
    GRAPH_ERROR = "GRAPH_ERROR"
    MODEL_ERROR = "MODEL_ERROR"
    CONFIG_ERROR = "CONFIG_ERROR"
    VALIDATION = "GRAPHQL_VALIDATION_FAILED"
    INTERNAL = "INTERNAL_SERVER_ERROR"


INTERNAL_MESSAGE = "Internal server error."

# Most specific first: GraphUnavailableError must not be reported as a plain GraphError.
_BY_TYPE: tuple[tuple[type[SkdError], Code], ...] = (
    (GraphUnavailableError, Code.GRAPH_UNAVAILABLE),
    (GraphError, Code.GRAPH_ERROR),
    (InputError, Code.BAD_USER_INPUT),
    (ModelError, Code.MODEL_ERROR),
    (ConfigError, Code.CONFIG_ERROR),
)


class ApiError(GraphQLError):
    """An expected failure of a request, raised by resolvers with its code."""

    def __init__(self, message: str, code: Code, nodes: Any = None) -> None:
        super().__init__(message, nodes=nodes, extensions={"code": code.value})


def code_of(error: BaseException) -> Code:
    for cls, code in _BY_TYPE:
        if isinstance(error, cls):
            return code
    return Code.BAD_USER_INPUT if isinstance(error, SkdError) else Code.INTERNAL


def _coded(error: GraphQLError) -> GraphQLError:
    """The error as the client sees it: an expected one with its code, anything else masked."""
    if error.extensions and "code" in error.extensions:
        return error
    original = error.original_error
    if original is None:  # parsing and validation (depth, aliases, tokens, unknown fields)
        code, message = Code.VALIDATION, error.message
    elif isinstance(original, SkdError):
        code, message = code_of(original), str(original)
    else:
        log.error("unexpected error in %s", error.path, exc_info=original)
        code, message = Code.INTERNAL, INTERNAL_MESSAGE
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original if code != Code.INTERNAL else None,
        extensions={**(error.extensions or {}), "code": code.value},
    )


class ErrorCodes(SchemaExtension):
    """Give every error an `extensions.code` and mask unexpected ones (no internals leak)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result: Any = self.execution_context.result
        if result is None or not getattr(result, "errors", None):
            return
        result.errors = [_coded(e) for e in result.errors]
        metrics = getattr(self.execution_context.context, "metrics", None)
        if metrics is not None:
            for e in result.errors:
                metrics.graphql_errors.labels(code=(e.extensions or {}).get("code", Code.INTERNAL)).inc()
