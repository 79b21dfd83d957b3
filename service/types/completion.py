"""The `Completion` type: an event's inferences from the graph and from the student, each marked by origin."""

from __future__ import annotations

from enum import Enum

import strawberry

from skd.service.completion import EventCompletion
from skd.service.completion import Origin as OriginValue
from skd.service.enums import RelationName, Source, sources_out


@strawberry.enum(description="Where an inference came from.")
class Origin(Enum):
    GRAPH = "GRAPH"
    STUDENT = "STUDENT"


@strawberry.type(description="One inference of a completion.")
class CompletedInference:
    relation: RelationName
    text: str
    score: float | None = strawberry.field(
        description="The critic's score (null when no critic is loaded and the graph has none)."
    )
    origin: Origin
    logprob: float | None = strawberry.field(description="The student's log-probability of a generation.")
    sources: list[Source]


@strawberry.type(description="Whether and how live generation took part.")
class LiveGeneration:
    available: bool = strawberry.field(description="False when no student is loaded.")
    relations: list[RelationName] = strawberry.field(description="Relations the student was asked for.")
    cached: int = strawberry.field(description="How many of those came from the completion cache.")
    student: str | None
    critic: str | None
    notice: str | None


@strawberry.type(description="The inferences of a completion for one relation, graph first.")
class CompletionGroup:
    relation: RelationName
    inferences: list[CompletedInference]


@strawberry.type(description="Stored inferences plus live student generations for an event.")
class Completion:
    input: str = strawberry.field(description="The event as the request gave it.")
    event: str = strawberry.field(description="The event looked up and completed: the input in ATOMIC's form.")
    interpretation: list[str] = strawberry.field(
        description="What reading the input as an ATOMIC event changed, e.g. \"read 'I' as PersonX\"; "
        "empty when it was already in that form."
    )
    key: str
    in_graph: bool = strawberry.field(description="True when the event is a node of the graph.")
    inferences: list[CompletedInference]
    live: LiveGeneration
    relations: strawberry.Private[list[RelationName]]

    @strawberry.field(
        description="The inferences grouped by relation, in the order the relations were asked (graph "
        "first, then the student's); a relation with none has an empty group."
    )
    def by_relation(self) -> list[CompletionGroup]:
        groups: dict[RelationName, list[CompletedInference]] = {r: [] for r in self.relations}
        for i in self.inferences:
            groups.setdefault(i.relation, []).append(i)
        return [CompletionGroup(relation=r, inferences=items) for r, items in groups.items()]

    @classmethod
    def of(cls, c: EventCompletion) -> Completion:
        return cls(
            input=c.input,
            interpretation=c.interpretation,
            event=c.event,
            key=c.key,
            in_graph=c.in_graph,
            inferences=[
                CompletedInference(
                    relation=RelationName(i.relation),
                    text=i.tail,
                    score=i.score,
                    origin=Origin.GRAPH if i.origin is OriginValue.GRAPH else Origin.STUDENT,
                    logprob=i.logprob,
                    sources=sources_out(i.sources),
                )
                for i in c.inferences
            ],
            relations=[RelationName(r) for r in c.relations],
            live=LiveGeneration(
                available=c.live_available,
                relations=[RelationName(r) for r in c.live_relations],
                cached=c.cached,
                student=c.student,
                critic=c.critic,
                notice=c.notice,
            ),
        )
