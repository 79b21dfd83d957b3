"""The `InferenceConnection` type: one page of an event's inferences."""

from __future__ import annotations

import strawberry

from skd.graph_schema.records import Edge
from skd.graph_schema.store import encode_cursor
from skd.service.types.inference import Inference
from skd.service.types.page_info import PageInfo


@strawberry.type
class InferenceEdge:
    cursor: str
    node: Inference


@strawberry.type(description="A page of inferences, best score first.")
class InferenceConnection:
    edges: list[InferenceEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def page(cls, edges: list[Edge], offset: int, first: int) -> InferenceConnection:
        chunk = edges[offset : offset + first]
        return cls(
            edges=[InferenceEdge(cursor=encode_cursor(offset + i), node=Inference.of(e)) for i, e in enumerate(chunk)],
            page_info=PageInfo.of(offset, len(chunk), offset + len(chunk) < len(edges)),
            total_count=len(edges),
        )
