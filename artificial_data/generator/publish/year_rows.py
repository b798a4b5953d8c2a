"""The rows of one financial year as publication reads them: in record batches, never whole.

A published year is formatted, hashed and copied batch by batch, so that publication's memory
depends on the batch size and not on the number of rows (issue 16). A year comes either from
an Arrow table already in memory (:class:`TableRows`, what the Dagster-free ``publish`` API
and the tests pass) or from the Parquet files of an artificial partition (:class:`ParquetRows`,
what the ``<ds>/published`` step passes), read one batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.parquet as pq

from artificial_data.common.tables import TablePartition

#: Rows per record batch read for formatting (a batch's formatted CSV is held in memory).
BATCH_ROWS = 50_000


@runtime_checkable
class YearRows(Protocol):
    """A year's rows: their schema and count up front, the rows themselves in batches."""

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def num_rows(self) -> int: ...

    def batches(self, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The rows in order, in batches of at most ``rows`` rows."""
        ...


class TableRows:
    """A year held as an Arrow table (sliced, not copied)."""

    def __init__(self, table: pa.Table):
        self.table = table

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def batches(self, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        for start in range(0, self.table.num_rows, rows):
            yield from self.table.slice(start, rows).to_batches()


class ParquetRows:
    """A year in Parquet files, read in order one batch at a time (the files stay on disk)."""

    def __init__(self, files: Sequence[Path | str]):
        if not files:
            raise ValueError("a year in Parquet needs at least one file")
        self.files = [Path(f) for f in files]
        first = pq.ParquetFile(self.files[0])
        self._schema = first.schema_arrow
        self._rows = sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    @property
    def num_rows(self) -> int:
        return self._rows

    def batches(self, rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        for path in self.files:
            with pq.ParquetFile(path) as parquet:
                if parquet.schema_arrow != self._schema:
                    raise ValueError(f"{path}: its columns differ from {self.files[0]}'s")
                yield from parquet.iter_batches(batch_size=rows)


def as_year_rows(year: pa.Table | YearRows) -> YearRows:
    """``year`` as a :class:`YearRows` (an Arrow table is wrapped)."""
    return TableRows(year) if isinstance(year, pa.Table) else year


def parquet_files(folder: Path) -> list[Path]:
    """The data files of a partition folder in the order a whole-table read takes them."""
    return sorted(folder.glob("*.parquet"), key=str)


def partition_rows(partition: TablePartition, staging: Path) -> YearRows:
    """The rows of an artificial table partition, read in batches from Parquet files.

    A folder partition's own files are read where they are. A catalog partition is first
    written by Spark as Parquet into ``staging`` (a folder that must not exist; the caller
    removes it), so that its rows reach this process in batches rather than collected whole.
    """
    if isinstance(partition.location, Path):
        files = parquet_files(partition.location)
        return ParquetRows(files) if files else TableRows(pa.table({}))
    from artificial_data.common.settings import load_settings
    from artificial_data.common.spark import get_spark

    session = get_spark(load_settings().spark_master)
    partition.spark(session).write.parquet(str(staging))
    files = parquet_files(staging)
    return ParquetRows(files) if files else TableRows(pa.table({}))
