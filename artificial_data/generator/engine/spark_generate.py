"""Spark driver for the generator: one Spark row per chunk, chunks generated in the executors.

``spark.range(n_chunks)`` makes one tiny row per chunk and ``mapInArrow`` turns each into a
full Arrow chunk by calling the same pure function as the single-process path. The metadata is
parsed once on the driver (so bad metadata fails before any task starts) and the parsed plan
is broadcast. Chunk boundaries and seeds depend only on the row count and the chunk size, so
the table is the same for any number of partitions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pyarrow as pa

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
        the_plan: GenerationPlan = shipped.value if hasattr(shipped, "value") else shipped
        for batch in batches:
            for chunk_index in batch.column(0).to_pylist():
                first = chunk_index * chunk_rows
                size = min(chunk_rows, total_rows - first)
                table = generate_chunk_from_plan(the_plan, chunk_index, size, seed, first)
                yield from table.to_batches(max_chunksize=BATCH_ROWS)

    ids = spark.range(0, n_chunks, 1, partitions)
    return ids.mapInArrow(generate, spark_schema(spec))


def _ship(spark: Any, plan: GenerationPlan) -> Any:
    """Broadcast the plan where a SparkContext exists; Spark Connect gets it in the closure."""
    try:
        return spark.sparkContext.broadcast(plan)
    except Exception:  # Spark Connect has no SparkContext
        return plan
