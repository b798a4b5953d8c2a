"""The stand-in raw HES simulator (DESIGN §4): shape, determinism, planted structure, store."""

from __future__ import annotations

import argparse
import itertools
import re
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.schema import arrow_schema, schema_differences
from artificial_data.common.settings import ENVIRONMENT_ENV
from artificial_data.common.stores import RAW, ScopedStores, ScopeViolation
from artificial_data.simulator import (
    MARKER_FILE,
    RawPartitionInfo,
    add_simulate_arguments,
    run_simulate,
    simulate_chunks,
    write_raw_partition,
)

YEAR = "2122"
SIZES = {"hes_apc": 12_000, "hes_op": 6_000, "hes_ae": 6_000}
CHUNK = 5_000


@pytest.fixture(scope="module")
def chunks() -> dict[str, list[pa.Table]]:
    return {
        ds: list(simulate_chunks(load_spec(ds), YEAR, rows, seed=7, chunk_rows=CHUNK))
        for ds, rows in SIZES.items()
    }


@pytest.fixture(scope="module")
def frames(chunks) -> dict[str, pd.DataFrame]:
    return {ds: pa.concat_tables(tables).to_pandas() for ds, tables in chunks.items()}


def _days(series: pd.Series) -> pd.Series:
    """Days since 1970 of a column of ``datetime.date`` (NaN for null)."""
    return series.map(lambda d: (d - date(1970, 1, 1)).days if d is not None else np.nan)


def _real(days: pd.Series) -> pd.Series:
    """Not null and not a 1800/1801 placeholder."""
    return days.notna() & (days > (date(1900, 1, 1) - date(1970, 1, 1)).days)


# ------------------------------------------------------------------------------ shape


@pytest.mark.parametrize("dataset", sorted(SIZES))
def test_every_chunk_has_exactly_the_spec_schema_and_the_requested_rows(chunks, dataset):
    spec = load_spec(dataset)
    expected = arrow_schema(spec)
    for table in chunks[dataset]:
        assert schema_differences(spec, table.schema) == []
        assert table.schema.remove_metadata().equals(expected)
        assert table.schema.metadata[b"artificial_data.simulated"] == b"true"
    assert [t.num_rows for t in chunks[dataset]] == [5_000] * (SIZES[dataset] // CHUNK) + (
        [SIZES[dataset] % CHUNK] if SIZES[dataset] % CHUNK else []
    )
    assert len(chunks[dataset][0].schema) == {"hes_apc": 193, "hes_op": 157, "hes_ae": 165}[dataset]


@pytest.mark.parametrize("dataset", sorted(SIZES))
def test_fyear_is_the_partition_year_and_keys_are_unique(frames, dataset):
    df = frames[dataset]
    spec = load_spec(dataset)
    assert set(df["FYEAR"]) == {YEAR}
    key = df[spec.primary_key]
    assert key.is_unique and key.notna().all()
    assert key.astype("int64").astype(str).str.fullmatch(r"[1-9]\d{11}").all()
    assert df["PSEUDO_HESID"].str.fullmatch(r"TEST[A-Z0-9]{28}").all()
    for f in spec.fields_with_role("identifier"):
        values = df[f.name].dropna()
        if f.identifier.per == "record":
            assert values.is_unique, f.name
            text = values.astype("int64").astype(str) if f.spark_type == "long" else values
            assert text.str.len().eq(f.identifier.length).all(), f.name


def test_value_domains_look_like_hes(frames):
    apc = frames["hes_apc"]
    assert apc["DIAG_4_01"].str.fullmatch(r"[A-Z]\d\d[0-9X]|&").all()
    assert apc["DIAG_4_01"].nunique() > 1_000  # thousands of codes, long tail
    assert apc["OPERTN_4_01"].str.fullmatch(r"[A-Z]\d{3}|-|&").all()
    assert set(apc["ADMIMETH"]) <= set(
        [
            "11",
            "12",
            "13",
            "21",
            "22",
            "23",
            "24",
            "25",
            "26",
            "27",
            "28",
            "2A",
            "2B",
            "2C",
            "2D",
            "31",
            "32",
            "81",
            "82",
            "83",
            "84",
            "99",
        ]
    )
    assert apc["PROCODE3"].str.fullmatch(r"R[A-Z0-9]{2}").all()
    assert apc["SITETRET"].str[:3].eq(apc["PROCODE3"]).all()
    assert apc["LSOA11"].dropna().str.fullmatch(r"E01\d{6}").all()
    assert apc["MSOA11"].dropna().str.fullmatch(r"E02\d{6}").all()
    assert apc["MYDOB"].dropna().str.fullmatch(r"(0[1-9]|1[0-2])(19|20)\d\d").all()
    assert set(apc["RESGOR"]) <= set("ABCDEFGHJKUWXYZ")
    assert {date(1800, 1, 1), date(1801, 1, 1)} <= set(apc["ELECDATE"].dropna())
    assert apc["ALCNRWFRAC"].dropna().map(lambda d: d.as_tuple().exponent).eq(-15).all()
    ae = frames["hes_ae"]
    for name in ("ARRIVALTIME", "INITTIME", "DEPTIME"):
        assert ae[name].dropna().str.fullmatch(r"([01]\d|2[0-3])[0-5]\d").all(), name


# ------------------------------------------------------------------------------ determinism


def test_same_seed_same_tables_and_a_different_seed_differs():
    spec = load_spec("hes_ae")
    a = list(simulate_chunks(spec, YEAR, 3_000, seed=11, chunk_rows=2_000))
    b = list(simulate_chunks(spec, YEAR, 3_000, seed=11, chunk_rows=2_000))
    c = list(simulate_chunks(spec, YEAR, 3_000, seed=12, chunk_rows=2_000))
    assert all(x.equals(y, check_metadata=True) for x, y in zip(a, b, strict=True))
    assert not a[0].equals(c[0])
    other_year = next(simulate_chunks(spec, "2223", 2_000, seed=11, chunk_rows=2_000))
    assert not a[0]["PSEUDO_HESID"].equals(other_year["PSEUDO_HESID"])


def test_same_seed_writes_byte_identical_parquet(tmp_path):
    spec = load_spec("hes_op")

    def write(home, seed):
        stores = ScopedStores.for_location("scraper", home, simulated_raw=True)
        info = write_raw_partition(stores, spec, YEAR, rows=2_500, seed=seed, chunk_rows=1_000)
        return {name: (info.path / name).read_bytes() for name in (*info.files, MARKER_FILE)}

    first, second = write(tmp_path / "a", 5), write(tmp_path / "b", 5)
    assert first == second
    assert write(tmp_path / "c", 6)["part-00000.parquet"] != first["part-00000.parquet"]


# ------------------------------------------------------------------------------ planted structure


def _chapter(df: pd.DataFrame) -> pd.Series:
    return df["DIAG_4_01"].str[0]


def test_emergency_admissions_stay_longer_than_elective(frames):
    apc = frames["hes_apc"]
    emergency = apc["ADMIMETH"].str.startswith("2")
    elective = apc["ADMIMETH"].isin(["11", "12", "13"])
    assert apc.loc[emergency, "SPELDUR"].mean() > 2 * apc.loc[elective, "SPELDUR"].mean()


def test_sex_specific_diagnoses_respect_the_episode_sex(frames):
    for ds in ("hes_apc", "hes_op"):
        df = frames[ds]
        diag_cols = [c for c in df.columns if re.fullmatch(r"DIAG_4_\d\d", c)]
        codes = df[diag_cols]
        pregnancy = codes.apply(lambda s: s.str.startswith("O", na=False)).any(axis=1)
        prostate = codes.apply(lambda s: s.str.match(r"N4\d|N5[01]", na=False)).any(axis=1)
        assert pregnancy.sum() > 10 or ds == "hes_op"
        assert (df.loc[pregnancy, "SEX"] == "2").all()
        assert (df.loc[prostate, "SEX"] == "1").all()


def test_age_drives_the_diagnosis_chapter(frames):
    apc = frames["hes_apc"]
    age = apc["STARTAGE"].where(apc["STARTAGE"] < 7000, 0)
    chapter = _chapter(apc)
    children, elderly = age < 16, age >= 65
    assert (
        chapter[children].isin(["J", "R"]).mean() > 1.2 * chapter[elderly].isin(["J", "R"]).mean()
    )
    assert chapter[elderly].isin(["I", "C"]).mean() > 5 * chapter[children].isin(["I", "C"]).mean()
    perinatal = chapter == "P"
    assert perinatal.sum() > 20
    # Infants only (a few episodes' MYDOB carries coding noise, which can make them 1 year old).
    assert (apc.loc[perinatal, "STARTAGE"] >= 7001).mean() > 0.95
    assert apc.loc[perinatal, "STARTAGE"].isin([0, 1, *range(7001, 7008)]).mean() > 0.99
    congenital = chapter == "Q"
    assert age[congenital].median() < 16 < age.median()


def test_rare_values_with_counts_one_to_seven_are_planted_in_many_fields(frames):
    apc = frames["hes_apc"]
    spec = load_spec("hes_apc")
    fields_with_rare = [
        f.name
        for f in spec.scraped_fields
        if apc[f.name].value_counts(dropna=False).between(1, 7).any()
    ]
    assert len(fields_with_rare) >= 60
    for field, value in (("ADMIMETH", "26"), ("ADMINCAT", "05"), ("DISMETH", None)):
        if value is not None:
            assert 1 <= (apc[field] == value).sum() <= 7, field


def test_rare_planting_does_not_grow_with_size():
    spec = load_spec("hes_apc")
    tables = list(simulate_chunks(spec, YEAR, 4_000, seed=3, chunk_rows=1_000))
    df = pa.concat_tables(tables).to_pandas()
    # ADMINCAT's rare '05' is planted in chunk 0 only; RANK_ORDER has two rare values.
    assert 1 <= (df["ADMINCAT"] == "05").sum() <= 7
    assert 1 <= (df["RANK_ORDER"] == 31).sum() <= 7


# ------------------------------------------------------------------------------ consistency


def test_apc_dates_are_ordered_and_mostly_in_the_financial_year(frames):
    apc = frames["hes_apc"]
    chain = ["ELECDATE", "ADMIDATE", "EPISTART", "EPIEND", "DISDATE"]
    days = {name: _days(apc[name]) for name in chain}
    for i, a in enumerate(chain):
        for b in chain[i + 1 :]:
            both = days[a].notna() & days[b].notna()
            assert (days[a][both] <= days[b][both]).all(), (a, b)
    start, end = _days(pd.Series([date(2021, 4, 1), date(2022, 3, 31)]))
    inside = days["EPISTART"].between(start, end)
    assert inside.mean() > 0.99


def test_op_request_precedes_appointment(frames):
    op = frames["hes_op"]
    req, appt = _days(op["REQDATE"]), _days(op["APPTDATE"])
    both = req.notna()
    assert (req[both] <= appt[both]).all()
    assert (
        op.loc[op["ATTENDED"] == "3", "DNADATE"] == op.loc[op["ATTENDED"] == "3", "APPTDATE"]
    ).all()


@pytest.mark.parametrize("dataset", ["hes_apc", "hes_op"])
def test_durations_equal_the_date_differences(frames, dataset):
    df = frames[dataset]
    for dur in load_spec(dataset).durations:
        start, end = _days(df[dur.start]), _days(df[dur.end])
        real = _real(start) & _real(end)
        assert (df.loc[real, dur.field] == (end - start)[real]).all(), dur.field
        assert df.loc[~real, dur.field].isna().all(), dur.field


@pytest.mark.parametrize("dataset", sorted(SIZES))
def test_derived_fields_agree_with_their_sources(frames, dataset):
    df = frames[dataset]
    for f in load_spec(dataset).fields:
        d = f.derivation
        if d is None:
            continue
        if d.kind == "truncate":
            expected = df[d.source].str[: d.length]
            assert df[f.name].equals(expected), f.name
        elif d.kind == "concat":
            expected = df[list(d.sources)].apply(
                lambda row: ",".join(v for v in row if v is not None) or None, axis=1
            )
            assert (df[f.name].fillna("<null>") == expected.fillna("<null>")).all(), f.name
        elif d.kind == "count":
            real = df[list(d.sources)].apply(lambda s: s.notna() & ~s.isin(["&", "-"]))
            assert (df[f.name] == real.sum(axis=1)).all(), f.name


def _hes_age(mydob: str | None, at: date | None) -> float | None:
    """Independent reference: whole years from the first of the MYDOB month, infant codes."""
    if mydob is None or at is None:
        return None
    birth = date(int(mydob[2:]), int(mydob[:2]), 1)
    days = (at - birth).days
    years = at.year - birth.year - ((at.month, at.day) < (birth.month, birth.day))
    if years >= 1:
        return float(min(years, 120))
    bounds = [0, 1, 7, 29, 91, 183, 274]
    return float(7001 + sum(days >= b for b in bounds) - 1)


def test_startage_is_derived_from_mydob_and_admission_date(frames):
    apc = frames["hes_apc"].head(3_000)
    expected = [_hes_age(m, a) for m, a in zip(apc["MYDOB"], apc["ADMIDATE"], strict=True)]
    got = apc["STARTAGE"].tolist()
    assert all((e is None and np.isnan(g)) or e == g for e, g in zip(expected, got, strict=True))
    calc = apc["STARTAGE_CALC"]
    adult = apc["STARTAGE"] < 7000
    assert (np.floor(calc[adult]) == apc.loc[adult, "STARTAGE"]).all()
    assert (calc[apc["STARTAGE"] >= 7001] < 1).all()


@pytest.mark.parametrize(
    ("dataset", "code", "calc"),
    [("hes_op", "APPTAGE", "APPTAGE_CALC"), ("hes_ae", "ARRIVALAGE", "ARRIVALAGE_CALC")],
)
def test_fractional_age_lies_in_the_age_code_interval(frames, dataset, code, calc):
    df = frames[dataset]
    years = df[code] < 7000
    assert (np.floor(df.loc[years, calc]) == df.loc[years, code]).all()
    assert (df.loc[~years, calc] < 1).all()
    assert df[code].between(7001, 7007).any()


def test_ae_durations_are_ordered_and_times_follow_arrival(frames):
    ae = frames["hes_ae"]
    durations = ["INITDUR", "TRETDUR", "CONCLDUR", "DEPDUR"]
    for a, b in itertools.pairwise(durations):
        both = ae[a].notna() & ae[b].notna()
        assert (ae.loc[both, a] <= ae.loc[both, b]).all()
    arrival = ae["ARRIVALTIME"].str[:2].astype(int) * 60 + ae["ARRIVALTIME"].str[2:].astype(int)
    ok = ae["DEPDUR"].notna()
    dep = ae.loc[ok, "DEPTIME"]
    minutes = dep.str[:2].astype(int) * 60 + dep.str[2:].astype(int)
    assert (minutes == (arrival[ok] + ae.loc[ok, "DEPDUR"]) % 1440).all()


# ------------------------------------------------------------------------------ patients


@pytest.mark.parametrize("dataset", sorted(SIZES))
def test_patients_have_heavy_tailed_episodes_and_mostly_consistent_demographics(frames, dataset):
    df = frames[dataset]
    episodes = df.groupby("PSEUDO_HESID").size()
    assert (episodes == 1).mean() > 0.4
    assert episodes.between(2, 10).sum() > 100
    assert episodes.max() >= 25
    fields = ["SEX", "ETHNOS"] + (["MYDOB"] if "MYDOB" in df else [])
    multi = df[df["PSEUDO_HESID"].map(episodes) > 1]
    for name in fields:
        values = multi[name].fillna("<null>")
        modal_share = values.groupby(multi["PSEUDO_HESID"]).agg(
            lambda s: s.value_counts().iloc[0] / len(s)
        )
        agreeing = (modal_share * episodes[modal_share.index]).sum() / len(multi)
        assert 0.9 < agreeing < 1.0, name  # mostly consistent, with a little noise


def test_a_patient_never_straddles_two_chunks(chunks):
    seen: set[str] = set()
    for table in chunks["hes_apc"]:
        ids = set(table["PSEUDO_HESID"].to_pylist())
        assert not ids & seen
        seen |= ids


# ------------------------------------------------------------------------------ store and CLI


def test_write_raw_partition_labels_and_atomically_replaces(tmp_path):
    spec = load_spec("hes_ae")
    stores = ScopedStores.for_location("scraper", tmp_path, simulated_raw=True)
    first = write_raw_partition(stores, spec, YEAR, rows=2_000, seed=1, chunk_rows=1_500)
    assert isinstance(first, RawPartitionInfo) and first.simulated
    assert (first.rows, first.seed, first.files) == (
        2_000,
        1,
        ("part-00000.parquet", "part-00001.parquet"),
    )
    table = pq.read_table(first.path)
    assert table.num_rows == 2_000
    assert first.patients == table["PSEUDO_HESID"].to_pandas().nunique()
    assert (
        pq.read_schema(first.path / first.files[0]).metadata[b"artificial_data.simulated"]
        == b"true"
    )
    assert (first.path / MARKER_FILE).exists()
    old_version = first.path.resolve()

    second = write_raw_partition(stores, spec, YEAR, rows=700, seed=2)
    assert pq.read_table(second.path).num_rows == 700
    assert not old_version.exists()  # replaced, not merged
    assert stores.partitions(RAW, "hes_ae") == [YEAR]


def test_a_failed_write_keeps_the_previous_partition(tmp_path, monkeypatch):
    spec = load_spec("hes_ae")
    stores = ScopedStores.for_location("scraper", tmp_path, simulated_raw=True)
    write_raw_partition(stores, spec, YEAR, rows=500, seed=1)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        write_raw_partition(stores, spec, YEAR, rows=900, seed=1)
    monkeypatch.undo()
    assert pq.read_table(stores.partition_path(RAW, "hes_ae", YEAR)).num_rows == 500


def test_locations_without_raw_write_are_refused(tmp_path):
    spec = load_spec("hes_apc")
    for stores in (
        ScopedStores.for_location("generator", tmp_path),
        ScopedStores.for_location("scraper", tmp_path, simulated_raw=False),
    ):
        with pytest.raises(ScopeViolation, match="raw"):
            write_raw_partition(stores, spec, YEAR, rows=10, seed=1)
    assert not (tmp_path / "raw").exists()


def test_bad_requests_name_the_dataset():
    spec = load_spec("hes_op")
    with pytest.raises(ValueError, match=r"hes_op.*1819"):
        next(simulate_chunks(spec, "1819", 10, seed=1))
    with pytest.raises(ValueError, match=r"hes_op.*rows"):
        next(simulate_chunks(spec, YEAR, 0, seed=1))


def _cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_writes_into_the_raw_store_of_the_home(home, capsys):
    args = _cli_args(
        "--dataset",
        "hes_op",
        "--dataset",
        "hes_ae",
        "--years",
        YEAR,
        "2223",
        "--rows",
        "300",
        "--seed",
        "42",
    )
    assert run_simulate(args) == 0
    out = capsys.readouterr().out
    assert out.count("simulated ") == 4 and "SIMULATED" in out
    for ds in ("hes_op", "hes_ae"):
        for year in (YEAR, "2223"):
            assert pq.read_table(home / "raw" / ds / year).num_rows == 300


def test_cli_refuses_outside_simulated_environments(home, monkeypatch, capsys):
    monkeypatch.setenv(ENVIRONMENT_ENV, "production")
    assert run_simulate(_cli_args("--dataset", "hes_apc", "--rows", "10")) == 2
    assert "refused" in capsys.readouterr().err
    assert not (home / "raw").exists()
