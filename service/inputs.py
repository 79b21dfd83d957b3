"""Checks of request arguments (texts, relations, filters, page sizes), each failing with its code."""

from __future__ import annotations

from collections.abc import Sequence

from skd.core.settings import Settings
from skd.graph_schema.records import EdgeFilter
from skd.graph_schema.relations import Relation, get_relation
from skd.graph_schema.text import clean_text
from skd.service.enums import RelationName, Source, relation_names
from skd.service.errors import ApiError, Code


def text_arg(value: str, name: str, max_chars: int) -> str:
    """A cleaned, non-empty text of at most `max_chars` characters."""
    if len(value) > max_chars:
        raise ApiError(f"{name} is {len(value)} characters long; the limit is {max_chars}", Code.INPUT_TOO_LONG)
    text = clean_text(value)
    if not text:
        raise ApiError(f"{name} must not be empty", Code.EMPTY_TEXT)
    return text


def relations_arg(names: Sequence[RelationName] | None) -> list[Relation] | None:
    """The catalogue relations named (each once), or None (all) when no names are given."""
    return [get_relation(name) for name in relation_names(names)] or None


def _texts(values: Sequence[str] | None, name: str, max_chars: int, max_items: int) -> tuple[str, ...]:
    if values is None:
        return ()
    if len(values) > max_items:
        raise ApiError(f"{name} lists {len(values)} values; the limit is {max_items}", Code.BAD_USER_INPUT)
    for v in values:
        if len(v) > max_chars:
            raise ApiError(
                f"a value of {name} is {len(v)} characters long; the limit is {max_chars}", Code.INPUT_TOO_LONG
            )
    return tuple(dict.fromkeys(values))


def edge_filter(
    settings: Settings,
    relations: Sequence[RelationName] | None = None,
    min_score: float | None = None,
    sources: Sequence[Source] | None = None,
    runs: Sequence[str] | None = None,
    teachers: Sequence[str] | None = None,
    prompts: Sequence[str] | None = None,
) -> EdgeFilter:
    """The filter the arguments of a triple list describe, checked."""
    n, chars = settings.service_max_page_size, settings.service_max_input_chars
    return EdgeFilter(
        relations=relation_names(relations),
        min_score=score_arg(min_score),
        sources=tuple(dict.fromkeys(s.value for s in sources or ())),
        runs=_texts(runs, "runs", chars, n),
        teachers=_texts(teachers, "teachers", chars, n),
        prompts=_texts(prompts, "prompts", chars, n),
    )


def page_arg(first: int, max_page_size: int, name: str = "first") -> int:
    if not 1 <= first <= max_page_size:
        raise ApiError(f"{name} must be between 1 and {max_page_size}, got {first}", Code.PAGE_SIZE)
    return first


def score_arg(min_score: float | None) -> float | None:
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ApiError(f"minScore must be between 0 and 1, got {min_score}", Code.BAD_USER_INPUT)
    return min_score
