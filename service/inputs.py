"""Checks of request arguments (texts, relation names, page sizes, cursors), each failing with its code."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    get_operation_ast,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

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


#: The argument that names relations, on every field that has one (`complete`, `inferences`, `byRelation`).
RELATIONS_ARGUMENT = "relations"


def _relation_names(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> Iterator[tuple[ArgumentNode, Any]]:
    """Every `relations` argument of the operation to run (fragments included), with its value: the literal,
    or the request's variable (else the variable's default)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:  # no such operation: execution reports it
        return
    values = dict(variables or {})
    for var in operation.variable_definitions or ():
        if var.variable.name.value not in values and var.default_value is not None:
            values[var.variable.name.value] = value_from_ast_untyped(var.default_value)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    seen: set[str] = set()

    def walk(selections: SelectionSetNode | None) -> Iterator[tuple[ArgumentNode, Any]]:
        for sel in selections.selections if selections is not None else ():
            if isinstance(sel, FieldNode):
                for arg in sel.arguments or ():
                    if arg.name.value == RELATIONS_ARGUMENT:
                        yield arg, value_from_ast_untyped(arg.value, values)
                yield from walk(sel.selection_set)
            elif isinstance(sel, InlineFragmentNode):
                yield from walk(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                seen.add(sel.name.value)
                fragment = fragments.get(sel.name.value)
                yield from walk(fragment.selection_set if fragment is not None else None)

    yield from walk(operation.selection_set)


def unknown_relation(
    document: DocumentNode, operation_name: str | None, variables: Mapping[str, Any] | None
) -> ApiError | None:
    """An UNKNOWN_RELATION error for the first relation name in the operation that is not in the catalogue."""
    for arg, value in _relation_names(document, operation_name, variables):
        names = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        for name in names:
            if not isinstance(name, str):
                continue  # not a string: the argument's type check reports it
            try:
                get_relation(name)
            except InputError as e:
                return ApiError(str(e), Code.UNKNOWN_RELATION, nodes=[arg])
    return None


class RelationArguments(SchemaExtension):
    """Check every relation name of an operation before it runs, so an unknown one is an error even where
    its field would never resolve: under an event that is not in the graph, or a search without hits."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None:
            error = unknown_relation(ctx.graphql_document, ctx.operation_name, ctx.variables)
            if error is not None:
                ctx.result = ExecutionResult(data=None, errors=[error])  # set before execution: it is skipped
        yield


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
