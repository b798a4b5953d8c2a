"""Benchmark of the artificial HES generator (not a test; run it by hand).

    PYTHONPATH=. python benchmarks/bench_generator.py [--rows 1000000] [--small 100000]

Generates an APC year (all 193 columns, written as Parquet) from made-up released metadata
(``artificial_data_tests.generator_metadata``) at two sizes, and in the same run:
  * with ``generate_table`` on local Spark (``common.spark.get_spark()``; session start-up and
    one small warm-up run excluded), written with ``DataFrame.write.parquet``: the catalog
    backend's path. The folder backend (the default) has its tasks write their files
    (``write_table_files``); ``bench_generator_limit.py`` times both against their floors;
  * with the baseline: one plain Python process looping ``generate_chunk`` and writing each
    chunk with ``pyarrow.parquet.ParquetWriter`` (the same sampling, no Spark).
Prints both times, the Spark/baseline ratio (target <= 3), rows/s, the scaling ratio between
the two sizes (target: 10x rows in <= 11x time) and memory: the peak resident memory of the
Python driver and of the JVM during each run (sampled from /proc) and the JVM heap in use
after a full GC (target: flat in rows). The baseline runs in a child process so that its
memory does not blur the driver's figures.
Other jobs may share the machine: compare the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from artificial_year import write_chunks

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.spark import get_spark
from artificial_data.generator.engine import (
    DEFAULT_CHUNK_ROWS,
    chunk_bounds,
    generate_chunk,
    generate_table,
    generation_seed,
)
from artificial_data_tests.generator_metadata import plausible_metadata

YEAR = "2122"


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MB (0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class PeakMemory:
    """Samples the RSS of the Python driver and the JVM every 50 ms while a run lasts."""

    def __init__(self, jvm_pid: int | None) -> None:
        self.jvm_pid = jvm_pid
        self.driver = 0.0
        self.jvm = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.driver = max(self.driver, rss_mb())
            if self.jvm_pid:
                self.jvm = max(self.jvm, rss_mb(self.jvm_pid))
            self._stop.wait(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def jvm_pid(spark) -> int | None:
    try:
        return int(spark.sparkContext._jvm.ProcessHandle.current().pid())
    except Exception:
        return None


def run_spark(spark, metadata, spec, rows, seed, out: Path) -> tuple[float, PeakMemory]:
    with PeakMemory(jvm_pid(spark)) as peak:
        start = time.perf_counter()
        df = generate_table(spark, metadata, spec, YEAR, rows, seed, DEFAULT_CHUNK_ROWS)
        df.write.mode("overwrite").parquet(str(out))
        elapsed = time.perf_counter() - start
    return elapsed, peak


def run_baseline(metadata, spec, rows, seed, out: Path) -> tuple[float, PeakMemory]:
    with PeakMemory(None) as peak:
        start = time.perf_counter()
        write_chunks(
            out,
            (
                generate_chunk(metadata, spec, YEAR, index, size, seed, first)
                for index, first, size in chunk_bounds(rows, DEFAULT_CHUNK_ROWS)
            ),
        )
        elapsed = time.perf_counter() - start
    return elapsed, peak


def jvm_heap_after_gc_mb(spark) -> float:
    jvm = spark.sparkContext._jvm
    jvm.java.lang.System.gc()
    runtime = jvm.java.lang.Runtime.getRuntime()
    return (runtime.totalMemory() - runtime.freeMemory()) / 2**20


def baseline_in_child(rows: int, out: Path) -> tuple[float, float]:
    """(seconds, peak RSS MB) of the baseline run in a fresh Python process."""
    done = subprocess.run(
        [sys.executable, __file__, "--baseline-only", str(rows), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["seconds"], result["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--baseline-only", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    spec = load_spec("hes_apc")
    metadata = plausible_metadata(spec, YEAR)
    seed = generation_seed("benchmark", spec.dataset, YEAR)
    if args.baseline_only is not None:
        seconds, peak = run_baseline(metadata, spec, args.baseline_only, seed, args.out)
        print(json.dumps({"seconds": seconds, "peak_mb": peak.driver}))
        return
    spark = get_spark()
    work = Path(tempfile.mkdtemp(prefix="bench_generator_"))
    try:
        run_spark(spark, metadata, spec, 20_000, seed, work / "warmup")  # start Python workers
        results = {}
        for rows in (args.small, args.rows):
            base_t, base_peak = baseline_in_child(rows, work / f"base_{rows}.pq")
            spark_t, spark_mem = run_spark(spark, metadata, spec, rows, seed, work / f"sp_{rows}")
            heap = jvm_heap_after_gc_mb(spark)
            results[rows] = (base_t, spark_t)
            print(f"\nAPC, {rows:,} rows x {len(spec.fields)} columns -> Parquet")
            print(
                f"  baseline (numpy+pyarrow, 1 process): {base_t:7.2f} s "
                f"{rows / base_t:10,.0f} rows/s  peak RSS {base_peak:6.0f} MB"
            )
            print(
                f"  Spark generate_table (local[2])    : {spark_t:7.2f} s "
                f"{rows / spark_t:10,.0f} rows/s  peak RSS driver {spark_mem.driver:6.0f} MB, "
                f"JVM {spark_mem.jvm:6.0f} MB; JVM heap after GC {heap:5.0f} MB"
            )
            print(f"  ratio Spark / baseline: {spark_t / base_t:5.2f}  (target <= 3)")
        small, large = args.small, args.rows
        factor = large / small
        for i, name in enumerate(("baseline", "Spark")):
            scale = results[large][i] / results[small][i]
            print(
                f"scaling {name}: {factor:.0f}x rows -> {scale:.2f}x time (target <= "
                f"{factor * 1.1:.0f}x)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
