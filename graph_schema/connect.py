"""Open the graph named by the settings: the configured Neo4j, or the embedded ArcadeDB (started on demand)."""

from __future__ import annotations

import time

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

from skd.core.errors import ConfigError, GraphUnavailableError
from skd.core.settings import Settings
from skd.graph_schema.arcadedb import EmbeddedArcadeDB, ServerInfo
from skd.graph_schema.dialect import ArcadeDBDialect, Dialect, Neo4jDialect
from skd.graph_schema.store import GraphStore


def embedded_server(s: Settings) -> EmbeddedArcadeDB:
    return EmbeddedArcadeDB(
        s.arcadedb_dir,
        heap=s.arcadedb_heap,
        start_timeout_s=s.arcadedb_start_timeout_s,
        jvm_options=s.arcadedb_jvm_options,
    )


def _wait_ready(driver: Driver, database: str | None, timeout_s: float) -> None:
    """Bolt can answer a moment before the database is open: retry a trivial query until it works."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            driver.execute_query("RETURN 1 AS ok", database_=database)
            return
        except AuthError as e:
            raise ConfigError(f"the graph refused the credentials: {e.message}") from e
        except (ServiceUnavailable, Neo4jError, OSError) as e:
            if time.monotonic() > deadline:
                raise GraphUnavailableError(f"graph not reachable: {e}") from e
            time.sleep(0.2)


def _detect_dialect(driver: Driver, database: str | None, settings: Settings, user: str, password: str) -> Dialect:
    """Neo4j answers `dbms.components()`; anything else over Bolt is taken to be ArcadeDB."""
    try:
        records, _, _ = driver.execute_query("CALL dbms.components() YIELD name RETURN name", database_=database)
        if records and "neo4j" in str(records[0]["name"]).lower():
            return Neo4jDialect()
    except Neo4jError:
        pass
    return ArcadeDBDialect(
        http_url=settings.graph_http_url or "", database=database or "", user=user, password=password
    )


def connect(settings: Settings, ensure_schema: bool = True) -> GraphStore:
    """A GraphStore owning its driver; with no `SKD_GRAPH_URI` the embedded ArcadeDB is started first."""
    s = settings
    if s.embedded:
        info: ServerInfo = embedded_server(s).start()
        driver = GraphDatabase.driver(
            info.bolt_uri,
            auth=(info.user, info.password),
            connection_timeout=s.graph_connect_timeout_s,
            max_transaction_retry_time=s.graph_retry_time_s,
        )
        dialect: Dialect = ArcadeDBDialect(
            http_url=info.http_url, database=info.database, user=info.user, password=info.password
        )
        database: str | None = info.database
    else:
        assert s.graph_uri is not None
        user = s.graph_user or "neo4j"
        password = s.graph_password.get_secret_value() if s.graph_password else ""
        try:
            driver = GraphDatabase.driver(
                s.graph_uri,
                auth=(user, password),
                connection_timeout=s.graph_connect_timeout_s,
                max_transaction_retry_time=s.graph_retry_time_s,
            )
        except ValueError as e:
            raise ConfigError(f"SKD_GRAPH_URI {s.graph_uri!r} is not a Bolt/Neo4j URI: {e}") from e
        database = s.graph_database
        _wait_ready(driver, database, s.graph_connect_timeout_s)
        dialect = _detect_dialect(driver, database, s, user, password)
    try:
        _wait_ready(driver, database, s.arcadedb_start_timeout_s if s.embedded else s.graph_connect_timeout_s)
        store = GraphStore(driver, database, dialect, batch_size=s.graph_batch_size, owns_driver=True)
        if ensure_schema:
            store.ensure_schema()
    except BaseException:
        driver.close()
        raise
    return store
