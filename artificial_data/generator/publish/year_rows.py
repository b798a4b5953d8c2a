"""The rows of one financial year as publication reads them: in record batches, never whole.

A published year is formatted, hashed and copied batch by batch, so that publication's memory
depends on the batch size and not on the number of rows (issue 16). The readers are the
project's one batch reader of table partitions (``common/table_rows.py``), shared with QA.
"""

from artificial_data.common.table_rows import (
    BATCH_ROWS,
    ParquetRows,
    TableRows,
    YearRows,
    as_year_rows,
    parquet_files,
    partition_rows,
)

__all__ = [
    "BATCH_ROWS",
    "ParquetRows",
    "TableRows",
    "YearRows",
    "as_year_rows",
    "parquet_files",
    "partition_rows",
]
