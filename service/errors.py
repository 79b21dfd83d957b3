"""GraphQL error codes: expected failures carry `extensions.code`, anything else is masked."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator
from enum import StrEnum
from typing import Any

from graphql import GraphQLError, Node
from strawberry.extensions import SchemaExtension

from skd.core.errors import ConfigError, GraphError, GraphUnavailableError, InputError, ModelError, SkdError

log = logging.getLogger(__name__)


class Code(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNKNOWN_RELATION = "UNKNOWN_RELATION"
    UNKNOWN_SOURCE = "UNKNOWN_SOURCE"
    UNKNOWN_LABEL = "UNKNOWN_LABEL"
    EMPTY_TEXT = "EMPTY_TEXT"
    INPUT_TOO_LONG = "INPUT_TOO_LONG"
    BAD_CURSOR = "BAD_CURSOR"
    PAGE_SIZE = "PAGE_SIZE"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    RATE_LIMITED = "RATE_LIMITED"
    OVERLOADED = "OVERLOADED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    TOO_MUCH_WORK = "TOO_MUCH_WORK"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    GRAPH_UNAVAILABLE = "GRAPH_UNAVAILABLE"
    GRAPH_ERROR = "GRAPH_ERROR"
    MODEL_ERROR = "MODEL_ERROR"
    CONFIG_ERROR = "CONFIG_ERROR"
    VALIDATION = "GRAPHQL_VALIDATION_FAILED"
    INTERNAL = "INTERNAL_SERVER_ERROR"


INTERNAL_MESSAGE = "Internal server error."
#: what a client is told of a graph failure; the database's own words (queries, hosts, internals) are logged
GRAPH_UNAVAILABLE_MESSAGE = "The graph is unavailable; try again later."
GRAPH_ERROR_MESSAGE = "The graph could not answer this request."
_GRAPH_MESSAGES = {Code.GRAPH_UNAVAILABLE: GRAPH_UNAVAILABLE_MESSAGE, Code.GRAPH_ERROR: GRAPH_ERROR_MESSAGE}

#: graphql-core's words for a value outside an enum: a literal or variable not among its values, or a
#: string where the enum value was meant
_ENUM_VALUE = re.compile(r"does not exist in '(\w+)' enum|Enum '(\w+)' cannot represent")
_BY_ENUM = {"RelationName": Code.UNKNOWN_RELATION, "Source": Code.UNKNOWN_SOURCE, "Label": Code.UNKNOWN_LABEL}


def _validation_code(message: str) -> Code:
    m = _ENUM_VALUE.search(message)
    return _BY_ENUM.get(m.group(1) or m.group(2), Code.VALIDATION) if m else Code.VALIDATION


class OverloadedError(ModelError):
    """The model's queue is full: the request is refused at once rather than left to wait."""


class DeadlineError(ModelError):
    """Model work did not finish within the service's deadline."""


# Most specific first: GraphUnavailableError must not be reported as a plain GraphError.
_BY_TYPE: tuple[tuple[type[SkdError], Code], ...] = (
    (OverloadedError, Code.OVERLOADED),
    (DeadlineError, Code.DEADLINE_EXCEEDED),
    (GraphUnavailableError, Code.GRAPH_UNAVAILABLE),
    (GraphError, Code.GRAPH_ERROR),
    (InputError, Code.BAD_USER_INPUT),
    (ModelError, Code.MODEL_ERROR),
    (ConfigError, Code.CONFIG_ERROR),
)


class ApiError(GraphQLError):
    """An expected failure of a request, raised by resolvers with its code."""

    def __init__(
        self,
        message: str,
        code: Code,
        nodes: Collection[Node] | Node | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, nodes=nodes, extensions={**(extensions or {}), "code": code.value})


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
    # parsing, validation and variable coercion: depth, aliases, tokens, unknown fields and enum values
    if original is None or isinstance(original, GraphQLError):
        code, message = _validation_code(error.message), error.message
    elif isinstance(original, GraphError | GraphUnavailableError):
        code = code_of(original)
        log.warning("graph failure in %s: %s", error.path, original)
        message = _GRAPH_MESSAGES[code]
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
        original_error=original if code not in (Code.INTERNAL, *_GRAPH_MESSAGES) else None,
        extensions={**(error.extensions or {}), "code": code.value},
    )


class ErrorCodes(SchemaExtension):
    """Give every error an `extensions.code` and mask unexpected ones (no internals leak)."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [_coded(e) for e in result.errors]
        metrics = getattr(self.execution_context.context, "metrics", None)
        if metrics is not None:
            for e in result.errors:
                metrics.graphql_errors.labels(code=(e.extensions or {}).get("code", Code.INTERNAL)).inc()
