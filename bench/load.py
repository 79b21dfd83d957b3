"""Benchmark: load 200,000+ synthetic ATOMIC-shaped triples into the graph, then time 1,000 lookups.

Runs against the embedded ArcadeDB in a throw-away data folder (or SKD_GRAPH_URI when set).
Usage: python bench/load.py [--triples 210000] [--events 50000] [--inferences 150000] [--lookups 1000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import percentile, write_result

RELATIONS = ["xIntent", "xNeed", "xAttr", "xEffect", "xReact", "xWant", "HinderedBy"]
VERBS = ["buys", "sells", "paints", "finds", "loses", "fixes", "borrows", "cooks", "writes", "visits"]
NOUNS = ["car", "house", "book", "bike", "letter", "garden", "phone", "cake", "song", "map"]


def synthetic(n_triples: int, n_events: int, n_inferences: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """Distinct ATOMIC-shaped triples using every event and every inference: triple i joins event
    i mod E, relation (i div E) mod 7 and inference i*7919 mod I (7919 is prime, so with I not a
    multiple of it the tails cycle through all I inferences)."""
    rng = random.Random(seed)
    events = [f"PersonX {rng.choice(VERBS)} PersonY's {rng.choice(NOUNS)} number {i}" for i in range(n_events)]
    tails = [f"to {rng.choice(VERBS)} the {rng.choice(NOUNS)} {i}" for i in range(n_inferences)]
    if n_triples > n_events * len(RELATIONS):
        raise SystemExit(f"at most {n_events * len(RELATIONS)} distinct triples with {n_events} events")
    return [
        (events[i % n_events], RELATIONS[(i // n_events) % len(RELATIONS)], tails[(i * 7919) % n_inferences])
        for i in range(n_triples)
    ]


def _rust_codec() -> bool:
    """Whether the driver packs and unpacks with neo4j-rust-ext (the pure-Python codec is much slower)."""
    try:
        import neo4j._rust  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--triples", type=int, default=210_000)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--inferences", type=int, default=150_000)
    ap.add_argument("--lookups", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--warmup", type=int, default=2_000, help="lookups of other events before timing")
    args = ap.parse_args()

    if not os.environ.get("SKD_GRAPH_URI"):
        os.environ["SKD_DATA_DIR"] = tempfile.mkdtemp(prefix="skd-bench-load-")
    from skd.core.settings import Settings

    settings = Settings()
    from skd.graph_schema.connect import connect, embedded_server
    from skd.graph_schema.records import make_triple

    rows = synthetic(args.triples, args.events, args.inferences)
    triples = [make_triple(h, r, t, sources=["bench"], score=0.5) for h, r, t in rows]
    store = connect(settings)
    store.batch_size = args.batch
    store.clear()
    started = time.perf_counter()
    for i in range(0, len(triples), args.batch):
        store.upsert(triples[i : i + args.batch])
        done = min(i + args.batch, len(triples))
        if done % 20_000 < args.batch:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:,} triples, {rate:,.0f}/s", flush=True)
    load_s = time.perf_counter() - started
    stats = store.stats()

    rng = random.Random(1)
    heads = [rows[rng.randrange(len(rows))][0] for _ in range(args.lookups)]
    # warm up on other events: the server compiles the read path (its JIT) over the first few hundred
    # lookups, which otherwise adds ~0.3 ms to the p50 of a freshly started server
    for _ in range(args.warmup):
        store.inferences(rows[rng.randrange(len(rows))][0], first=10)
    lat: list[float] = []
    for h in heads:
        t0 = time.perf_counter()
        edges = store.inferences(h, first=10)
        lat.append((time.perf_counter() - t0) * 1000)
        assert edges, f"lookup of {h!r} found nothing"
    store.close()
    if settings.embedded:
        embedded_server(settings).stop()
    write_result(
        "load",
        {
            "triples": len(triples),
            "events": stats["events"],
            "inferences": stats["inferences"],
            "stored_triples": stats["triples"],
            "batch_size": args.batch,
            "load_seconds": round(load_s, 2),
            "triples_per_second": round(len(triples) / load_s),
            "lookups": args.lookups,
            "lookup_p50_ms": round(percentile(lat, 50), 3),
            "lookup_p99_ms": round(percentile(lat, 99), 3),
            "warmup_lookups": args.warmup,
            "rust_packstream": _rust_codec(),
            "jvm_options": settings.arcadedb_jvm_options if settings.embedded else None,
            "aims": {"triples_per_second": 20_000, "lookup_p50_ms": 1.0},
        },
    )


if __name__ == "__main__":
    main()
