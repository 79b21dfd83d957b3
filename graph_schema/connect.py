"""Open the graph named by the settings: the configured Neo4j, or a local server (started on demand).

With `SKD_GRAPH_URI` unset, `SKD_GRAPH_BACKEND` picks the local server: the bundled ArcadeDB
(`arcadedb`, the default) or a Neo4j Community server run from Maven Central's jars (`neo4j`).
"""

from __future__ import annotations

import time

from neo4j import Driver, GraphDatabase
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable

from skd.core.errors import ConfigError, GraphUnavailableError
from skd.core.settings import Settings
from skd.graph_schema.arcadedb import EmbeddedArcadeDB, ServerInfo
from skd.graph_schema.dialect import Dialect, dialect_for_agent
from skd.graph_schema.neo4j_local import EmbeddedNeo4j, default_lib_dir
from skd.graph_schema.store import GraphStore

LocalServer = EmbeddedArcadeDB | EmbeddedNeo4j


def embedded_server(s: Settings, backend: str | None = None) -> LocalServer:
    """The local server of `backend` (default: `SKD_GRAPH_BACKEND`), its state in the data folder."""
    chosen = backend or s.graph_backend
    if chosen == "neo4j":
        return EmbeddedNeo4j(
            s.neo4j_dir,
            s.neo4j_lib_dir or default_lib_dir(),
            java=s.neo4j_java,
            heap=s.neo4j_heap,
            pagecache=s.neo4j_pagecache,
            start_timeout_s=s.neo4j_start_timeout_s,
            jvm_options=s.neo4j_jvm_options,
        )
    if chosen == "arcadedb":
        return EmbeddedArcadeDB(
            s.arcadedb_dir,
            heap=s.arcadedb_heap,
            start_timeout_s=s.arcadedb_start_timeout_s,
            jvm_options=s.arcadedb_jvm_options,
        )
    raise ConfigError(f"SKD_GRAPH_BACKEND must be 'arcadedb' or 'neo4j', not {chosen!r}")


def _driver(uri: str, user: str, password: str, s: Settings) -> Driver:
    return GraphDatabase.driver(
        uri,
        auth=(user, password),
        connection_timeout=s.graph_connect_timeout_s,
        max_transaction_retry_time=s.graph_retry_time_s,
        # Neo4j warns (through logging) about every relationship type not yet in the graph; the store
        # asks for all 23 on purpose
        notifications_min_severity="OFF",
    )


def _wait_ready(driver: Driver, database: str | None, timeout_s: float, password_setting: str) -> None:
    """Bolt can answer a moment before the database is open: retry a trivial query until it works."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            driver.execute_query("RETURN 1 AS ok", database_=database)
            return
        except AuthError as e:
            raise ConfigError(f"the graph refused the credentials ({password_setting}): {e.message}") from e
        except (ServiceUnavailable, Neo4jError, OSError) as e:
            if time.monotonic() > deadline:
                raise GraphUnavailableError(f"graph not reachable: {e}") from e
            time.sleep(0.2)


def _detect_dialect(driver: Driver, settings: Settings, database: str | None, user: str, password: str) -> Dialect:
    """The server's own Bolt agent string says what it is (ArcadeDB answers `dbms.components()` as
    Neo4j would, so that cannot tell them apart)."""
    try:
        agent = driver.get_server_info().agent
    except (ServiceUnavailable, Neo4jError, OSError) as e:
        raise GraphUnavailableError(f"cannot ask the graph server what it is: {e}") from e
    return dialect_for_agent(
        agent, http_url=settings.graph_http_url or "", database=database or "", user=user, password=password
    )


def connect(settings: Settings, ensure_schema: bool | None = None) -> GraphStore:
    """A GraphStore owning its driver; with no `SKD_GRAPH_URI` the local server is started first.

    `ensure_schema` creates the constraints and indexes (this needs schema rights); False checks that
    they exist and says what is missing. The default ensures them on a local server, which this project
    owns, and only checks a configured one, where a read-only account must still be able to connect.
    """
    s = settings
    if s.embedded:
        info: ServerInfo = embedded_server(s).start()
        user, password = info.user, info.password
        database: str | None = info.database
        uri, setting = info.bolt_uri, f"the password file of the local {s.graph_backend} server"
        if s.graph_backend == "arcadedb":
            s = s.model_copy(update={"graph_http_url": info.http_url})
    else:
        assert s.graph_uri is not None
        uri, setting = s.graph_uri, "SKD_GRAPH_USER / SKD_GRAPH_PASSWORD"
        user = s.graph_user or "neo4j"
        password = s.graph_password.get_secret_value() if s.graph_password else ""
        database = s.graph_database  # None: the server's default database
    try:
        driver = _driver(uri, user, password, s)
    except ValueError as e:
        raise ConfigError(f"SKD_GRAPH_URI {uri!r} is not a Bolt/Neo4j URI: {e}") from e
    try:
        timeout = (
            (s.neo4j_start_timeout_s if s.graph_backend == "neo4j" else s.arcadedb_start_timeout_s)
            if (settings.embedded)
            else s.graph_connect_timeout_s
        )
        _wait_ready(driver, database, timeout, setting)
        dialect = _detect_dialect(driver, s, database, user, password)
        store = GraphStore(driver, database, dialect, batch_size=s.graph_batch_size, owns_driver=True)
        if ensure_schema if ensure_schema is not None else settings.embedded:
            store.ensure_schema()
        else:
            store.check_schema()
    except BaseException:
        driver.close()
        raise
    return store
