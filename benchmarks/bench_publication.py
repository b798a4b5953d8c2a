"""Benchmark of publication (not a test; run it by hand).

    PYTHONPATH=. python benchmarks/bench_publication.py [--rows 1000000] [--small 100000]
        [--repeats 3]

Makes an artificial APC year (all 193 columns) at two sizes with the generator's own chunk
sampler on made-up released metadata (``artificial_data_tests.generator_metadata``), written as
Parquet in row groups of one chunk, the way an artificial partition looks on disk. Then, each
in a fresh child process so that its peak resident memory is its own (its ``VmHWM``; a child's
``ru_maxrss`` would start at the parent's RSS when it forked), and in turn so that machine
drift hits both alike:
  * the baseline: ``pyarrow.parquet.read_table`` of the year and ``pyarrow.csv.write_csv`` of
    it (the least a CSV export of the table can cost, whole table in memory);
  * publication: ``publish_release`` (the step function of ``<ds>/published``, without
    Dagster) into a fresh published store: the year's CSV formatted and hashed, its Parquet
    copy, the documents and the zip, from the artificial Parquet files.
Prints medians over the repeats of time, rows/s of the published CSV, peak RSS, and the ratios
publication / baseline; then the peak RSS at the large size over the small one (flat in rows
means close to 1). Other jobs may share the machine: compare the ratios.

    PYTHONPATH=. python benchmarks/bench_publication.py --series 3 [--rows 1000000]

instead publishes a series of releases into one published store, as a dataset's year-by-year
runs do: v1 holds the first year of the spec, v2 the first two, ... (each year the same
``--rows`` artificial rows). Each version is timed in one child, with years carried over from
the previous release (``publish/carry.py``, what publication does) and, in another child, with
carrying switched off (every year formatted and deflated again, as before). Prints the median
seconds of each version, and each as a ratio to the baseline above (one year's
``read_table`` + ``write_csv``) measured in the same run: carried, the k-th version should
cost about the first; not carried, about k times the first.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from artificial_year import DATASET, YEAR, make_year, peak_mb

from artificial_data.common.dataset_spec import load_spec


def child_baseline(source: Path, out: Path) -> dict:
    import pyarrow.csv as pcsv

    start = time.perf_counter()
    table = pq.read_table(source)
    pcsv.write_csv(table, out / "baseline.csv")
    return {
        "seconds": time.perf_counter() - start,
        "csv_bytes": (out / "baseline.csv").stat().st_size,
        "peak_mb": peak_mb(),
    }


def _publish(scoped, spec, years: dict):
    """``publish_release`` of ``years`` (financial year -> rows) with made-up provenance."""
    from artificial_data.generator.publish import releases

    provenance = {y: {"metadata_content_hash": "ab" * 32, "seed": 1} for y in years}
    return releases.publish_release(
        scoped,
        spec,
        years,
        provenance,
        kind="sample",
        release_month="202405",
        recorded_at="2024-05-01T00:00:00+00:00",
        release_info={"years": provenance},
    )


def child_publish(source: Path, out: Path) -> dict:
    from artificial_data.common.stores import ScopedStores

    spec = load_spec(DATASET)
    scoped = ScopedStores.for_location("generator", out / "home", catalog=None)
    start = time.perf_counter()
    try:  # the streamed reader (after issue 16 item 3)
        from artificial_data.generator.publish.year_rows import ParquetRows

        years = {YEAR: ParquetRows([source])}
    except ImportError:  # before: the whole year as one Arrow table
        years = {YEAR: pq.read_table(source)}
    outcome = _publish(scoped, spec, years)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "zip_bytes": outcome.zip_path.stat().st_size, "peak_mb": peak_mb()}


def child_series(source: Path, out: Path, carry: bool, years: int) -> dict:
    """Publish v1..v<years> (the first k years of the spec in version k) into one store."""
    from artificial_data.common.stores import ScopedStores
    from artificial_data.generator.publish import releases
    from artificial_data.generator.publish.carry import CarryPlan
    from artificial_data.generator.publish.year_rows import ParquetRows

    if not carry:  # every year formatted and deflated again, as before session 13
        releases.plan_carry = lambda *_: CarryPlan()
    spec = load_spec(DATASET)
    scoped = ScopedStores.for_location("generator", out / "home", catalog=None)
    seconds, carried = [], []
    for k in range(1, years + 1):
        start = time.perf_counter()
        outcome = _publish(
            scoped, spec, {y: ParquetRows([source]) for y in spec.financial_years[:k]}
        )
        seconds.append(time.perf_counter() - start)
        carried.append(len(outcome.carried))
    return {"seconds": seconds, "carried": carried, "peak_mb": peak_mb()}


def series(args, work: Path) -> None:
    """``--series``: a dataset's releases year by year, carried against not carried."""
    source = work / "artificial" / DATASET / YEAR / "part-00000.parquet"
    make_year(args.rows, source)
    runs: dict[str, list[dict]] = {"baseline": [], "carried": [], "not carried": []}
    for i in range(args.repeats):
        runs["baseline"].append(run_child("baseline", source, work / f"baseline-{i}")[0])
        for mode in ("carried", "not carried"):
            extra = ["--carry", "yes" if mode == "carried" else "no", "--series", str(args.series)]
            runs[mode].append(run_child("series", source, work / f"{i}-{mode}", extra)[0])
    base = statistics.median(r["seconds"] for r in runs["baseline"])
    print(f"\nAPC {args.rows:,} rows per year, median of {args.repeats}; baseline {base:.2f} s")
    for mode in ("carried", "not carried"):
        per = [statistics.median(r["seconds"][k] for r in runs[mode]) for k in range(args.series)]
        copied = runs[mode][0]["carried"]
        cells = "  ".join(
            f"v{k + 1} ({copied[k]} carried) {s:6.2f} s = {s / base:5.2f}x"
            for k, s in enumerate(per)
        )
        print(f"  {mode:11s}: {cells}; v{args.series} / v1 {per[-1] / per[0]:.2f}")


def run_child(
    mode: str, source: Path, out: Path, extra: list[str] | None = None
) -> tuple[dict, float]:
    """(the child's JSON result, its peak RSS in MB)."""
    out.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--source",
            str(source),
            "--out",
            str(out),
            *(extra or []),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        check=True,
    )
    shutil.rmtree(out, ignore_errors=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, result["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--series", type=int, default=0, help="releases of 1..N years")
    parser.add_argument("--carry", default="yes", help=argparse.SUPPRESS)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child == "series":
            result = child_series(args.source, args.out, args.carry == "yes", args.series)
        else:
            run = {"baseline": child_baseline, "publish": child_publish}[args.child]
            result = run(args.source, args.out)
        print(json.dumps(result))
        return

    work = Path(tempfile.mkdtemp(prefix="bench_publication_"))
    peaks = {}
    if args.series:
        try:
            series(args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    try:
        for rows in (args.small, args.rows):
            source = work / "artificial" / DATASET / YEAR / f"rows{rows}" / "part-00000.parquet"
            make_year(rows, source)
            runs = {"baseline": [], "publish": []}
            for i in range(args.repeats):
                for mode in runs:
                    runs[mode].append(run_child(mode, source, work / f"{mode}-{rows}-{i}"))
            med = {
                m: (
                    statistics.median(r[0]["seconds"] for r in rs),
                    statistics.median(r[1] for r in rs),
                )
                for m, rs in runs.items()
            }
            peaks[rows] = {m: v[1] for m, v in med.items()}
            print(f"\nAPC {rows:,} rows x 193 columns, median of {args.repeats}")
            for mode, (seconds, peak) in med.items():
                print(
                    f"  {mode:9s}: {seconds:7.2f} s {rows / seconds:9,.0f} rows/s  "
                    f"peak RSS {peak:6.0f} MB"
                )
            print(
                f"  ratio publish / baseline: time {med['publish'][0] / med['baseline'][0]:.2f}"
                f", peak RSS {med['publish'][1] / med['baseline'][1]:.2f}"
            )
            shutil.rmtree(source.parent, ignore_errors=True)
        small, large = args.small, args.rows
        for mode in ("baseline", "publish"):
            print(
                f"peak RSS {mode}: {large // small}x rows -> "
                f"{peaks[large][mode] / peaks[small][mode]:.2f}x memory"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
