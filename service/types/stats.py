"""The `Stats` type: counts of the graph's events, inferences and triples."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type
class Count:
    name: str
    count: int


@strawberry.type(description="Counts of the graph, per relation and per source.")
class Stats:
    backend: str
    events: int
    inferences: int
    triples: int
    scored: int
    by_relation: list[Count]
    by_source: list[Count]

    @classmethod
    def of(cls, s: dict[str, Any]) -> Stats:
        return cls(
            backend=s["backend"],
            events=s["events"],
            inferences=s["inferences"],
            triples=s["triples"],
            scored=s["scored"],
            by_relation=[Count(name=k, count=v) for k, v in s["by_relation"].items()],
            by_source=[Count(name=k, count=v) for k, v in s["by_source"].items()],
        )
