"""Patient patterns of one Spark partition, vectorised over Arrow arrays (DESIGN §6, §8).

Runs in Spark's Python workers (``mapInArrow``) on a partition that holds *all* the episodes of
each of its patients (the rows are hashed by the patient key first), as combinations of a
patient's field values with the number ``n`` of episodes that have them. It returns only
partial counts of patients per pattern, never a patient: the JVM adds the partitions' counts.

Every per-patient step is an integer array operation: a patient is a code, a value is its rank
among the partition's sorted distinct values of the field (null last), a (patient, value) pair
is one int64 key, and ``np.unique`` on those keys both counts and sorts them, so that each
patient's values come out in order. Patterns of several values are grouped as rows of a matrix,
one matrix per number of values. Shares are rounded as Spark's ``round`` does (half up, on the
shortest decimal form of the double), once per distinct (count, episodes) pair.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from itertools import chain

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common import metadata_contract as mc
from artificial_data.scraper.scrape.unchecked_text import as_hex, invalid_utf8

#: VALUE_TYPE of the rows that count, per partition, the values of a field that are not UTF-8.
INVALID = "INVALID_UTF8"

#: The partial counts, one row per pattern and partition.
SCHEMA = pa.schema(
    [
        ("FIELD_NAME", pa.string()),
        ("VALUE_TYPE", pa.string()),
        ("VALUES", pa.list_(pa.string())),
        ("SHARES", pa.list_(pa.float64())),
        ("VALUE", pa.string()),
        ("NUMBER", pa.float64()),
        ("COUNT", pa.int64()),
    ]
)


@dataclass(frozen=True)
class PatternField:
    """One patient-level field as the partition sees it: column ``column`` of values and, for a
    text source, where the values that are not UTF-8 are found: column ``invalid`` of their hex
    (Spark checked every row), or, when ``unchecked``, the column itself, whose distinct values
    the worker checks (``unchecked_text``). Either way they are counted, as hex only,
    under ``invalid_name``, and count as null in the patterns."""

    name: str
    value_type: str
    column: str
    invalid: str | None = None
    invalid_name: str | None = None
    unchecked: bool = False


def spark_round(numerator: np.ndarray, denominator: np.ndarray, digits: int) -> np.ndarray:
    """``round(numerator / denominator, digits)`` exactly as Spark rounds a double: half up on
    its shortest decimal form (``BigDecimal(Double.toString(x))``), not on the binary value.
    Python's Decimal does it once per distinct pair; a whole share (the common case) is 1."""
    numerator = np.asarray(numerator, dtype=np.int64)
    denominator = np.asarray(denominator, dtype=np.int64)
    out = np.ones(len(numerator), dtype=np.float64)
    part = np.flatnonzero(numerator != denominator)
    if len(part) == 0:
        return out
    radix = int(denominator[part].max()) + 1
    pairs, inverse = np.unique(numerator[part] * radix + denominator[part], return_inverse=True)
    step = Decimal(1).scaleb(-digits)
    rounded = np.array(
        [
            float(Decimal(repr((p // radix) / (p % radix))).quantize(step, ROUND_HALF_UP))
            for p in pairs.tolist()
        ],
        dtype=np.float64,
    )
    out[part] = rounded[inverse.reshape(-1)]
    return out


def _count_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of an int64 matrix and how often each occurs (``np.unique(axis=0)``
    sorts a structured view, several times slower than this lexsort)."""
    order = np.lexsort(matrix.T[::-1])
    ordered = matrix[order]
    starts = np.flatnonzero(np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)])
    return ordered[starts], np.diff(np.r_[starts, len(ordered)])


def _sum_by_key(keys: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct keys and the sum of ``n`` over each."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return ordered[starts], np.add.reduceat(n[order], starts)


def _ranked(
    values: pa.ChunkedArray | pa.Array, unchecked: bool = False
) -> tuple[np.ndarray, list[str | None], np.ndarray | None, pa.Array | None]:
    """Each value's rank among the sorted distinct values (null: one rank past the last) and
    the values in rank order (null last, as Spark's ``array_sort`` places it).

    With ``unchecked`` (text nothing has checked as UTF-8), the distinct values are checked
    here; those that are not UTF-8 rank as null, and the rows that hold one and those distinct
    values are returned too (else ``None, None``), so that the caller counts them as hex."""
    encoded = pc.dictionary_encode(values).combine_chunks()
    dictionary = encoded.dictionary
    codes = pc.fill_null(encoded.indices, len(dictionary)).to_numpy().astype(np.int64)
    bad = invalid_utf8(dictionary) if unchecked else None
    kept = np.arange(len(dictionary)) if bad is None else np.flatnonzero(~bad)
    valid = dictionary.take(pa.array(kept, pa.int64()))
    order = pc.sort_indices(valid).to_numpy()
    rank = np.full(len(dictionary) + 1, len(kept), dtype=np.int64)  # null and invalid: last
    rank[kept[order]] = np.arange(len(kept), dtype=np.int64)
    names = [*valid.take(pa.array(order)).to_pylist(), None]
    if bad is None:
        return rank[codes], names, None, None
    rows = np.append(bad, False)[codes]
    return rank[codes], names, rows, dictionary.filter(pa.array(bad))


def _rows(field: str, value_type: str, count: int, **columns) -> dict[str, list]:
    empty = [None] * count
    return {
        "FIELD_NAME": [field] * count,
        "VALUE_TYPE": [value_type] * count,
        "VALUES": columns.get("VALUES", empty),
        "SHARES": columns.get("SHARES", empty),
        "VALUE": columns.get("VALUE", empty),
        "NUMBER": columns.get("NUMBER", empty),
        "COUNT": columns["COUNT"],
    }


def _categorical(
    field: PatternField,
    patient: np.ndarray,
    rank: np.ndarray,
    names: list,
    n: np.ndarray,
    episodes: np.ndarray,
) -> dict[str, list]:
    """Patients per pattern (sorted distinct values, each value's share of episodes, 1 dp)."""
    width = len(names)
    keys, counts = _sum_by_key(patient * width + rank, n)
    who, value = keys // width, keys % width
    shares10 = np.rint(spark_round(counts, episodes[who], 1) * 10).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
    sizes = np.diff(np.r_[starts, len(who)])
    values_col: list = []
    shares_col: list = []
    count_col: list = []
    for k in np.unique(sizes).tolist():
        first = starts[sizes == k]
        at = first[:, None] + np.arange(k)[None, :]
        matrix = value[at] * 11 + shares10[at]  # share in tenths, 0..10
        patterns, tally = _count_rows(matrix)
        for row, c in zip(patterns.tolist(), tally.tolist(), strict=True):
            values_col.append([names[x // 11] for x in row])
            shares_col.append([(x % 11) / 10 for x in row])
            count_col.append(c)
    return _rows(
        field.name,
        field.value_type,
        len(count_col),
        VALUES=values_col,
        SHARES=shares_col,
        COUNT=count_col,
    )


def _date(
    field: PatternField,
    patient: np.ndarray,
    rank: np.ndarray,
    names: list,
    n: np.ndarray,
    episodes: np.ndarray,
) -> dict[str, list]:
    """Patients per (modal value, share of episodes that have it, 2 dp); ties go to the
    greatest value, and null counts as smaller than any value."""
    width = len(names)
    keys, counts = _sum_by_key(patient * width + rank, n)
    who, value = keys // width, keys % width
    order_value = np.where(value == width - 1, -1, value)  # null below every value
    order = np.lexsort((order_value, counts, who))
    last = order[np.r_[who[order][1:] != who[order][:-1], True]]
    number = spark_round(counts[last], episodes[who[last]], 2)
    pairs, tally = _count_rows(
        np.stack([value[last], np.rint(number * 100).astype(np.int64)], axis=1)
    )
    return _rows(
        field.name,
        field.value_type,
        len(tally),
        VALUE=[names[v] for v in pairs[:, 0].tolist()],
        NUMBER=[h / 100 for h in pairs[:, 1].tolist()],
        COUNT=tally.tolist(),
    )


def partition_patterns(table: pa.Table, patient_key: str, fields: Sequence[PatternField]):
    """Patients per pattern in ``table`` (columns ``pid``, the fields' columns and ``n``), as
    one Arrow table of :data:`SCHEMA`."""
    pid = pc.dictionary_encode(table["pid"]).combine_chunks()
    patient = pid.indices.to_numpy().astype(np.int64)
    n = table["n"].to_numpy().astype(np.int64)
    episodes = np.bincount(patient, weights=n, minlength=len(pid.dictionary)).astype(np.int64)
    sizes, tally = np.unique(episodes, return_counts=True)
    parts = [
        _rows(
            patient_key,
            mc.RELATIONSHIP,
            len(tally),
            NUMBER=[float(s) for s in sizes.tolist()],
            COUNT=tally.tolist(),
        )
    ]
    for field in fields:
        rank, names, bad_rows, bad_values = _ranked(table[field.column], field.unchecked)
        if field.invalid is not None:
            bad_rows = ~pc.is_null(table[field.invalid]).to_numpy(zero_copy_only=False)
            least = pc.min(table[field.invalid]).as_py()
        elif bad_values is not None:
            least = min(as_hex(bad_values).to_pylist())
        if bad_rows is not None and bad_rows.any():
            parts.append(
                _rows(
                    field.invalid_name,
                    INVALID,
                    1,
                    VALUE=[least],
                    NUMBER=[float(n[bad_rows].sum())],
                    COUNT=[1],
                )
            )
        summarise = _date if field.value_type == mc.DEMOGRAPHIC_DATE else _categorical
        parts.append(summarise(field, patient, rank, names, n, episodes))
    columns = {name: list(chain.from_iterable(p[name] for p in parts)) for name in SCHEMA.names}
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def map_partitions(
    patient_key: str, fields: Sequence[PatternField]
):  # -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]
    """The ``mapInArrow`` function: the whole partition at once (a patient's rows may be in
    any of its batches), then its partial pattern counts."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        batches = list(batches)
        if not batches or not any(b.num_rows for b in batches):
            return
        table = pa.Table.from_batches(batches)
        yield from partition_patterns(table, patient_key, fields).to_batches()

    return run
