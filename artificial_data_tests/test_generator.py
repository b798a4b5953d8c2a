"""The generator core on single chunks, without Spark (DESIGN §8, issue #6)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import load_spec, parse_spec
from artificial_data.common.schema import arrow_schema
from artificial_data.common.spec_import import draft_missing_domains
from artificial_data.generator.engine import (
    FULL_ROWS,
    SAMPLE_ROWS,
    GenerationError,
    build_plan,
    chunk_bounds,
    generate_chunk,
    generate_chunk_from_plan,
    generation_seed,
)
from artificial_data.generator.engine.postprocess import order_date_chain
from artificial_data.generator.engine.sampling import ContinuousSampler
from artificial_data_tests.generator_metadata import EPISODES, TOP_CODED, plausible_metadata
from artificial_data_tests.toy_specs import patient_key, record_key

DATASETS = ["hes_apc", "hes_op", "hes_ae"]
SEED = generation_seed("0" * 64, "test", "2122")

# A small hand-made spec: every role, derivation kind and identifier shape, few fields.
MINI = parse_spec(
    {
        "dataset": "mini",
        "spec_version": 1,
        "financial_years": ["2122"],
        "primary_key": "KEY",
        "patient_key": "PID",
        "source_table": "raw.mini_{fyear}",
        "published_table": "artificial_mini_{fyear}",
        "forbidden_identifiers": ["NHS_NUMBER"],
        "date_chains": [["D1", "D2"]],
        "durations": [{"field": "DUR", "start": "D1", "end": "D2"}],
        "fields": draft_missing_domains(
            [
                record_key(),
                patient_key(prefix="TEST"),
                {
                    "name": "REF",
                    "type": "string",
                    "role": "identifier",
                    "identifier": {"format": "alphanumeric", "length": 16},
                },
                {"name": "CODE", "type": "string", "role": "categorical"},
                {"name": "NUM", "type": "int", "role": "categorical"},
                {"name": "FRAC", "type": "decimal(16,15)", "role": "categorical"},
                {"name": "AMOUNT", "type": "double", "role": "continuous"},
                {"name": "WAIT", "type": "int", "role": "continuous"},
                {"name": "TIME", "type": "string", "role": "continuous", "time_of_day": True},
                {"name": "SEX", "type": "string", "role": "patient_categorical"},
                {"name": "MYDOB", "type": "string", "role": "patient_date"},
                {"name": "D1", "type": "date", "role": "date"},
                {"name": "D2", "type": "date", "role": "date"},
                {"name": "DUR", "type": "int", "role": "continuous"},
                {"name": "EMPTY", "type": "string", "role": "categorical"},
                {"name": "DIAG_4_01", "type": "string", "role": "categorical"},
                {"name": "DIAG_4_02", "type": "string", "role": "categorical"},
                {
                    "name": "DIAG_3_01",
                    "type": "string",
                    "role": "derived",
                    "derivation": {"kind": "truncate", "source": "DIAG_4_01", "length": 3},
                },
                {
                    "name": "DIAG_3_02",
                    "type": "string",
                    "role": "derived",
                    "derivation": {"kind": "truncate", "source": "DIAG_4_02", "length": 3},
                },
                {
                    "name": "DIAG_3_CONCAT",
                    "type": "string",
                    "role": "derived",
                    "derivation": {"kind": "concat", "sources": ["DIAG_3_01", "DIAG_3_02"]},
                },
                {
                    "name": "DIAG_COUNT",
                    "type": "int",
                    "role": "derived",
                    "derivation": {"kind": "count", "sources": ["DIAG_4_01", "DIAG_4_02"]},
                },
                {
                    "name": "AGE",
                    "type": "int",
                    "role": "derived",
                    "derivation": {"kind": "age_years", "birth": "MYDOB", "at": "D1", "cap": 120},
                },
                {
                    "name": "AGE_CALC",
                    "type": "double",
                    "role": "derived",
                    "derivation": {
                        "kind": "age_fraction",
                        "birth": "MYDOB",
                        "at": "D1",
                        "cap": 120,
                    },
                },
                {"name": "AGECODE", "type": "int", "role": "categorical"},
                {
                    "name": "AGECODE_CALC",
                    "type": "double",
                    "role": "derived",
                    "derivation": {"kind": "age_fraction_from_code", "source": "AGECODE"},
                },
            ]
        ),
    }
)


def row(field: str, value_type: str, weight: float = 10.0, **values) -> dict:
    out = {c: None for c in mc.COLUMNS}
    out.update(TABLE_NAME="mini", FIELD_NAME=field, VALUE_TYPE=value_type, WEIGHT=weight)
    out["VALUE_NUMERIC"] = np.nan
    out.update(values)
    return out


def frame(rows: list[dict]) -> pd.DataFrame:
    return mc.normalise(pd.DataFrame(rows, columns=mc.COLUMNS))


CODES = {"A": 500.0, "B": 300.0, "C": 150.0, None: 50.0}


def mini_metadata(episodes=((1, 60.0), (2, 30.0), (3, 10.0)), sex=None, mydob=None) -> pd.DataFrame:
    rows = [row("CODE", mc.CATEGORICAL, w, VALUE_STRING=v) for v, w in CODES.items()]
    rows += [row("NUM", mc.DISCRETE, w, VALUE_NUMERIC=v) for v, w in [(1.0, 80.0), (np.nan, 20.0)]]
    rows += [row("FRAC", mc.DISCRETE, 10.0, VALUE_NUMERIC=0.123456789012345)]
    rows += [
        row(
            "AMOUNT",
            mc.CONTINUOUS,
            900.0,
            VALUE_NUMERIC=0.2,
            VALUE_NUMERIC_ARRAY=[10.0, 20.0, 60.0],
            WEIGHT_ARRAY=[0.1, 0.5, 0.9],
        ),
        row(
            "WAIT",
            mc.CONTINUOUS,
            900.0,
            VALUE_NUMERIC=0.0,
            VALUE_NUMERIC_ARRAY=[0.0, 2.0, 9.0],
            WEIGHT_ARRAY=[0.25, 0.5, 0.75],
        ),
        row(
            "TIME",
            mc.CONTINUOUS,
            900.0,
            VALUE_NUMERIC=0.5,
            VALUE_NUMERIC_ARRAY=[60.0, 600.0, 1430.0],
            WEIGHT_ARRAY=[0.1, 0.5, 0.9],
        ),
        row(
            "DUR",
            mc.CONTINUOUS,
            900.0,
            VALUE_NUMERIC=0.3,
            VALUE_NUMERIC_ARRAY=[0.0, 5.0],
            WEIGHT_ARRAY=[0.1, 0.9],
        ),
    ]
    for d, w in [
        (date(2021, 4, 1), 40.0),
        (date(2021, 9, 1), 30.0),
        (date(1800, 1, 1), 10.0),
        (None, 20.0),
    ]:
        rows.append(row("D1", mc.DATE, w, VALUE_DATE=d))
    for d, w in [
        (date(2021, 6, 1), 40.0),
        (date(2022, 1, 1), 40.0),
        (date(1801, 1, 1), 10.0),
        (None, 10.0),
    ]:
        rows.append(row("D2", mc.DATE, w, VALUE_DATE=d))
    for v, w in [
        ("A001", 40.0),
        ("B99X", 30.0),
        ("&", 10.0),
        ("-", 10.0),
        (None, 10.0),
        ("", 10.0),
    ]:
        rows.append(row("DIAG_4_01", mc.CATEGORICAL, w, VALUE_STRING=v))
        rows.append(row("DIAG_4_02", mc.CATEGORICAL, w, VALUE_STRING=v))
    for v, w in [(35.0, 50.0), (7001.0, 10.0), (7005.0, 10.0), (999.0, 10.0), (np.nan, 10.0)]:
        rows.append(row("AGECODE", mc.DISCRETE, w, VALUE_NUMERIC=v))
    for values, shares, w in sex or [
        (["1"], [1.0], 45.0),
        (["2"], [1.0], 45.0),
        (["1", "2"], [0.5, 0.5], 10.0),
    ]:
        rows.append(
            row(
                "SEX", mc.DEMOGRAPHIC_CATEGORICAL, w, VALUE_STRING_ARRAY=values, WEIGHT_ARRAY=shares
            )
        )
    for value, agreement, w in mydob or [
        ("011980", 1.0, 50.0),
        ("062021", 1.0, 20.0),
        ("011890", 0.5, 20.0),
        (None, 1.0, 10.0),
    ]:
        rows.append(
            row("MYDOB", mc.DEMOGRAPHIC_DATE, w, VALUE_STRING=value, VALUE_NUMERIC=agreement)
        )
    for count, w in episodes:
        rows.append(row("PID", mc.RELATIONSHIP, w, VALUE_NUMERIC=float(count)))
    return frame(rows)


def chunk(metadata, spec=MINI, rows=4000, index=0, seed=SEED, first=None) -> pd.DataFrame:
    first = index * rows if first is None else first
    table = generate_chunk(metadata, spec, "2122", index, rows, seed, first)
    assert table.schema == arrow_schema(spec)
    return table.to_pandas(date_as_object=True)


def within_noise(observed: pd.Series, expected: dict, n: int) -> None:
    """Every category's share within 4.5 standard errors of its expected share."""
    total = sum(expected.values())
    for value, weight in expected.items():
        p = weight / total
        got = (observed.isna() if value is None else observed.eq(value)).mean()
        assert abs(got - p) < 4.5 * np.sqrt(p * (1 - p) / n) + 1e-12, (value, got, p)


# --------------------------------------------------------------------------------------------
# Schema, sizes, seeds
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset", DATASETS)
def test_chunk_has_the_exact_spec_schema_for_every_dataset(dataset):
    spec = load_spec(dataset)
    table = generate_chunk(plausible_metadata(spec), spec, "2122", 0, 2000, SEED, 0)
    assert table.schema == arrow_schema(spec)
    assert table.num_rows == 2000
    assert table.num_columns == len(spec.fields)
    # Every scraped field with metadata got values (the made-up metadata covers them all).
    empty = [f.name for f in spec.scraped_fields if table.column(f.name).null_count == 2000]
    assert empty == []


def test_size_defaults_and_chunk_bounds():
    assert (SAMPLE_ROWS, FULL_ROWS) == (10_000, 1_000_000)
    assert chunk_bounds(250, 100) == [(0, 0, 100), (1, 100, 100), (2, 200, 50)]
    assert chunk_bounds(0, 100) == []


def test_generation_seed_is_stable_and_bound_to_its_inputs():
    seed = generation_seed("abc", "hes_apc", "2122")
    assert seed == generation_seed("abc", "hes_apc", "2122")
    assert 0 <= seed < 2**63
    others = {
        generation_seed("abd", "hes_apc", "2122"),
        generation_seed("abc", "hes_op", "2122"),
        generation_seed("abc", "hes_apc", "2223"),
        generation_seed("abc", "hes_apc", "2122", base_seed=1),
    }
    assert seed not in others and len(others) == 4


def test_same_inputs_give_identical_chunks_and_another_seed_differs():
    md = mini_metadata()
    a = generate_chunk(md, MINI, "2122", 3, 1500, SEED, 4500)
    b = generate_chunk_from_plan(build_plan(md.copy(), MINI, "2122"), 3, 1500, SEED, 4500)
    assert a.equals(b)
    c = generate_chunk(md, MINI, "2122", 3, 1500, SEED + 1, 4500)
    assert not a.column("CODE").equals(c.column("CODE"))


# --------------------------------------------------------------------------------------------
# Marginals
# --------------------------------------------------------------------------------------------


def test_categorical_and_discrete_marginals_match_the_metadata():
    df = chunk(mini_metadata(), rows=8000)
    within_noise(df["CODE"], CODES, 8000)
    within_noise(df["NUM"], {1: 80.0, None: 20.0}, 8000)
    assert set(df["FRAC"].astype(str)) == {"0.123456789012345"}
    within_noise(df["AGECODE"], {35: 50.0, 7001: 10.0, 7005: 10.0, 999: 10.0, None: 10.0}, 8000)


def test_continuous_fields_are_uniform_within_percentile_bins_with_their_null_rate():
    df = chunk(mini_metadata(), rows=8000)
    amount = df["AMOUNT"]
    within_noise(
        amount.isna().map({True: "null", False: "value"}), {"null": 0.2, "value": 0.8}, 8000
    )
    values = amount.dropna()
    # Quantiles 10, 20, 60 at 0.1, 0.5, 0.9: every published cumulative probability holds,
    # the tails (beyond the outer points: no min or max is published) included.
    bands = pd.cut(values, [-np.inf, 10.0, 20.0, 60.0, np.inf], labels=["t0", "b1", "b2", "t3"])
    within_noise(bands.astype(str), {"t0": 0.1, "b1": 0.4, "b2": 0.4, "t3": 0.1}, len(values))
    # Inside a bin the density is flat: [20,40] and [40,60] hold equal shares.
    high = values[(values >= 20.0) & (values <= 60.0)]
    within_noise((high < 40.0).map({True: "a", False: "b"}), {"a": 1, "b": 1}, len(high))
    # The upper tail is exponential with the last bin's density: mean excess 0.1 * 40 / 0.4.
    excess = values[values > 60.0] - 60.0
    assert excess.mean() == pytest.approx(10.0, rel=0.15)
    wait = df["WAIT"]
    assert wait.notna().all() and (wait == wait.round()).all()
    assert wait.min() >= 0  # the declared range bounds the lower tail
    within_noise((wait > 9).map({True: "tail", False: "grid"}), {"tail": 0.25, "grid": 0.75}, 8000)


def test_continuous_tails_respect_the_declared_range_and_extra_outer_points():
    spec = load_spec("hes_apc")
    md = plausible_metadata(spec)
    grid = [0.0, 0.0, 1.0, 3.0, 8.0, 20.0, 45.0, 90.0]
    probs = [0.0001, 0.01, 0.25, 0.5, 0.75, 0.99, 0.999, 0.9999]
    md = md[md["FIELD_NAME"] != "ELECDUR"]
    extra = row(
        "ELECDUR",
        mc.CONTINUOUS,
        900.0,
        VALUE_NUMERIC=0.0,
        VALUE_NUMERIC_ARRAY=grid,
        WEIGHT_ARRAY=probs,
    )
    extra["TABLE_NAME"] = spec.dataset
    md = frame([*md.to_dict("records"), extra])
    sampler = build_plan(md, spec, "2122").row_samplers["ELECDUR"]
    u = np.linspace(0.0, 1.0, 200_001)[:-1]
    x = sampler.quantile_function(u)
    assert x.min() >= 0.0  # duration_days: [0, 36525]
    inside = (u >= probs[0]) & (u <= probs[-1])
    assert (x[inside] == np.rint(x[inside])).all()  # whole days (the tails are rounded later)
    days = np.rint(x)
    for q, p in zip(grid, probs, strict=True):
        # every released point is a quantile of the days drawn: F(q) >= p > F(q - 1)
        assert np.mean(days <= q) >= p - 1e-5 and np.mean(days <= q - 1) < p + 1e-5, (q, p)
    assert x.max() > 90.0  # beyond the outermost point: the tail model


def test_a_whole_number_field_spreads_its_days_evenly_within_the_released_quantiles():
    """Released percentiles of a smooth whole-number distribution (waiting days falling
    geometrically, as HES waits do) give back smooth day masses, not whole percentiles on
    alternate days: rounding the interpolated quantiles gave the days 0-3 2.5%, 2.0%, 3.0%,
    2.0% where the source fell smoothly from 2.6% to 2.2% (session 14, OP WAITING), which
    shifted the weekday mix of REQDATE = APPTDATE - WAITING."""
    rate = 1 / 40  # about 2.5% of waits on day 0, falling by 2.5% a day
    truth = rate * (1 - rate) ** np.arange(2000)
    cdf = np.cumsum(truth)
    probs = np.array([0.0001, 0.001, 0.01, *np.arange(2, 99) / 100, 0.99, 0.999, 0.9999])
    grid = np.searchsorted(cdf, probs).astype(float)  # the source's percentiles, whole days
    sampler = ContinuousSampler(grid, probs, 0.0, pa.int64(), integer=True, time_of_day=False)
    u = (np.arange(400_000) + 0.5) / 400_000
    days = np.rint(sampler.quantile_function(u)).astype(int)
    old = np.rint(np.interp(u, probs, grid)).astype(int)  # rounding the interpolation
    for drawn, worst, tvd in ((days, (0, 0.25), (0, 0.04)), (old, (0.5, 9), (0.06, 1))):
        mass = np.bincount(drawn, minlength=len(truth))[: len(truth)] / len(drawn)
        relative = np.abs(mass[:60] / truth[:60] - 1).max()  # the first two months' days
        assert worst[0] < relative < worst[1]  # new: 19% at worst; old: 62% (a sawtooth)
        assert tvd[0] < 0.5 * np.abs(mass - truth).sum() < tvd[1]  # new 0.028, old 0.083
    ks, even = sampler.whole_cdf  # every released point is a quantile of it, exactly
    assert np.array_equal(ks[np.searchsorted(even, probs, side="left")], grid)


def test_time_of_day_fields_come_back_as_hhmm_text():
    times = chunk(mini_metadata(), rows=4000)["TIME"]
    within_noise(times.isna().map({True: "null", False: "value"}), {"null": 1, "value": 1}, 4000)
    text = times.dropna()
    assert text.str.fullmatch(r"\d{4}").all()
    minutes = text.str[:2].astype(int) * 60 + text.str[2:].astype(int)
    assert text.str[2:].astype(int).lt(60).all()
    assert minutes.between(0, 1439).all()  # tails beyond 60..1430, clipped to a day


def test_a_fully_suppressed_field_comes_out_null():
    df = chunk(mini_metadata(), rows=500)
    assert df["EMPTY"].isna().all()


def test_empty_metadata_still_gives_keys_and_one_episode_per_patient():
    df = chunk(mc.empty_metadata(), rows=300)
    assert df["KEY"].is_unique and df["PID"].is_unique
    assert df["CODE"].isna().all()
    assert (df["DIAG_COUNT"] == 0).all() and df["DIAG_3_CONCAT"].isna().all()


# --------------------------------------------------------------------------------------------
# Patients
# --------------------------------------------------------------------------------------------


def test_episodes_per_patient_follow_the_relationship_distribution_with_top_coding():
    spec = load_spec("hes_apc")
    df = chunk(plausible_metadata(spec), spec=spec, rows=6000)
    sizes = df.groupby("PSEUDO_HESID", sort=False).size()
    last = df["PSEUDO_HESID"].iloc[-1]  # the chunk's last patient may be cut short
    full = sizes.drop(last)
    _smallest, representative, top_weight = TOP_CODED
    expected = {count: w for count, w in EPISODES} | {representative: top_weight}
    assert set(full.unique()) <= set(expected)
    within_noise(full, expected, len(full))
    # Episodes of a patient are contiguous rows.
    starts = df["PSEUDO_HESID"].ne(df["PSEUDO_HESID"].shift()).sum()
    assert starts == len(sizes)


def test_patients_do_not_straddle_chunks_and_identifiers_are_well_formed():
    md = mini_metadata()
    parts = [chunk(md, rows=1000, index=i) for i in range(3)]
    pids = [set(p["PID"]) for p in parts]
    assert not (pids[0] & pids[1]) and not (pids[1] & pids[2]) and not (pids[0] & pids[2])
    df = pd.concat(parts, ignore_index=True)
    assert df["KEY"].is_unique
    assert df["KEY"].between(10**11, 10**12 - 1).all()
    assert df["PID"].str.fullmatch(r"TEST[0-9A-Z]{28}").all()
    assert df["REF"].str.fullmatch(r"[0-9A-Z]{16}").all()


@pytest.mark.parametrize("dataset", DATASETS)
def test_real_spec_identifiers_have_their_hes_shapes(dataset):
    spec = load_spec(dataset)
    md = plausible_metadata(spec)
    df = pd.concat([chunk(md, spec=spec, rows=700, index=i) for i in range(2)], ignore_index=True)
    key = df[spec.primary_key]
    assert key.is_unique and key.between(10**11, 10**12 - 1).all()
    assert df["PSEUDO_HESID"].str.fullmatch(r"TEST[0-9A-Z]{28}").all()
    shapes = {"SUSRECID": r"\d{14}", "ATTENDID": r"[0-9A-Z]{12}", "PREFERER": r"[0-9A-Z]{16}"}
    for name, pattern in shapes.items():
        if name in spec.field_names:
            assert df[name].astype(str).str.fullmatch(pattern).all(), name
    if "SUSRECID" in df:
        assert df["SUSRECID"].is_unique


def test_patient_patterns_are_spread_with_their_shares():
    md = mini_metadata(
        episodes=[(10, 100.0)],
        sex=[(["1", "2"], [0.7, 0.3], 50.0)],
        mydob=[("011980", 0.8, 50.0), ("021990", 0.8, 50.0)],
    )
    df = chunk(md, rows=2000)
    for _, episodes in df.groupby("PID"):
        assert len(episodes) == 10
        assert Counter(episodes["SEX"]) == {"1": 7, "2": 3}
        counts = Counter(episodes["MYDOB"])
        assert sorted(counts.values()) == [2, 8]  # modal value on 8, the other value on 2


def test_patient_level_fields_are_constant_within_single_value_patterns():
    df = chunk(mini_metadata(), rows=4000)
    allowed = [{"1"}, {"2"}, {"1", "2"}]
    for _, episodes in df.groupby("PID"):
        assert set(episodes["SEX"]) in allowed
    within_noise(
        df.groupby("PID")["SEX"]
        .agg(lambda s: "".join(sorted(set(s))))
        .loc[lambda s: s.str.len() == 1],
        {"1": 1, "2": 1},
        1000,
    )


# --------------------------------------------------------------------------------------------
# Post-processing: date chains, durations, ages, derived codes
# --------------------------------------------------------------------------------------------

PLACEHOLDERS = {date(1800, 1, 1), date(1801, 1, 1)}


def real(value) -> bool:
    return value is not None and not pd.isna(value) and value not in PLACEHOLDERS


def test_order_date_chain_sorts_real_dates_and_leaves_nulls_and_placeholders():
    d = lambda s: date.fromisoformat(s)  # noqa: E731
    cols = {
        "A": pa.array([d("2021-05-01"), None, d("1800-01-01"), d("2021-03-01")]),
        "B": pa.array([d("2021-04-01"), d("2021-02-01"), d("2021-01-01"), d("2021-01-01")]),
        "C": pa.array([d("2021-03-01"), d("2021-01-01"), d("2020-12-01"), None]),
    }
    order_date_chain(cols, ("A", "B", "C"))
    assert cols["A"].to_pylist() == [d("2021-03-01"), None, d("1800-01-01"), d("2021-01-01")]
    assert cols["B"].to_pylist() == [
        d("2021-04-01"),
        d("2021-01-01"),
        d("2020-12-01"),
        d("2021-03-01"),
    ]
    assert cols["C"].to_pylist() == [d("2021-05-01"), d("2021-02-01"), d("2021-01-01"), None]


@pytest.mark.parametrize("dataset", ["hes_apc", "hes_op"])
def test_date_chains_and_durations_are_fully_consistent(dataset):
    spec = load_spec(dataset)
    df = chunk(plausible_metadata(spec), spec=spec, rows=3000)
    for chain in spec.date_chains:
        for _, r in df[list(chain)].iterrows():
            dates = [v for v in r if real(v)]
            assert dates == sorted(dates)
    for dur in spec.durations:
        both = df[dur.start].map(real) & df[dur.end].map(real)
        assert both.sum() > 100
        days = pd.to_datetime(df.loc[both, dur.end]) - pd.to_datetime(df.loc[both, dur.start])
        assert (df.loc[both, dur.field] == days.dt.days).all(), dur.field
        assert (df.loc[both, dur.field] >= 0).all()
    # Placeholder dates survive ordering.
    first = spec.date_chains[0][0]
    assert df[first].isin(PLACEHOLDERS).any()


def expected_age(mydob, at):
    """Independent re-statement of the HES age rules (whole years, infant codes, cap)."""
    if mydob is None or not re.fullmatch(r"(0[1-9]|1[0-2])\d{4}", str(mydob)) or not real(at):
        return None
    birth = date(int(mydob[2:]), int(mydob[:2]), 1)
    days = (at - birth).days
    if days < 0:
        return None
    years = at.year - birth.year - (1 if at.month < birth.month else 0)
    if years >= 1:
        return min(years, 120)
    for code, low in zip(range(7007, 7000, -1), [274, 183, 91, 29, 7, 1, 0], strict=True):
        if days >= low:
            return code
    raise AssertionError


def test_ages_from_mydob_and_the_final_date_use_hes_infant_codes_and_the_cap():
    df = chunk(mini_metadata(), rows=3000)
    got = df["AGE"].astype("Int64").tolist()
    want = [expected_age(m, a) for m, a in zip(df["MYDOB"], df["D1"], strict=True)]
    assert [None if pd.isna(g) else int(g) for g in got] == want
    assert {120, 7001} <= set(w for w in want if w is not None)  # the cap and newborns occur
    assert any(w in range(7002, 7008) for w in want)
    # STARTAGE_CALC-style fraction: floor is the whole-year age, infants below one.
    known = df["AGE"].notna()
    assert (
        df.loc[known & (df["AGE"] < 7000), "AGE_CALC"]
        .apply(np.floor)
        .eq(df.loc[known & (df["AGE"] < 7000), "AGE"])
        .all()
    )
    assert df.loc[known & (df["AGE"] > 7000), "AGE_CALC"].lt(1).all()
    assert df["AGE_CALC"].isna().eq(df["AGE"].isna()).all()


def test_age_fraction_exact_values():
    md = mini_metadata(mydob=[("011980", 1.0, 10.0)])
    df = chunk(md, rows=2000)
    row_ = df[df["D1"] == date(2021, 9, 1)].iloc[0]
    # 41 completed years on 2021-01-01, then 243 of 365 days: 41.665...
    assert row_["AGE"] == 41
    assert row_["AGE_CALC"] == pytest.approx(41.665)


def test_age_fraction_from_code_maps_infant_codes_to_fractions():
    df = chunk(mini_metadata(), rows=2000)
    expected = {35: 35.5, 7001: 0.001, 7005: 0.373}
    for code, value in expected.items():
        assert df.loc[df["AGECODE"] == code, "AGECODE_CALC"].eq(value).all(), code
    assert df.loc[df["AGECODE"].isin([999]) | df["AGECODE"].isna(), "AGECODE_CALC"].isna().all()


def test_truncations_concat_and_count_are_consistent():
    df = chunk(mini_metadata(), rows=3000)
    for four, three in [("DIAG_4_01", "DIAG_3_01"), ("DIAG_4_02", "DIAG_3_02")]:
        expected = df[four].map(lambda v: None if v is None else v[:3])
        assert df[three].tolist() == expected.tolist()
    for _, r in df.iterrows():
        codes = [c for c in (r["DIAG_3_01"], r["DIAG_3_02"]) if c]
        assert r["DIAG_3_CONCAT"] == (",".join(codes) if codes else None)
        real_codes = [c for c in (r["DIAG_4_01"], r["DIAG_4_02"]) if c and c not in ("&", "-")]
        assert r["DIAG_COUNT"] == len(real_codes)


@pytest.mark.parametrize("dataset", DATASETS)
def test_real_spec_derived_fields_are_fully_consistent(dataset):
    spec = load_spec(dataset)
    df = chunk(plausible_metadata(spec), spec=spec, rows=1500)
    for f in spec.fields:
        d = f.derivation
        if d is None:
            continue
        if d.kind == "truncate":
            want = df[d.source].map(lambda v, n=d.length: None if v is None else v[:n])
            assert df[f.name].tolist() == want.tolist(), f.name
        elif d.kind == "concat":
            want = df[list(d.sources)].apply(lambda r: ",".join(c for c in r if c) or None, axis=1)
            assert df[f.name].tolist() == want.tolist(), f.name
        elif d.kind == "count":
            want = df[list(d.sources)].apply(
                lambda r: sum(1 for c in r if c and c not in ("&", "-")), axis=1
            )
            assert df[f.name].tolist() == want.tolist(), f.name
        elif d.kind == "age_years":
            want = [expected_age(m, a) for m, a in zip(df[d.birth], df[d.at], strict=True)]
            got = [None if pd.isna(v) else int(v) for v in df[f.name]]
            assert got == want, f.name


# --------------------------------------------------------------------------------------------
# Bad metadata
# --------------------------------------------------------------------------------------------


def bad(md: pd.DataFrame, extra: dict) -> pd.DataFrame:
    return frame([*md.to_dict("records"), extra])


@pytest.mark.parametrize(
    ("extra", "field", "value_text"),
    [
        (row("NOT_A_FIELD", mc.CATEGORICAL, VALUE_STRING="x"), "NOT_A_FIELD", "CATEGORICAL"),
        (row("NUM", mc.DISCRETE, VALUE_NUMERIC=2.5), "NUM", "2.5"),
        (row("D1", mc.DATE, VALUE_STRING="31/12/2021"), "D1", "31/12/2021"),
        (row("FRAC", mc.DISCRETE, VALUE_NUMERIC=12.5), "FRAC", "12.5"),
        (row("CODE", mc.DISCRETE, VALUE_NUMERIC=1.0), "CODE", "DISCRETE"),
        (row("KEY", mc.CATEGORICAL, VALUE_STRING="1"), "KEY", "CATEGORICAL"),
        (row("PID", mc.RELATIONSHIP, VALUE_NUMERIC=0.0), "PID", "0.0"),
    ],
    ids=[
        "unknown-field",
        "non-integer",
        "bad-date",
        "decimal-overflow",
        "wrong-value-type",
        "identifier-sampled",
        "zero-episodes",
    ],
)
def test_bad_metadata_is_a_generation_error_naming_dataset_field_and_value(
    extra, field, value_text
):
    md = bad(mini_metadata(), extra)
    with pytest.raises(GenerationError) as info:
        generate_chunk(md, MINI, "2122", 0, 10, SEED, 0)
    message = str(info.value)
    assert f"mini.{field}" in message and value_text in message
    assert info.value.dataset == "mini" and info.value.field == field


def test_bad_continuous_grid_is_refused():
    md = frame(
        [
            row(
                "AMOUNT",
                mc.CONTINUOUS,
                VALUE_NUMERIC=0.0,
                VALUE_NUMERIC_ARRAY=[5.0, 1.0],
                WEIGHT_ARRAY=[0.1, 0.9],
            )
        ]
    )
    with pytest.raises(GenerationError, match=r"mini\.AMOUNT: quantiles must be ascending"):
        generate_chunk(md, MINI, "2122", 0, 10, SEED, 0)


@pytest.mark.parametrize("rows", [0, 1, 2])
def test_tiny_chunks_keep_the_schema(rows):
    spec = load_spec("hes_apc")
    table = generate_chunk(plausible_metadata(spec), spec, "2122", 0, rows, SEED, 0)
    assert table.num_rows == rows and table.schema == arrow_schema(spec)


# --------------------------------------------------------------------------------------------
# Positional code groups
# --------------------------------------------------------------------------------------------


def test_positional_code_groups_are_filled_in_order_with_each_positions_fill_rate():
    spec = load_spec("hes_apc")
    md = plausible_metadata(spec)
    group = spec.code_groups[0]
    assert group[0] == "DIAG_4_01" and len(group) == 20
    # Fewer codes the further the position, as in HES.
    for k, name in enumerate(group):
        mine = md["FIELD_NAME"] == name
        is_null = mine & md["VALUE_STRING"].isna()
        share = 0.04 * (k + 1)
        md.loc[is_null, "WEIGHT"] = md.loc[mine & ~is_null, "WEIGHT"].sum() * share / (1 - share)
    df = chunk(md, spec=spec, rows=6000)
    filled = df[list(group)].notna().to_numpy()
    assert (filled[:, 1:] <= filled[:, :-1]).all()  # never empty before filled
    for name in group:
        rows = md[md["FIELD_NAME"] == name]
        expected = {None: rows.loc[rows["VALUE_STRING"].isna(), "WEIGHT"].sum()}
        expected["filled"] = rows["WEIGHT"].sum() - expected[None]
        within_noise(df[name].where(df[name].isna(), "filled"), expected, 6000)
    # Values given a filled position follow that position's released shares.
    first = md[(md["FIELD_NAME"] == group[0]) & md["VALUE_STRING"].notna()]
    codes = df[group[0]].dropna()
    within_noise(codes, dict(zip(first["VALUE_STRING"], first["WEIGHT"], strict=True)), len(codes))


# --------------------------------------------------------------------------------------------
# Date chains from one anchor and released durations
# --------------------------------------------------------------------------------------------


def _op_chain_metadata():
    """OP metadata whose APPTDATE covers the year, REQDATE the year before too, and WAITING
    a released grid with 5% nulls (REQDATE: 4% null, 1% placeholder)."""
    spec = load_spec("hes_op")
    md = plausible_metadata(spec)
    md = md[~md["FIELD_NAME"].isin(["APPTDATE", "REQDATE", "WAITING"])]
    start = date(2021, 4, 1)
    rows = []
    for k in range(365):
        d = start + pd.Timedelta(days=k)
        rows.append(row("APPTDATE", mc.DATE, 100.0, VALUE_DATE=d))
    for k in range(-300, 365):
        d = start + pd.Timedelta(days=k)
        rows.append(row("REQDATE", mc.DATE, 50.0, VALUE_DATE=d))
    total = 50.0 * 665
    rows.append(row("REQDATE", mc.DATE, total * 0.04 / 0.95, VALUE_DATE=None))
    rows.append(row("REQDATE", mc.DATE, total * 0.01 / 0.95, VALUE_DATE=date(1800, 1, 1)))
    rows.append(
        row(
            "WAITING",
            mc.CONTINUOUS,
            9000.0,
            VALUE_NUMERIC=0.05,
            VALUE_NUMERIC_ARRAY=[0.0, 5.0, 30.0, 80.0, 200.0],
            WEIGHT_ARRAY=[0.01, 0.25, 0.5, 0.75, 0.99],
        )
    )
    for r in rows:
        r["TABLE_NAME"] = spec.dataset
    return spec, frame([*md.to_dict("records"), *rows])


def test_date_chain_is_placed_from_its_anchor_by_released_durations():
    spec, md = _op_chain_metadata()
    plan = build_plan(md, spec, "2122")
    assert [c.members[c.anchor] for c in plan.chains] == ["APPTDATE"]
    n = 20_000
    df = chunk(md, spec=spec, rows=n)
    appt = pd.to_datetime(df["APPTDATE"])
    req = df["REQDATE"]
    # The anchor follows its own distribution (uniform over the year: a quarter per quarter).
    quarter = appt.dt.month.isin([1, 2, 3]).map({True: "q4", False: "rest"})
    within_noise(quarter, {"q4": 90.0, "rest": 275.0}, n)
    # The duration follows its own grid and null share exactly.
    waiting = df["WAITING"]
    within_noise(waiting.isna().map({True: "null", False: "v"}), {"null": 5, "v": 95}, n)
    present = waiting.dropna()
    for q, p in [(5.0, 0.25), (30.0, 0.5), (80.0, 0.75)]:
        share = (present <= q).mean()
        assert abs(share - p) < 4.5 * np.sqrt(p * (1 - p) / len(present)) + 0.01, (q, share)
    # REQDATE is not a real date exactly where WAITING is null, null / 1800 as released.
    not_real = ~req.map(real)
    assert (not_real == waiting.isna()).all()
    within_noise(
        req[not_real].map({None: "null"}).fillna("1800"),
        {"null": 4, "1800": 1},
        int(not_real.sum()),
    )
    ok = ~not_real
    days = (appt[ok] - pd.to_datetime(req[ok])).dt.days
    assert (days == waiting[ok]).all() and (days >= 0).all()


def test_nested_durations_keep_their_spell_structure():
    spec = load_spec("hes_apc")
    md = plausible_metadata(spec)
    (chain,) = build_plan(md, spec, "2122").chains
    df = chunk(md, spec=spec, rows=4000)
    both = df["EPIDUR"].notna() & df["SPELDUR"].notna()
    assert both.sum() > 1000
    assert (df.loc[both, "EPIDUR"] <= df.loc[both, "SPELDUR"]).all()
    # No discharge without the episode's end: nulls are nested (where the anchor is real).
    anchored = df[chain.members[chain.anchor]].map(real)
    assert anchored.mean() > 0.7
    assert not (anchored & df["EPIDUR"].isna() & df["SPELDUR"].notna()).any()
    # SPELDUR and SPELDUR_CALC (same dates) agree.
    assert df["SPELDUR"].equals(df["SPELDUR_CALC"])


# --------------------------------------------------------------------------------------------
# Linked identifiers keep their released null share
# --------------------------------------------------------------------------------------------


def test_a_linked_key_is_filled_on_its_released_share_of_records_only():
    spec = load_spec("hes_ae")
    extra = row("EPIKEY", mc.IDENTIFIER_NULLS, 250.0, VALUE_NUMERIC=750.0)
    extra["TABLE_NAME"] = spec.dataset
    md = frame([*plausible_metadata(spec).to_dict("records"), extra])
    df = chunk(md, spec=spec, rows=8000)
    within_noise(df["EPIKEY"].isna().map({True: "null", False: "key"}), {"null": 3, "key": 1}, 8000)
    keys = df["EPIKEY"].dropna()
    assert keys.is_unique and keys.between(10**11, 10**12 - 1).all()
    assert df["AEKEY"].notna().all()  # the record key is never null
    # Without the row, the linked key is filled everywhere, as before.
    assert chunk(plausible_metadata(spec), spec=spec, rows=500)["EPIKEY"].notna().all()


def test_null_counts_for_the_record_key_are_refused():
    spec = load_spec("hes_ae")
    extra = row("AEKEY", mc.IDENTIFIER_NULLS, 250.0, VALUE_NUMERIC=750.0)
    extra["TABLE_NAME"] = spec.dataset
    md = frame([*plausible_metadata(spec).to_dict("records"), extra])
    with pytest.raises(GenerationError, match=r"hes_ae\.AEKEY"):
        generate_chunk(md, spec, "2122", 0, 10, SEED, 0)


# --------------------------------------------------------------------------------------------
# Patients that hold together
# --------------------------------------------------------------------------------------------


def test_the_share_of_patients_with_mixed_values_is_the_metadatas():
    # Half the patients have one episode: mixed patterns must all go to the other half.
    md = mini_metadata(
        episodes=[(1, 50.0), (2, 30.0), (4, 20.0)],
        sex=[(["1"], [1.0], 45.0), (["2"], [1.0], 40.0), (["1", "2"], [0.9, 0.1], 15.0)],
    )
    df = chunk(md, rows=20_000)
    per_patient = df.groupby("PID")["SEX"].agg(lambda s: len(set(s)))
    within_noise(
        (per_patient > 1).map({True: "mixed", False: "one"}),
        {"mixed": 15, "one": 85},
        len(per_patient),
    )
    sizes = df.groupby("PID").size()
    assert (per_patient[sizes == 1] == 1).all()


def test_a_birth_month_is_never_after_the_date_ages_are_computed_at():
    # Born in June 2021; D1 (the age date) is often April 2021.
    md = mini_metadata(mydob=[("062021", 1.0, 10.0), ("011980", 1.0, 90.0)])
    df = chunk(md, rows=4000)
    births = df["MYDOB"].map(lambda t: date(int(t[2:]), int(t[:2]), 1))
    at = df["D1"].map(lambda d: d if real(d) else None)
    known = at.notna()
    assert (births[known] <= at[known]).all()
    assert df.loc[known, "AGE"].notna().all()  # so the age is never missing for that reason
    # Birth months are swapped between patients, never invented: the modal values keep their
    # released distribution.
    assert set(df["MYDOB"]) <= {"062021", "011980"}
    modal = df.groupby("PID")["MYDOB"].agg(lambda s: s.value_counts().index[0])
    within_noise(modal, {"062021": 10.0, "011980": 90.0}, len(modal))
    # Patient-level: one modal birth month per patient is kept.
    first = df.groupby("PID")["MYDOB"].agg(lambda s: s.value_counts().iloc[0] / len(s))
    assert (first >= 0.5).all()


def test_births_hold_even_when_most_released_months_are_inside_the_year():
    """A small source leaves mostly in-year birth months (infants) after suppression: swaps run
    out of partners, yet no row may be born after the date its age is computed at."""
    md = mini_metadata(mydob=[("062021", 1.0, 40.0), ("022022", 1.0, 40.0), ("011980", 1.0, 20.0)])
    df = chunk(md, rows=4000)
    at = df["D1"].map(lambda d: d if real(d) else None)
    births = df["MYDOB"].map(lambda t: None if t is None else date(int(t[2:]), int(t[:2]), 1))
    both = at.notna() & births.notna()
    assert (births[both] <= at[both]).all()
    # Never invented: every birth month is a released one, or none (age unknown).
    assert set(df["MYDOB"].dropna()) <= {"062021", "022022", "011980"}
    # Where a birth month stands the age is there; where it was dropped the age is unknown.
    assert df.loc[both, "AGE"].notna().all()
    assert df.loc[births.isna(), "AGE"].isna().all()


def test_patients_with_disagreeing_birth_months_stay_mixed_when_births_are_kept_before():
    """A disagreeing birth month drawn after its episode's date was replaced by the patient's
    modal month, so the patient no longer disagreed: 10M APC rows had 1.64% of patients with a
    mixed MYDOB against a released 1.68%, which QA's patient_consistency check blocked. Here
    most disagreeing months are inside the year (062021) and D1 is often April 2021: the
    released share of mixed patients must survive the rule, judged by QA's own count."""
    from artificial_data.generator.qa.patients import bernstein_margin, mixed_patients, value_codes

    md = mini_metadata(
        mydob=[
            ("062021", 1.0, 30.0),  # infants, often born after D1 (April 2021)
            ("011990", 1.0, 10.0),
            ("011980", 1.0, 50.0),
            ("011980", 0.5, 10.0),  # 10% of patients: half their episodes another month
        ]
    )
    table = generate_chunk(md, MINI, "2122", 0, 200_000, SEED, 0)
    births = (
        table.column("MYDOB")
        .to_pandas()
        .map(lambda t: None if t is None else date(int(t[2:]), int(t[:2]), 1))
    )
    at = table.column("D1").to_pandas().map(lambda d: d if real(d) else None)
    both = at.notna() & births.notna()
    assert (births[both] <= at[both]).all()  # the rule still holds on every row
    patients, _multi, mixed = mixed_patients(
        value_codes(table.column("PID")), table.column("MYDOB")
    )
    released = 10.0 / 100.0
    assert abs(mixed / patients - released) <= bernstein_margin(released, patients)


def test_birth_months_parse_the_same_from_dictionary_and_plain_text():
    """Sampled MYDOB stays dictionary-encoded (parsed once per distinct month): the days and
    the missing rows must be those of the plain text, invalid months and nulls included."""
    from artificial_data.generator.engine.postprocess import mydob_days

    months = pa.array(["061990", "132020", None, "011970", "", "0119"])
    encoded = pa.DictionaryArray.from_arrays(
        pa.array([0, 1, 2, None, 3, 4, 5, 0], type=pa.int32()), months
    )
    plain = encoded.cast(pa.string())
    days, missing = mydob_days(encoded)
    plain_days, plain_missing = mydob_days(plain)
    assert missing.tolist() == plain_missing.tolist()
    assert missing.tolist() == [False, True, True, True, False, True, True, False]
    assert days[~missing].tolist() == plain_days[~plain_missing].tolist()
    all_null = pa.DictionaryArray.from_arrays(
        pa.array([None], pa.int32()), pa.array([], pa.string())
    )
    assert mydob_days(all_null)[1].tolist() == [True]


def test_ae_times_are_the_arrival_time_plus_their_durations():
    spec = load_spec("hes_ae")
    assert [d.field for d in spec.clock_durations] == ["INITDUR", "TRETDUR", "CONCLDUR", "DEPDUR"]
    df = chunk(plausible_metadata(spec), spec=spec, rows=6000)

    def minutes(col):
        return col.map(lambda t: None if t is None else int(t[:2]) * 60 + int(t[2:]))

    arrival = minutes(df["ARRIVALTIME"])
    for d in spec.clock_durations:
        end, dur = minutes(df[d.end]), df[d.field]
        known = arrival.notna() & dur.notna()
        assert ((arrival[known] + dur[known]) % 1440 == end[known]).all(), d.field
        assert end[~known].isna().all()
        # The duration keeps its own null share (0.1 in the made-up metadata).
        within_noise(dur.isna().map({True: "null", False: "v"}), {"null": 1, "v": 9}, 6000)
    # One value uniform for the durations of one arrival: they keep their order.
    durs = df[[d.field for d in spec.clock_durations]].dropna()
    assert (durs.diff(axis=1).iloc[:, 1:] >= 0).all().all()


@pytest.mark.parametrize("dataset", ["hes_apc", "hes_op", "hes_ae"])
def test_a_chunk_with_dictionary_encoded_text_holds_the_same_values(dataset):
    """``keep_dictionaries`` changes how text is held (for the Parquet writer), never a value."""
    from artificial_data.generator.engine.chunk import generate_chunk_from_plan, plan_for

    spec = load_spec(dataset)
    plan = plan_for(plausible_metadata(spec), spec, "2122")
    plain = generate_chunk_from_plan(plan, 3, 2_000, 99, 6_000)
    encoded = generate_chunk_from_plan(plan, 3, 2_000, 99, 6_000, keep_dictionaries=True)
    assert plain.schema.equals(arrow_schema(spec))
    kinds = {pa.types.is_dictionary(t) for t in encoded.schema.types}
    assert kinds == {True, False}  # sampled text encoded; keys, dates, derived text plain
    assert encoded.cast(arrow_schema(spec)).equals(plain)


def test_the_guided_search_finds_exactly_what_a_binary_search_finds():
    """Draws go through a guide table for speed; they must be the binary search's indices,
    for tables of every size, at slice edges (and a hair either side), with weights that end
    on or next to an edge, and past the last weight."""
    from artificial_data.generator.engine import sampling
    from artificial_data.generator.engine.sampling import cumulative, search_cumulative

    rng = np.random.default_rng(16)
    limit = sampling.COMPARE_ALL_CATEGORIES
    for k in (1, 2, 8, limit, limit + 1, 40, 3_000, 10_000):
        slices = min(sampling.GUIDE_SLICES_PER_CATEGORY * k, sampling.GUIDE_MAX_SLICES)
        edges = np.arange(slices + 1) / slices
        cum = cumulative(rng.random(k) ** 4)
        on_edges = rng.choice(len(edges), size=min(k - 1, 5), replace=False)
        cum[: len(on_edges)] = edges[on_edges] + rng.choice([0.0, 1e-13, -1e-13], len(on_edges))
        cum = np.sort(cum)
        u = np.concatenate(
            [
                rng.random(20_000),
                edges,
                np.nextafter(edges, 0),
                np.nextafter(edges, 1),
                cum,
                np.nextafter(cum, 0),
            ]
        )
        u = np.clip(u, 0.0, np.nextafter(1.0, 0))
        expected = np.minimum(np.searchsorted(cum, u, side="right"), k - 1)
        assert (search_cumulative(cum, u) == expected).all(), k
    short = np.array([0.25, 0.5, 0.75, 0.9] * 4)  # a table not ending at 1: last index
    assert (search_cumulative(np.sort(short), np.array([0.95, 0.1])) == [15, 0]).all()
