"""CONCAT of HES codes keeps every row (pyarrow 26's null-skipping join drops all-null rows)."""

import pyarrow as pa

from artificial_data.common.codes import concat_codes


def test_concat_keeps_rows_whose_codes_are_all_null():
    a = pa.array(["A01", None, None, "", "&"])
    b = pa.array(["B02", None, "C03", None, "-"])
    joined = concat_codes([a, b], 5)
    assert joined.to_pylist() == ["A01,B02", None, "C03", None, "&,-"]
