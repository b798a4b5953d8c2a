"""Patient patterns of one Spark partition, vectorised over Arrow arrays (DESIGN §6, §8).

Runs in Spark's Python workers (``mapInArrow``) on a partition that holds *all* the episodes of
each of its patients (the rows are hashed by the patient key first): one row per episode, or
per combination of a patient's field values with the number ``n`` of episodes that have it. It
returns only partial counts of patients per pattern, never a patient; the driver adds the
partitions' counts (:func:`sum_partials`).

Every per-patient step is an integer array operation: a patient is a code, a value is its rank
among the partition's sorted distinct values of the field (null last), a (patient, value) pair
is one int64 key, and one sort of those keys both counts them and puts each patient's values in
order. Patterns of several values are grouped as rows of a matrix,
one matrix per number of values. Shares are rounded as Spark's ``round`` does (half up, on the
shortest decimal form of the double), once per distinct (count, episodes) pair.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pandas as pd
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
    """The distinct rows of a non-negative int64 matrix in lexicographic order and how often
    each occurs (``np.unique(axis=0)`` sorts a structured view, several times slower than
    this). A row that fits one int64 as digits of base ``max + 1`` is counted as that number
    (one integer sort); wider rows by a lexsort of the columns."""
    rows, width = matrix.shape
    base = int(matrix.max()) + 1 if rows else 1
    if base**width < 2**62:
        place = base ** np.arange(width - 1, -1, -1, dtype=np.int64)
        keys, counts = np.unique(matrix @ place, return_counts=True)
        return keys[:, None] // place % base, counts
    order = np.lexsort(matrix.T[::-1])
    ordered = matrix[order]
    starts = np.flatnonzero(np.r_[True, (ordered[1:] != ordered[:-1]).any(axis=1)])
    return ordered[starts], np.diff(np.r_[starts, len(ordered)])


def _sum_by_key(keys: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct keys and the sum of ``n`` over each (the keys come ordered by
    patient, so the stable sort only orders values within a patient)."""
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


def _rows(field: str, value_type: str, count: int, **columns) -> pa.Table:
    """``count`` rows of :data:`SCHEMA` for one field; absent columns are null."""
    return pa.table(
        {name: columns.get(name, pa.nulls(count, SCHEMA.field(name).type)) for name in SCHEMA.names}
        | {"FIELD_NAME": [field] * count, "VALUE_TYPE": [value_type] * count},
        schema=SCHEMA,
    )


def _categorical(
    field: PatternField,
    patient: np.ndarray,
    rank: np.ndarray,
    names: list,
    n: np.ndarray,
    episodes: np.ndarray,
) -> pa.Table:
    """Patients per pattern (sorted distinct values, each value's share of episodes, 1 dp)."""
    width = len(names)
    keys, counts = _sum_by_key(patient * width + rank, n)
    who, value = keys // width, keys % width
    shares10 = np.rint(spark_round(counts, episodes[who], 1) * 10).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
    sizes = np.diff(np.r_[starts, len(who)])
    codes: list[np.ndarray] = []  # each pattern's values (ranks), row after row
    tenths: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    count_col: list[np.ndarray] = []
    for k in np.unique(sizes).tolist():
        first = starts[sizes == k]
        at = first[:, None] + np.arange(k)[None, :]
        matrix = value[at] * 11 + shares10[at]  # share in tenths, 0..10
        patterns, tally = _count_rows(matrix)
        codes.append((patterns // 11).ravel())
        tenths.append((patterns % 11).ravel())
        lengths.append(np.full(len(patterns), k, dtype=np.int32))
        count_col.append(tally)
    offsets = pa.array(np.r_[0, np.cumsum(np.concatenate(lengths))].astype(np.int32))
    flat_codes = pa.array(np.concatenate(codes))
    values = pa.ListArray.from_arrays(offsets, pa.array(names, pa.string()).take(flat_codes))
    shares = pa.ListArray.from_arrays(offsets, pa.array(np.concatenate(tenths) / 10))
    return _rows(
        field.name,
        field.value_type,
        len(values),
        VALUES=values,
        SHARES=shares,
        COUNT=pa.array(np.concatenate(count_col), pa.int64()),
    )


def _date(
    field: PatternField,
    patient: np.ndarray,
    rank: np.ndarray,
    names: list,
    n: np.ndarray,
    episodes: np.ndarray,
) -> pa.Table:
    """Patients per (modal value, share of episodes that have it, 2 dp); ties go to the
    greatest value, and null counts as smaller than any value."""
    width = len(names)
    keys, counts = _sum_by_key(patient * width + rank, n)
    who, value = keys // width, keys % width
    # Each patient's best (count, value), null below every value, as one number whose
    # maximum over the patient's run of keys (they are sorted by patient) is the modal value.
    score = counts * (width + 1) + np.where(value == width - 1, 0, value + 1)
    starts = np.flatnonzero(np.r_[True, who[1:] != who[:-1]])
    best = np.maximum.reduceat(score, starts)
    modal_count, modal = best // (width + 1), best % (width + 1) - 1
    modal = np.where(modal < 0, width - 1, modal)
    number = spark_round(modal_count, episodes[who[starts]], 2)
    pairs, tally = _count_rows(np.stack([modal, np.rint(number * 100).astype(np.int64)], axis=1))
    return _rows(
        field.name,
        field.value_type,
        len(tally),
        VALUE=[names[v] for v in pairs[:, 0].tolist()],
        NUMBER=[h / 100 for h in pairs[:, 1].tolist()],
        COUNT=tally.tolist(),
    )


def partition_patterns(table: pa.Table, patient_key: str, fields: Sequence[PatternField]):
    """Patients per pattern in ``table``, as one Arrow table of :data:`SCHEMA`.

    ``table`` has a column ``pid``, the fields' columns and, optionally, ``n``: the episodes
    each row stands for (a row may be a combination of values several episodes share);
    without it every row is one episode, as the pass hands them over.

    The rows are put in patient order once, by an integer sort of the patient codes, so that
    every later (patient, value) key array is already ordered by patient and each per-field sort
    only has to order values within a patient (a stable sort on such runs is near linear)."""
    pid = pc.dictionary_encode(table["pid"]).combine_chunks()
    patient = pid.indices.to_numpy().astype(np.int64)
    by_patient = np.argsort(patient)  # the order within a patient does not matter
    patient = patient[by_patient]
    n = (
        table["n"].to_numpy().astype(np.int64)[by_patient]
        if "n" in table.column_names
        else np.ones(len(patient), dtype=np.int64)
    )
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
        rank = rank[by_patient]
        if field.invalid is not None:
            bad_rows = ~pc.is_null(table[field.invalid]).to_numpy(zero_copy_only=False)
            least = pc.min(table[field.invalid]).as_py()
        elif bad_values is not None:
            least = min(as_hex(bad_values).to_pylist())
        if bad_rows is not None:
            bad_rows = bad_rows[by_patient]
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
    return pa.concat_tables(parts)


def pattern_keys(values: pa.ListArray, shares: pa.ListArray) -> pa.Array:
    """One text per categorical pattern that no other pattern has, so that Arrow can group on
    it (it groups on no list): each value as ``<length>:<value>:<share in tenths>``, a null
    value as ``~:~:<tenths>``, joined by ``;``; null where there is no pattern. The length
    (in code points) says where a value ends whatever it contains, so no two patterns share a
    key."""
    flat_values = values.flatten()
    length = pc.cast(pc.utf8_length(flat_values), pa.string())
    tenths = pc.cast(pc.round(pc.multiply(shares.flatten(), 10)), pa.int64())
    token = pc.binary_join_element_wise(
        length,
        flat_values,
        pc.cast(tenths, pa.string()),
        ":",
        null_handling="replace",
        null_replacement="~",
    )
    lengths = pc.fill_null(pc.list_value_length(values), 0).to_numpy(zero_copy_only=False)
    offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int32))
    tokens = pa.ListArray.from_arrays(offsets, token, mask=values.is_null())
    return pc.binary_join(tokens, ";")


def sum_partials(partials: pa.Table) -> pd.DataFrame:
    """The partitions' partial counts (:data:`SCHEMA`) added up per pattern, in the same
    columns, VALUES and SHARES as plain Python lists.

    Done on the driver with Arrow's hash aggregation on flat keys (:func:`pattern_keys`), not
    by Spark: on 1M APC rows a Spark ``groupBy`` of the partials, a second stage, cost more
    than the whole sum here (docs/performance.md, session 12). The partials are small: patterns
    per partition, never a patient."""
    with _no_cyclic_gc():
        return _sum_partials(partials.combine_chunks())


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Python's cyclic collector off while tens of thousands of plain lists are built: they
    hold no cycles, and on the driver's heap the collections it set off took 0.10 of 0.18 s
    (1M APC rows, session 12)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _sum_partials(partials: pa.Table) -> pd.DataFrame:
    keyed = pa.table(
        {
            "FIELD_NAME": partials["FIELD_NAME"],
            "VALUE_TYPE": partials["VALUE_TYPE"],
            "PATTERN": pattern_keys(partials["VALUES"].chunk(0), partials["SHARES"].chunk(0))
            if partials.num_rows
            else pa.nulls(0, pa.string()),
            "VALUE": partials["VALUE"],
            "NUMBER": partials["NUMBER"],
            "COUNT": partials["COUNT"],
            "ROW": pa.array(np.arange(partials.num_rows, dtype=np.int64)),
        }
    )
    summed = keyed.group_by(
        ["FIELD_NAME", "VALUE_TYPE", "PATTERN", "VALUE", "NUMBER"], use_threads=False
    ).aggregate([("COUNT", "sum"), ("ROW", "min")])
    first = partials.take(summed["ROW_min"])  # one partial row of each pattern
    return pd.DataFrame(
        {
            "FIELD_NAME": summed["FIELD_NAME"].to_pylist(),
            "VALUE_TYPE": summed["VALUE_TYPE"].to_pylist(),
            "VALUES": first["VALUES"].to_pylist(),
            "SHARES": first["SHARES"].to_pylist(),
            "VALUE": summed["VALUE"].to_pylist(),
            "NUMBER": summed["NUMBER"].to_numpy(zero_copy_only=False).astype(float),
            "COUNT": summed["COUNT_sum"].to_numpy().astype("int64"),
        }
    )


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
