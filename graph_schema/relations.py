"""The relation catalogue: ATOMIC 2020's 23 relations, the single source of truth for every package."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from skd.core.errors import InputError


class Category(StrEnum):
    SOCIAL = "social"
    EVENT = "event"
    PHYSICAL = "physical"


class Subject(StrEnum):
    PERSON_X = "PersonX"
    OTHERS = "others"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Relation:
    """One ATOMIC 2020 relation.

    `phrase` continues a head in a few-shot prompt ("PersonX buys a car. As a result, PersonX wants");
    `sentence` verbalises a whole triple for the critic, with `{head}` and `{tail}` slots.
    """

    name: str
    category: Category
    subject: Subject
    rel_type: str
    phrase: str
    sentence: str
    description: str

    def verbalise(self, head: str, tail: str) -> str:
        """The triple as one natural sentence, the critic's input."""
        return self.sentence.format(head=head.strip().rstrip("."), tail=tail.strip().rstrip("."))


def _r(
    name: str, category: Category, subject: Subject, rel_type: str, phrase: str, sentence: str, description: str
) -> Relation:
    return Relation(name, category, subject, rel_type, phrase, sentence, description)


S, E, P = Category.SOCIAL, Category.EVENT, Category.PHYSICAL
X, OTH, N = Subject.PERSON_X, Subject.OTHERS, Subject.NONE

RELATIONS: tuple[Relation, ...] = (
    # social interaction: mental states and behaviours around an event
    _r(
        "xIntent",
        S,
        X,
        "X_INTENT",
        "Because PersonX wanted",
        "{head}, because PersonX wanted {tail}.",
        "PersonX's intention before the event",
    ),
    _r(
        "xNeed",
        S,
        X,
        "X_NEED",
        "Before that, PersonX needed",
        "{head}. Before that, PersonX needed {tail}.",
        "what PersonX needed to do before the event",
    ),
    _r(
        "xAttr",
        S,
        X,
        "X_ATTR",
        "PersonX is seen as",
        "{head}. PersonX is seen as {tail}.",
        "how PersonX is seen given the event",
    ),
    _r(
        "xEffect",
        S,
        X,
        "X_EFFECT",
        "As a result, PersonX",
        "{head}. As a result, PersonX {tail}.",
        "what happens to PersonX as a result",
    ),
    _r(
        "xReact",
        S,
        X,
        "X_REACT",
        "As a result, PersonX feels",
        "{head}. As a result, PersonX feels {tail}.",
        "how PersonX feels afterwards",
    ),
    _r(
        "xWant",
        S,
        X,
        "X_WANT",
        "As a result, PersonX wants",
        "{head}. As a result, PersonX wants {tail}.",
        "what PersonX wants to do afterwards",
    ),
    _r(
        "oEffect",
        S,
        OTH,
        "O_EFFECT",
        "As a result, others",
        "{head}. As a result, others {tail}.",
        "what happens to others as a result",
    ),
    _r(
        "oReact",
        S,
        OTH,
        "O_REACT",
        "As a result, others feel",
        "{head}. As a result, others feel {tail}.",
        "how others feel afterwards",
    ),
    _r(
        "oWant",
        S,
        OTH,
        "O_WANT",
        "As a result, others want",
        "{head}. As a result, others want {tail}.",
        "what others want to do afterwards",
    ),
    # event centred: how events relate in time and cause
    _r(
        "isAfter",
        E,
        N,
        "IS_AFTER",
        "Before that,",
        "{head}. Before that, {tail}.",
        "an event that happens before the head",
    ),
    _r(
        "isBefore",
        E,
        N,
        "IS_BEFORE",
        "After that,",
        "{head}. After that, {tail}.",
        "an event that happens after the head",
    ),
    _r(
        "HinderedBy",
        E,
        N,
        "HINDERED_BY",
        "This would not happen if",
        "{head}. This would not happen if {tail}.",
        "what could prevent the event",
    ),
    _r("Causes", E, N, "CAUSES", "This causes", "{head}. This causes {tail}.", "what the event causes"),
    _r("xReason", E, N, "X_REASON", "This happens because", "{head}, because {tail}.", "the reason for the event"),
    _r(
        "HasSubEvent",
        E,
        N,
        "HAS_SUB_EVENT",
        "This includes",
        "{head}. This includes {tail}.",
        "a step within the event",
    ),
    _r(
        "isFilledBy",
        E,
        N,
        "IS_FILLED_BY",
        "The blank can be filled by",
        "{head}. The blank can be filled by {tail}.",
        "what fills the blank (___) of the event",
    ),
    # physical entities: objects and what they are for
    _r("ObjectUse", P, N, "OBJECT_USE", "It is used for", "{head} is used for {tail}.", "what an object is used for"),
    _r(
        "AtLocation",
        P,
        N,
        "AT_LOCATION",
        "It is located at",
        "{head} is located at {tail}.",
        "where an object is found",
    ),
    _r("MadeUpOf", P, N, "MADE_UP_OF", "It is made up of", "{head} is made up of {tail}.", "what an object is made of"),
    _r(
        "HasProperty",
        P,
        N,
        "HAS_PROPERTY",
        "It has the property",
        "{head} has the property {tail}.",
        "a property of an object",
    ),
    _r(
        "CapableOf",
        P,
        N,
        "CAPABLE_OF",
        "It is capable of",
        "{head} is capable of {tail}.",
        "what an object or agent can do",
    ),
    _r("Desires", P, N, "DESIRES", "It desires", "{head} desires {tail}.", "what an agent desires"),
    _r(
        "NotDesires",
        P,
        N,
        "NOT_DESIRES",
        "It does not desire",
        "{head} does not desire {tail}.",
        "what an agent does not desire",
    ),
)

BY_NAME: dict[str, Relation] = {r.name: r for r in RELATIONS}
BY_REL_TYPE: dict[str, Relation] = {r.rel_type: r for r in RELATIONS}
_BY_LOWER: dict[str, Relation] = {r.name.lower(): r for r in RELATIONS} | {r.rel_type.lower(): r for r in RELATIONS}

#: The seven relations the paper generated and evaluated.
PAPER_RELATIONS: tuple[str, ...] = ("xAttr", "xEffect", "xIntent", "xNeed", "xReact", "xWant", "HinderedBy")


def get_relation(name: str) -> Relation:
    """Look a relation up by its ATOMIC name or graph type, case-insensitively; unknown names raise."""
    rel = _BY_LOWER.get(name.strip().lower())
    if rel is None:
        known = ", ".join(r.name for r in RELATIONS)
        raise InputError(f"unknown relation {name!r}; known relations: {known}")
    return rel


def parse_relations(spec: str | list[str] | tuple[str, ...] | None) -> list[Relation]:
    """Parse a comma-separated list ("xWant,xNeed"), `paper` or `all`; None means the paper's seven."""
    if spec is None:
        names: list[str] = list(PAPER_RELATIONS)
    elif isinstance(spec, str):
        lowered = spec.strip().lower()
        if lowered == "all":
            return list(RELATIONS)
        names = list(PAPER_RELATIONS) if lowered == "paper" else [s for s in spec.split(",") if s.strip()]
    else:
        names = list(spec)
    if not names:
        raise InputError("no relations given")
    out: list[Relation] = []
    for n in names:
        rel = get_relation(n)
        if rel not in out:
            out.append(rel)
    return out
