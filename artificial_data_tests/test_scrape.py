"""The scraper on small Spark frames: exact metadata per role, suppression, fail-closed input.

Spark is used sparingly: a handful of scrapes of hand-made frames of at most a few thousand
rows, built from pandas.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.schema import spark_schema
from artificial_data.scraper.scrape import ScrapeInputError, check_source, read_source, scrape
from artificial_data_tests import toy_specs
from artificial_data_tests.toy_specs import patient_key, record_key

pytestmark = pytest.mark.spark

FIELDS = [
    record_key(),
    patient_key(),
    {"name": "CODE", "type": "string", "role": "categorical"},
    {"name": "NUM", "type": "int", "role": "categorical"},
    {"name": "ADMIDATE", "type": "date", "role": "date"},
    {"name": "DUR", "type": "int", "role": "continuous"},
    {"name": "ARRTIME", "type": "string", "role": "continuous", "time_of_day": True},
    {"name": "SEX", "type": "string", "role": "patient_categorical"},
    {"name": "MYDOB", "type": "string", "role": "patient_date"},
    {
        "name": "CODE_1",
        "type": "string",
        "role": "derived",
        "derivation": {"kind": "truncate", "source": "CODE", "length": 1},
    },
]


def toy_spec(fields=FIELDS, **overrides):
    return toy_specs.toy_spec(fields, **overrides)


def hand_made() -> pd.DataFrame:
    """81 episodes of 41 patients, built so that every expected count is known by hand.

    Patients: 20 with 1 episode (SEX 1, MYDOB 011990); 8 with 2 (SEX null+2, MYDOB null);
    10 with 3 (SEX 1,1,2; MYDOB 021980 twice, 031980 once); 3 with 5 (SEX 2, MYDOB 041970).
    """
    rows = []

    def patient(pid, sexes, dobs):
        for sex, dob in zip(sexes, dobs, strict=True):
            rows.append({"PID": pid, "SEX": sex, "MYDOB": dob})

    for p in range(20):
        patient(f"A{p}", ["1"], ["011990"])
    for p in range(8):
        patient(f"D{p}", [None, "2"], [None, None])
    for p in range(10):
        patient(f"B{p}", ["1", "1", "2"], ["021980", "021980", "031980"])
    for p in range(3):
        patient(f"C{p}", ["2"] * 5, ["041970"] * 5)
    df = pd.DataFrame(rows)
    n = len(df)
    assert n == 81
    df["KEY"] = np.arange(n) + 10**11
    # CODE: A x7 (dropped), B x8 -> 10, C x12 -> 10, D x13 -> 15, null x41 -> 40
    df["CODE"] = ["A"] * 7 + ["B"] * 8 + ["C"] * 12 + ["D"] * 13 + [None] * 41
    df["NUM"] = pd.array([1] * 40 + [2] * 33 + [None] * 8, dtype="Int32")
    df["ADMIDATE"] = [date(2021, 4, 1)] * 73 + [None] * 8
    df["DUR"] = pd.array(list(range(1, 41)) + [None] * 41, dtype="Int32")
    df["ARRTIME"] = ["0000"] * 20 + ["12:30"] * 41 + ["2359"] * 20
    df["CODE_1"] = "Z"
    return df


def to_spark(spark, spec, pdf: pd.DataFrame):
    table = pa.Table.from_pandas(pdf[spec.field_names], preserve_index=False)
    return spark.createDataFrame(table.to_pandas(), schema=spark_schema(spec))


def expected_rows() -> pd.DataFrame:
    def row(field, vt, s=None, n=math.nan, d=None, sa=None, na=None, w=0.0, wa=None):
        return ["toy", field, vt, s, n, d, sa, na, w, wa]

    rows = [
        row("PID", mc.RELATIONSHIP, n=1.0, w=20.0),
        row("PID", mc.RELATIONSHIP, n=2.0, w=10.0),
        row("PID", mc.RELATIONSHIP, s=mc.TOP_CODED, n=3.0, na=[3.0, 3.0], w=15.0),
        row("CODE", mc.CATEGORICAL, s=None, w=40.0),
        row("CODE", mc.CATEGORICAL, s="B", w=10.0),
        row("CODE", mc.CATEGORICAL, s="C", w=10.0),
        row("CODE", mc.CATEGORICAL, s="D", w=15.0),
        row("NUM", mc.DISCRETE, n=math.nan, w=10.0),
        row("NUM", mc.DISCRETE, n=1.0, w=40.0),
        row("NUM", mc.DISCRETE, n=2.0, w=35.0),
        row("ADMIDATE", mc.DATE, d=None, w=10.0),
        row("ADMIDATE", mc.DATE, d=date(2021, 4, 1), w=75.0),
        # 40 values 1..40 -> quartiles (linear interpolation); 41 nulls -> 40; share 40/80
        row("DUR", mc.CONTINUOUS, n=0.5, na=[10.75, 20.5, 30.25], w=40.0, wa=[0.25, 0.5, 0.75]),
        # 81 values -> deciles; minutes after midnight of 0000, 12:30, 2359
        row(
            "ARRTIME",
            mc.CONTINUOUS,
            n=0.0,
            na=[0.0, 0.0, 750.0, 750.0, 750.0, 750.0, 750.0, 1439.0, 1439.0],
            w=80.0,
            wa=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        ),
        row("SEX", mc.DEMOGRAPHIC_CATEGORICAL, sa=["1"], w=20.0, wa=[1.0]),
        row("SEX", mc.DEMOGRAPHIC_CATEGORICAL, sa=["1", "2"], w=10.0, wa=[0.7, 0.3]),
        row("SEX", mc.DEMOGRAPHIC_CATEGORICAL, sa=["2", None], w=10.0, wa=[0.5, 0.5]),
        row("MYDOB", mc.DEMOGRAPHIC_DATE, s=None, n=1.0, w=10.0),
        row("MYDOB", mc.DEMOGRAPHIC_DATE, s="011990", n=1.0, w=20.0),
        row("MYDOB", mc.DEMOGRAPHIC_DATE, s="021980", n=0.67, w=10.0),
    ]
    return mc.normalise(pd.DataFrame(rows, columns=mc.COLUMNS))


@pytest.fixture(scope="module")
def hand_made_result(spark):
    spec = toy_spec()
    return spec, scrape(to_spark(spark, spec, hand_made()), spec, "2122")


def test_exact_metadata_for_every_role(hand_made_result):
    _, result = hand_made_result
    assert mc.canonical_records(result.rows) == mc.canonical_records(expected_rows())
    assert set(result.rows["TABLE_NAME"]) == {"toy"}


def test_header_and_hash(hand_made_result):
    spec, result = hand_made_result
    h = result.header
    assert (h.dataset, h.table_name, h.financial_year, h.spec_version) == ("toy", "toy", "2122", 3)
    assert h.policy == spec.disclosure.as_dict()
    assert h.source_rows_rounded == 80  # 81 rows, rounded half-up to 5
    assert h.simulated_source is False
    assert result.content_hash == mc.content_hash(result.rows, h)


def test_report_counts_values_kept_and_dropped(hand_made_result):
    _, result = hand_made_result
    fields = result.report["fields"]
    assert fields["CODE"] == {"value_type": mc.CATEGORICAL, "values_kept": 4, "values_dropped": 1}
    assert fields["SEX"]["values_dropped"] == 1 and fields["MYDOB"]["values_dropped"] == 1
    assert fields["DUR"]["quantiles"] == 3 and fields["ARRTIME"]["quantiles"] == 9
    assert fields["PID"]["top_coded_from"] == 3
    assert result.report["not_scraped"] == {"identifier": ["KEY", "PID"], "derived": ["CODE_1"]}
    assert result.report["policy"] == {
        "name": "hes-publication-rule",
        "min_count": 8,
        "rounding_base": 5,
    }


def test_hash_is_stable_under_row_reordering(spark, hand_made_result):
    spec, first = hand_made_result
    shuffled = hand_made().sample(frac=1.0, random_state=3).reset_index(drop=True)
    second = scrape(to_spark(spark, spec, shuffled).repartition(3), spec, "2122")
    assert second.content_hash == first.content_hash


def planted(seed: int = 11, n: int = 3000) -> tuple[pd.DataFrame, dict[str, set]]:
    """Common values plus rare values (raw counts 1-7) planted in every scraped field."""
    rng = np.random.default_rng(seed)
    pids = [f"PAT{i:05d}" for i in rng.integers(0, 900, n)]
    df = pd.DataFrame({"KEY": np.arange(n) + 10**11, "PID": pids})
    df["CODE"] = rng.choice(["A01", "B02", "C03"], n).astype(object)
    df["NUM"] = pd.array(rng.choice([1, 2, 3], n), dtype="Int32")
    df["ADMIDATE"] = [date(2021, 5, 1 + int(d)) for d in rng.integers(0, 3, n)]
    df["DUR"] = pd.array(rng.integers(0, 30, n), dtype="Int32")
    df["ARRTIME"] = [f"{h:02d}00" for h in rng.integers(0, 24, n)]
    df["CODE_1"] = df["CODE"].str[:1]
    rare = {"CODE": set(), "NUM": set(), "ADMIDATE": set()}
    at = 0
    for k in range(1, 8):  # rare value k appears k times in each field
        for _ in range(k):
            df.loc[at, "CODE"] = f"RARE{k}"
            df.loc[at, "NUM"] = 900 + k
            df.loc[at, "ADMIDATE"] = date(2022, 1, k)
            at += 1
        rare["CODE"].add(f"RARE{k}")
        rare["NUM"].add(float(900 + k))
        rare["ADMIDATE"].add(date(2022, 1, k))
    # patient-level fields constant per patient, except 5 patients with a rare SEX value.
    codes = {p: ("1" if int(p[3:]) % 2 else "2") for p in set(pids)}
    df["SEX"] = df["PID"].map(codes)
    df["MYDOB"] = df["PID"].map(lambda p: f"{int(p[3:]) % 4 + 1:02d}1960")
    multi = df["PID"].value_counts()
    oddballs = list(multi[multi >= 2].index[:5])
    df.loc[df["PID"].isin(oddballs), "SEX"] = "X"  # 5 patients: a rare pattern
    rare["SEX"] = {"X"}
    # one heavy patient with 40 episodes: its count must not be published on its own
    df.loc[n - 40 :, "PID"] = "HEAVY"
    return df, rare


def test_no_rare_value_or_identifier_appears_in_the_output(spark):
    spec = toy_spec()
    pdf, rare = planted()
    result = scrape(to_spark(spark, spec, pdf), spec, "2122", simulated_source=True)
    rows = result.rows
    assert result.header.simulated_source is True
    for field, values in rare.items():
        own = rows[rows["FIELD_NAME"] == field]
        published = (
            set(own["VALUE_STRING"].dropna())
            | set(own["VALUE_NUMERIC"].dropna())
            | set(own["VALUE_DATE"].dropna())
            | {v for arr in own["VALUE_STRING_ARRAY"].dropna() for v in arr}
        )
        assert not values & published, field
    assert (rows["WEIGHT"] % 5 == 0).all() and (rows["WEIGHT"] >= 10).all()
    # the heavy patient's 40 episodes never appear as a value of their own
    episodes = rows[rows["VALUE_TYPE"] == mc.RELATIONSHIP]
    assert 40.0 not in set(episodes["VALUE_NUMERIC"])
    assert episodes["VALUE_STRING"].tolist().count(mc.TOP_CODED) == 1
    # identifiers and derived fields are never scraped
    assert set(rows["FIELD_NAME"]) == {
        "PID",
        "CODE",
        "NUM",
        "ADMIDATE",
        "DUR",
        "ARRTIME",
        "SEX",
        "MYDOB",
    }
    assert set(rows.loc[rows["FIELD_NAME"] == "PID", "VALUE_TYPE"]) == {mc.RELATIONSHIP}
    text = " ".join(str(v) for v in rows.to_numpy().ravel())
    assert "PAT0" not in text and "HEAVY" not in text and str(10**11) not in text
    assert "CODE_1" not in text and "KEY" not in set(rows["FIELD_NAME"])


# ------------------------------------------------------------------------------------------
# Fail closed
# ------------------------------------------------------------------------------------------


def test_schema_drift_forbidden_and_missing_columns_are_refused(spark):
    spec = toy_spec()
    df = to_spark(spark, spec, hand_made())
    with pytest.raises(ScrapeInputError, match=r"toy 2122: schema drift.*EXTRA"):
        scrape(df.withColumn("EXTRA", df["CODE"]), spec, "2122")
    with pytest.raises(ScrapeInputError, match=r"toy 2122: .*forbidden identifier.*NHS_NUMBER"):
        check_source(
            df.withColumn("NHS_NUMBER", df["CODE"]),
            toy_spec(excluded_source_columns=["NHS_NUMBER"]),
            "2122",
        )
    with pytest.raises(ScrapeInputError, match=r"toy 2122: spec field\(s\) \['MYDOB'\] missing"):
        check_source(df.drop("MYDOB"), spec, "2122")
    # an excluded column is ignored and never scraped
    excluded = toy_spec(excluded_source_columns=["EXTRA"])
    check_source(df.withColumn("EXTRA", df["CODE"]), excluded, "2122")


def test_empty_partition_is_refused(spark):
    spec = toy_spec()
    empty = spark.createDataFrame([], schema=spark_schema(spec))
    with pytest.raises(ScrapeInputError, match="toy 2122: the source partition is empty"):
        scrape(empty, spec, "2122")
    with pytest.raises(ScrapeInputError, match="toy 2122: the source partition is empty"):
        check_source(empty, spec, "2122")


def test_uncastable_time_of_day_names_dataset_year_field_and_the_value_shape(spark):
    spec = toy_spec()
    pdf = hand_made()
    pdf.loc[5, "ARRTIME"] = "12:3x"
    with pytest.raises(
        ScrapeInputError,
        match=r"toy 2122 ARRTIME: a value of shape '99\?9A' \(5 characters\) cannot be read",
    ) as raised:
        scrape(to_spark(spark, spec, pdf), spec, "2122")
    assert "12:3x" not in str(raised.value)


def test_source_type_that_no_cast_bridges_is_refused(spark):
    spec = toy_spec()
    df = to_spark(spark, spec, hand_made())
    with pytest.raises(
        ScrapeInputError,
        match=r"toy 2122 DUR: source type date cannot be read as "
        r"declared type int",
    ):
        check_source(df.withColumn("DUR", df["ADMIDATE"]), spec, "2122")
    with pytest.raises(ScrapeInputError, match=r"toy 2122 CODE: source type int"):
        check_source(df.withColumn("CODE", df["NUM"]), spec, "2122")


def test_text_source_for_a_numeric_field_is_cast_and_checked(spark):
    spec = toy_spec()
    pdf = hand_made()
    df = to_spark(spark, spec, pdf)
    as_text = df.withColumn("NUM", df["NUM"].cast("string"))
    result = scrape(as_text, spec, "2122")  # a clean explicit cast gives the same metadata
    assert mc.canonical_records(result.rows) == mc.canonical_records(expected_rows())
    bad = as_text.withColumn(
        "NUM", F.when(F.col("KEY") == 10**11 + 3, F.lit("x1")).otherwise(F.col("NUM"))
    )
    with pytest.raises(
        ScrapeInputError, match=r"toy 2122 NUM: a value of shape 'A9' .* cannot be read as a number"
    ):
        scrape(bad, spec, "2122")


def test_unknown_financial_year_is_refused(spark):
    spec = toy_spec()
    with pytest.raises(ScrapeInputError, match=r"toy: financial year '1999'"):
        scrape(to_spark(spark, spec, hand_made()), spec, "1999")


# ------------------------------------------------------------------------------------------
# Reading the source, and the real HES specs end to end
# ------------------------------------------------------------------------------------------


def test_read_source_from_parquet_or_table(spark, tmp_path):
    spec = toy_spec()
    table = pa.Table.from_pandas(hand_made()[spec.field_names], preserve_index=False)
    pq.write_table(table, tmp_path / "part-0.parquet")
    assert read_source(spark, spec, "2122", str(tmp_path)).count() == 81
    to_spark(spark, spec, hand_made()).createOrReplaceTempView("toy_source_2122")
    assert read_source(spark, spec, "2122", None).count() == 81


def synthetic_hes(spec, n: int, seed: int = 5) -> pd.DataFrame:
    """A small frame with every field of a real HES spec and type-correct values."""
    rng = np.random.default_rng(seed)
    patients = rng.integers(0, n // 3, n)
    data = {}
    for f in spec.fields:
        if f.name == spec.patient_key:
            data[f.name] = [f"TEST{p:028d}" for p in patients]
        elif f.role == "identifier":
            data[f.name] = (
                (np.arange(n) + 10**11).astype(object)
                if f.is_numeric
                else [f"ID{i:010d}" for i in range(n)]
            )
        elif f.time_of_day:
            data[f.name] = [
                f"{h:02d}{m:02d}"
                for h, m in zip(rng.integers(0, 24, n), rng.integers(0, 60, n), strict=True)
            ]
        elif f.role == "patient_date":
            data[f.name] = [f"{p % 3 + 1:02d}{1950 + p % 2}" for p in patients]
        elif f.spark_type == "date":
            data[f.name] = [date(2021, 4, 1 + int(d)) for d in rng.integers(0, 20, n)]
        elif f.spark_type == "string":
            data[f.name] = rng.choice(["1", "2", "9", "&", None], n).tolist()
        elif f.spark_type in ("int", "long"):
            data[f.name] = rng.integers(0, 12, n).astype(object)
        else:
            data[f.name] = np.round(rng.random(n), 1)
    return pd.DataFrame(data)


@pytest.mark.parametrize("dataset", ["hes_apc"])
def test_real_spec_end_to_end(spark, dataset):
    spec = load_spec(dataset)
    pdf = synthetic_hes(spec, 1200)
    from decimal import Decimal

    for f in spec.fields:
        if f.spark_type.startswith("decimal"):
            pdf[f.name] = [Decimal(str(v)) for v in pdf[f.name]]
    df = spark.createDataFrame(pdf, schema=spark_schema(spec))
    result = scrape(df, spec, spec.financial_years[0], simulated_source=True)
    rows = mc.validate(result.rows, table_name=dataset)
    assert result.header.table_name == dataset
    scraped = {f.name for f in spec.scraped_fields}
    # Linked identifiers (not the record or patient key) release only their null counts.
    linked = {
        f.name
        for f in spec.fields_with_role("identifier")
        if f.name not in (spec.primary_key, spec.patient_key)
    }
    assert set(rows["FIELD_NAME"]) <= scraped | {spec.patient_key} | linked
    never = {f.name for f in spec.fields if not f.is_scraped} - {spec.patient_key} - linked
    assert not set(rows["FIELD_NAME"]) & never
    counts = rows[rows["FIELD_NAME"].isin(linked)]
    assert set(counts["VALUE_TYPE"]) <= {mc.IDENTIFIER_NULLS}
    assert counts[["VALUE_STRING", "VALUE_DATE", "VALUE_NUMERIC_ARRAY"]].isna().all().all()
    kinds = dict(zip(rows["FIELD_NAME"], rows["VALUE_TYPE"], strict=False))
    assert kinds["SEX"] == mc.DEMOGRAPHIC_CATEGORICAL and kinds["MYDOB"] == mc.DEMOGRAPHIC_DATE
    assert kinds["EPIDUR"] == mc.CONTINUOUS and kinds["ADMIDATE"] == mc.DATE
    assert kinds[spec.patient_key] == mc.RELATIONSHIP
    assert set(result.report["fields"]) == scraped | {spec.patient_key} | linked


def test_every_hes_table_is_read_with_sparks_columnar_parquet_reader(spark, tmp_path):
    """Above ``spark.sql.codegen.maxFields`` Spark silently reads Parquet row by row, which made
    the scrape of the ~190-field APC table much slower; the shared config keeps it columnar."""
    from artificial_data.common.dataset_spec import load_all_specs
    from artificial_data.common.schema import arrow_schema

    widest = max(load_all_specs(), key=lambda s: len(s.fields))
    assert len(widest.fields) > 100  # wider than Spark's default limit: the test means something
    schema = arrow_schema(widest)
    pq.write_table(schema.empty_table(), tmp_path / "part-0.parquet")
    df = read_source(spark, widest, widest.financial_years[0], str(tmp_path))
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "Batched: true" in plan, plan
