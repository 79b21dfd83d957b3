"""Typed records that move between stages: a triple with its critic score and provenance."""

from __future__ import annotations

from copy import deepcopy
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any

from skd.core.errors import InputError
from skd.graph_schema.relations import get_relation
from skd.graph_schema.text import clean_text, text_key

#: What kind of origin a triple has (its `sources`): a human-written graph (ATOMIC 2020), the teacher, the
#: student, a human label, an import of other data, or a client of the service writing text it supplied.
#: Which run, teacher and prompt wrote it is kept beside, in `runs`, `teachers` and `prompts`.
SOURCES = ("atomic2020", "teacher", "student", "human", "import", "client")


def check_sources(sources: list[str]) -> list[str]:
    """The sources, each one of SOURCES; any other raises InputError naming the allowed ones."""
    for source in sources:
        if source not in SOURCES:
            raise InputError(f"unknown source {source!r}; the sources are {', '.join(SOURCES)}")
    return sources


@dataclass(slots=True)
class Triple:
    """One piece of commonsense knowledge: `head` --relation--> `tail`, with its score and provenance.

    The list fields are the provenance the graph keeps (`sources`: atomic2020, teacher, student,
    human, import; `runs`, `teachers`, `prompts`: run ids, teacher models, prompt template@version;
    `labels`: human acceptability labels). `provenance` holds what a run records per item and the
    graph does not (few-shot example ids, decoding parameters, log-probability, time).
    """

    head: str
    relation: str
    tail: str
    score: float | None = None
    sources: list[str] = field(default_factory=lambda: ["import"])
    runs: list[str] = field(default_factory=list)
    teachers: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        """Identity of the triple in the graph: head key, relation, tail key."""
        return (text_key(self.head), self.relation, text_key(self.tail))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with empty fields left out (a deep copy, as `asdict` gives, without its slow
        generic walk: this runs for every triple a run writes)."""
        out = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if v not in (None, {}, "", []):
                out[k] = _json_copy(v)
        return out


_ATOMS = (str, int, float, bool, type(None))


def _json_copy(value: object) -> Any:
    """A deep copy of JSON-like data (dicts, lists, tuples of atoms); anything else as `asdict` copies it."""
    if isinstance(value, _ATOMS):
        return value
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_json_copy(v) for v in value)
    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else deepcopy(value)


def make_triple(head: str, relation: str, tail: str, **fields: Any) -> Triple:
    """Validate and clean a triple; an empty head or tail or an unknown relation raises InputError."""
    h, t = clean_text(head or ""), clean_text(tail or "")
    if not h:
        raise InputError("empty head")
    if not t:
        raise InputError("empty tail")
    rel = get_relation(relation or "")
    score = fields.get("score")
    if score is not None:
        try:
            fields["score"] = float(score)
        except (TypeError, ValueError) as e:
            raise InputError(f"score {score!r} is not a number") from e
    if "sources" in fields:
        check_sources(fields["sources"])
    return Triple(head=h, relation=rel.name, tail=t, **fields)


def _text_list(obj: dict[str, Any], plural: str, singular: str) -> list[str]:
    value = obj.get(plural, obj.get(singular))
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items if v not in (None, "")]


def _label_list(obj: dict[str, Any]) -> list[int]:
    value = obj.get("labels", obj.get("label"))
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for v in items:
        if isinstance(v, bool):
            out.append(1 if v else -1)
        elif isinstance(v, int | float):
            out.append(int(v))
        else:
            raise InputError(f"label {v!r} is not a number or a boolean")
    return out


def triple_from_json(obj: dict[str, Any], default_source: str = "import") -> Triple:
    """Read our JSONL row. Provenance fields may be lists (`sources`) or single values (`source`);
    `critic_score` (written by the critic) is preferred over `score`."""
    if not isinstance(obj, dict):
        raise InputError("a JSONL row must be an object")
    missing = [k for k in ("head", "relation", "tail") if not isinstance(obj.get(k), str)]
    if missing:
        raise InputError(f"missing or non-text field(s): {', '.join(missing)}")
    score = obj.get("critic_score", obj.get("score"))
    return make_triple(
        obj["head"],
        obj["relation"],
        obj["tail"],
        score=score,
        sources=_text_list(obj, "sources", "source") or [default_source],
        runs=_text_list(obj, "runs", "run"),
        teachers=_text_list(obj, "teachers", "teacher"),
        prompts=_text_list(obj, "prompts", "prompt"),
        labels=_label_list(obj),
        provenance=dict(obj.get("provenance") or {}),
    )


@dataclass(frozen=True, slots=True)
class Edge:
    """One stored triple as lookups return it: the inference `tail` of the event `head`, with its score and
    provenance (`created_at`: epoch milliseconds of its first write)."""

    relation: str
    tail: str
    tail_key: str
    score: float | None
    sources: list[str]
    runs: list[str]
    teachers: list[str]
    prompts: list[str]
    labels: list[int]
    head: str = ""
    head_key: str = ""
    created_at: int | None = None


@dataclass(frozen=True, slots=True)
class EdgeFilter:
    """Which stored triples a lookup wants; empty means any. A triple passes a list filter when one of its
    values is in the list (any of its sources, runs, teachers or prompts)."""

    relations: tuple[str, ...] = ()
    min_score: float | None = None
    sources: tuple[str, ...] = ()
    runs: tuple[str, ...] = ()
    teachers: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EdgePosition:
    """A place in the order lookups return triples in (best score first, unscored last, then relationship
    type, then the key of the far end): a keyset page starts after or ends before it."""

    score: float
    rel_type: str
    key: str


@dataclass(frozen=True, slots=True)
class EventNode:
    key: str
    text: str


@dataclass(frozen=True, slots=True)
class SearchHit:
    key: str
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class SearchPosition:
    """A place in full-text search results (best match first, then key)."""

    score: float
    key: str
