"""The few places where Neo4j 5 and ArcadeDB's Bolt endpoint differ, and nowhere else.

- What a server is: its Bolt agent string (`Neo4j/5.26.30`; `Neo4j/5.26.0 compatible (ArcadeDB 26.10.2)`).
  ArcadeDB also answers `dbms.components()` as a Neo4j kernel would, so only the agent tells them apart.
- Full-text index: Neo4j takes `CREATE FULLTEXT INDEX`, which returns before the index is online, so
  the store waits for it (`db.awaitIndexes`); ArcadeDB refuses it and takes SQL over its HTTP API
  (`CREATE INDEX ON Event (text) FULL_TEXT`), after which the same `db.index.fulltext.queryNodes`
  call works over Bolt under the index name `Event[text]`.
- Checking the schema: Neo4j lists it (`SHOW CONSTRAINTS`, `SHOW INDEXES`); ArcadeDB has no such
  commands, and its schema statements are idempotent and cheap, so it is ensured instead.
- Concurrent MERGE on one key: Neo4j serialises it; ArcadeDB can fail one writer with a constraint
  error, so ArcadeDB writes are retried a few times.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from skd.core.errors import ConfigError, GraphError

_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
#: words the Lucene query parser reads as operators; lower case, they are plain terms again
_LUCENE_OPERATORS = {"AND", "OR", "NOT", "TO"}
_AGENT_VERSION = re.compile(r"Neo4j/(\S+)")
_ARCADEDB_VERSION = re.compile(r"ArcadeDB\s+([^\s)]+)")

#: the Event.text and Inference.text full-text indexes on Neo4j
NEO4J_FULLTEXT = "event_text"
NEO4J_INFERENCE_FULLTEXT = "inference_text"


def lucene_terms(text: str) -> str:
    """User text as a Lucene query of plain terms (any may match): special characters are escaped and
    operator words (`AND`, `OR`, `NOT`, `TO`) lower-cased, so no input is a query-syntax error."""
    words = [w.lower() if w in _LUCENE_OPERATORS else _LUCENE_SPECIAL.sub(r"\\\1", w) for w in text.split()]
    return " ".join(w for w in words if w.strip("\\"))


RunCypher = Callable[[str], list[Any]]


@dataclass(frozen=True, slots=True)
class Neo4jDialect:
    name: str = "neo4j"
    version: str = ""
    fulltext_index: str = NEO4J_FULLTEXT
    inference_fulltext_index: str = NEO4J_INFERENCE_FULLTEXT
    merge_retries: int = 0

    def ensure_fulltext(self, run: RunCypher) -> None:
        run(f"CREATE FULLTEXT INDEX {NEO4J_FULLTEXT} IF NOT EXISTS FOR (e:Event) ON EACH [e.text]")
        run(f"CREATE FULLTEXT INDEX {NEO4J_INFERENCE_FULLTEXT} IF NOT EXISTS FOR (i:Inference) ON EACH [i.text]")
        # the index is created asynchronously: a search right after would fail until it is online
        run("CALL db.awaitIndexes(300)")

    def missing_schema(self, run: RunCypher, constraints: dict[str, str]) -> list[str]:
        """What of the schema is not there: constraint names and the full-text index."""
        have = {r["name"] for r in run("SHOW CONSTRAINTS YIELD name RETURN name")}
        indexes = {r["name"]: r["state"] for r in run("SHOW INDEXES YIELD name, state RETURN name, state")}
        missing = [f"constraint {name}" for name in constraints if name not in have]
        for index in (NEO4J_FULLTEXT, NEO4J_INFERENCE_FULLTEXT):
            if indexes.get(index) != "ONLINE":
                missing.append(f"full-text index {index} ({indexes.get(index, 'absent').lower()})")
        return missing


@dataclass(frozen=True, slots=True)
class ArcadeDBDialect:
    name: str = "arcadedb"
    version: str = ""
    fulltext_index: str = "Event[text]"
    inference_fulltext_index: str = "Inference[text]"
    merge_retries: int = 5
    http_url: str = ""
    database: str = ""
    user: str = ""
    password: str = ""

    def ensure_fulltext(self, run: RunCypher) -> None:
        """Create the Event.text and Inference.text full-text indexes with ArcadeDB SQL over HTTP
        (idempotent)."""
        if not self.http_url:
            raise GraphError("ArcadeDB full-text index needs the server's HTTP URL (SKD_GRAPH_HTTP_URL)")
        # a type must exist before a property can be declared on it
        commands = [
            command
            for label in ("Event", "Inference")
            for command in (
                f"CREATE VERTEX TYPE {label} IF NOT EXISTS",
                f"CREATE PROPERTY {label}.text IF NOT EXISTS STRING",
                f"CREATE INDEX IF NOT EXISTS ON {label} (text) FULL_TEXT",
            )
        ]
        for command in commands:
            try:
                r = httpx.post(
                    f"{self.http_url}/api/v1/command/{self.database}",
                    json={"language": "sql", "command": command},
                    auth=(self.user, self.password),
                    timeout=30.0,
                )
            except httpx.HTTPError as e:
                raise GraphError(f"ArcadeDB HTTP API unreachable at {self.http_url}: {e}") from e
            if r.status_code >= 300:
                raise GraphError(f"ArcadeDB refused {command!r}: {r.status_code} {r.text[:200]}")

    def missing_schema(self, run: RunCypher, constraints: dict[str, str]) -> list[str]:
        return []  # not listable over Bolt; `GraphStore.check_schema` ensures it instead


Dialect = Neo4jDialect | ArcadeDBDialect


def dialect_for_agent(agent: str, *, http_url: str, database: str, user: str, password: str) -> Dialect:
    """The dialect of a server from its Bolt agent string; one that is neither is a configuration error."""
    if "arcadedb" in agent.lower():
        m = _ARCADEDB_VERSION.search(agent)
        return ArcadeDBDialect(
            version=m.group(1) if m else "", http_url=http_url, database=database, user=user, password=password
        )
    m = _AGENT_VERSION.match(agent)
    if m:
        major = m.group(1).split(".")[0]
        if major.isdigit() and int(major) < 5:
            raise ConfigError(f"the graph server is {agent}: Neo4j 5 or later is needed")
        return Neo4jDialect(version=m.group(1))
    raise ConfigError(f"the graph server says it is {agent!r}: only Neo4j 5 and ArcadeDB are supported")
