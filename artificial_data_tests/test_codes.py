"""CONCAT of HES codes keeps every row (pyarrow 26's null-skipping join drops all-null rows)."""

import numpy as np
import pyarrow as pa

from artificial_data.common.codes import (
    _in_pairs,
    concat_codes,
    count_codes,
    non_empty,
    text_codes,
    truncate_codes,
)


def test_concat_keeps_rows_whose_codes_are_all_null():
    a = pa.array(["A01", None, None, "", "&"])
    b = pa.array(["B02", None, "C03", None, "-"])
    joined = concat_codes([a, b], 5)
    assert joined.to_pylist() == ["A01,B02", None, "C03", None, "&,-"]


def _joined_row_by_row(columns: list[pa.Array]) -> list[str | None]:
    """The rule written out in Python: the reference for the vectorised join."""
    out = []
    for row in zip(*(c.to_pylist() for c in columns), strict=True):
        kept = [v for v in row if v not in (None, "")]
        out.append(",".join(kept) if kept else None)
    return out


def test_concat_matches_the_rule_row_by_row_on_random_codes():
    """Plain and dictionary-encoded codes (the generator's), nulls and empty codes in the
    dictionary too, give the rule; at 2,000 rows the encoded columns are joined in pairs
    first (an odd one left over at 3 columns), at 500 they are not."""
    rng = np.random.default_rng(16)
    for values in (pa.array(["A01", "B2", "C034", "", "&", None, "X123456"]),):
        cases = [(2_000, 20, 0.9), (2_000, 3, 0.3), (500, 1, 0.5), (500, 3, 1.0), (0, 2, 0.5)]
        for n, k, null_share in cases:
            indices = [
                pa.array(
                    rng.integers(0, len(values), n), pa.int32(), mask=rng.random(n) < null_share
                )
                for _ in range(k)
            ]
            plain = [values.take(i) for i in indices]
            encoded = [pa.DictionaryArray.from_arrays(i, values) for i in indices]
            for columns in (plain, encoded):
                joined = concat_codes(columns, n)
                joined.validate(full=True)  # the arrays are built from buffers
                assert joined.type == pa.string()
                assert joined.to_pylist() == _joined_row_by_row(plain)
            assert len(_in_pairs(encoded, n)) == ((k + 1) // 2 if n == 2_000 else k)


def test_concat_accepts_dictionary_encoded_codes():
    codes = pa.DictionaryArray.from_arrays(pa.array([0, None, 1], type=pa.int32()), ["X1", "Y2"])
    joined = concat_codes([codes, pa.array([None, None, "Z3"])], 3)
    assert joined.to_pylist() == ["X1", None, "Y2,Z3"]


def _encoded(values: list[str | None], indices: list[int | None]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices, type=pa.int32()), pa.array(values))


def test_count_and_truncate_give_the_same_on_dictionary_and_plain_codes():
    """The generator's sampled columns are dictionary-encoded, the simulator's plain: one
    rule, the same answer for both."""
    encoded = _encoded(["A011", "", "&", "-", "B022", "A012"], [0, 1, 2, 3, None, 4, 5, 5])
    plain = encoded.cast(pa.string())
    other = pa.array(["X", None, "-", "Y", "", "Z", None, "&"])
    for codes in (encoded, plain):
        assert count_codes([codes, other], 8).to_pylist() == [2, 0, 0, 1, 0, 2, 1, 1]
        cut = truncate_codes(codes, 3)
        assert cut.cast(pa.string()).to_pylist() == [
            "A01", "", "&", "-", None, "B02", "A01", "A01",
        ]  # fmt: skip
    assert pa.types.is_dictionary(truncate_codes(encoded, 3).type)
    assert truncate_codes(encoded, 3).dictionary.to_pylist() == ["A01", "", "&", "-", "B02"]
    assert non_empty(encoded).to_pylist() == non_empty(plain).to_pylist()


def test_text_codes_give_equal_indices_to_equal_text_and_minus_one_to_null():
    """Rows are compared by index (the generator's birth-month swaps): equal text must mean an
    equal index, even where a dictionary holds a value twice or a null."""
    repeated = _encoded(["011990", None, "021985", "011990"], [0, 1, 2, 3, None, 0])
    plain = repeated.cast(pa.string())
    for column in (repeated, plain):
        distinct, codes = text_codes(column)
        decoded = [None if c < 0 else distinct[c].as_py() for c in codes]
        assert decoded == plain.to_pylist()
        assert len(set(distinct.to_pylist())) == len(distinct) == 2
    empty, codes = text_codes(pa.array([None, None], pa.string()))
    assert len(empty) == 0 and codes.tolist() == [-1, -1]
