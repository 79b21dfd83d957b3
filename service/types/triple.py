"""The `Triple` type: a stored triple as a mutation returns it."""

from __future__ import annotations

import strawberry

from skd.graph_schema.records import Edge


@strawberry.type(name="Triple", description="A triple of the graph after a write.")
class StoredTriple:
    head: str
    relation: str
    tail: str
    score: float | None
    sources: list[str]
    labels: list[int]

    @classmethod
    def of(cls, head: str, e: Edge) -> StoredTriple:
        return cls(head=head, relation=e.relation, tail=e.tail, score=e.score, sources=e.sources, labels=e.labels)
