"""False alarms of the automated disclosure review on realistic (simulated) data (issue 11).

The checks must stop identifying values without crying wolf on ordinary HES: a reviewer who
sees blocking findings on every scrape learns to ignore them. This script simulates raw data
for every dataset, scrapes it on local Spark exactly as the scraper location does, runs every
automated check and prints the blocking findings per check. On simulated data every finding is
a false positive (the simulator plants nothing identifying), so the goal is 0.

    python benchmarks/disclosure_false_positives.py [--rows 100000] [--seed 20260401]

Not a timing benchmark (so not named ``bench_*``): it prints counts, not ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20260401)
    parser.add_argument("--year", default="2223")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from artificial_data.common.dataset_spec import load_all_specs
    from artificial_data.common.disclosure_checks import CHECKS, review_metadata
    from artificial_data.common.spark import get_spark
    from artificial_data.common.stores import RAW, ScopedStores
    from artificial_data.scraper.scrape import read_source, scrape
    from artificial_data.simulator import write_raw_partition

    spark = get_spark("local[2]", app_name="disclosure_false_positives")
    total = 0
    with tempfile.TemporaryDirectory() as home:
        stores = ScopedStores.for_location("scraper", Path(home), simulated_raw=True)
        print(f"rows={args.rows:,} seed={args.seed} year={args.year}")
        print(f"{'dataset':8s} {'metadata rows':>13s} " + " ".join(f"{c:>15s}" for c in CHECKS))
        for spec in load_all_specs():
            write_raw_partition(stores, spec, args.year, rows=args.rows, seed=args.seed)
            path = str(stores.partition_path(RAW, spec.dataset, args.year))
            result = scrape(read_source(spark, spec, args.year, path), spec, args.year, True)
            started = time.perf_counter()
            findings = review_metadata(result.rows, spec)
            took = time.perf_counter() - started
            counts = {name: sum(f.blocking for f in found) for name, found in findings.items()}
            total += sum(counts.values())
            print(
                f"{spec.dataset:8s} {len(result.rows):>13,} "
                + " ".join(f"{counts[c]:>15d}" for c in CHECKS)
                + f"   (checks took {took:.1f} s)"
            )
            for found in findings.values():
                for f in found[:5]:
                    print(f"    {f.public_line()}")
    spark.stop()
    print(f"false positives in total: {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
