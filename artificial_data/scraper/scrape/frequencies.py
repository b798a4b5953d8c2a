"""Exact value frequencies of every categorical, discrete and date field in one pass.

Counting each column with its own Spark job (or melting every cell into a long table) costs a
scan or a shuffle of the whole table per field. Instead each partition counts all its columns
with Arrow's hash kernels (``value_counts``) inside one ``mapInArrow`` and emits only the partial
tables ``(field, value as text, count)``; a single ``groupBy().sum()`` adds the partials up.
The shuffle carries distinct values, not records, so the cost is one scan of the projected
columns whatever the number of fields. Counts are exact; null is counted as a value.

Values that failed their checked cast (see ``casts``) are counted in the same pass under a
marked field name, and so is the hex of text that is not valid UTF-8, so that a bad value costs
no extra scan. A text field reaches its worker unchecked (Spark's per-row UTF-8 check cost as
much as the hand-over); the worker checks the distinct values it counted, and one that is not
UTF-8 leaves it only as hex, under the marked name, never as text. The error reports a bad value
by its shape only (``errors``): the counts stay on the driver and never reach a message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from artificial_data.common import metadata_contract as mc
from artificial_data.scraper.scrape.casts import FieldCast
from artificial_data.scraper.scrape.errors import (
    ScrapeInputError,
    bad_value_error,
    invalid_utf8_error,
)
from artificial_data.scraper.scrape.unchecked_text import as_hex, invalid_utf8

#: Prefixes of the field names under which values that failed their cast, and the hex of values
#: that are not UTF-8, are counted. Field names are upper-case identifiers, so these can never
#: collide with a real field.
BAD_PREFIX = "!"
INVALID_PREFIX = "~"
#: Rows per Arrow hashing call inside a partition: large enough to amortise the per-call cost
#: over Spark's 10k-row Arrow batches, small enough to bound worker memory.
_ROWS_PER_COUNT = 100_000

PARTIAL_SCHEMA = pa.schema(
    [("FIELD_NAME", pa.string()), ("KEY", pa.string()), ("COUNT", pa.int64())]
)
_SPARK_SCHEMA = "FIELD_NAME string, KEY string, COUNT long"


@dataclass(frozen=True)
class CountedColumn:
    """One column of the pass's projection: counted under ``field_name``; ``drop_nulls`` for
    the marker columns (only their present values are of interest). ``invalid_name`` is set
    for a text column read unchecked (``FieldCast.text``): its distinct values are checked as
    UTF-8 in the worker and those that are not are counted, as hex, under that name."""

    column: str
    field_name: str
    drop_nulls: bool = False
    invalid_name: str | None = None


def partial_counter(
    columns: list[CountedColumn],
) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The per-partition counter for ``mapInArrow``."""

    def count_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        import pyarrow.compute as pc

        partials: dict[str, list[pa.Table]] = {}

        def add(field_name: str, keys: pa.Array, counts: pa.Array) -> None:
            if len(keys):
                partials.setdefault(field_name, []).append(
                    pa.table({"KEY": pc.cast(keys, pa.string()), "COUNT": counts})
                )

        def flush(buffer: list[pa.RecordBatch]) -> None:
            table = pa.Table.from_batches(buffer)
            for counted_column in columns:
                values = table.column(counted_column.column)
                if counted_column.drop_nulls:
                    values = values.drop_null()
                    if len(values) == 0:
                        continue
                counted = pc.value_counts(values)
                keys, counts = counted.field("values"), counted.field("counts")
                if counted_column.invalid_name is not None:
                    invalid = invalid_utf8(keys)
                    if invalid is not None:
                        bad, good = pa.array(invalid), pa.array(~invalid)
                        add(
                            counted_column.invalid_name,
                            as_hex(keys.filter(bad)),
                            counts.filter(bad),
                        )
                        keys, counts = keys.filter(good), counts.filter(good)
                add(counted_column.field_name, keys, counts)

        buffer: list[pa.RecordBatch] = []
        buffered = 0
        for batch in batches:
            buffer.append(batch)
            buffered += batch.num_rows
            if buffered >= _ROWS_PER_COUNT:
                flush(buffer)
                buffer, buffered = [], 0
        if buffer:
            flush(buffer)

        for field_name, tables in partials.items():
            summed = pa.concat_tables(tables).group_by("KEY").aggregate([("COUNT", "sum")])
            n = summed.num_rows
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array([field_name] * n, pa.string()),
                    summed.column("KEY").combine_chunks(),
                    summed.column("COUNT_sum").combine_chunks(),
                ],
                schema=PARTIAL_SCHEMA,
            )

    return count_partition


def frequency_projection(
    df: DataFrame, casts: list[FieldCast]
) -> tuple[DataFrame, list[CountedColumn]]:
    """The columns the pass hands over to its Python workers, and how each is counted.

    A text field is handed over as read (``FieldCast.text``): Spark's own UTF-8 check of every
    row cost about as much as the hand-over itself (1M APC rows: 27-30 s against 17-20 s
    unchecked), while the worker checks only the distinct values it has counted. Other fields
    are handed over as their checked cast plus its marker columns."""
    projection, columns = [], []
    for i, cast in enumerate(casts):
        if cast.text is not None:
            projection.append(cast.text.alias(f"v{i}"))
            columns.append(
                CountedColumn(
                    f"v{i}", cast.field.name, invalid_name=INVALID_PREFIX + cast.field.name
                )
            )
            continue
        projection.append(cast.value.alias(f"v{i}"))
        columns.append(CountedColumn(f"v{i}", cast.field.name))
        if cast.bad is not None:
            projection.append(cast.bad.alias(f"b{i}"))
            columns.append(CountedColumn(f"b{i}", BAD_PREFIX + cast.field.name, drop_nulls=True))
        if cast.invalid is not None:
            projection.append(cast.invalid.alias(f"u{i}"))
            columns.append(
                CountedColumn(f"u{i}", INVALID_PREFIX + cast.field.name, drop_nulls=True)
            )
    return df.select(*projection), columns


def count_values(df: DataFrame, casts: list[FieldCast]) -> pd.DataFrame:
    """Exact ``(FIELD_NAME, KEY, COUNT)`` of every field in ``casts``; KEY is the value as text.

    Values that failed their cast appear under ``BAD_PREFIX + FIELD_NAME``, the hex of values
    that are not UTF-8 under ``INVALID_PREFIX + FIELD_NAME``.
    """
    if not casts:
        return pd.DataFrame({"FIELD_NAME": [], "KEY": [], "COUNT": []})
    projected, columns = frequency_projection(df, casts)
    partials = projected.mapInArrow(partial_counter(columns), _SPARK_SCHEMA)
    totals = partials.groupBy("FIELD_NAME", "KEY").agg(F.sum("COUNT").alias("COUNT"))
    out = totals.toPandas()
    out["COUNT"] = out["COUNT"].astype("int64")
    return out


def raise_for_bad_values(counts: pd.DataFrame, casts: list[FieldCast]) -> None:
    """Raise naming the first field (schema order) with text that is not UTF-8, else the first
    with values that failed their cast."""
    marked = counts[counts["FIELD_NAME"].str.startswith((BAD_PREFIX, INVALID_PREFIX))]
    if marked.empty:
        return
    for cast in casts:
        rows = marked[marked["FIELD_NAME"] == INVALID_PREFIX + cast.field.name]
        if not rows.empty:
            example = sorted(rows["KEY"])[0]
            raise invalid_utf8_error(cast, example, int(rows["COUNT"].sum()), len(rows))
    for cast in casts:
        rows = marked[marked["FIELD_NAME"] == BAD_PREFIX + cast.field.name]
        if not rows.empty:
            example = sorted(rows["KEY"])[0]
            raise bad_value_error(cast, example, f"{len(rows)} distinct such value(s)")


def decode_values(cast: FieldCast, keys: pd.Series) -> pd.DataFrame:
    """Turn text keys back into the contract's value columns for ``cast``'s VALUE_TYPE."""
    n = len(keys)
    out = pd.DataFrame(
        {
            "VALUE_STRING": [None] * n,
            "VALUE_NUMERIC": [math.nan] * n,
            "VALUE_DATE": [None] * n,
        },
        index=keys.index,
    )
    if cast.value_type == mc.DISCRETE:
        numbers = [math.nan if k is None else float(k) for k in keys]
        if any(k is not None and math.isnan(x) for k, x in zip(keys, numbers, strict=True)):
            raise ScrapeInputError(
                f"{cast.where}: value NaN is not a number the metadata "
                "can carry (null is the only missing value)"
            )
        out["VALUE_NUMERIC"] = numbers
    elif cast.value_type == mc.DATE and cast.field.spark_type == "date":
        out["VALUE_DATE"] = [None if k is None else date.fromisoformat(k) for k in keys]
    else:  # CATEGORICAL, and DATE fields held as text
        out["VALUE_STRING"] = [None if k is None else str(k) for k in keys]
    return out
