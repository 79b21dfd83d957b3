"""Student generation speed on this CPU: one event times the paper's 7 relations, batched against one at a time.

Uses SmolLM2-135M (the default student base; an untrained base has the same speed as a trained
student of its size). Greedy decoding, up to 24 new tokens. Prints the figures and writes
bench/results/student.json.

    python bench/student.py [--rounds 5] [--model smollm2|FOLDER] [--max-new-tokens 24] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from bench.common import percentile, write_result
from skd.graph_schema.relations import PAPER_RELATIONS
from skd.models.student import Student

EVENT = "PersonX buys a new car"


CPU_S: list[float] = []  # process CPU seconds of each timed call, beside its wall time


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    """Wall seconds of one call; its CPU seconds go to CPU_S (on a shared, busy machine the CPU time
    is what the call would take alone, with one thread)."""
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    CPU_S.append(time.process_time() - cpu)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--threads", type=int, default=None, help="torch threads [torch's default]")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    relations = list(PAPER_RELATIONS)
    requests = [(EVENT, r) for r in relations]
    start = time.perf_counter()
    student = Student.load(args.model)
    load_s = time.perf_counter() - start
    kw = {"max_new_tokens": args.max_new_tokens}
    student.generate(requests[:2], **kw)  # warm-up: first-call allocations and kernel choices

    batched = [timed(lambda: student.generate(requests, **kw)) for _ in range(args.rounds)]
    batched_cpu = CPU_S[:]
    CPU_S.clear()
    single: list[float] = []
    rounds_single: list[float] = []
    for _ in range(args.rounds):
        times = [timed(lambda r=r: student.generate([r], **kw)) for r in requests]
        single += times
        rounds_single.append(sum(times))
    single_cpu = CPU_S[:]
    sample = student.generate(requests, **kw)

    n = len(requests)
    result = {
        "model": student.name,
        "event": EVENT,
        "relations": relations,
        "decoding": "greedy",
        "max_new_tokens": args.max_new_tokens,
        "rounds": args.rounds,
        "load_s": round(load_s, 2),
        # every completion of a batched call is ready when the call returns: its latency is the call's
        "batched": {
            "completions_per_s": round(n / statistics.median(batched), 2),
            "p50_latency_s": round(percentile(batched, 50), 3),
            "p50_round_s": round(percentile(batched, 50), 3),
            "p50_cpu_s": round(percentile(batched_cpu, 50), 3),
            "completions_per_cpu_s": round(n / statistics.median(batched_cpu), 2),
        },
        "one_at_a_time": {
            "completions_per_s": round(n / statistics.median(rounds_single), 2),
            "p50_latency_s": round(percentile(single, 50), 3),
            "p50_round_s": round(percentile(rounds_single, 50), 3),
            "p50_cpu_s": round(percentile(single_cpu, 50), 3),
            "completions_per_cpu_s": round(len(single_cpu) / sum(single_cpu), 2),
        },
        "torch_threads": torch.get_num_threads(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "example": {r: [g.text for g in gs] for r, gs in zip(relations, sample, strict=True)},
    }
    result["speedup"] = round(result["batched"]["completions_per_s"] / result["one_at_a_time"]["completions_per_s"], 2)
    b, s = result["batched"], result["one_at_a_time"]
    print(
        f"{student.name}: 1 event x {n} relations, greedy, <= {args.max_new_tokens} new tokens, "
        f"{args.rounds} rounds, {torch.get_num_threads()} threads, load avg {result['load_avg_1m']}"
    )
    print(
        f"  batched:        {b['completions_per_s']:6.2f} completions/s, p50 latency {b['p50_latency_s']:.3f} s"
        f" (CPU: {b['completions_per_cpu_s']:.2f} per CPU-s, p50 {b['p50_cpu_s']:.3f} CPU-s)"
    )
    print(
        f"  one at a time:  {s['completions_per_s']:6.2f} completions/s, p50 latency {s['p50_latency_s']:.3f} s "
        f"(all {n}: {s['p50_round_s']:.3f} s; CPU: {s['completions_per_cpu_s']:.2f} per CPU-s, "
        f"p50 {s['p50_cpu_s']:.3f} CPU-s)"
    )
    print(f"  speed-up {result['speedup']}x")
    write_result("student", result)


if __name__ == "__main__":
    main()
