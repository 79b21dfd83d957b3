"""A Neo4j Bloom perspective for the graph, generated from the relation catalogue (never edited by hand).

Two node categories (Event, Inference) captioned by `text`; one relationship type per relation, listed
by category (social, event, physical) and coloured by it; search phrases that show an event's
inferences, all of them or one category's. The output is the JSON Bloom's perspective drawer imports;
it is deterministic (fixed id and timestamps), so the committed file can be checked against the code.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from skd.graph_schema.relations import RELATIONS, Category, Relation

__all__ = ["CATEGORY_COLOURS", "PERSPECTIVE_NAME", "perspective", "perspective_json", "search_phrases"]

PERSPECTIVE_NAME = "skd commonsense graph"
BLOOM_VERSION = "2.15.0"
#: a fixed moment (2026-01-01T00:00:00Z, in ms) so the generated file never changes without the code changing
_STAMP = 1767225600000
_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/skd/bloom-perspective"))

EVENT_COLOUR, INFERENCE_COLOUR = "#4C8EDA", "#FFE081"
#: one colour per relation category, so a scene shows at a glance which kind of inference an edge is
CATEGORY_COLOURS: dict[Category, str] = {
    Category.SOCIAL: "#C990C0",
    Category.EVENT: "#F79767",
    Category.PHYSICAL: "#8DCC93",
}
_CATEGORY_ORDER = (Category.SOCIAL, Category.EVENT, Category.PHYSICAL)
_NODE_PROPERTIES = (("key", "string"), ("text", "string"))
_EDGE_PROPERTIES = (
    ("score", "number"),
    ("sources", "array"),
    ("runs", "array"),
    ("teachers", "array"),
    ("prompts", "array"),
    ("labels", "array"),
    ("created_at", "number"),  # epoch milliseconds, as the store writes it
)
_PALETTE = [
    "#FFE081",
    "#C990C0",
    "#F79767",
    "#57C7E3",
    "#F16667",
    "#D9C8AE",
    "#8DCC93",
    "#ECB5C9",
    "#4C8EDA",
    "#FFC454",
    "#DA7194",
    "#569480",
    "#848484",
    "#D9D9D9",
]


def _ordered() -> list[Relation]:
    return sorted(RELATIONS, key=lambda r: _CATEGORY_ORDER.index(r.category))


def _category(cid: int, label: str, colour: str, size: float) -> dict[str, Any]:
    return {
        "id": cid,
        "name": label,
        "labels": [label],
        "createdAt": _STAMP,
        "lastEditedAt": _STAMP,
        "properties": [
            {"name": k, "exclude": False, "isCaption": k == "text", "dataType": t} for k, t in _NODE_PROPERTIES
        ],
        "color": colour,
        "icon": "no-icon",
        "size": size,
        "textSize": 1,
        "textAlign": "top",
        "captionKeys": ["text"],
        "captions": [
            {"key": "text", "type": "property", "isCaption": True, "inTooltip": True, "styles": [], "isGdsData": False}
        ],
        "styleRules": [],
    }


def _relationship_type(r: Relation) -> dict[str, Any]:
    return {
        "id": r.rel_type,
        "name": r.rel_type,
        "color": CATEGORY_COLOURS[r.category],
        "size": 1,
        "textSize": 1,
        "textAlign": "top",
        "properties": [{"propertyKey": k, "type": r.rel_type, "dataType": t} for k, t in _EDGE_PROPERTIES],
        "captionKeys": [],
        "captions": [{"key": r.rel_type, "type": "relationship", "isCaption": True, "inTooltip": True, "styles": []}],
        "styleRules": [],
    }


def _event_param() -> dict[str, Any]:
    return {
        "name": "$event",
        "dataType": "String",
        "collapsed": False,
        "suggestionLabel": "Event",
        "suggestionProp": "text",
        "suggestionBoolean": False,
        "cypher": None,
    }


def search_phrases() -> list[tuple[str, str]]:
    """(phrase, Cypher) pairs: an event's inferences, all of them, per category, and the critic's best."""
    # by key, through its index: case and surrounding spaces do not matter, as they do not for `text_key`
    match_event = "MATCH (e:Event {key: toLower(trim($event))})\n"
    phrases = [("inferences of $event", match_event + "MATCH p = (e)-[r]->(i:Inference)\nRETURN p")]
    for cat in _CATEGORY_ORDER:
        types = "|".join(r.rel_type for r in _ordered() if r.category is cat)
        phrases.append(
            (f"{cat.value} inferences of $event", match_event + f"MATCH p = (e)-[r:{types}]->(i:Inference)\nRETURN p")
        )
    phrases.append(
        (
            "best inferences of $event",
            match_event
            + "MATCH (e)-[r]->(i:Inference)\n"
            + "WITH e, r, i ORDER BY coalesce(r.score, -1.0) DESC LIMIT 25\n"
            + "RETURN e, r, i",
        )
    )
    return phrases


def _templates() -> list[dict[str, Any]]:
    out = []
    for n, (text, cypher) in enumerate(search_phrases()):
        out.append(
            {
                "name": text.replace(" $event", ""),
                "id": f"tmpl:{_STAMP + n}",
                "createdAt": _STAMP + n,
                "text": text,
                "cypher": cypher,
                "isUpdateQuery": None,
                "isWriteTransactionChecked": None,
                "hasCypherErrors": False,
                "params": [_event_param()],
            }
        )
    return out


def perspective() -> dict[str, Any]:
    """The perspective as Bloom exports it."""
    rels = _ordered()
    return {
        "name": PERSPECTIVE_NAME,
        "id": _ID,
        "version": BLOOM_VERSION,
        "type": "STANDARD_PERSPECTIVE",
        "createdAt": _STAMP,
        "lastEditedAt": _STAMP,
        "categories": [_category(1, "Event", EVENT_COLOUR, 2), _category(2, "Inference", INFERENCE_COLOUR, 1)],
        "labels": {
            label: [{"propertyKey": k, "type": label, "dataType": t} for k, t in _NODE_PROPERTIES]
            for label in ("Event", "Inference")
        },
        "relationshipTypes": [_relationship_type(r) for r in rels],
        "palette": {"colors": _PALETTE, "currentIndex": 2},
        "templates": _templates(),
        "sceneActions": [],
        "hiddenRelationshipTypes": [],
        "hiddenCategories": [],
        "hideUncategorisedData": False,
        "maxLimitToastMsgEnabled": False,
        "isAuto": False,
        "history": [],
        "parentPerspectiveId": None,
        "metadata": {
            "pathSegments": [{"source": "Event", "relationshipType": r.rel_type, "target": "Inference"} for r in rels],
            "indexes": [
                *(
                    {"label": label, "type": "native", "propertyKeys": [{"key": "key", "metadataProp": False}]}
                    for label in ("Event", "Inference")
                ),
                *(
                    {"label": label, "type": "fulltext", "propertyKeys": [{"key": "text", "metadataProp": False}]}
                    for label in ("Event", "Inference")
                ),
            ],
        },
    }


def perspective_json() -> str:
    """The perspective as the text of `docker/bloom/skd-perspective.json`."""
    return json.dumps(perspective(), indent=2, ensure_ascii=False) + "\n"
