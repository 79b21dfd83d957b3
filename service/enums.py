"""The schema's closed vocabularies as GraphQL enums: relation names, sources and the label scale.

Each mirrors a catalogue below the service (`graph_schema.relations.RELATIONS`, `graph_schema.records.SOURCES`,
`core.labels.Label`); a test keeps them equal. A value outside an enum is a validation error before any
resolver runs, so a typo such as `xWhatever` is refused even where its field would never resolve.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from enum import Enum

import strawberry

from skd.core.labels import Label

log = logging.getLogger(__name__)


@strawberry.enum(description="An ATOMIC 2020 relation, spelled as ATOMIC spells it.")
class RelationName(Enum):
    xIntent = "xIntent"
    xNeed = "xNeed"
    xAttr = "xAttr"
    xEffect = "xEffect"
    xReact = "xReact"
    xWant = "xWant"
    oEffect = "oEffect"
    oReact = "oReact"
    oWant = "oWant"
    isAfter = "isAfter"
    isBefore = "isBefore"
    HinderedBy = "HinderedBy"
    Causes = "Causes"
    xReason = "xReason"
    HasSubEvent = "HasSubEvent"
    isFilledBy = "isFilledBy"
    ObjectUse = "ObjectUse"
    AtLocation = "AtLocation"
    MadeUpOf = "MadeUpOf"
    HasProperty = "HasProperty"
    CapableOf = "CapableOf"
    Desires = "Desires"
    NotDesires = "NotDesires"


@strawberry.enum(description="What kind of origin a triple has; which run, teacher and prompt is kept beside.")
class Source(Enum):
    ATOMIC2020 = "atomic2020"
    TEACHER = "teacher"
    STUDENT = "student"
    HUMAN = "human"
    IMPORT = "import"
    CLIENT = "client"


@strawberry.enum(
    name="Label",
    description="A human judgment on the paper's scale: ALWAYS (2) and SOMETIMES (1) are acceptable, "
    "FARFETCHED (-1) and INVALID (-2) are not, SKIP (-9) could not judge.",
)
class LabelValue(Enum):
    ALWAYS = Label.ALWAYS.value
    SOMETIMES = Label.SOMETIMES.value
    FARFETCHED = Label.FARFETCHED.value
    INVALID = Label.INVALID.value
    SKIP = Label.SKIP.value


_SOURCES = {s.value: s for s in Source}
_LABELS = {label.value: label for label in LabelValue}


def relation_names(relations: Iterable[RelationName] | None) -> tuple[str, ...]:
    """Catalogue names, each once, in the order given."""
    return tuple(dict.fromkeys(r.value for r in relations or ()))


def sources_out(values: Iterable[str]) -> list[Source]:
    """Stored sources as the enum; a value outside it (written before the vocabulary was closed) is left
    out and logged rather than failing the whole answer."""
    out = []
    for value in values:
        if value in _SOURCES:
            out.append(_SOURCES[value])
        else:
            log.warning("a stored triple has the unknown source %r; it is left out of the answer", value)
    return out


def labels_out(values: Iterable[int]) -> list[LabelValue]:
    return [_LABELS[v] for v in values if v in _LABELS]
