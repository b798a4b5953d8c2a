"""What the benchmarks share: chunks written as one Parquet file, an artificial year on disk,
and a child's own peak memory. Not a benchmark itself (no ``bench_`` prefix: ``run_all.py``
skips it)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

YEAR = "2122"
DATASET = "hes_apc"


def write_chunks(path: Path, chunks: Iterable[pa.Table]) -> None:
    """The chunks as one Parquet file at ``path``, one row group per chunk."""
    writer = None
    for table in chunks:
        if writer is None:
            writer = pq.ParquetWriter(str(path), table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def make_year(rows: int, path: Path) -> pd.DataFrame:
    """An artificial APC year of ``rows`` rows as one Parquet file, one row group per generated
    chunk (the way an artificial partition looks on disk); returns the made-up released
    metadata it was drawn from."""
    from artificial_data.common.dataset_spec import load_spec
    from artificial_data.generator.engine import (
        DEFAULT_CHUNK_ROWS,
        chunk_bounds,
        generate_chunk,
        generation_seed,
    )
    from artificial_data_tests.generator_metadata import plausible_metadata

    spec = load_spec(DATASET)
    metadata = plausible_metadata(spec, YEAR)
    seed = generation_seed("benchmark", spec.dataset, YEAR)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_chunks(
        path,
        (
            generate_chunk(metadata, spec, YEAR, index, size, seed, first)
            for index, first, size in chunk_bounds(rows, DEFAULT_CHUNK_ROWS)
        ),
    )
    return metadata


def peak_mb() -> float:
    """This process's peak resident memory (``VmHWM``): that of its own address space only.
    (``ru_maxrss`` of a child is at least its parent's RSS when it forked, on Linux: the
    parent here generated the year, which would hide a smaller child.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
