"""Scrape errors name dataset, year and field, and never carry a raw value (issue 11).

A value is planted in each kind of pass (frequencies, continuous percentiles, patient
patterns) and the error, with everything chained to it, is searched for it. Text that is not
UTF-8 is planted both through a Parquet file, as a real extract would bring it, and as a cast
of bytes in Spark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from artificial_data.scraper.scrape import ScrapeInputError, read_source, scrape
from artificial_data_tests.test_scrape import hand_made, to_spark, toy_spec

pytestmark = pytest.mark.spark

YEAR = "2122"
SECRET = "SECRETVALUE12"
#: Not UTF-8 from byte 6 on (a lone 0xff), with recognisable text either side.
SECRET_BYTES = b"SECRET\xffVALUE12"
PLANTED_ROWS = (3, 40, 77)  # episodes of three different patients (see hand_made)
REPO = Path(__file__).resolve().parents[1]


def everything_said(error: BaseException) -> str:
    """The error as a run history would show it: message, traceback and chained errors."""
    return "".join(traceback.format_exception(error))


def assert_says_nothing_of_the_value(error: BaseException) -> None:
    said = everything_said(error)
    for fragment in (SECRET, "SECRET", "VALUE12", SECRET_BYTES.hex(), SECRET_BYTES.hex().upper()):
        assert fragment not in said
    assert "\ufffd" not in said and "\\xff" not in said


def plant(df, field: str, value, as_text: bool = False):
    """``df`` with ``value`` (a Column) in ``field`` at ``PLANTED_ROWS``; ``as_text`` first
    turns the whole column into text, as an extract that holds numbers as text would."""
    column = F.col(field).cast("string") if as_text else F.col(field)
    key = F.col("KEY") - 10**11
    return df.withColumn(field, F.when(key.isin(*PLANTED_ROWS), value).otherwise(column))


@pytest.fixture(scope="module")
def clean(spark):
    spec = toy_spec()
    return spec, to_spark(spark, spec, hand_made())


@pytest.mark.parametrize(
    ("field", "as_text", "expects", "role", "such"),
    [
        ("NUM", True, "a number", "categorical", "1 distinct such value"),  # frequency pass
        ("ADMIDATE", True, "a date (YYYY-MM-DD)", "date", "1 distinct such value"),
        ("ARRTIME", False, "a time of day HHMM", "continuous", "3 such value"),  # continuous
        ("DUR", True, "a number", "continuous", "3 such value"),
    ],
)
def test_a_bad_value_is_described_by_its_shape_only(clean, field, as_text, expects, role, such):
    spec, df = clean
    bad = plant(df, field, F.lit(SECRET), as_text=as_text)
    with pytest.raises(ScrapeInputError) as raised:
        scrape(bad, spec, YEAR)
    message = str(raised.value)
    shape = "a value of shape 'AAAAAAAAAAA99' (13 characters)"
    assert message.startswith(f"toy {YEAR} {field}: {shape} cannot be read as {expects} ")
    assert f"role {role})" in message and such in message
    assert_says_nothing_of_the_value(raised.value)


@pytest.mark.parametrize(
    ("field", "as_text", "role", "counted"),
    [
        ("CODE", False, "categorical", "3 value(s) (1 distinct)"),  # frequency pass
        ("NUM", True, "categorical", "3 value(s) (1 distinct)"),  # frequency pass, checked cast
        ("ARRTIME", False, "continuous", "3 value(s)"),  # continuous pass
        ("SEX", False, "patient_categorical", "3 value(s)"),  # patient pass
        ("MYDOB", False, "patient_date", "3 value(s)"),
    ],
)
def test_text_that_is_not_utf8_is_named_with_the_offset_of_its_first_bad_byte(
    clean, field, as_text, role, counted
):
    spec, df = clean
    invalid = F.unhex(F.lit(SECRET_BYTES.hex())).cast("string")
    with pytest.raises(ScrapeInputError) as raised:
        scrape(plant(df, field, invalid, as_text=as_text), spec, YEAR)
    message = str(raised.value)
    assert message.startswith(f"toy {YEAR} {field}: {counted} are not valid UTF-8 text")
    assert f"role {role})" in message
    assert "value of 14 bytes the first invalid byte is at byte offset 6" in message
    assert_says_nothing_of_the_value(raised.value)


@pytest.mark.parametrize(
    ("field", "counted"),
    [
        ("CODE", r"3 value\(s\) \(1 distinct\)"),  # frequency pass, checked in the worker
        ("SEX", r"3 value\(s\) are"),  # patient pass, checked in the worker too
    ],
)
def test_a_parquet_extract_with_latin1_bytes_fails_naming_the_field(
    spark, tmp_path, field, counted
):
    """Without the check this failed inside Arrow ('Wrapping ... failed'), echoing the bytes."""
    spec = toy_spec()
    table = pa.Table.from_pandas(hand_made()[spec.field_names], preserve_index=False)
    codes = [None if v is None else v.encode() for v in table.column(field).to_pylist()]
    for row in PLANTED_ROWS:
        codes[row] = SECRET_BYTES
    as_string = pa.array(codes, pa.binary()).view(pa.string())  # no validation, as a raw file
    table = table.set_column(table.schema.get_field_index(field), field, as_string)
    pq.write_table(table, tmp_path / "part-0.parquet")
    source = read_source(spark, spec, YEAR, str(tmp_path))
    with pytest.raises(ScrapeInputError, match=rf"^toy 2122 {field}: {counted}") as e:
        scrape(source, spec, YEAR)
    assert "byte offset 6" in str(e.value)
    assert_says_nothing_of_the_value(e.value)


def test_a_dead_spark_session_is_reported_as_such(tmp_path):
    """In a subprocess, so that the shared test session survives: kill its JVM, then scrape."""
    pq.write_table(pa.table({"CODE": ["A"]}), tmp_path / "part-0.parquet")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run(
        [sys.executable, "-m", "artificial_data_tests.dead_spark_driver", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    errors = json.loads(done.stdout.strip().splitlines()[-1])
    for call in ("scrape", "read_source"):
        assert errors[call]["type"] == "SparkSessionStopped", errors
        assert errors[call]["message"].startswith(
            f"toy {YEAR}: Spark session is not running (its JVM has stopped): restart the code "
            "location"
        )


@pytest.mark.parametrize("planted", [-3.0, 9_434_765_919.0])
def test_a_continuous_value_outside_its_declared_range_fails_the_scrape(clean, planted):
    """DUR's domain is duration_days (0 to 36525): a negative duration or an NHS number held
    as a length of stay would shape the outer percentiles, so nothing is scraped."""
    spec, df = clean
    bad = plant(df, "DUR", F.lit(planted).cast("int" if planted < 0 else "long"))
    with pytest.raises(ScrapeInputError) as raised:
        scrape(bad, spec, YEAR)
    message = str(raised.value)
    assert message.startswith(f"toy {YEAR} DUR: 3 value(s) lie outside the declared domain")
    assert "duration_days" in message and "Nothing was written" in message
    assert "9434765919" not in everything_said(raised.value)


#: Byte strings at the edges of UTF-8: which ones are valid is Spark's rule, taken as the truth.
EDGE_BYTES = [
    b"A1",
    "\u00e9t\u00e9".encode(),  # two-byte characters
    b"\xf0\x9f\x98\x80",  # four bytes, U+1F600
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF, the last code point
    b"\xc0\xaf",  # overlong '/'
    b"\xed\xa0\x80",  # a surrogate half
    b"\xf4\x90\x80\x80",  # above U+10FFFF
    b"\xe2\x82",  # truncated three-byte character
    b"\x80A",  # lone continuation byte
    b"",
]
#: Which of ``EDGE_BYTES`` Spark's ``is_valid_utf8`` accepts (the test below holds Spark to it).
SPARK_ACCEPTS = dict(zip(EDGE_BYTES, [True] * 4 + [False] * 5 + [True], strict=True))


def test_the_workers_utf8_check_agrees_with_sparks_and_keeps_invalid_text_as_hex(spark, tmp_path):
    """The frequency pass hands text over unchecked and checks its distinct values in the
    worker (``unchecked_text.invalid_utf8``): on every edge byte string it must say what Spark's
    ``is_valid_utf8`` says, count the valid ones as text and the others only as hex."""
    from artificial_data.scraper.scrape.casts import plan_casts
    from artificial_data.scraper.scrape.frequencies import INVALID_PREFIX, count_values

    spark_says = {
        bytes(row["b"]): row["ok"]
        for row in spark.createDataFrame([(b,) for b in EDGE_BYTES], "b binary")
        .select("b", F.is_valid_utf8(F.col("b").cast("string")).alias("ok"))
        .collect()
    }
    assert spark_says == SPARK_ACCEPTS

    spec = toy_spec()
    table = pa.Table.from_pandas(hand_made()[spec.field_names], preserve_index=False)
    codes = [EDGE_BYTES[i % len(EDGE_BYTES)] for i in range(table.num_rows)]
    as_string = pa.array(codes, pa.binary()).view(pa.string())  # unchecked, as a raw file
    table = table.set_column(table.schema.get_field_index("CODE"), "CODE", as_string)
    pq.write_table(table, tmp_path / "part-0.parquet")
    source = read_source(spark, spec, YEAR, str(tmp_path))
    casts = [c for c in plan_casts(spec, source.schema, YEAR) if c.field.name == "CODE"]
    assert casts[0].text is not None  # read unchecked: the check below is the worker's

    counts = count_values(source, casts)
    got = {(r.FIELD_NAME, r.KEY): r.COUNT for r in counts.itertuples()}
    expected: dict = {}
    for b in codes:
        key = ("CODE", b.decode()) if spark_says[b] else (INVALID_PREFIX + "CODE", b.hex().upper())
        expected[key] = expected.get(key, 0) + 1
    assert got == expected
