"""Text operations on HES code columns shared by the simulator and the generator.

Each accepts plain text or dictionary-encoded text (the generator's sampled columns): on a
dictionary the per-code work is done once per distinct code, and only the result is
expanded to the rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.arrow_buffers import masked_array, validity_buffer


def concat_codes(columns: list[pa.Array], n: int) -> pa.Array:
    """Non-null, non-empty codes joined with commas in column order; null when there are none.

    One ``binary_join_element_wise`` with ``null_handling="skip"``. In pyarrow 26 that kernel
    drops the rows whose inputs are all null from its output (the result is shorter than
    ``n``), so such rows get an empty first code, which joins to ``""``; those rows, and only
    those, are then made null. Adjacent dictionary-encoded columns with small dictionaries are
    joined in pairs first, once per pair of distinct codes (:func:`_in_pairs`), which halves the
    columns the kernel joins. (Two byte-level joins in numpy were tried on the generator's
    dictionary-encoded codes, the last through inlined ``string_view`` elements: neither beat
    the kernel by more than the noise of a shared machine.)
    """
    columns = _in_pairs(columns, n)
    codes = [non_empty(c) for c in columns]
    if not codes:
        return pa.nulls(n, type=pa.string())
    none = np.ones(n, dtype=bool)
    for c in codes:
        if c.null_count < len(c):
            none &= c.is_null().to_numpy(zero_copy_only=False)
    first = pc.if_else(pa.array(none), pa.scalar(""), codes[0]) if none.any() else codes[0]
    joined = pc.binary_join_element_wise(first, *codes[1:], ",", null_handling="skip")
    if len(joined) != n:  # the kernel's behaviour changed: fail rather than misalign rows
        raise RuntimeError(f"joining {len(codes)} code columns gave {len(joined)} rows, not {n}")
    if not none.any():
        return joined
    # The rows with no code are exactly those that joined to "": they become null by a new
    # validity bitmap over the same offsets and bytes (no copy of the joined text).
    joined = joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined
    _validity, offsets, data = joined.buffers()
    is_null = np.concatenate([np.zeros(joined.offset, dtype=bool), none])  # bits from offset
    return pa.Array.from_buffers(
        pa.string(), n, [validity_buffer(is_null), offsets, data], offset=joined.offset
    )


#: Two adjacent dictionary-encoded columns are joined as a pair when the pairs of their
#: distinct codes (null included) number at most ``rows // PAIRS_PER_ROW``: joining that cross
#: product then costs a small share of joining the rows.
PAIRS_PER_ROW = 8


def _in_pairs(columns: list[pa.Array], n: int) -> list[pa.Array]:
    """``columns`` with adjacent dictionary-encoded columns replaced, where their dictionaries
    are small enough, by one dictionary-encoded column of their joined pair (``"A01,B02"``,
    ``"A01"``, or null when neither holds a code): the same text once joined."""
    out: list[pa.Array] = []
    i = 0
    while i < len(columns):
        a = columns[i]
        b = columns[i + 1] if i + 1 < len(columns) else None
        if (
            b is not None
            and pa.types.is_dictionary(a.type)
            and pa.types.is_dictionary(b.type)
            and (len(a.dictionary) + 1) * (len(b.dictionary) + 1) <= n // PAIRS_PER_ROW
        ):
            out.append(_joined_pair(a, b))
            i += 2
        else:
            out.append(a)
            i += 1
    return out


def _joined_pair(a: pa.DictionaryArray, b: pa.DictionaryArray) -> pa.DictionaryArray:
    """One column of the joined codes of ``a`` and ``b``: its dictionary is every pair of
    their distinct codes (a last, null entry each for a null row) joined by
    :func:`concat_codes`, and each row points at its own pair."""
    width_a, width_b = len(a.dictionary) + 1, len(b.dictionary) + 1
    first = np.repeat(np.arange(width_a), width_b)
    second = np.tile(np.arange(width_b), width_a)
    pairs = concat_codes(
        [
            a.dictionary.take(masked_array(first, first == width_a - 1)),
            b.dictionary.take(masked_array(second, second == width_b - 1)),
        ],
        width_a * width_b,
    )
    row_a = a.indices.fill_null(width_a - 1).to_numpy(zero_copy_only=False).astype(np.int32)
    row_b = b.indices.fill_null(width_b - 1).to_numpy(zero_copy_only=False).astype(np.int32)
    return pa.DictionaryArray.from_arrays(pa.array(row_a * width_b + row_b), pairs)


#: Codes that stand for "no code" in HES code fields: not counted by ``count`` derivations.
NULL_CODES = ("&", "-")


def _blank_empty(text: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def non_empty(arr: pa.Array) -> pa.Array:
    """The codes as plain text with empty strings made null."""
    if pa.types.is_dictionary(arr.type):
        return _blank_empty(arr.dictionary.cast(pa.string())).take(arr.indices)
    return _blank_empty(arr.cast(pa.string()))


def is_real_code(arr: pa.Array) -> np.ndarray:
    """Rows holding a code: not null, not empty and not one of :data:`NULL_CODES`."""

    def real(text: pa.Array) -> np.ndarray:
        text = text.cast(pa.string())
        bad = pc.or_(pc.equal(text, ""), pc.is_in(text, pa.array(NULL_CODES)))
        return (
            pc.and_(pc.is_valid(text), pc.invert(bad))
            .fill_null(False)
            .to_numpy(zero_copy_only=False)
        )

    if pa.types.is_dictionary(arr.type):
        per_code = real(arr.dictionary)
        indices = arr.indices
        picked = per_code[indices.fill_null(0).to_numpy(zero_copy_only=False)]
        return picked & indices.is_valid().to_numpy(zero_copy_only=False)
    return real(arr)


def count_codes(columns: list[pa.Array], n: int) -> pa.Array:
    """The ``count`` derivation: how many of ``columns`` hold a code, per row."""
    total = np.zeros(n, dtype=np.int32)
    for column in columns:
        total += is_real_code(column)
    return pa.array(total)


def truncate_codes(arr: pa.Array, length: int) -> pa.Array:
    """The first ``length`` characters of each code (``truncate``: DIAG_3_01 from DIAG_4_01).

    A dictionary-encoded column stays encoded: its distinct codes are cut and encoded again
    (two four-character codes share one three-character code), and the rows keep pointing
    at them.
    """
    if not pa.types.is_dictionary(arr.type):
        return pc.utf8_slice_codeunits(arr.cast(pa.string()), 0, length)
    cut = pc.dictionary_encode(pc.utf8_slice_codeunits(arr.dictionary.cast(pa.string()), 0, length))
    return pa.DictionaryArray.from_arrays(cut.indices.take(arr.indices), cut.dictionary)


def text_codes(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``(distinct values, per-row index into them)`` of a text column; a null row is -1.

    Lets per-row work (comparisons, swaps between rows) run on integers: a dictionary-encoded
    column keeps its dictionary (made distinct, so equal text means an equal index), plain text
    is encoded first.
    """
    if pa.types.is_dictionary(arr.type):
        dictionary, indices = arr.dictionary.cast(pa.string()), arr.indices
    else:
        encoded = pc.dictionary_encode(arr.cast(pa.string()))
        dictionary, indices = encoded.dictionary, encoded.indices
    distinct = pc.unique(dictionary.drop_null())
    codes = np.full(len(indices), -1, dtype=np.int64)
    if len(distinct):
        remap = pc.index_in(dictionary, value_set=distinct).fill_null(-1).to_numpy()
        row_index = indices.fill_null(0).to_numpy(zero_copy_only=False)
        valid = indices.is_valid().to_numpy(zero_copy_only=False)
        codes[valid] = remap[row_index[valid]]
    return distinct, codes
