"""Fidelity of artificial HES per dataset and size (not a test; run it by hand).

    PYTHONPATH=. python benchmarks/qa_fidelity.py [--datasets hes_apc hes_ae]
        [--sizes 10000 100000 1000000] [--raw-rows 200000] [--year 2223] [--seed 20260401]

For each dataset: simulate a raw year (``--raw-rows``), scrape it on local Spark, take the
suppressed metadata as released as it is (no human review: this measures the generator), then
for each size generate that many rows with the engine (``generate_chunk`` chunk by chunk, the
same rows ``generate_table`` gives on Spark) and run QA. It prints, per dataset and size:
  * the blocking QA checks that failed, and the **fields over threshold** (fields whose
    distance is beyond the blocking limit; in brackets those only above the noise threshold);
  * the realism measures of issue 13, artificial against raw: median of each duration, share
    of 0-day durations, share of each date in January-March, durations filled where one of
    their dates is empty, rows with a gap in a positional code group, patients with mixed
    patient-level values (and among multi-episode patients), rows born after the date an age
    is measured at, share of episodes of patients with more than k episodes, fill rate of
    identifiers that may be null (AE EPIKEY), and the strongest field-pair association.
The last line per dataset is a Markdown table row set for ``docs/qa_and_publication.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from artificial_data.common.dataset_spec import DatasetSpec, load_spec
from artificial_data.generator.engine import (
    DEFAULT_CHUNK_ROWS,
    chunk_bounds,
    generate_chunk,
    generation_seed,
)
from artificial_data.generator.qa import run_qa
from artificial_data.generator.qa.realism import measures

# ----------------------------------------------------------------------------- pipeline


def generate(metadata, spec: DatasetSpec, year: str, rows: int, seed: int) -> pa.Table:
    parts = []
    for index, first, size in chunk_bounds(rows, DEFAULT_CHUNK_ROWS):
        parts.append(generate_chunk(metadata, spec, year, index, size, seed, first))
    return pa.concat_tables(parts)


def over_threshold(result) -> tuple[list[str], list[str]]:
    failed, warned = [], []
    for name in ("field_distributions", "date_distributions"):
        metrics = result.check(name).metrics
        failed += metrics["failed"]
        warned += metrics["above_noise_threshold"]
    return failed, warned


def _fmt(value: float, key: str) -> str:
    if key.startswith("median"):
        return f"{value:g}"
    return f"{100 * value:.1f}%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["hes_apc", "hes_op", "hes_ae"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--raw-rows", type=int, default=200_000)
    parser.add_argument("--year", default="2223")
    parser.add_argument("--seed", type=int, default=20260401)
    args = parser.parse_args()

    from artificial_data.common.spark import get_spark
    from artificial_data.common.stores import RAW, ScopedStores
    from artificial_data.scraper.scrape import read_source, scrape
    from artificial_data.simulator import write_raw_partition

    spark = get_spark("local[2]", app_name="qa_fidelity")
    with tempfile.TemporaryDirectory() as home:
        stores = ScopedStores.for_location("scraper", Path(home), simulated_raw=True)
        for dataset in args.datasets:
            spec = load_spec(dataset)
            started = time.perf_counter()
            write_raw_partition(stores, spec, args.year, rows=args.raw_rows, seed=args.seed)
            path = stores.partition_path(RAW, spec.dataset, args.year)
            metadata = scrape(read_source(spark, spec, args.year, str(path)), spec, args.year, True)
            raw = measures(pq.read_table(path), spec)
            print(
                f"\n## {dataset} {args.year}: raw {args.raw_rows:,} rows, "
                f"{len(metadata.rows):,} metadata rows ({time.perf_counter() - started:.0f} s)"
            )
            seed = generation_seed(metadata.content_hash, spec.dataset, args.year, 0)
            over: dict[int, int] = {}
            columns: dict[int, dict[str, float]] = {}
            for size in args.sizes:
                t0 = time.perf_counter()
                table = generate(metadata.rows, spec, args.year, size, seed)
                t1 = time.perf_counter()
                result = run_qa(
                    table, metadata.rows, spec, args.year, metadata.header.source_rows_rounded
                )
                t2 = time.perf_counter()
                failed, warned = over_threshold(result)
                independence = result.check("field_independence").metrics
                closest = next(iter(independence["strongest"].items()), None)
                print(
                    f"\n{size:,} rows (generate {t1 - t0:.1f} s, QA {t2 - t1:.1f} s): "
                    f"blocking failures {[c.name for c in result.blocking_failures]}"
                )
                print(f"  fields over threshold: {len(failed)} {failed} (noise only: {warned})")
                if closest:
                    print(
                        f"  {independence['pairs_checked']} field pairs; strongest {closest[0]} "
                        f"V {closest[1]['cramers_v']:.4f} (limit {closest[1]['limit']:.4f}); "
                        f"failed pairs {list(independence['failed'])[:10]}"
                    )
                for c in result.blocking_failures:
                    print(f"    {c.name}: {c.details[:400]}")
                columns[size] = measures(table, spec)
                over[size] = len(failed)
            print(f"\n  {'measure':50s} {'raw':>10s} " + " ".join(f"{s:>10,}" for s in args.sizes))
            for key, value in raw.items():
                cells = " ".join(
                    f"{_fmt(columns[s].get(key, float('nan')), key):>10s}" for s in args.sizes
                )
                print(f"  {key:50s} {_fmt(value, key):>10s} {cells}")
            print("\n| measure | raw | " + " | ".join(f"{s:,}" for s in args.sizes) + " |")
            print("|---|---:|" + "---:|" * len(args.sizes))
            print(
                "| fields over threshold (goal 0) | - | "
                + " | ".join(str(over[s]) for s in args.sizes)
                + " |"
            )
            for key, value in raw.items():
                cells = " | ".join(_fmt(columns[s].get(key, float("nan")), key) for s in args.sizes)
                print(f"| {key} | {_fmt(value, key)} | {cells} |")
    spark.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
