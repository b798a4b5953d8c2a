"""The rows of a table partition read in record batches, never as one table (issue 16).

Publication formats a year batch by batch and QA accumulates its statistics batch by batch
(``generator/qa/streamed.py``), so that neither holds a whole artificial table in memory. Rows
come either from an Arrow table already in memory (:class:`TableRows`, what the Dagster-free
APIs and the tests pass) or from Parquet files (:class:`ParquetRows`, what the steps pass), read
one batch at a time, optionally projected to a few columns; :func:`partition_rows` gives the
Parquet files of a partition on either table backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from artificial_data.common.tables import TablePartition

#: Rows per record batch (a batch, and whatever a reader derives from it, is held in memory).
BATCH_ROWS = 50_000
#: Bytes per read of a column chunk when batches are read unbuffered.
UNBUFFERED_READ = 1 << 20


@runtime_checkable
class YearRows(Protocol):
    """A partition's rows: their schema and count up front, the rows themselves in batches."""

    @property
    def schema(self) -> pa.Schema: ...

    @property
    def num_rows(self) -> int: ...

    def batches(
        self, rows: int = BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The rows in order, in batches of at most ``rows`` rows (only ``columns`` if given)."""
        ...

    def read(self, columns: Sequence[str]) -> pa.Table:
        """Whole columns (a projection: only these columns are ever read)."""
        ...


class TableRows:
    """Rows held as an Arrow table (sliced, not copied)."""

    def __init__(self, table: pa.Table):
        self.table = table

    @property
    def schema(self) -> pa.Schema:
        return self.table.schema

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def batches(
        self, rows: int = BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        table = self.table if columns is None else self.table.select(list(columns))
        for start in range(0, table.num_rows, rows):
            yield from table.slice(start, rows).to_batches()

    def read(self, columns: Sequence[str]) -> pa.Table:
        return self.table.select(list(columns))


class ParquetRows:
    """Rows in Parquet files, read in order one batch at a time (the files stay on disk)."""

    def __init__(self, files: Sequence[Path | str], buffered: bool = True):
        """``buffered=False`` reads each column chunk in small reads as batches need it
        instead of a row group's columns at once (less memory for narrow batches of many
        columns, what QA reads)."""
        if not files:
            raise ValueError("rows in Parquet need at least one file")
        self.files = [Path(f) for f in files]
        self.buffered = buffered
        first = pq.ParquetFile(self.files[0])
        self._schema = first.schema_arrow
        self._rows = sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    @property
    def num_rows(self) -> int:
        return self._rows

    def batches(
        self, rows: int = BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        options = {} if self.buffered else {"pre_buffer": False, "buffer_size": UNBUFFERED_READ}
        wanted = None if columns is None else list(columns)
        for path in self.files:
            with pq.ParquetFile(path, **options) as parquet:
                if parquet.schema_arrow != self._schema:
                    raise ValueError(f"{path}: its columns differ from {self.files[0]}'s")
                # One reader per row group: a pre-buffered reader over the whole file keeps
                # every row group's column chunks it has read until it is closed, so reading
                # a 3M-row year held the whole file (1,064 MB of Arrow memory for a 985 MB
                # file, against 157 MB row group by row group, which is also faster).
                for group in range(parquet.metadata.num_row_groups):
                    yield from parquet.iter_batches(
                        batch_size=rows, row_groups=[group], columns=wanted
                    )

    def read(self, columns: Sequence[str]) -> pa.Table:
        parts = []
        for path in self.files:
            with pq.ParquetFile(path) as parquet:
                parts.append(parquet.read(columns=list(columns)))
        return pa.concat_tables(parts)


def as_year_rows(year: pa.Table | YearRows) -> YearRows:
    """``year`` as a :class:`YearRows` (an Arrow table is wrapped)."""
    return TableRows(year) if isinstance(year, pa.Table) else year


def parquet_files(folder: Path) -> list[Path]:
    """The data files of a partition folder in the order a whole-table read takes them."""
    return sorted(folder.glob("*.parquet"), key=str)


def partition_rows(
    partition: TablePartition, staging: Path, session: Any = None, buffered: bool = True
) -> YearRows:
    """The rows of a table partition, read in batches from Parquet files.

    A folder partition's own files are read where they are. A catalog partition is first
    written by Spark as Parquet into ``staging`` (a folder that must not exist; the caller
    removes it), so that its rows reach this process in batches rather than collected whole.
    ``buffered``: see :class:`ParquetRows`.
    """
    if isinstance(partition.location, Path):
        files = parquet_files(partition.location)
        return ParquetRows(files, buffered) if files else TableRows(pa.table({}))
    if session is None:
        from artificial_data.common.settings import load_settings
        from artificial_data.common.spark import get_spark

        session = get_spark(load_settings().spark_master)
    partition.spark(session).write.parquet(str(staging))
    files = parquet_files(staging)
    return ParquetRows(files, buffered) if files else TableRows(pa.table({}))
