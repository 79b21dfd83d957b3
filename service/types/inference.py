"""The `Inference` and `Triple` types: a stored triple with its critic score and provenance, seen from its
event (`Inference`: the tail) or whole (`Triple`: head, relation and tail)."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from skd.graph_schema.records import Edge
from skd.service.enums import LabelValue, RelationName, Source, labels_out, sources_out


@strawberry.type
class TripleFields:
    """What every stored triple has besides its ends (shared by `Inference` and `Triple`)."""

    relation: RelationName
    score: float | None = strawberry.field(description="The critic's score, if the triple was scored.")
    sources: list[Source]
    runs: list[str] = strawberry.field(description="The runs that wrote it (`service` for write-backs).")
    teachers: list[str] = strawberry.field(description="The models that wrote its text.")
    prompts: list[str] = strawberry.field(description="The prompt templates, as name@version.")
    labels: list[LabelValue] = strawberry.field(description="Human judgments of it.")
    created_at: datetime | None = strawberry.field(description="When it was first stored (UTC).")


def _fields(e: Edge) -> dict[str, object]:
    return {
        "relation": RelationName(e.relation),
        "score": e.score,
        "sources": sources_out(e.sources),
        "runs": e.runs,
        "teachers": e.teachers,
        "prompts": e.prompts,
        "labels": labels_out(e.labels),
        "created_at": None if e.created_at is None else datetime.fromtimestamp(e.created_at / 1000, UTC),
    }


@strawberry.type(description="An inference stored in the graph for an event.")
class Inference(TripleFields):
    text: str
    key: str

    @classmethod
    def of(cls, e: Edge) -> Inference:
        return cls(text=e.tail, key=e.tail_key, **_fields(e))  # type: ignore[arg-type]


@strawberry.type(description="A triple of the graph: an event, a relation and an inference.")
class Triple(TripleFields):
    head: str
    head_key: str
    tail: str
    tail_key: str

    @classmethod
    def of(cls, e: Edge) -> Triple:
        return cls(head=e.head, head_key=e.head_key, tail=e.tail, tail_key=e.tail_key, **_fields(e))  # type: ignore[arg-type]
