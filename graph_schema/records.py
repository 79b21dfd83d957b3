"""Typed records that move between stages: a triple with its critic score and provenance."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from graph_schema.relations import get_relation
from graph_schema.text import clean_text
from skd.errors import InputError

#: Where a triple came from; the graph keeps the list of all of them.
SOURCES = ("atomic2020", "teacher", "student", "human", "import")


@dataclass(slots=True)
class Triple:
    """One piece of commonsense knowledge: `head` --relation--> `tail`, with its score and provenance.

    `provenance` holds what a run records per item (few-shot example ids, decoding parameters,
    log-probability, time); the graph keeps the summary fields (`source`, `run`, `teacher`, `prompt`).
    """

    head: str
    relation: str
    tail: str
    score: float | None = None
    source: str = "import"
    run: str | None = None
    teacher: str | None = None
    prompt: str | None = None
    label: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with empty fields left out."""
        return {k: v for k, v in asdict(self).items() if v not in (None, {}, "")}


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
    return Triple(head=h, relation=rel.name, tail=t, **fields)


def triple_from_json(obj: dict[str, Any]) -> Triple:
    """Read our JSONL row; `critic_score` (written by the critic) is taken as the score."""
    if not isinstance(obj, dict):
        raise InputError("a JSONL row must be an object")
    missing = [k for k in ("head", "relation", "tail") if not isinstance(obj.get(k), str)]
    if missing:
        raise InputError(f"missing or non-text field(s): {', '.join(missing)}")
    score = obj.get("critic_score", obj.get("score"))
    prov = dict(obj.get("provenance") or {})
    label = obj.get("label")
    return make_triple(
        obj["head"], obj["relation"], obj["tail"],
        score=score,
        source=obj.get("source") or "import",
        run=obj.get("run"),
        teacher=obj.get("teacher"),
        prompt=obj.get("prompt"),
        label=int(label) if isinstance(label, int | float) and not isinstance(label, bool) else None,
        provenance=prov,
    )
