"""Every Cypher statement of the project, parameters only. Relationship types cannot be parameters in
Cypher, so statements that name one are built per relation from the catalogue's closed set of
types, never from user text."""

from __future__ import annotations

from functools import cache

from skd.graph_schema.relations import BY_REL_TYPE

#: the key constraints by name (each also gives the index that every lookup by key uses)
CONSTRAINTS = {
    "event_key": "CREATE CONSTRAINT event_key IF NOT EXISTS FOR (e:Event) REQUIRE e.key IS UNIQUE",
    "inference_key": "CREATE CONSTRAINT inference_key IF NOT EXISTS FOR (i:Inference) REQUIRE i.key IS UNIQUE",
}


def _checked(rel_type: str) -> str:
    if rel_type not in BY_REL_TYPE:
        raise ValueError(f"not a catalogue relationship type: {rel_type!r}")
    return rel_type


#: Merge a batch's nodes, deduplicated by key. Spellings that share a key keep the smallest text,
#: so the graph does not depend on load order or batch size.
MERGE_EVENTS = """
UNWIND $nodes AS node
MERGE (e:Event {key: node.key}) ON CREATE SET e.text = node.text
WITH e, node WHERE node.text < e.text
SET e.text = node.text"""

MERGE_INFERENCES = """
UNWIND $nodes AS node
MERGE (i:Inference {key: node.key}) ON CREATE SET i.text = node.text
WITH i, node WHERE node.text < i.text
SET i.text = node.text"""


@cache
def upsert(rel_type: str) -> str:
    """Merge a batch of triples of one relation between nodes merged just before; provenance lists
    are unioned, so a rerun changes nothing."""
    return f"""
UNWIND $rows AS row
MATCH (h:Event {{key: row.hk}})
MATCH (t:Inference {{key: row.tk}})
MERGE (h)-[r:{_checked(rel_type)}]->(t)
ON CREATE SET r.score = row.score, r.sources = row.sources, r.runs = row.runs,
              r.teachers = row.teachers, r.prompts = row.prompts, r.labels = row.labels,
              r.created_at = row.now
ON MATCH SET r.score = coalesce(row.score, r.score),
             r.sources = coalesce(r.sources, []) + [x IN row.sources WHERE NOT x IN coalesce(r.sources, [])],
             r.runs = coalesce(r.runs, []) + [x IN row.runs WHERE NOT x IN coalesce(r.runs, [])],
             r.teachers = coalesce(r.teachers, []) + [x IN row.teachers WHERE NOT x IN coalesce(r.teachers, [])],
             r.prompts = coalesce(r.prompts, []) + [x IN row.prompts WHERE NOT x IN coalesce(r.prompts, [])],
             r.labels = CASE WHEN size(coalesce(r.labels, [])) = 0 THEN row.labels ELSE r.labels END
RETURN count(*) AS n"""


@cache
def set_scores(rel_type: str) -> str:
    """Set critic scores on existing relationships; rows that match nothing are ignored."""
    return f"""
UNWIND $rows AS row
MATCH (:Event {{key: row.hk}})-[r:{_checked(rel_type)}]->(:Inference {{key: row.tk}})
SET r.score = row.score
RETURN count(r) AS n"""


#: An edge's fields, in the order `GraphStore` reads them by position: keep them last in every RETURN.
_EDGE_FIELDS = """e.key AS head_key, e.text AS head, type(r) AS rel_type, i.key AS tail_key, i.text AS tail,
       r.score AS score, r.sources AS sources, r.runs AS runs, r.teachers AS teachers, r.prompts AS prompts,
       r.labels AS labels, r.created_at AS created_at"""


@cache
def annotate(rel_type: str) -> str:
    """Add one human label to a triple, creating the triple (source `human`) if it is new."""
    return f"""
MERGE (e:Event {{key: $hk}}) ON CREATE SET e.text = $h
MERGE (i:Inference {{key: $tk}}) ON CREATE SET i.text = $t
MERGE (e)-[r:{_checked(rel_type)}]->(i)
ON CREATE SET r.sources = ['human'], r.runs = [], r.teachers = [], r.prompts = [], r.labels = [$label],
              r.label_ids = [$label_id], r.created_at = $now
ON MATCH SET r.labels = CASE WHEN $label_id IN coalesce(r.label_ids, []) THEN r.labels
                             ELSE coalesce(r.labels, []) + [$label] END,
             r.label_ids = CASE WHEN $label_id IN coalesce(r.label_ids, []) THEN r.label_ids
                                ELSE coalesce(r.label_ids, []) + [$label_id] END,
             r.sources = CASE WHEN 'human' IN coalesce(r.sources, []) THEN r.sources
                              ELSE coalesce(r.sources, []) + ['human'] END
RETURN {_EDGE_FIELDS}"""


#: An `EdgeFilter`: each parameter null means any.
_EDGE_FILTER = """type(r) IN $types
  AND ($min_score IS NULL OR (r.score IS NOT NULL AND r.score >= $min_score))
  AND ($sources IS NULL OR any(s IN r.sources WHERE s IN $sources))
  AND ($runs IS NULL OR any(s IN r.runs WHERE s IN $runs))
  AND ($teachers IS NULL OR any(s IN r.teachers WHERE s IN $teachers))
  AND ($prompts IS NULL OR any(s IN r.prompts WHERE s IN $prompts))"""

EVENT_BY_KEY = "MATCH (e:Event {key: $key}) RETURN e.key AS key, e.text AS text"

EVENTS_BY_KEYS = "UNWIND $keys AS k MATCH (e:Event {key: k}) RETURN e.key AS key, e.text AS text"

INFERENCES_BY_KEYS = "UNWIND $keys AS k MATCH (i:Inference {key: k}) RETURN i.key AS key, i.text AS text"

#: From a node to its triples: outward from an event to its inferences, or inward to an inference from
#: its events. `far` is the node at the other end, whose key breaks ties of the order.
_FROM = {
    "out": ("MATCH (e:Event {key: k})-[r]->(i:Inference)", "i"),
    "in": ("MATCH (e:Event)-[r]->(i:Inference {key: k})", "e"),
}


@cache
def edges_of(direction: str) -> str:
    """Every triple of many nodes that passes the filter, unordered (the store sorts them)."""
    match, _ = _FROM[direction]
    return f"""
UNWIND $keys AS k
{match}
WHERE {_EDGE_FILTER}
RETURN k AS node_key, {_EDGE_FIELDS}"""


@cache
def edge_page(direction: str, backward: bool) -> str:
    """One page of one node's triples in the lookup order, after the position `$ps, $pt, $pk` (or before
    it, `backward`, read in reverse); a null `$ps` starts at the end the page is read from."""
    match, far = _FROM[direction]
    score = "coalesce(r.score, -1.0)"
    beyond, past, order = (">", "<", "ASC") if backward else ("<", ">", "DESC")
    keyset = (
        f"($ps IS NULL OR {score} {beyond} $ps OR ({score} = $ps AND "
        f"(type(r) {past} $pt OR (type(r) = $pt AND {far}.key {past} $pk))))"
    )
    tie = "DESC" if backward else "ASC"
    return f"""
WITH $key AS k
{match}
WHERE {_EDGE_FILTER}
  AND {keyset}
RETURN k AS node_key, {_EDGE_FIELDS}
ORDER BY {score} {order}, type(r) {tie}, {far}.key {tie}
LIMIT $limit"""


#: `_EDGE_FIELDS` as one list value, for a query that collects a node's edges into a list of rows.
_EDGE_ROW = """[e.key, e.text, type(r), i.key, i.text, r.score, r.sources, r.runs, r.teachers, r.prompts, r.labels,
        r.created_at]"""

#: A node by its key and the way to its triples (`e`, `r`, `i` as in `_FROM`); the node's variable.
_NODE = {
    "out": ("MATCH (e:Event {key: $key}) OPTIONAL MATCH (e)-[r]->(i:Inference)", "e"),
    "in": ("MATCH (i:Inference {key: $key}) OPTIONAL MATCH (e:Event)-[r]->(i)", "i"),
}


@cache
def node_with_page(direction: str) -> str:
    """One node, the first `$limit` of its triples that pass the filter (in the lookup order, each an
    `_EDGE_ROW`) and how many pass it, in one round trip; no row when the node is not stored."""
    node, me = _NODE[direction]
    far = "i" if direction == "out" else "e"
    score = "coalesce(r.score, -1.0)"
    return f"""
{node}
WHERE {_EDGE_FILTER}
WITH e, r, i ORDER BY {score} DESC, type(r) ASC, {far}.key ASC
WITH {me}, collect(CASE WHEN r IS NULL THEN NULL ELSE {_EDGE_ROW} END) AS rows
RETURN {me}.key AS key, {me}.text AS text, size(rows) AS total, rows[0..$limit] AS page"""


@cache
def edge_counts(direction: str) -> str:
    """How many triples of each of many nodes pass the filter (no triple is returned)."""
    match, _ = _FROM[direction]
    return f"""
UNWIND $keys AS k
{match}
WHERE {_EDGE_FILTER}
RETURN k AS node_key, count(r) AS n"""


TRIPLE = f"""
MATCH (e:Event {{key: $hk}})-[r]->(i:Inference {{key: $tk}})
WHERE type(r) = $rel_type
RETURN {_EDGE_FIELDS}"""


@cache
def search(backward: bool) -> str:
    """A page of full-text hits, best first, after (or before) the position `$ps, $pk`."""
    beyond, past, order, tie = ("<", ">", "DESC", "ASC") if not backward else (">", "<", "ASC", "DESC")
    return f"""
CALL db.index.fulltext.queryNodes($index, $query) YIELD node, score
WITH node, score
WHERE $ps IS NULL OR score {beyond} $ps OR (score = $ps AND node.key {past} $pk)
RETURN node.key AS key, node.text AS text, score
ORDER BY score {order}, key {tie} LIMIT $limit"""


SEARCH_COUNT = """
CALL db.index.fulltext.queryNodes($index, $query) YIELD node
RETURN count(node) AS n"""

COUNT_EVENTS = "MATCH (e:Event) RETURN count(e) AS n"
COUNT_INFERENCES = "MATCH (i:Inference) RETURN count(i) AS n"
COUNT_BY_TYPE_AND_SOURCE = """
MATCH (:Event)-[r]->(:Inference) UNWIND r.sources AS source
RETURN type(r) AS rel_type, source, count(*) AS n"""
COUNT_SCORED = "MATCH (:Event)-[r]->(:Inference) WHERE r.score IS NOT NULL RETURN count(r) AS n"

EVENT_KEYS_PAGE = """
MATCH (e:Event) WHERE e.key > $after RETURN e.key AS key ORDER BY e.key LIMIT $limit"""

EXPORT_EVENTS = """
UNWIND $keys AS k
MATCH (e:Event {key: k})-[r]->(i:Inference)
WHERE ($min_score IS NULL OR (r.score IS NOT NULL AND r.score >= $min_score))
  AND (NOT $labelled OR size(coalesce(r.labels, [])) > 0)
RETURN e.key AS head_key, e.text AS head, type(r) AS rel_type, i.text AS tail, r.score AS score,
       r.sources AS sources, r.runs AS runs, r.teachers AS teachers, r.prompts AS prompts,
       r.labels AS labels"""

#: one batch of `GraphStore.clear`: a whole graph in one transaction would exceed Neo4j's transaction memory
DELETE_BATCH = "MATCH (n) WHERE n:Event OR n:Inference WITH n LIMIT $limit DETACH DELETE n RETURN count(*) AS n"


@cache
def count_of_type(rel_type: str) -> str:
    """How many relationships of one type: no labels on either end, so Neo4j answers from its count store
    instead of scanning (every relationship of the graph runs from an Event to an Inference)."""
    return f"MATCH ()-[r:{_checked(rel_type)}]->() RETURN count(r) AS n"
