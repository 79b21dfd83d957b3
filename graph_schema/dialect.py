"""The few places where Neo4j 5 and ArcadeDB's Bolt endpoint differ, and nowhere else.

- Full-text index: Neo4j takes `CREATE FULLTEXT INDEX`; ArcadeDB refuses it and takes SQL over its
  HTTP API (`CREATE INDEX ON Event (text) FULL_TEXT`), after which the same
  `db.index.fulltext.queryNodes` call works over Bolt under the index name `Event[text]`.
- Concurrent MERGE on one key: Neo4j serialises it; ArcadeDB can fail one writer with a constraint
  error, so ArcadeDB writes are retried a few times.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from skd.core.errors import GraphError

_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')


def lucene_terms(text: str) -> str:
    """User text as a Lucene query of plain terms (any may match): special characters are escaped."""
    words = [_LUCENE_SPECIAL.sub(r"\\\1", w) for w in text.split()]
    return " ".join(w for w in words if w.strip("\\"))


@dataclass(frozen=True, slots=True)
class Neo4jDialect:
    name: str = "neo4j"
    fulltext_index: str = "event_text"
    merge_retries: int = 0

    def ensure_fulltext(self, run: Callable[[str], object]) -> None:
        run("CREATE FULLTEXT INDEX event_text IF NOT EXISTS FOR (e:Event) ON EACH [e.text]")


@dataclass(frozen=True, slots=True)
class ArcadeDBDialect:
    name: str = "arcadedb"
    fulltext_index: str = "Event[text]"
    merge_retries: int = 5
    http_url: str = ""
    database: str = ""
    user: str = ""
    password: str = ""

    def ensure_fulltext(self, run: Callable[[str], object]) -> None:
        """Create the Event.text full-text index with ArcadeDB SQL over HTTP (idempotent)."""
        if not self.http_url:
            raise GraphError("ArcadeDB full-text index needs the server's HTTP URL (SKD_GRAPH_HTTP_URL)")
        # the Event type must exist before a property can be declared on it
        for command in (
            "CREATE VERTEX TYPE Event IF NOT EXISTS",
            "CREATE PROPERTY Event.text IF NOT EXISTS STRING",
            "CREATE INDEX IF NOT EXISTS ON Event (text) FULL_TEXT",
        ):
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


Dialect = Neo4jDialect | ArcadeDBDialect
