"""Text operations on HES code columns shared by the simulator and the generator."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def concat_codes(columns: list[pa.Array], n: int) -> pa.Array:
    """Non-null, non-empty codes joined with commas in column order; null when there are none.

    Vectorised as one list per row: the codes are laid out row by row, nulls and empty
    strings are filtered out, and ``binary_join`` joins each row's list. (Not
    ``binary_join_element_wise(null_handling="skip")``: in pyarrow 26 it drops the rows whose
    inputs are all null.)
    """
    k = len(columns)
    codes = [non_empty(c) for c in columns]
    flat = pa.concat_arrays(codes)  # column-major: column j holds rows j*n .. j*n+n-1
    row_major = (np.arange(k)[None, :] * n + np.arange(n)[:, None]).ravel()
    valid = np.stack([c.is_valid().to_numpy(zero_copy_only=False) for c in codes], axis=1)
    kept = flat.take(pa.array(row_major[valid.ravel()]))
    offsets = np.concatenate([[0], np.cumsum(valid.sum(axis=1))]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), kept)
    joined = pc.binary_join(lists, ",")
    return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)


def non_empty(arr: pa.Array) -> pa.Array:
    """The codes as text with empty strings made null."""
    text = arr.cast(pa.string())
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
