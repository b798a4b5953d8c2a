"""Benchmark of the stand-in raw HES simulator (DESIGN §4).

Runs the simulator in a fresh subprocess per size (so each peak RSS is its own), writing
Parquet into a temporary raw store, and prints rows/s, peak RSS and the scaling ratio of
10x the rows against the time taken (1.0 = perfectly linear), measured against the smaller
size of the same run.

    python benchmarks/bench_simulator.py [--dataset hes_apc] [--rows 100000] [--factor 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.stores import ScopedStores
from artificial_data.simulator import write_raw_partition
dataset, rows, home = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
spec = load_spec(dataset)
stores = ScopedStores.for_location("scraper", home, simulated_raw=True)
start = time.perf_counter()
info = write_raw_partition(stores, spec, spec.financial_years[-1], rows=rows, seed=1)
seconds = time.perf_counter() - start
size = sum(p.stat().st_size for p in Path(info.path).resolve().iterdir())
print(json.dumps({"rows": info.rows, "patients": info.patients, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "bytes": size}))
"""


def run(dataset: str, rows: int) -> dict:
    with tempfile.TemporaryDirectory() as home:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, dataset, str(rows), home],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", default=None)
    parser.add_argument("--rows", type=int, default=100_000, help="baseline size")
    parser.add_argument("--factor", type=int, default=10, help="larger size = rows * factor")
    args = parser.parse_args()
    for dataset in args.dataset or ["hes_apc"]:
        results = []
        for rows in (args.rows, args.rows * args.factor):
            t0 = time.perf_counter()
            r = run(dataset, rows)
            r["wall_seconds"] = time.perf_counter() - t0
            results.append(r)
            print(
                f"{dataset:8s} rows={r['rows']:>10,d} patients={r['patients']:>9,d} "
                f"time={r['seconds']:7.1f}s rows/s={r['rows'] / r['seconds']:>9,.0f} "
                f"peak_rss={r['peak_rss_mb']:7.0f} MB parquet={r['bytes'] / 1e6:7.1f} MB"
            )
        base, big = results
        slower = big["seconds"] / base["seconds"]
        ratio = slower / args.factor
        print(
            f"{dataset:8s} scaling: {args.factor}x rows took {slower:.1f}x "
            f"the time (ratio to linear {ratio:.2f}; < 1 means fixed costs amortised); "
            f"peak RSS {big['peak_rss_mb'] / base['peak_rss_mb']:.2f}x"
        )


if __name__ == "__main__":
    main()
