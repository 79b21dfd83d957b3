"""The `Completion` type: an event's inferences from the graph and from the student, each marked by origin."""

from __future__ import annotations

from enum import Enum

import strawberry

from skd.service.completion import EventCompletion
from skd.service.completion import Origin as OriginValue


@strawberry.enum(description="Where an inference came from.")
class Origin(Enum):
    GRAPH = "GRAPH"
    STUDENT = "STUDENT"


@strawberry.type(description="One inference of a completion.")
class CompletedInference:
    relation: str
    text: str
    score: float | None = strawberry.field(
        description="The critic's score (null when no critic is loaded and the graph has none)."
    )
    origin: Origin
    logprob: float | None = strawberry.field(description="The student's log-probability of a generation.")
    sources: list[str]


@strawberry.type(description="Whether and how live generation took part.")
class LiveGeneration:
    available: bool = strawberry.field(description="False when no student is loaded.")
    relations: list[str] = strawberry.field(description="Relations the student was asked for.")
    cached: int = strawberry.field(description="How many of those came from the completion cache.")
    student: str | None
    critic: str | None
    notice: str | None


@strawberry.type(description="Stored inferences plus live student generations for an event.")
class Completion:
    event: str
    key: str
    in_graph: bool = strawberry.field(description="True when the event is a node of the graph.")
    inferences: list[CompletedInference]
    live: LiveGeneration

    @classmethod
    def of(cls, c: EventCompletion) -> Completion:
        return cls(
            event=c.event,
            key=c.key,
            in_graph=c.in_graph,
            inferences=[
                CompletedInference(
                    relation=i.relation,
                    text=i.tail,
                    score=i.score,
                    origin=Origin.GRAPH if i.origin is OriginValue.GRAPH else Origin.STUDENT,
                    logprob=i.logprob,
                    sources=i.sources,
                )
                for i in c.inferences
            ],
            live=LiveGeneration(
                available=c.live_available,
                relations=c.live_relations,
                cached=c.cached,
                student=c.student,
                critic=c.critic,
                notice=c.notice,
            ),
        )
