"""Benchmark: load 200,000+ synthetic ATOMIC-shaped triples into each local graph server, then time lookups;
optionally a bulk import of ATOMIC10x's size (6.5 million triples) into Neo4j, end to end from TSV.

Each backend runs in its own throw-away data folder, one after the other; JSON per backend under
bench/results/ (load-arcadedb.json, load-neo4j.json, load-neo4j-bulk.json).
Usage: python bench/load.py [--backend arcadedb|neo4j|both] [--triples 210000] [--bulk-triples 6500000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
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


def online(backend: str, args: argparse.Namespace, rows: list[tuple[str, str, str]]) -> dict[str, object]:
    """Load `rows` online into a fresh local server of `backend` (or SKD_GRAPH_URI), then time lookups."""
    from skd.core.settings import Settings
    from skd.graph_schema.connect import connect, embedded_server
    from skd.graph_schema.records import make_triple

    data = Path(tempfile.mkdtemp(prefix=f"skd-bench-load-{backend}-"))
    settings = Settings(data_dir=data, graph_backend=backend)  # type: ignore[arg-type]
    triples = [make_triple(h, r, t, sources=["import"], score=0.5) for h, r, t in rows]
    store = connect(settings)
    store.batch_size = args.batch
    store.clear()
    started = time.perf_counter()
    for i in range(0, len(triples), args.batch):
        store.upsert(triples[i : i + args.batch])
        done = min(i + args.batch, len(triples))
        if done % 50_000 < args.batch:
            rate = done / (time.perf_counter() - started)
            print(f"  {backend}: {done:,} triples, {rate:,.0f}/s", flush=True)
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
    version = store.dialect.version
    store.close()
    if settings.embedded:
        embedded_server(settings).stop()
    shutil.rmtree(data, ignore_errors=True)
    return {
        "backend": backend,
        "version": version,
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
        "aims": {"triples_per_second": 20_000, "lookup_p50_ms": 1.0},
    }


def bulk(args: argparse.Namespace) -> dict[str, object]:
    """A bulk first load of `--bulk-triples` synthetic triples into a fresh local Neo4j, end to end from TSV."""
    from skd.core.settings import Settings
    from skd.graph_schema.connect import embedded_server
    from skd.ingest.bulk import bulk_load

    n = args.bulk_triples
    n_events = max(n // 7 + 1, 1)
    data = Path(tempfile.mkdtemp(prefix="skd-bench-bulk-"))
    tsv = data / "synthetic.tsv"
    with tsv.open("w", encoding="utf-8") as f:
        for h, r, t in synthetic(n, n_events, max(n // 2, 1)):
            f.write(f"{h}\t{r}\t{t}\n")
    settings = Settings(data_dir=data, graph_backend="neo4j")
    embedded_server(settings).start()  # a first start is part of any set-up, not of the load
    started = time.perf_counter()
    report = bulk_load(
        settings, [tsv], progress=lambda what, done, total: print(f"  bulk: {what} {done:,}", flush=True)
    )
    total = time.perf_counter() - started
    embedded_server(settings).stop()
    shutil.rmtree(data, ignore_errors=True)
    return {
        "backend": "neo4j",
        "triples": n,
        "stored_triples": report.triples,
        "events": report.events,
        "inferences": report.inferences,
        "seconds": round(total, 1),
        "phases_seconds": report.seconds,
        "triples_per_second": round(n / total),
        "aims": {"seconds_for_6_5M": 360},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", choices=["arcadedb", "neo4j", "both"], default="both")
    ap.add_argument("--triples", type=int, default=210_000)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--inferences", type=int, default=150_000)
    ap.add_argument("--lookups", type=int, default=1_000)
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--warmup", type=int, default=2_000, help="lookups of other events before timing")
    ap.add_argument("--bulk-triples", type=int, default=0, help="also time a bulk import of this many (6,500,000)")
    args = ap.parse_args()

    load_before = os.getloadavg()
    rows = synthetic(args.triples, args.events, args.inferences)
    backends = ["arcadedb", "neo4j"] if args.backend == "both" else [args.backend]
    results = {b: online(b, args, rows) for b in backends}  # one after the other, never at once
    if args.bulk_triples:
        results["neo4j-bulk"] = bulk(args)
    for name, result in results.items():
        write_result(
            f"load-{name}", {**result, "load_average_before": load_before, "load_average_after": os.getloadavg()}
        )
    if "arcadedb" in results and "neo4j" in results:
        a, n = results["arcadedb"], results["neo4j"]
        print(
            f"neo4j/arcadedb: load {n['triples_per_second'] / a['triples_per_second']:.2f}x, "  # type: ignore[operator]
            f"lookup p50 {n['lookup_p50_ms'] / a['lookup_p50_ms']:.2f}x"  # type: ignore[operator]
        )


if __name__ == "__main__":
    main()
