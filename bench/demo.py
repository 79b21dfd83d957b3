"""Time `skd demo --no-serve` as a new user meets it: a fresh data folder (SmolLM2 converted, the embedded
graph started), wall and CPU time overall and per stage, and the machine's load while it ran.

    python bench/demo.py [--keep-models]

`--keep-models` reuses converted weights from the usual cache (skips the one-time SmolLM2 conversion).
The aim is under 15 minutes of wall time on 2 cores; on a shared machine the CPU time is the steadier
figure (an otherwise idle 2-core machine needs at most that much wall time, about half with 2 threads).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import write_result

AIM_S = 15 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep-models", action="store_true", help="reuse converted model weights")
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="skd-bench-demo-"))
    env = {**os.environ, "SKD_DATA_DIR": str(data)}
    env.pop("SKD_GRAPH_URI", None)
    if args.keep_models:
        env.setdefault("SKD_MODEL_CACHE_DIR", str(Path.home() / ".cache" / "skd" / "models"))
    else:
        env.pop("SKD_MODEL_CACHE_DIR", None)
    load_before = os.getloadavg()
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "skd.cli", "demo", "--no-serve"], env=env, capture_output=True, text=True
    )
    wall = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # the embedded server outlives the demo (a running one is reused); this one's data folder is a throw-away
    subprocess.run([sys.executable, "-m", "skd.cli", "db", "stop"], env=env, capture_output=True, timeout=120)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"skd demo failed with exit code {proc.returncode}")
    report = json.loads((data / "runs" / "demo" / "report.json").read_text())
    stages = {s["name"]: {"seconds": s["seconds"], "cpu_seconds": s["cpu_seconds"]} for s in report["stages"]}
    evaluation = report["counts"].get("evaluate", {}).get("systems", {})
    write_result(
        "demo",
        {
            "wall_s": round(wall, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "aim_wall_s": AIM_S,
            "meets_aim": wall < AIM_S,
            "converted_smollm2": not args.keep_models,
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "stages": stages,
            "accepted": report["acceptance"]["accepted"],
            "generated": report["acceptance"]["total"],
            "evaluation": {
                s: {k: row.get(k) for k in ("bleu1", "rougeL", "critic_accepted")} for s, row in evaluation.items()
            },
        },
    )


if __name__ == "__main__":
    main()
