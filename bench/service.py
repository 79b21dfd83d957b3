"""Benchmark of the GraphQL service: lookup rate and latency against the store itself, and live
completion throughput with micro-batching against without (`python bench/service.py`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import percentile, write_result

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "atomic2020" / "atomic2020-sample.tsv"
LOOKUP = """query($t: String!) { event(text: $t) { key
  inferences(first: 20) { totalCount edges { node { relation text score } } } } }"""
COMPLETE = """query($e: String!) { complete(event: $e, relations: [xWant], n: 1) {
  inferences { text score origin } } }"""
#: the paper's seven relations, one generation each, for an event not in the graph
COMPLETE_SEVEN = """query($e: String!) { complete(event: $e, n: 1) { inferences { relation text score origin } } }"""


def summary(latencies: list[float], wall: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / wall, 3),
        "wall_s": round(wall, 2),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


def direct_lookups(store: Any, keys: list[str], concurrency: int) -> dict[str, float]:
    """The same work through the store, as fast as the store does it: the event with its first 20
    inferences (one more, to know whether there are more) and their count, in one query."""
    from skd.graph_schema.records import EdgeFilter

    def one(key: str) -> float:
        started = time.perf_counter()
        store.node_with_page("out", key, EdgeFilter(), 21)
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(one, keys))
    return summary(latencies, time.perf_counter() - started)


async def http_load(url: str, bodies: list[dict[str, Any]], concurrency: int) -> tuple[list[float], float]:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    latencies: list[float] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            r = await client.post("/graphql", json=body)
            latencies.append(time.perf_counter() - started)
            if r.status_code != 200 or "errors" in r.json():
                raise RuntimeError(f"request failed: {r.text[:300]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


class Server:
    """`skd serve` in a subprocess (its own interpreter, so client and server do not share a GIL)."""

    def __init__(self, env: dict[str, str], port: int, workers: int = 1) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "skd"), "serve", "--port", str(port), "--workers", str(workers)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).resolve().parents[1],
        )

    def __enter__(self) -> Server:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the server did not become ready")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--triples", type=int, default=3000, help="ATOMIC 2020 sample triples to load")
    p.add_argument("--lookups", type=int, default=400, help="lookups per concurrency level")
    p.add_argument("--completions", type=int, default=48, help="live completions per mode")
    p.add_argument("--student", default="smollm2", help="student folder or built-in base name")
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--workers", type=int, default=2, help="worker processes to compare with one (0: skip)")
    p.add_argument("--skip-lookups", action="store_true", help="only the live-completion part")
    p.add_argument("--skip-completions", action="store_true", help="only the lookup part")
    p.add_argument("--student-int8", action="store_true", help="the student quantized (SKD_SERVICE_STUDENT_INT8)")
    args = p.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="skd-bench-service-"))
    env = {"SKD_DATA_DIR": str(data_dir)}
    os.environ.update(env)
    from skd.core.settings import Settings
    from skd.graph_schema.connect import connect, embedded_server
    from skd.graph_schema.triples_io import read_triples

    settings = Settings()
    store = connect(settings)
    try:
        with closing(read_triples(SAMPLE)) as rows:
            store.upsert_all(n.triple for n in islice(rows, args.triples))
        keys = [h.key for h in store.search_events("PersonX", first=100)]
        work = [keys[i % len(keys)] for i in range(args.lookups)]
        result: dict[str, Any] = {"triples": args.triples, "lookups": {}, "completion": {}}
        bodies = [{"query": LOOKUP, "variables": {"t": k}} for k in work]
        if args.skip_lookups:
            args.concurrency, args.workers = [], 0
        with Server(env, free_port()) if args.concurrency else contextlib.nullcontext() as server:
            if server is not None:  # warm-up: the graph server's JIT and the service's first requests
                direct_lookups(store, work * 4, 4)
                asyncio.run(http_load(server.url, bodies[:400], 8))
            for c in args.concurrency:
                direct = direct_lookups(store, work, c)
                api = summary(*asyncio.run(http_load(server.url, bodies, c)))
                result["lookups"][str(c)] = {
                    "api": api,
                    "store": direct,
                    "api_overhead": round(direct["per_second"] / api["per_second"], 2),
                }
                print(f"lookups c={c}: api {api} store {direct}", flush=True)
        if args.workers > 1:
            with Server(env, free_port(), workers=args.workers) as server:
                asyncio.run(http_load(server.url, bodies[:400], 8))  # warm-up
                for c in args.concurrency[1:]:
                    many = summary(*asyncio.run(http_load(server.url, bodies, c)))
                    one = result["lookups"][str(c)]["api"]
                    result["lookups"][str(c)][f"api_{args.workers}_workers"] = many
                    result["lookups"][str(c)]["workers_speedup"] = round(many["per_second"] / one["per_second"], 2)
                    print(f"lookups c={c} with {args.workers} workers: {many}", flush=True)
        modes = () if args.skip_completions else (("batched", "32", "10"), ("unbatched", "1", "0"))
        events = [
            {"query": COMPLETE, "variables": {"e": f"PersonX buys a present for friend number {i}"}}
            for i in range(args.completions)
        ]
        for mode, batch, window in modes:
            env_mode = {
                **env,
                "SKD_STUDENT_PATH": args.student,
                "SKD_SERVICE_MAX_BATCH": batch,
                "SKD_SERVICE_BATCH_WINDOW_MS": window,
                "SKD_SERVICE_COMPLETION_CACHE_SIZE": "0",
                # a benchmark measures throughput: no client limit, no deadline, no queue bound in the way
                "SKD_SERVICE_MODEL_RATE_LIMIT": "none",
                "SKD_SERVICE_MODEL_TIMEOUT_S": "3600",
                "SKD_SERVICE_MAX_QUEUE": "100000",
                "SKD_SERVICE_STUDENT_INT8": str(args.student_int8).lower(),
            }
            with Server(env_mode, free_port()) as server:
                asyncio.run(http_load(server.url, events[:2], 1))  # warm-up (the cache is off)
                latencies, wall = asyncio.run(http_load(server.url, events, 16))
                result["completion"][mode] = summary(latencies, wall)
                print(f"completion {mode}: {result['completion'][mode]}", flush=True)
                if mode == "batched":  # one live `complete` of seven relations x 1 on an otherwise idle service
                    seven = [
                        {"query": COMPLETE_SEVEN, "variables": {"e": f"PersonX repaints the shed for the {i}th time"}}
                        for i in range(10)
                    ]
                    result["completion"]["seven_relations_idle"] = summary(
                        *asyncio.run(http_load(server.url, seven, 1))
                    )
                    print(f"complete 7 x 1, idle: {result['completion']['seven_relations_idle']}", flush=True)
        if modes:
            result["completion"]["student"] = args.student
            result["completion"]["student_int8"] = args.student_int8
            result["completion"]["concurrency"] = 16
            result["completion"]["speedup"] = round(
                result["completion"]["unbatched"]["wall_s"] / result["completion"]["batched"]["wall_s"], 2
            )
        result["load_average"] = [round(x, 2) for x in os.getloadavg()]
        write_result("service", result)
    finally:
        store.close()
        embedded_server(settings).stop()


if __name__ == "__main__":
    main()
