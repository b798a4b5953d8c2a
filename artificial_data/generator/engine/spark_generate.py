"""Spark driver for the generator: one Spark row per chunk, chunks generated in the executors.

``spark.range(n_chunks)`` makes one tiny row per chunk and ``mapInArrow`` turns each into a
full Arrow chunk by calling the same pure function as the single-process path. The metadata is
parsed once on the driver (so bad metadata fails before any task starts) and the parsed plan
is broadcast. Chunk boundaries and seeds depend only on the row count and the chunk size, so
the table is the same for any number of partitions.

Two ways out of the executors:

* :func:`generate_table`: a DataFrame whose rows Spark takes from Python (the catalog
  backend: a table written by Spark's own writer, Delta on Databricks).
* :func:`write_table_files`: each task writes its chunks as Parquet files itself, straight
  from the Arrow chunk, and hands Spark only one small row per chunk (its file and row
  count). Handing 193 Arrow columns to the JVM and having Spark re-encode them costs more than
  all the sampling (``benchmarks/bench_generator_limit.py``: the "Spark floor"), so the folder
  backend, whose partitions are folders of Parquet files anyway, uses this one. Sampled text
  columns stay dictionary-encoded from the sampler to the file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.schema import spark_schema
from artificial_data.generator.engine.chunk import (
    DEFAULT_CHUNK_ROWS,
    chunk_bounds,
    generate_chunk_from_plan,
)
from artificial_data.generator.engine.distributions import GenerationPlan, build_plan

#: Rows per Arrow record batch handed back to Spark (bounds executor memory per batch).
BATCH_ROWS = 10_000


def generate_table(
    spark: Any,
    metadata: pd.DataFrame,
    spec: DatasetSpec,
    financial_year: str,
    rows: int,
    seed: int,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Any:
    """A Spark DataFrame of ``rows`` artificial rows with exactly ``spark_schema(spec)``.

    Lazy: nothing is generated until the frame is written or collected.
    """
    return generate_table_partitioned(
        spark, metadata, spec, financial_year, rows, seed, chunk_rows, num_partitions=None
    )


def generate_table_partitioned(
    spark: Any,
    metadata: pd.DataFrame,
    spec: DatasetSpec,
    financial_year: str,
    rows: int,
    seed: int,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    num_partitions: int | None = None,
) -> Any:
    """:func:`generate_table` with an explicit number of Spark partitions (default: one per
    chunk). The result does not depend on it; tests use it to prove exactly that."""
    plan = build_plan(metadata, spec, financial_year)
    bounds = chunk_bounds(rows, chunk_rows)
    n_chunks = len(bounds)
    partitions = max(1, min(num_partitions or n_chunks, max(n_chunks, 1)))
    shipped = _ship(spark, plan)
    seed = int(seed)
    chunk_rows = int(chunk_rows)
    total_rows = int(rows)

    def generate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for _index, table in _chunks(shipped, batches, seed, chunk_rows, total_rows, False):
            yield from table.to_batches(max_chunksize=BATCH_ROWS)

    ids = spark.range(0, n_chunks, 1, partitions)
    return ids.mapInArrow(generate, spark_schema(spec))


def _chunks(
    shipped: Any,
    batches: Iterator[pa.RecordBatch],
    seed: int,
    chunk_rows: int,
    total_rows: int,
    keep_dictionaries: bool,
) -> Iterator[tuple[int, pa.Table]]:
    """In a task: ``(chunk index, chunk)`` for each chunk index in the task's input rows."""
    plan: GenerationPlan = shipped.value if hasattr(shipped, "value") else shipped
    for batch in batches:
        for index in batch.column(0).to_pylist():
            first = index * chunk_rows
            size = min(chunk_rows, total_rows - first)
            yield index, generate_chunk_from_plan(plan, index, size, seed, first, keep_dictionaries)


def _ship(spark: Any, plan: GenerationPlan) -> Any:
    """Broadcast the plan where a SparkContext exists; Spark Connect gets it in the closure."""
    try:
        return spark.sparkContext.broadcast(plan)
    except Exception:  # Spark Connect has no SparkContext
        return plan


#: The file name of chunk ``i`` of a partition written by :func:`write_table_files`; names sort
#: in chunk order, so readers that sort file names read the rows in the table's order.
CHUNK_FILE = "part-{index:05d}.parquet"
_WRITTEN = "chunk long, rows long, bytes long"


@dataclass(frozen=True)
class WrittenChunks:
    """What :func:`write_table_files` wrote: one file per chunk, in chunk order."""

    files: tuple[str, ...]
    rows: int
    bytes: int


def statistics_columns(table: pa.Table) -> list[str]:
    """The columns whose Parquet statistics (min, max, nulls) are written: all but the
    dictionary-encoded text, for which pyarrow computes them on the decoded strings, which
    costs about as much as writing the column. Sampled codes are never a useful range to
    prune a scan on; keys, dates and numbers keep theirs."""
    return [f.name for f in table.schema if not pa.types.is_dictionary(f.type)]


def row_unique_columns(spec: DatasetSpec) -> tuple[str, ...]:
    """Columns all but unique per row (record keys, patient pseudonyms, CONCAT lists): Parquet
    stores them plain, as trying a dictionary first is wasted work on them."""
    return tuple(
        f.name
        for f in spec.fields
        if f.role == "identifier" or (f.derivation is not None and f.derivation.kind == "concat")
    )


def write_chunk_file(
    folder: str, index: int, table: pa.Table, unique_columns: tuple[str, ...] = ()
) -> int:
    """Write one chunk as ``folder/part-<index>.parquet``, atomically; returns its size.

    The file appears under its name only when complete (written under a hidden temporary name,
    then renamed), so a retried task replaces an attempt that died half-way. Written without
    Arrow's schema (``store_schema=False``): dictionary-encoded text reads back as plain text,
    with exactly the types of ``arrow_schema(spec)``, by pyarrow and Spark alike. Statistics:
    see :func:`statistics_columns`; ``unique_columns`` (:func:`row_unique_columns`) are
    written without a dictionary.
    """
    final = os.path.join(folder, CHUNK_FILE.format(index=index))
    temporary = os.path.join(folder, f".{CHUNK_FILE.format(index=index)}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(
            table,
            temporary,
            store_schema=False,
            write_statistics=statistics_columns(table),
            use_dictionary=[n for n in table.column_names if n not in unique_columns],
        )
        os.replace(temporary, final)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return os.path.getsize(final)


def write_table_files(
    spark: Any,
    metadata: pd.DataFrame,
    spec: DatasetSpec,
    financial_year: str,
    rows: int,
    seed: int,
    folder: Path,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> WrittenChunks:
    """Generate ``rows`` rows into a new folder of Parquet files, one per chunk, in Spark tasks.

    The same rows, in the same order, as :func:`generate_table` (same chunks, same seeds).
    ``folder`` must not exist (it is created here) and must be reachable from the executors
    (local Spark: any local folder; a cluster: a shared volume). Fails unless every chunk's
    file is there with its row count; the caller discards the folder then.
    """
    plan = build_plan(metadata, spec, financial_year)
    bounds = chunk_bounds(rows, chunk_rows)
    shipped = _ship(spark, plan)
    seed, chunk_rows, total_rows = int(seed), int(chunk_rows), int(rows)
    target, unique = str(folder), row_unique_columns(spec)
    Path(folder).mkdir(parents=False)

    def generate_and_write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for index, table in _chunks(shipped, batches, seed, chunk_rows, total_rows, True):
            written = write_chunk_file(target, index, table, unique)
            yield pa.RecordBatch.from_pydict(
                {"chunk": [index], "rows": [table.num_rows], "bytes": [written]}
            )

    ids = spark.range(0, len(bounds), 1, max(1, len(bounds)))
    reported = ids.mapInArrow(generate_and_write, _WRITTEN).collect()
    by_chunk = {int(r["chunk"]): (int(r["rows"]), int(r["bytes"])) for r in reported}
    expected = {index: size for index, _first, size in bounds}
    if {i: r for i, (r, _b) in by_chunk.items()} != expected:
        raise RuntimeError(
            f"{spec.dataset} {financial_year}: the tasks reported chunks "
            f"{sorted(by_chunk)} with {sum(r for r, _ in by_chunk.values())} rows; expected "
            f"{len(expected)} chunks with {total_rows} rows"
        )
    files = tuple(CHUNK_FILE.format(index=i) for i in sorted(expected))
    present = {p.name for p in Path(folder).iterdir()}
    if present != set(files):  # a stray file (e.g. of a killed attempt) or a missing chunk
        raise RuntimeError(
            f"{spec.dataset} {financial_year}: the partition folder holds "
            f"{sorted(present - set(files))[:3]} and lacks {sorted(set(files) - present)[:3]}"
        )
    return WrittenChunks(files, total_rows, sum(b for _r, b in by_chunk.values()))
