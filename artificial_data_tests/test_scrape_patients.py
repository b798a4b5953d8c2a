"""The patient pass against a plain pandas reference written from its definition (DESIGN §6).

The reference groups the raw episodes by patient the slow, obvious way and rounds shares with
exact fractions (half up), so that it shares no code with the vectorised pass. The random
tables are built to reach the edges: episodes without a patient key, null values, ties for the
modal date, and shares that land exactly on a rounding tie (1/4, 7/20, 1/8).
"""

from __future__ import annotations

import zlib
from collections import Counter
from fractions import Fraction

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from artificial_data.common import metadata_contract as mc
from artificial_data.common.schema import spark_schema
from artificial_data.scraper.scrape.casts import plan_casts
from artificial_data.scraper.scrape.patient_arrays import (
    INVALID,
    PatternField,
    partition_patterns,
    pattern_keys,
    spark_round,
    sum_partials,
)
from artificial_data.scraper.scrape.patients import count_patient_patterns
from artificial_data_tests.test_scrape_errors import SPARK_ACCEPTS
from artificial_data_tests.toy_specs import patient_key, record_key, toy_spec

FIELDS = [
    record_key(),
    patient_key(),
    {"name": "SEX", "type": "string", "role": "patient_categorical"},
    {"name": "RESGOR", "type": "string", "role": "patient_categorical"},
    {"name": "MYDOB", "type": "string", "role": "patient_date"},
]
CATEGORICAL = ("SEX", "RESGOR")
DATE = "MYDOB"


def _half_up(x: Fraction, digits: int) -> float:
    scale = 10**digits
    return float(Fraction((x * scale + Fraction(1, 2)).__floor__(), scale))


def reference(raw: pd.DataFrame) -> Counter:
    """Patients per pattern, one episode-less-key row being a patient of its own."""
    patients = [g for _, g in raw[raw["PID"].notna()].groupby("PID")]
    patients += [raw.iloc[[i]] for i in np.flatnonzero(raw["PID"].isna())]
    out: Counter = Counter()
    for g in patients:
        episodes = len(g)
        out[("PID", mc.RELATIONSHIP, None, None, None, float(episodes))] += 1
        for name in CATEGORICAL:
            counts = Counter(g[name].where(g[name].notna(), None))
            values = sorted(counts, key=lambda v: (v is None, v or ""))
            shares = tuple(_half_up(Fraction(counts[v], episodes), 1) for v in values)
            key = (name, mc.DEMOGRAPHIC_CATEGORICAL, tuple(values), shares, None, None)
            out[key] += 1
        counts = Counter(g[DATE].where(g[DATE].notna(), None))
        modal = max(counts, key=lambda v: (counts[v], v is not None, v or ""))
        share = _half_up(Fraction(counts[modal], episodes), 2)
        out[(DATE, mc.DEMOGRAPHIC_DATE, None, None, modal, share)] += 1
    return out


def as_counter(patterns: pd.DataFrame) -> Counter:
    out: Counter = Counter()
    for r in patterns.itertuples(index=False):
        values = None if r.VALUES is None else tuple(r.VALUES)
        shares = None if r.SHARES is None else tuple(r.SHARES)
        number = None if pd.isna(r.NUMBER) else r.NUMBER
        value = None if pd.isna(r.VALUE) else r.VALUE
        key = (r.FIELD_NAME, r.VALUE_TYPE, values, shares, value, number)
        assert key not in out, f"pattern counted twice: {key}"
        out[key] = r.COUNT
    return out


def random_raw(seed: int, patients: int = 300) -> pd.DataFrame:
    """Patients with 1-20 episodes whose fields mostly agree, with nulls and missing keys."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(patients):
        episodes = int(rng.choice([1, 1, 1, 2, 3, 4, 5, 8, 20]))
        pid = None if rng.random() < 0.05 else f"P{p:04d}"
        base = [rng.choice(["1", "2", "9"]), rng.choice(["E1", "E2", "W", "S"]), f"0{p % 3}1970"]
        for _ in range(episodes):
            row = {"PID": pid}
            for name, usual in zip((*CATEGORICAL, DATE), base, strict=True):
                draw = rng.random()
                if draw < 0.1:
                    row[name] = None
                elif draw < 0.3:
                    row[name] = rng.choice(["1", "2", "E2", "011970", "031970", "Z"])
                else:
                    row[name] = usual
            rows.append(row)
    raw = pd.DataFrame(rows)
    raw["KEY"] = np.arange(len(raw)) + 10**11
    return raw


def fields() -> list[PatternField]:
    return [
        PatternField("SEX", mc.DEMOGRAPHIC_CATEGORICAL, "SEX"),
        PatternField("RESGOR", mc.DEMOGRAPHIC_CATEGORICAL, "RESGOR"),
        PatternField("MYDOB", mc.DEMOGRAPHIC_DATE, "MYDOB"),
    ]


def test_spark_round_is_half_up_on_the_decimal_form():
    numerator = np.array([1, 7, 1, 3, 2, 1])
    denominator = np.array([4, 20, 8, 4, 3, 20])
    assert spark_round(numerator, denominator, 1).tolist() == [0.3, 0.4, 0.1, 0.8, 0.7, 0.1]
    assert spark_round(numerator, denominator, 2).tolist() == [0.25, 0.35, 0.13, 0.75, 0.67, 0.05]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("rows", ["episodes", "combinations"])
def test_one_partition_matches_the_reference(seed, rows):
    """As the pass hands them over (one row per episode, in the exchange's order, no ``n``)
    or as combinations of values counted in ``n``: the same patterns."""
    raw = random_raw(seed)
    keyed = raw[raw["PID"].notna()]
    unkeyed = raw[raw["PID"].isna()].assign(PID=lambda d: [f"\0episode-{i}" for i in d.KEY])
    episodes = pd.concat([keyed, unkeyed])[["PID", *CATEGORICAL, DATE]]
    if rows == "episodes":  # a patient's episodes scattered through the partition
        frame = episodes.sample(frac=1, random_state=seed)
    else:
        # counted in Python: pandas' grouping cuts strings at the NUL of the unkeyed ids
        counts = Counter(episodes.astype(object).where(episodes.notna(), None).itertuples(False))
        frame = pd.DataFrame([(*k, n) for k, n in counts.items()], columns=[*episodes, "n"])
        frame = frame.sample(frac=1, random_state=seed)
        assert len(frame) < len(episodes) and frame["n"].sum() == len(episodes)
    table = pa.Table.from_pandas(frame, preserve_index=False).rename_columns(
        ["pid", *frame.columns[1:]]
    )
    got = sum_partials(partition_patterns(table, "PID", fields()))
    assert as_counter(got) == reference(raw)


def test_no_two_patterns_share_a_key_whatever_their_values_hold():
    """The driver groups partials on one text per pattern: values holding the key's own
    separators, digits, the null marker or multi-byte text must not make two patterns one."""
    atoms = [None, "", "~", ":", ";", "1", "1:", ":1", "a;1:b", "~:~", "é", "é;", "10"]
    rng = np.random.default_rng(5)
    patterns = {(a,): (1.0,) for a in atoms}
    for _ in range(3000):
        k = int(rng.integers(2, 4))
        values = tuple(atoms[i] for i in rng.integers(len(atoms), size=k))
        patterns[values] = tuple(float(x) / 10 for x in rng.integers(0, 11, size=k))
    values = pa.array([list(v) for v in patterns], pa.list_(pa.string()))
    shares = pa.array([list(s) for s in patterns.values()], pa.list_(pa.float64()))
    keys = pattern_keys(values, shares).to_pylist()
    assert len(set(keys)) == len(patterns)
    assert pattern_keys(values.slice(7), shares.slice(7)).to_pylist() == keys[7:]
    same_values = pa.array([["1", "1"]] * 3, pa.list_(pa.string()))
    other_shares = pa.array([[0.1, 1.0], [1.0, 0.1], [0.1, 0.1]], pa.list_(pa.float64()))
    assert len(set(pattern_keys(same_values, other_shares).to_pylist())) == 3


@pytest.mark.parametrize("parts", [2, 5])
def test_partitions_partial_counts_add_up_to_the_reference(parts):
    """Each partition holds whole patients; the driver's sum of their partial counts, grouped
    on the flat pattern keys, is the whole table's patterns, values and shares."""
    raw = random_raw(9)
    keyed = raw.assign(PID=raw["PID"].fillna(raw["KEY"].map("\0episode-{}".format)))
    part = keyed["PID"].map(lambda p: zlib.crc32(p.encode())) % parts  # deterministic
    tables = [
        pa.Table.from_pandas(
            keyed[part == k][["PID", *CATEGORICAL, DATE]], preserve_index=False
        ).rename_columns(["pid", *CATEGORICAL, DATE])
        for k in range(parts)
    ]
    partials = pa.concat_tables(partition_patterns(t, "PID", fields()) for t in tables)
    got = sum_partials(partials)
    assert len(partials) > len(got)  # some patterns were in several partitions
    assert as_counter(got) == reference(raw)
    shares = [x for v in got["SHARES"].dropna() for x in v]
    assert shares and all(type(x) is float for x in shares)


@pytest.mark.spark
def test_count_patient_patterns_matches_the_reference(spark):
    spec = toy_spec(FIELDS)
    raw = random_raw(4, patients=600)
    df = spark.createDataFrame(raw[spec.field_names], schema=spark_schema(spec))
    casts = [
        c
        for c in plan_casts(spec, df.schema, "2122")
        if c.value_type in (mc.DEMOGRAPHIC_CATEGORICAL, mc.DEMOGRAPHIC_DATE)
    ]
    patterns = count_patient_patterns(spec, df, casts)
    assert as_counter(patterns) == reference(raw)
    # plain Python values, as the content hash needs
    for values in patterns["VALUES"].dropna():
        assert type(values) is list and all(v is None or type(v) is str for v in values)
    assert all(type(c) is int for c in patterns["COUNT"].tolist())


@pytest.mark.spark
def test_the_patient_exchange_grows_with_the_input_splits(spark):
    """A worker holds a whole partition of the exchange: more input, more partitions."""
    from artificial_data.scraper.scrape.patients import exchange_partitions

    shuffle = int(spark.conf.get("spark.sql.shuffle.partitions"))
    assert exchange_partitions(spark.range(0, 100, 1, 1)) == shuffle
    assert exchange_partitions(spark.range(0, 100, 1, shuffle + 9)) == shuffle + 9


@pytest.mark.parametrize("seed", [1, 2])
def test_text_checked_in_the_worker_counts_invalid_values_only_as_hex_and_as_null(seed):
    """The patient pass hands text over unchecked: its worker must treat a value that is not
    UTF-8 exactly as Spark's check would have (null in the patterns) and let it out only as
    hex, in the count of such values under the marked name."""
    raw = random_raw(seed)
    raw["PID"] = raw["PID"].fillna("unkeyed")
    rng = np.random.default_rng(seed)
    edges = list(SPARK_ACCEPTS)
    planted = rng.random(len(raw)) < 0.2
    sex = [
        edges[rng.integers(len(edges))] if p else (None if v is None else v.encode())
        for p, v in zip(planted, raw["SEX"], strict=True)
    ]
    n = rng.integers(1, 4, len(raw))
    as_read = pa.table(
        {
            "pid": raw["PID"],
            "SEX": pa.array(sex, pa.binary()).view(pa.string()),  # unchecked, as a raw file
            "n": n,
        }
    )
    checked = as_read.set_column(
        1,
        "SEX",
        pa.array(
            [b.decode() if b is not None and SPARK_ACCEPTS.get(b, True) else None for b in sex],
            pa.string(),
        ),
    )
    unchecked = PatternField("SEX", mc.DEMOGRAPHIC_CATEGORICAL, "SEX", None, "!SEX", True)
    got = sum_partials(partition_patterns(as_read, "PID", [unchecked]))
    expected = sum_partials(partition_patterns(checked, "PID", [fields()[0]]))

    invalid = got[got["VALUE_TYPE"] == INVALID]
    bad = [b for b in sex if b is not None and not SPARK_ACCEPTS.get(b, True)]
    assert invalid["FIELD_NAME"].tolist() == ["!SEX"]
    assert invalid["VALUE"].tolist() == [min(b.hex().upper() for b in bad)]
    is_bad = np.array([b is not None and not SPARK_ACCEPTS.get(b, True) for b in sex])
    assert invalid["NUMBER"].tolist() == [float(n[is_bad].sum())]
    assert as_counter(got[got["VALUE_TYPE"] != INVALID]) == as_counter(expected)
    text = " ".join(str(v) for v in got.drop(columns="COUNT").to_numpy().ravel())
    assert "\ufffd" not in text and "\\x" not in text
