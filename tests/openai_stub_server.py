"""A fake OpenAI-compatible server for tests and benchmarks (a paid API cannot run here): a small FastAPI
app answering `/v1/completions` and `/v1/chat/completions`, served by a real uvicorn on a free local port.

It writes deterministic, plausible text (new PersonX events for list prompts, short inferences for
relation prompts, some junk on purpose), and can be told to answer 429, 500 or hang, or to be slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

VERBS = [
    "buys",
    "paints",
    "fixes",
    "visits",
    "cooks",
    "cleans",
    "writes",
    "finds",
    "sells",
    "borrows",
    "washes",
    "carries",
    "plants",
    "builds",
    "reads",
    "opens",
    "loses",
    "orders",
    "wraps",
    "hides",
]
THINGS = [
    "a bicycle",
    "the fence",
    "a cake",
    "PersonY's house",
    "a letter",
    "the garden",
    "a new phone",
    "the car",
    "a book",
    "the window",
    "a birthday gift",
    "the old piano",
    "a sandwich",
    "the kitchen",
    "a map",
    "PersonY's dog",
    "the roof",
    "a train ticket",
    "the door",
    "a blanket",
]
TAILS = [
    "to go home",
    "to rest",
    "to thank PersonY",
    "happy",
    "tired",
    "to call a friend",
    "to eat dinner",
    "proud",
    "to buy tools",
    "careful",
    "to save money",
    "to tell everyone",
    "relieved",
    "helpful",
]


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


def write_text(prompt: str, index: int, max_tokens: int) -> str:
    """What the stub 'model' writes for a prompt: a deterministic function of prompt and sample index."""
    r = _h(prompt, index)
    m = re.search(r"(\d+)\.\s*$", prompt)
    if m:  # an open numbered item: continue the list of events
        k = int(m.group(1))
        if r % 10 == 0:
            return " the the the the\n"  # junk, to be rejected
        items = [
            f"PersonX {VERBS[(r >> (4 * i)) % len(VERBS)]} {THINGS[(r >> (4 * i + 20)) % len(THINGS)]}"
            for i in range(3)
        ]
        text = f" {items[0]}\n" + "".join(f"{k + 1 + i}. {e}\n" for i, e in enumerate(items[1:]))
        return " ".join(text.split(" ")[: max(4, max_tokens)])
    if r % 8 == 0:
        return " \n"  # an empty answer, to be rejected
    return f" {TAILS[r % len(TAILS)]}.\n12. PersonX"


def _usage(prompt: str, texts: list[str]) -> dict[str, int]:
    p, c = len(prompt.split()), sum(max(1, len(t.split())) for t in texts)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def completion_response(body: dict[str, Any], response_id: str) -> dict[str, Any]:
    """The stub's answer to a `/v1/completions` request body (also what the fake Batch API writes per line)."""
    prompt = body["prompt"] if isinstance(body["prompt"], str) else body["prompt"][0]
    n, max_tokens = int(body.get("n") or 1), int(body.get("max_tokens") or 16)
    texts = [write_text(prompt, i, max_tokens) for i in range(n)]
    choices = []
    for i, t in enumerate(texts):
        words = t.split(" ")
        lp = (
            {
                "tokens": words,
                "token_logprobs": [-0.5] * len(words),
                "top_logprobs": None,
                "text_offset": list(range(len(words))),
            }
            if body.get("logprobs")
            else None
        )
        choices.append({"index": i, "text": t, "logprobs": lp, "finish_reason": "stop"})
    return {
        "id": response_id,
        "object": "text_completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": choices,
        "usage": _usage(prompt, texts),
    }


def chat_response(body: dict[str, Any], response_id: str) -> dict[str, Any]:
    """The stub's answer to a `/v1/chat/completions` request body: the user message continued."""
    prompt = body["messages"][-1]["content"]
    n, max_tokens = int(body.get("n") or 1), int(body.get("max_tokens") or 16)
    texts = [write_text(prompt, i, max_tokens).lstrip(" ") for i in range(n)]
    choices = []
    for i, t in enumerate(texts):
        lp = (
            {"content": [{"token": w, "logprob": -0.25, "bytes": None, "top_logprobs": []} for w in t.split(" ")]}
            if body.get("logprobs")
            else None
        )
        choices.append(
            {"index": i, "message": {"role": "assistant", "content": t}, "logprobs": lp, "finish_reason": "stop"}
        )
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": choices,
        "usage": _usage(prompt, texts),
    }


@dataclass
class StubState:
    """What the stub does next; tests change it between (or during) runs."""

    delay_s: float = 0.0
    #: failures to serve before answering normally: 429, 500 or "hang", one per request, in order
    failures: deque[int | str] = field(default_factory=deque)
    retry_after: str | None = None
    hang_s: float = 30.0
    #: answer at most this many choices whatever `n` asks, as llama.cpp's and Ollama's servers do (1)
    max_choices: int | None = None
    requests: int = 0
    served: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)
    #: the headers of each request, lower-cased names (to check what credentials a client sends)
    headers: list[dict[str, str]] = field(default_factory=list)
    stopping: bool = False


def _capped(body: dict[str, Any], state: StubState) -> dict[str, Any]:
    if state.max_choices is None:
        return body
    return {**body, "n": min(int(body.get("n") or 1), state.max_choices)}


def make_app(state: StubState) -> FastAPI:
    app = FastAPI()

    async def gate() -> JSONResponse | None:
        state.requests += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            return await _gate()
        finally:
            state.in_flight -= 1

    async def _gate() -> JSONResponse | None:
        if state.failures:
            kind = state.failures.popleft()
            if kind == "hang":
                end = time.monotonic() + state.hang_s
                while time.monotonic() < end and not state.stopping:
                    await asyncio.sleep(0.05)
                return JSONResponse({"error": {"message": "hung"}}, status_code=504)
            headers = {"retry-after": state.retry_after} if state.retry_after else {}
            msg = "rate limited" if kind == 429 else "server error"
            return JSONResponse({"error": {"message": msg, "type": "stub"}}, status_code=int(kind), headers=headers)
        if state.delay_s:
            await asyncio.sleep(state.delay_s)
        return None

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return {"requests": state.requests, "served": state.served, "max_in_flight": state.max_in_flight}

    @app.post("/v1/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        state.log.append(body)
        state.headers.append({k.lower(): v for k, v in request.headers.items()})
        if (failed := await gate()) is not None:
            return failed
        state.served += 1
        return completion_response(_capped(body, state), f"cmpl-{state.served}")

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        state.log.append(body)
        state.headers.append({k.lower(): v for k, v in request.headers.items()})
        if (failed := await gate()) is not None:
            return failed
        state.served += 1
        return chat_response(_capped(body, state), f"chat-{state.served}")

    return app


class ThreadedApp:
    """An app in a real uvicorn on 127.0.0.1 (a free port, or `port` to come back on the same one), in a
    background thread; `state.stopping` tells its handlers that it is going down."""

    what = "test server"

    def __init__(self, app: FastAPI, state: Any, port: int = 0, name: str = "test-server") -> None:
        self.state = state
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=name, daemon=True)
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Self:
        self.state.stopping = False
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the {self.what} did not start")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        self.state.stopping = True
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class StubServer(ThreadedApp):
    """Runs the stub app in a real uvicorn on a free port of 127.0.0.1, in a background thread."""

    what = "stub OpenAI server"

    def __init__(self, state: StubState | None = None) -> None:
        self.state: StubState = state or StubState()
        super().__init__(make_app(self.state), self.state, name="openai-stub")


def main() -> None:
    """Serve in this process until killed (the benchmark runs the server apart from its client):
    `python -m tests.openai_stub_server [delay_s]` prints `PORT <n>` once it listens."""
    import sys

    server = StubServer(StubState(delay_s=float(sys.argv[1]) if len(sys.argv) > 1 else 0.0)).start()
    print(f"PORT {server.port}", flush=True)
    server.thread.join()


if __name__ == "__main__":
    main()
