"""The wheel installs one top-level package, `skd`, with every layer inside it and its data files."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_installs_only_the_skd_namespace(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*build, str(ROOT)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("skd-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/", 1)[0] for n in names}
    assert top == {"skd", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for layer in ("core", "graph_schema", "models", "ingest", "pipeline", "service", "cli"):
        assert f"skd/{layer}/__init__.py" in names, layer
    assert "skd/ingest/data/demo.toml" in names and "skd/ingest/data/fewshot.jsonl" in names
    graphiql = "skd/service/static/graphiql"  # the service's IDE works offline: its assets ship with it
    for asset in ("graphiql/graphiql.min.js", "graphiql/graphiql.min.css", "react/react.production.min.js"):
        assert f"{graphiql}/{asset}" in names, asset
    assert f"{graphiql}/react-dom/react-dom.production.min.js" in names and f"{graphiql}/graphiql/LICENSE" in names
    assert not any(n.endswith((".map", ".sh")) for n in names if n.startswith(graphiql))
    assert not any(n.endswith(".jar") for n in names)  # Neo4j's GPLv3 jars are resolved at set-up, never shipped
