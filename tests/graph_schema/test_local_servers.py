"""The local servers (ArcadeDB and Neo4j): options reach the process, the password stays in its file, a
running server is reused, and what is missing is said clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from skd.core.errors import ConfigError, GraphUnavailableError
from skd.core.settings import Settings
from skd.graph_schema.arcadedb import EmbeddedArcadeDB
from skd.graph_schema.connect import connect, embedded_server
from skd.graph_schema.neo4j_local import EmbeddedNeo4j
from skd.graph_schema.store import GraphStore


def _argv(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def test_the_running_server_is_reused_and_keeps_its_password_off_the_command_line(
    session_store: GraphStore, graph_settings: Settings
) -> None:
    server = embedded_server(graph_settings)
    info = server.status()
    assert info is not None and info.bolt_uri.startswith("bolt://127.0.0.1:")
    assert server.start().pid == info.pid  # a second start reuses it
    assert server.password_path.read_text().strip() == info.password
    assert oct(server.password_path.stat().st_mode & 0o777) == "0o600"
    argv = _argv(info.pid)
    if graph_settings.graph_backend == "neo4j":
        assert all(info.password.encode() not in a for a in argv)
        assert f"-Xmx{graph_settings.neo4j_heap}".encode() in argv
    else:
        assert graph_settings.arcadedb_jvm_options.encode() in argv
        assert f"-Xmx{graph_settings.arcadedb_heap}".encode() in argv
    stats = session_store.stats()
    assert stats["backend"] == graph_settings.graph_backend and stats["version"]


def test_db_status_names_the_backend_and_its_version(session_store: GraphStore, graph_backend: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "skd.cli", "db", "status"], capture_output=True, text=True, env=os.environ.copy()
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["backend"] == graph_backend and status["running"] is True
    assert status["version"] == session_store.dialect.version and status["version"][0].isdigit()


def test_a_wrong_password_is_a_configuration_error_naming_the_setting(
    session_store: GraphStore, graph_settings: Settings
) -> None:
    info = embedded_server(graph_settings).status()
    assert info is not None
    wrong = graph_settings.model_copy(
        update={"graph_uri": info.bolt_uri, "graph_user": info.user, "graph_password": SecretStr("not-the-password")}
    )
    with pytest.raises(ConfigError, match="SKD_GRAPH_PASSWORD"):
        connect(wrong)


def test_malformed_jvm_options_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SKD_ARCADEDB_JVM_OPTIONS"):
        EmbeddedArcadeDB(tmp_path, jvm_options='-Dunclosed="quote')
    with pytest.raises(ConfigError, match="SKD_NEO4J_JVM_OPTIONS"):
        EmbeddedNeo4j(tmp_path, tmp_path, jvm_options='-Dunclosed="quote')


def test_missing_neo4j_jars_or_java_say_what_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(GraphUnavailableError, match=r"no Neo4j server jar.*setup\.sh"):
        EmbeddedNeo4j(tmp_path / "data", tmp_path / "no-jars").start()
    settings = Settings(data_dir=tmp_path / "d", graph_backend="neo4j", neo4j_java=str(tmp_path / "no-java"))
    with pytest.raises((GraphUnavailableError, ConfigError), match="no-java"):
        embedded_server(settings).start()
