"""`RelationGroup` and `TripleGroup`: a node's triples for one relation, best score first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import strawberry

from skd.graph_schema.records import Edge
from skd.graph_schema.relations import RELATIONS, get_relation
from skd.service.types.inference import Inference, Triple
from skd.service.types.relation import Relation

T = TypeVar("T")

_CATALOGUE_ORDER = {r.name: i for i, r in enumerate(RELATIONS)}


@strawberry.type(description="The inferences of an event for one relation, best score first.")
class RelationGroup:
    relation: Relation
    total_count: int = strawberry.field(description="All matching inferences, before `first` cut them.")
    inferences: list[Inference]


@strawberry.type(description="The triples that lead to an inference through one relation, best score first.")
class TripleGroup:
    relation: Relation
    total_count: int = strawberry.field(description="All matching triples, before `first` cut them.")
    triples: list[Triple]


def grouped(edges: list[Edge], order: tuple[str, ...], first: int, make: Callable[[str, list[Edge]], T]) -> list[T]:
    """`make(relation, edges)` for each relation with edges: in `order` if given, else catalogue order;
    each group cut to `first` (its total is the length before the cut, which `make` gets whole)."""
    groups: dict[str, list[Edge]] = {}
    for e in edges:
        groups.setdefault(e.relation, []).append(e)
    names = list(order) or sorted(groups, key=_CATALOGUE_ORDER.__getitem__)
    return [make(n, groups[n]) for n in names if groups.get(n)]


def relation_group(first: int) -> Callable[[str, list[Edge]], RelationGroup]:
    def make(name: str, edges: list[Edge]) -> RelationGroup:
        return RelationGroup(
            relation=Relation.of(get_relation(name)),
            total_count=len(edges),
            inferences=[Inference.of(e) for e in edges[:first]],
        )

    return make


def triple_group(first: int) -> Callable[[str, list[Edge]], TripleGroup]:
    def make(name: str, edges: list[Edge]) -> TripleGroup:
        return TripleGroup(
            relation=Relation.of(get_relation(name)),
            total_count=len(edges),
            triples=[Triple.of(e) for e in edges[:first]],
        )

    return make
