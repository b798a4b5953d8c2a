"""The published CSV format of artificial HES (DESIGN §9).

Header in schema order, comma separated, ``\\n`` line ends, UTF-8; an empty field is a null;
dates ISO ``YYYY-MM-DD``; codes are text exactly as stored (leading zeros kept, e.g. ``01``);
MYDOB stays ``MMYYYY`` text; integers without a decimal point; decimals as plain decimal text
(never an exponent). A value is quoted only when it holds a comma, a quote or a line break
(``*_CONCAT`` code lists), so the files read the same in Excel, DuckDB, pandas and Spark.

Formatting is done column by column in Arrow (no loop over rows) except for the rare double
that Arrow would print with an exponent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.dataset_spec import DatasetSpec

_NEEDS_QUOTES = r'[",\r\n]'
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")
ROWS_PER_WRITE = 100_000


def _plain_doubles(text: pa.Array, values: pa.Array) -> pa.Array:
    """Rewrite the few doubles Arrow prints with an exponent as plain decimals."""
    has_exponent = pc.fill_null(pc.match_substring(text, "e"), False)
    if not pc.any(has_exponent).as_py():
        return text
    fixed = text.to_pylist()
    numbers = values.to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(has_exponent.to_numpy(zero_copy_only=False)):
        fixed[i] = np.format_float_positional(numbers[i], trim="-")
    return pa.array(fixed, pa.string())


def format_column(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The CSV text of one column (null stays null and is written as an empty field)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = column
    elif pa.types.is_floating(kind):
        text = _plain_doubles(pc.cast(column, pa.string()), column)
    elif (
        pa.types.is_integer(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_date(kind)
        or pa.types.is_boolean(kind)
    ):
        text = pc.cast(column, pa.string())  # ints "12", decimals "0.125000", dates ISO
    else:
        raise TypeError(f"no CSV format for Arrow type {kind}")
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)  # '' is null
    quote = pc.fill_null(pc.match_substring_regex(text, _NEEDS_QUOTES), False)
    if pc.any(quote).as_py():
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        text = pc.if_else(quote, quoted, text)
    return text


def _csv_pieces(table: pa.Table) -> Iterator[str]:
    """The published CSV text of ``table``, in pieces of at most ROWS_PER_WRITE lines."""
    yield ",".join(table.column_names) + "\n"
    for start in range(0, table.num_rows, ROWS_PER_WRITE):
        part = table.slice(start, ROWS_PER_WRITE)
        columns = [format_column(part.column(i)) for i in range(part.num_columns)]
        if len(columns) == 1:
            lines = pc.fill_null(columns[0], "")
        else:
            lines = pc.binary_join_element_wise(
                *columns, ",", null_handling="replace", null_replacement=""
            )
        if len(lines):
            yield "\n".join(lines.to_pylist()) + "\n"


def write_csv(table: pa.Table, path: Path) -> None:
    """Write ``table`` in the published CSV format."""
    with open(path, "w", encoding="utf-8", newline="") as out:
        for piece in _csv_pieces(table):
            out.write(piece)


def csv_sha256(table: pa.Table) -> str:
    """The sha256 of the CSV file :func:`write_csv` would write, without writing it: the
    content hash of an artificial table as published (the same rows give the same hash
    whatever the Parquet chunking or the Arrow metadata)."""
    digest = hashlib.sha256()
    for piece in _csv_pieces(table):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()


# ------------------------------------------------------------------ loading instructions


def duckdb_type(spark_type: str) -> str:
    match = _DECIMAL.match(spark_type)
    if match:
        return f"DECIMAL({match[1]},{match[2]})"
    return {
        "string": "VARCHAR",
        "int": "INTEGER",
        "long": "BIGINT",
        "double": "DOUBLE",
        "date": "DATE",
        "boolean": "BOOLEAN",
    }[spark_type]


def pandas_dtype(spark_type: str) -> str:
    """The pandas dtype of a column; date fields go to ``parse_dates`` instead of ``dtype``."""
    if spark_type.startswith("decimal") or spark_type == "double":
        return "float64"
    return {
        "string": "string",
        "int": "Int32",
        "long": "Int64",
        "date": "string",
        "boolean": "boolean",
    }[spark_type]


def column_types(spec: DatasetSpec) -> list[dict[str, str | int]]:
    """Per field: position, name, Spark, DuckDB and pandas types (shipped as schema.json)."""
    return [
        {
            "position": f.position,
            "name": f.name,
            "spark_type": f.spark_type,
            "duckdb_type": duckdb_type(f.spark_type),
            "pandas_dtype": pandas_dtype(f.spark_type),
        }
        for f in spec.fields
    ]
