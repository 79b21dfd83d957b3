"""The embedded ArcadeDB server: its JVM options reach the running process, and bad ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from skd.core.errors import ConfigError
from skd.core.settings import Settings
from skd.graph_schema.arcadedb import EmbeddedArcadeDB
from skd.graph_schema.connect import embedded_server


def test_configured_jvm_options_reach_the_running_server(_arcadedb: None, settings: Settings) -> None:
    info = embedded_server(settings).status()
    assert info is not None
    argv = Path(f"/proc/{info.pid}/cmdline").read_bytes().split(b"\0")
    assert settings.arcadedb_jvm_options.encode() in argv
    assert f"-Xmx{settings.arcadedb_heap}".encode() in argv


def test_malformed_jvm_options_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SKD_ARCADEDB_JVM_OPTIONS"):
        EmbeddedArcadeDB(tmp_path, jvm_options='-Dunclosed="quote')
