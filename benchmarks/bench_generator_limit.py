"""The generator against the machine's limit (issue 16, item 1); not a test, run it by hand.

    PYTHONPATH=. python benchmarks/bench_generator_limit.py [--rows 1000000] [--repeats 3]

Six ways of producing one APC year (193 columns, Parquet) from the same made-up released
metadata (``artificial_data_tests.generator_metadata.plausible_metadata``), measured in the
same run, each the median of ``--repeats`` runs, interleaved so that a change in the load of a
shared machine falls on all of them:

  * ``baseline``: the limit of sampling on one core. Independent code: every field that has
    released rows is sampled by its released weights (numpy ``searchsorted`` on cumulative
    weights) into a ``pa.DictionaryArray``; fields with no released rows (identifiers,
    derived) are null columns; no patients, chains or derivations. Written with
    ``pyarrow.parquet.ParquetWriter``, one row group per chunk of the generator's size. A fresh
    process pinned to one CPU.
  * ``sampler``: the project's chunk work in a loop on one CPU (a fresh process): each chunk
    generated (``generate_chunk_from_plan``, text kept dictionary-encoded) and written as its
    own file (``write_chunk_file``), exactly what one Spark task of the artificial asset does.
  * ``Spark floor, task-written files``: Spark ``local[2]`` doing nothing but what the folder
    backend's Spark path adds: one task per chunk writes a pre-built chunk (the generator's own
    chunk 0, read from a memory-mapped Arrow file) with ``write_chunk_file`` and reports one
    small row; the floor of the next job.
  * ``Spark write_table_files``: the artificial asset's path on the folder backend (the
    default): every task generates and writes its chunks' files.
  * ``Spark floor, hand-over``: a pre-built chunk handed to the JVM through ``mapInArrow`` in
    batches of the generator's size, and ``DataFrame.write.parquet`` writes it; the floor of
    the next job.
  * ``Spark generate_table``: the catalog backend's path (``generate_table`` +
    ``DataFrame.write.parquet``, as Spark's writer does for a catalog table).

Every time covers the work only: not the interpreter's start, nor Spark's, nor building the
metadata frame; a warm-up starts both Python workers and runs each Spark job once, small.
Prints the medians, each as a ratio to the baseline (target for the artificial asset's path:
<= 1.0) and each Spark path's ratio to its floor, with the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from artificial_year import write_chunks

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DatasetSpec, load_spec
from artificial_data.common.schema import arrow_type, spark_schema
from artificial_data.generator.engine import (
    DEFAULT_CHUNK_ROWS,
    chunk_bounds,
    generate_chunk_from_plan,
    generate_table,
    generation_seed,
    write_table_files,
)
from artificial_data.generator.engine.chunk import plan_for
from artificial_data.generator.engine.spark_generate import (
    BATCH_ROWS,
    row_unique_columns,
    write_chunk_file,
)
from artificial_data_tests.generator_metadata import plausible_metadata

YEAR = "2122"
WARM_UP_ROWS = 20_000
FILES_FLOOR = "Spark floor, task-written files (local[2])"
FILES_PATH = "Spark write_table_files (folder backend, local[2])"
FRAME_FLOOR = "Spark floor, hand-over to Spark's writer"
FRAME_PATH = "Spark generate_table (catalog backend)"


# ---------------------------------------------------------------------------------------------
# The one-core baseline: independent of the engine's code on purpose
# ---------------------------------------------------------------------------------------------


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def released_values(rows: pd.DataFrame) -> tuple[list, np.ndarray]:
    """(values, weights) of one field's released rows, whatever their value type; a missing
    value stands for null."""
    weights: dict = {}
    for r in rows.itertuples(index=False):
        kind = r.VALUE_TYPE
        if kind == mc.CATEGORICAL or kind == mc.DEMOGRAPHIC_DATE:
            pairs = [(r.VALUE_STRING, r.WEIGHT)]
        elif kind == mc.DISCRETE:
            pairs = [(r.VALUE_NUMERIC, r.WEIGHT)]
        elif kind == mc.DATE:
            value = r.VALUE_DATE if not _missing(r.VALUE_DATE) else r.VALUE_STRING
            pairs = [(value, r.WEIGHT)]
        elif kind == mc.DEMOGRAPHIC_CATEGORICAL:
            pairs = [
                (v, r.WEIGHT * s) for v, s in zip(r.VALUE_STRING_ARRAY, r.WEIGHT_ARRAY, strict=True)
            ]
        elif kind == mc.CONTINUOUS:  # the released percentile points, by their bin's mass
            probs = np.diff(np.concatenate([[0.0], r.WEIGHT_ARRAY, [1.0]]))
            points = list(r.VALUE_NUMERIC_ARRAY)
            pairs = list(zip([*points, points[-1]], probs, strict=True))
        else:  # RELATIONSHIP, IDENTIFIER_NULLS: no column values
            continue
        for value, weight in pairs:
            key = None if _missing(value) else value
            weights[key] = weights.get(key, 0.0) + float(weight)
    values = list(weights)
    return values, np.array([weights[v] for v in values], dtype=np.float64)


class FieldDraw:
    """One field's dictionary (its non-null values, in the field's Arrow type) and the
    cumulative weights of those values followed by null's."""

    def __init__(self, values: list, weights: np.ndarray, target: pa.DataType) -> None:
        non_null = [i for i, v in enumerate(values) if v is not None]
        null_weight = sum(w for v, w in zip(values, weights, strict=True) if v is None)
        dictionary = pa.array([values[i] for i in non_null])
        # Where the released type does not cast, keep it: the baseline does no conversions.
        with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            dictionary = dictionary.cast(target)
        self.dictionary = dictionary
        self.null_code = len(non_null)
        cum = np.cumsum(np.append(weights[non_null], null_weight))
        self.cum = cum / cum[-1]

    def draw(self, rng: np.random.Generator, n: int) -> pa.DictionaryArray:
        codes = np.searchsorted(self.cum, rng.random(n), side="right")
        codes = np.minimum(codes, self.null_code).astype(np.int32)
        mask = codes == self.null_code
        return pa.DictionaryArray.from_arrays(
            pa.array(codes, mask=mask if mask.any() else None), self.dictionary
        )


def baseline_draws(metadata: pd.DataFrame, spec: DatasetSpec) -> dict[str, FieldDraw]:
    by_field = dict(tuple(metadata.groupby("FIELD_NAME", sort=False)))
    draws = {}
    for f in spec.fields:
        if f.name in by_field:
            values, weights = released_values(by_field[f.name])
            if len(values):
                draws[f.name] = FieldDraw(values, weights, arrow_type(f.spark_type))
    return draws


def baseline_chunk(
    spec: DatasetSpec, draws: dict[str, FieldDraw], seed: int, index: int, n: int
) -> pa.Table:
    columns = {}
    for f in spec.fields:
        draw = draws.get(f.name)
        if draw is None:
            columns[f.name] = pa.nulls(n, type=arrow_type(f.spark_type))
        else:
            columns[f.name] = draw.draw(np.random.default_rng([seed, index, f.position]), n)
    return pa.table(columns)


def run_baseline(metadata, spec, rows, seed, out: Path) -> None:
    draws = baseline_draws(metadata, spec)
    write_chunks(
        out,
        (
            baseline_chunk(spec, draws, seed, index, size)
            for index, _, size in chunk_bounds(rows, DEFAULT_CHUNK_ROWS)
        ),
    )


def run_sampler(metadata, spec, rows, seed, out: Path) -> None:
    plan = plan_for(metadata, spec, YEAR)
    out.mkdir()
    for index, first, size in chunk_bounds(rows, DEFAULT_CHUNK_ROWS):
        chunk = generate_chunk_from_plan(plan, index, size, seed, first, keep_dictionaries=True)
        write_chunk_file(str(out), index, chunk, row_unique_columns(spec))


IN_PROCESS: dict[str, Callable] = {"baseline": run_baseline, "sampler": run_sampler}


def in_fresh_process(kind: str, rows: int, out: Path) -> float:
    """Seconds of one in-process run in a new Python process pinned to one CPU."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--rows", str(rows), "--out", str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    if out.is_dir():
        shutil.rmtree(out)
    out.unlink(missing_ok=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


# ---------------------------------------------------------------------------------------------
# Spark: the floor and the real path
# ---------------------------------------------------------------------------------------------


def floor_frame(spark, spec: DatasetSpec, chunk_file: Path, rows: int):
    """Spark handing a pre-built chunk through ``mapInArrow`` once per chunk of ``rows``."""
    bounds = chunk_bounds(rows, DEFAULT_CHUNK_ROWS)
    path = str(chunk_file)

    def hand_over(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with pa.memory_map(path) as source:
            chunk = pa.ipc.open_file(source).read_all()
            for batch in batches:
                for index in batch.column(0).to_pylist():
                    size = bounds[index][2]
                    yield from chunk.slice(0, size).to_batches(max_chunksize=BATCH_ROWS)

    ids = spark.range(0, len(bounds), 1, max(1, len(bounds)))
    return ids.mapInArrow(hand_over, spark_schema(spec))


def files_floor(spark, spec: DatasetSpec, chunk_file: Path, rows: int, out: Path) -> float:
    """Seconds of Spark tasks writing a pre-built chunk once per chunk of ``rows`` as files."""
    bounds = chunk_bounds(rows, DEFAULT_CHUNK_ROWS)
    path, target = str(chunk_file), str(out)
    unique = row_unique_columns(spec)

    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        with pa.memory_map(path) as source:
            chunk = pa.ipc.open_file(source).read_all()
            for batch in batches:
                for index in batch.column(0).to_pylist():
                    size = bounds[index][2]
                    written = write_chunk_file(target, index, chunk.slice(0, size), unique)
                    yield pa.RecordBatch.from_pydict({"chunk": [index], "bytes": [written]})

    start = time.perf_counter()
    out.mkdir()
    ids = spark.range(0, len(bounds), 1, max(1, len(bounds)))
    ids.mapInArrow(write, "chunk long, bytes long").collect()
    elapsed = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def timed_files(spark, metadata, spec, rows, seed, out: Path) -> float:
    start = time.perf_counter()
    write_table_files(spark, metadata, spec, YEAR, rows, seed, out)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def timed_write(frame, out: Path) -> float:
    start = time.perf_counter()
    frame.write.parquet(str(out))
    elapsed = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=sorted(IN_PROCESS), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    spec = load_spec("hes_apc")
    metadata = plausible_metadata(spec, YEAR)
    seed = generation_seed("benchmark", spec.dataset, YEAR)
    if args.child:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        start = time.perf_counter()
        IN_PROCESS[args.child](metadata, spec, args.rows, seed, args.out)
        print(json.dumps({"seconds": time.perf_counter() - start}))
        return

    from artificial_data.common.spark import get_spark

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench_generator_limit_"))
    try:
        chunk_file, encoded_file = work / "chunk.arrow", work / "chunk_encoded.arrow"
        size = min(DEFAULT_CHUNK_ROWS, args.rows)
        for keep, target in ((False, chunk_file), (True, encoded_file)):
            chunk = generate_chunk_from_plan(
                plan_for(metadata, spec, YEAR), 0, size, seed, 0, keep_dictionaries=keep
            )
            with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_file(sink, chunk.schema) as w:
                w.write_table(chunk)
        del chunk
        spark = get_spark()
        jobs: dict[str, Callable[[int, Path], float]] = {
            "baseline (numpy dictionary columns, 1 core)": lambda rows, out: in_fresh_process(
                "baseline", rows, out
            ),
            "sampler (chunk + file loop, 1 core)": lambda rows, out: in_fresh_process(
                "sampler", rows, out
            ),
            FILES_FLOOR: lambda rows, out: files_floor(spark, spec, encoded_file, rows, out),
            FILES_PATH: lambda rows, out: timed_files(spark, metadata, spec, rows, seed, out),
            FRAME_FLOOR: lambda rows, out: timed_write(
                floor_frame(spark, spec, chunk_file, rows), out
            ),
            FRAME_PATH: lambda rows, out: timed_write(
                generate_table(spark, metadata, spec, YEAR, rows, seed), out
            ),
        }
        spark_jobs = [name for name in jobs if name.startswith("Spark")]
        # Two small chunks at once: both of local[2]'s Python workers start before timing.
        write_table_files(spark, metadata, spec, YEAR, 2 * 10_000, seed, work / "w", 10_000)
        shutil.rmtree(work / "w")
        for name in spark_jobs:  # and each job's code path runs once
            jobs[name](WARM_UP_ROWS, work / "warm_up")
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for repeat in range(args.repeats):
            for name, job in jobs.items():
                times[name].append(job(args.rows, work / f"out_{repeat}"))
                print(f"  run {repeat + 1}: {name}: {times[name][-1]:.2f} s", flush=True)
        load_after = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    median = {name: statistics.median(t) for name, t in times.items()}
    base = median[next(iter(jobs))]
    floors = {FILES_PATH: median[FILES_FLOOR], FRAME_PATH: median[FRAME_FLOOR]}
    print(
        f"\nAPC, {args.rows:,} rows x {len(spec.fields)} columns -> Parquet; median of "
        f"{args.repeats}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f"  {'':50s} {'median':>9s} {'rows/s':>10s} {'/ baseline':>11s} {'/ floor':>8s}")
    for name, m in median.items():
        to_floor = f"{m / floors[name]:8.2f}" if name in floors else " " * 8
        spread = ", ".join(f"{t:.1f}" for t in times[name])
        print(
            f"  {name:50s} {m:7.2f} s {args.rows / m:10,.0f} {m / base:11.2f} {to_floor}"
            f"  ({spread})"
        )
    spark_ratio = median[FILES_PATH] / base
    verdict = "met" if spark_ratio <= 1.0 else "not met"
    print(
        f"target: the artificial asset's path <= 1.0x the baseline: {spark_ratio:.2f}x, {verdict}"
    )


if __name__ == "__main__":
    main()
