"""The `Inference` type: one stored tail of an event, with its critic score and provenance."""

from __future__ import annotations

import strawberry

from skd.graph_schema.records import Edge


@strawberry.type(description="An inference stored in the graph for an event.")
class Inference:
    relation: str
    text: str
    key: str
    score: float | None = strawberry.field(description="The critic's score, if the triple was scored.")
    sources: list[str]
    runs: list[str]
    teachers: list[str]
    prompts: list[str]
    labels: list[int] = strawberry.field(description="Human labels: 2, 1 acceptable; -1, -2 not; -9 skip.")

    @classmethod
    def of(cls, e: Edge) -> Inference:
        return cls(
            relation=e.relation,
            text=e.tail,
            key=e.tail_key,
            score=e.score,
            sources=e.sources,
            runs=e.runs,
            teachers=e.teachers,
            prompts=e.prompts,
            labels=e.labels,
        )
