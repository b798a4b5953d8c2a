"""Benchmark of QA of one artificial partition (not a test; run it by hand).

    PYTHONPATH=. python benchmarks/bench_qa.py [--rows 200000] [--small 50000] [--repeats 1]

Makes an artificial APC year (all 193 columns) at two sizes with the generator's own chunk
sampler on made-up released metadata (``artificial_data_tests.generator_metadata``), written as
Parquet in row groups of one chunk, the way an artificial partition looks on disk. Then, each
in a fresh child process so that its peak resident memory is its own (its ``VmHWM``), and in
turn so that machine drift hits them alike:
  * the baseline: ``pyarrow.parquet.read_table`` of the year and ``pyarrow.compute``'s
    ``value_counts`` of every column (the least a whole-table QA can cost);
  * old: the whole-table QA, ``run_qa`` of the year read as one Arrow table (what the
    ``<ds>/qa`` step did before issue 16);
  * one thread: the streamed QA with ``streamed.QA_THREADS`` off, all in the calling thread
    (the step until session 14);
  * new: the streamed QA, ``run_qa_rows`` of the year's Parquet files (the step now: the next
    batch read ahead and the row rules run on helper threads).
Prints medians over the repeats of time and peak RSS, the ratios to the baseline, and the peak
RSS at the large size over the small one (flat in rows means close to 1). Other jobs may share
the machine: compare the ratios.
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

MODES = ("baseline", "old", "one thread", "new")


def child(mode: str, source: Path, metadata_path: Path) -> dict:
    import pandas as pd
    import pyarrow.compute as pc

    from artificial_data.common.dataset_spec import load_spec
    from artificial_data.common.table_rows import ParquetRows
    from artificial_data.generator.qa import run_qa, run_qa_rows

    spec = load_spec(DATASET)
    metadata = pd.read_pickle(metadata_path)
    start = time.perf_counter()
    passed = None
    if mode == "baseline":
        table = pq.read_table(source)
        for column in table.columns:
            pc.value_counts(column)
    elif mode == "old":
        passed = run_qa(pq.read_table(source), metadata, spec, YEAR).passed
    else:
        from artificial_data.generator.qa import streamed

        streamed.QA_THREADS = mode == "new"
        passed = run_qa_rows(ParquetRows([source], buffered=False), metadata, spec, YEAR).passed
    return {"seconds": time.perf_counter() - start, "passed": passed, "peak_mb": peak_mb()}


def run_child(mode: str, source: Path, metadata_path: Path) -> tuple[dict, float]:
    """(the child's JSON result, its peak RSS in MB)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, __file__, "--child", mode, "--source", str(source)]
    done = subprocess.run(
        [*command, "--metadata", str(metadata_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, result["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--small", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--modes", nargs="+", choices=MODES, default=list(MODES), help="baseline always runs"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--metadata", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.source, args.metadata)))
        return

    work = Path(tempfile.mkdtemp(prefix="bench_qa_"))
    peaks = {}
    try:
        for rows in (args.small, args.rows):
            folder = work / "artificial" / DATASET / YEAR / f"rows{rows}"
            source, metadata_path = folder / "part-00000.parquet", work / "metadata.pkl"
            make_year(rows, source).to_pickle(metadata_path)
            modes = [m for m in MODES if m == "baseline" or m in args.modes]
            runs = {m: [] for m in modes}
            for _ in range(args.repeats):
                for mode in modes:
                    runs[mode].append(run_child(mode, source, metadata_path))
            med = {
                m: (
                    statistics.median(r[0]["seconds"] for r in rs),
                    statistics.median(r[1] for r in rs),
                    rs[0][0]["passed"],
                )
                for m, rs in runs.items()
            }
            peaks[rows] = {m: v[1] for m, v in med.items()}
            base_s, base_mb, _ = med["baseline"]
            print(f"\nAPC {rows:,} rows x 193 columns, median of {args.repeats}")
            for mode, (seconds, peak, passed) in med.items():
                verdict = "" if passed is None else f"  QA passed: {passed}"
                print(
                    f"  {mode:10s}: {seconds:7.2f} s ({seconds / base_s:5.2f}x baseline)  "
                    f"peak RSS {peak:6.0f} MB ({peak / base_mb:4.2f}x baseline){verdict}"
                )
            if {"one thread", "new"} <= set(med):
                print(f"  new / one thread: {med['new'][0] / med['one thread'][0]:.2f} (time)")
            shutil.rmtree(folder, ignore_errors=True)
        small, large = args.small, args.rows
        for mode in modes:
            print(
                f"peak RSS {mode}: {large / small:g}x rows -> "
                f"{peaks[large][mode] / peaks[small][mode]:.2f}x memory"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
