"""QA against hand-made released metadata: clean tables pass, planted defects are caught."""

from __future__ import annotations

import dataclasses
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.value_domains import parse_domain
from artificial_data.generator.qa import CHECK_NAMES, consistency, independence, run_qa
from artificial_data.generator.qa.distances import expected_tvd, margin, placed_distance
from artificial_data.generator.qa.expected import FrequencyExpectation
from artificial_data.generator.qa.fields import declared_outliers
from artificial_data_tests.qa_tables import clean_table, derive, hand_made_metadata, mini_spec
from artificial_data_tests.qa_tables import replace_column as replace

ROWS = 600


@pytest.fixture(scope="module")
def spec():
    return mini_spec()


@pytest.fixture(scope="module")
def metadata(spec):
    return hand_made_metadata(spec)


@pytest.fixture(scope="module")
def clean(spec, metadata):
    return clean_table(spec, metadata, ROWS, seed=3)


def failed(result) -> set[str]:
    return {c.name for c in result.checks if not c.passed and c.blocking}


def test_clean_table_passes_every_blocking_check(spec, metadata, clean):
    result = run_qa(clean, metadata, spec, "2122")
    assert [c.name for c in result.checks] == list(CHECK_NAMES)
    assert result.passed, [c.details for c in result.blocking_failures]
    assert result.check("derived_fields").metrics["STARTAGE"]["failures"] == 0
    assert result.check("category_coverage").passed


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_clean_tables_pass_over_seeds(spec, metadata, seed):
    """The noise-aware limits do not fail a correct generator (different random draws)."""
    result = run_qa(clean_table(spec, metadata, 400, seed=seed), metadata, spec, "2122")
    assert result.passed, [c.details for c in result.blocking_failures]


def test_shifted_distribution_fails(spec, metadata, clean):
    values = clean.column("ADMIMETH").to_pylist()
    shifted = ["01" if i % 3 == 0 else v for i, v in enumerate(values)]  # +~25 points on '01'
    result = run_qa(replace(clean, "ADMIMETH", shifted), metadata, spec, "2122")
    assert failed(result) == {"field_distributions"}
    assert result.check("field_distributions").metrics["failed"] == ["ADMIMETH"]
    assert "hes_mini.ADMIMETH" in result.check("field_distributions").details


def test_shifted_continuous_field_fails(spec, metadata, clean):
    values = [None if v is None else min(v * 0.5, 1.0) for v in clean.column("ALCFRAC").to_pylist()]
    result = run_qa(replace(clean, "ALCFRAC", values), metadata, spec, "2122")
    assert result.check("field_distributions").metrics["failed"] == ["ALCFRAC"]


def test_shifted_integer_continuous_field_fails(spec, metadata, clean):
    """Times of day are integer minutes: the quantile-bracket test still sees a 6-hour shift."""

    def later(v):
        if v is None:
            return None
        minutes = min(int(v[:2]) * 60 + int(v[2:]) + 360, 1439)
        return f"{minutes // 60:02d}{minutes % 60:02d}"

    values = [later(v) for v in clean.column("ARRIVALTIME").to_pylist()]
    result = run_qa(replace(clean, "ARRIVALTIME", values), metadata, spec, "2122")
    assert result.check("field_distributions").metrics["failed"] == ["ARRIVALTIME"]


def test_broken_date_chain_fails(spec, metadata, clean):
    adm = clean.column("ADMIDATE").to_pylist()
    dis = clean.column("DISDATE").to_pylist()
    i = next(
        k
        for k, (a, d) in enumerate(zip(adm, dis, strict=True))
        if a and d and a.year > 1801 and d.year > 1801 and a < d
    )
    adm[i], dis[i] = dis[i], adm[i]
    result = run_qa(
        replace(replace(clean, "ADMIDATE", adm), "DISDATE", dis), metadata, spec, "2122"
    )
    check = result.check("date_chains")
    assert not check.passed and check.blocking
    assert check.metrics["ELECDATE <= ADMIDATE <= DISDATE"]["failures"] >= 1
    assert f"row {i}" in check.details


def test_placeholder_and_null_dates_are_not_ordered(spec, metadata, clean):
    elec = clean.column("ELECDATE").to_pylist()
    elec[0], elec[1] = date(1800, 1, 1), None
    assert (
        run_qa(replace(clean, "ELECDATE", elec), metadata, spec, "2122").check("date_chains").passed
    )


def test_wrong_duration_fails(spec, metadata, clean):
    dur = clean.column("SPELDUR").to_pylist()
    adm, dis = clean.column("ADMIDATE").to_pylist(), clean.column("DISDATE").to_pylist()
    i = next(
        k
        for k, (a, d) in enumerate(zip(adm, dis, strict=True))
        if a and d and a.year > 1801 and d.year > 1801
    )
    dur[i] += 1
    result = run_qa(replace(clean, "SPELDUR", dur), metadata, spec, "2122")
    assert failed(result) == {"durations"}


def test_duplicated_key_fails(spec, metadata, clean):
    keys = clean.column("EPIKEY").to_pylist()
    keys[5] = keys[4]
    result = run_qa(replace(clean, "EPIKEY", keys), metadata, spec, "2122")
    assert failed(result) == {"primary_key"}
    assert f"EPIKEY={keys[4]!r} repeated" in result.check("primary_key").details


def test_bad_pseudo_hesid_fails(spec, metadata, clean):
    ids = clean.column("PSEUDO_HESID").to_pylist()
    ids = ["REAL" + v[4:] if v == ids[0] else v for v in ids]
    result = run_qa(replace(clean, "PSEUDO_HESID", ids), metadata, spec, "2122")
    assert failed(result) == {"identifiers"}
    assert "PSEUDO_HESID" in result.check("identifiers").details


def test_value_outside_domain_fails(spec, metadata, clean):
    values = clean.column("ADMIMETH").to_pylist()
    values[7] = "99"  # a code the reviewer never saw
    result = run_qa(replace(clean, "ADMIMETH", values), metadata, spec, "2122")
    assert failed(result) == {"value_domain"}
    assert "hes_mini.ADMIMETH: 1 rows" in result.check("value_domain").details
    assert "'99'" in result.check("value_domain").details


def _with_domain(spec, name: str, declared: dict):
    """``spec`` with field ``name`` declaring a different (tighter) value domain."""
    domain = parse_domain(f"{name.lower()}_tight", declared, "test")
    fields = tuple(
        dataclasses.replace(f, domain=domain) if f.name == name else f for f in spec.fields
    )
    return dataclasses.replace(spec, fields=fields)


def test_released_value_outside_the_declared_domain_fails(spec, metadata, clean):
    """A value the metadata released is still out of domain if the field's declared domain
    refuses it (the same allowlist as the disclosure review and the simulator)."""
    tight = _with_domain(spec, "ADMIMETH", {"codes": ["01", "02", "03", "10", "&"]})
    result = run_qa(clean, metadata, tight, "2122")
    assert failed(result) == {"value_domain"}
    check = result.check("value_domain")
    assert check.metrics["ADMIMETH"]["outside_declared_domain"] == ["A01", "B20"]
    assert check.metrics["ADMIMETH"]["rows"] == sum(
        v in ("A01", "B20") for v in clean.column("ADMIMETH").to_pylist()
    )
    assert "outside the declared domain admimeth_tight: one of" in check.details
    assert run_qa(clean, metadata, spec, "2122").check("value_domain").passed


def test_continuous_value_outside_the_declared_range_fails(spec, metadata, clean):
    """Continuous fields have no released value list: the declared range is what bounds them."""
    values = clean.column("ALCFRAC").to_pylist()
    i = next(k for k, v in enumerate(values) if v is not None)
    values[i] = 1.5  # a fraction above 1
    result = run_qa(replace(clean, "ALCFRAC", values), metadata, spec, "2122")
    assert failed(result) == {"value_domain"}
    metrics = result.check("value_domain").metrics["ALCFRAC"]
    assert metrics == {"rows": 1, "values": ["1.5"], "outside_declared_domain": ["1.5"]}
    assert "fraction: numbers from 0 to 1" in result.check("value_domain").details


def test_declared_outliers_judge_values_as_the_scraper_publishes_them(spec):
    ae = load_spec("hes_ae")
    text = pa.chunked_array([pa.array(["A001", "John Smith", None, "&", "John Smith"])])
    assert declared_outliers(spec.field("DIAG_4_01"), text) == {"John Smith": 2}
    times = pa.chunked_array([pa.array(["0930", "2359", None])])
    assert declared_outliers(ae.field("ARRIVALTIME"), times) == {}
    ages = pa.chunked_array([pa.array([0, 35, 7004, 121, 6999, None], pa.int32())])
    assert declared_outliers(spec.field("APPTAGE"), ages) == {"121.0": 1, "6999.0": 1}
    fractions = pa.chunked_array(
        [pa.array([Decimal("0.5"), Decimal("1.25"), None], pa.decimal128(16, 15))]
    )
    assert declared_outliers(spec.field("ALCNRWFRAC"), fractions) == {"1.25": 1}
    dates = pa.chunked_array([pa.array([date(2021, 5, 1), date(1800, 1, 1), date(1975, 1, 1)])])
    assert declared_outliers(spec.field("ADMIDATE"), dates) == {"1975-01-01": 1}
    mydob = pa.chunked_array([pa.array(["011950", "011750", "131950"])])
    assert declared_outliers(spec.field("MYDOB"), mydob) == {"011750": 1, "131950": 1}


def test_leading_zero_lost_is_outside_domain(spec, metadata, clean):
    values = [None if v is None else v.lstrip("0") for v in clean.column("ADMIMETH").to_pylist()]
    assert "value_domain" in failed(
        run_qa(replace(clean, "ADMIMETH", values), metadata, spec, "2122")
    )


@pytest.mark.parametrize(
    ("field", "corrupt"),
    [
        ("DIAG_3_01", lambda v: None if v is None else v[:2]),
        ("DIAG_4_CONCAT", lambda v: None if v is None else v.replace(",", ";")),
        ("DIAG_COUNT", lambda v: v + 1),
        ("STARTAGE", lambda v: None if v is None else (v + 2 if v < 7000 else 5)),
        ("STARTAGE_CALC", lambda v: None if v is None else v + 1.5),
        ("APPTAGE_CALC", lambda v: None if v is None else v + 1.0),
    ],
)
def test_broken_derived_field_fails(spec, metadata, clean, field, corrupt):
    values = clean.column(field).to_pylist()
    i = next(
        k
        for k, v in enumerate(values)
        if v is not None and corrupt(v) != v and (field != "DIAG_4_CONCAT" or "," in v)
    )
    values[i] = corrupt(values[i])
    result = run_qa(replace(clean, field, values), metadata, spec, "2122")
    assert failed(result) == {"derived_fields"}
    assert result.check("derived_fields").metrics[field]["failures"] == 1


def _age_failures(mydob, admidate, startage) -> list[bool]:
    spec = load_spec("hes_apc")
    table = pa.table(
        {
            "MYDOB": pa.array(mydob, pa.string()),
            "ADMIDATE": pa.array(admidate, pa.date32()),
            "STARTAGE": pa.array(startage, pa.int32()),
        }
    )
    return [
        not consistency.derived_field(table.slice(i, 1), spec.field("STARTAGE")).passed
        for i in range(len(mydob))
    ]


def test_age_accepts_any_birth_day_in_the_month():
    """MYDOB is a month and a year only: the age is right for *some* birth day in the month."""
    at = date(2021, 6, 15)
    ages = [44, 45, 46, 47]
    assert _age_failures(["061975"] * 4, [at] * 4, ages) == [True, False, False, True]


def test_age_infant_codes_cap_and_impossible_births():
    at = date(2021, 6, 15)
    cases = [
        ("062021", 7001, False),  # born on the day of admission
        ("062021", 7003, False),  # born 1 June: 14 days
        ("062021", 7004, True),  # 29+ days is impossible within June
        ("062021", 0, True),  # HES never codes an infant as 0 years
        ("052021", 7004, False),  # 15-45 days
        ("072021", None, False),  # born after admission: no age
        ("072021", 7001, True),
        ("011850", 120, False),  # capped at 120
        ("011850", 171, True),
        (None, None, False),
    ]
    failures = _age_failures([c[0] for c in cases], [at] * len(cases), [c[1] for c in cases])
    assert failures == [c[2] for c in cases]


def test_infant_codes(spec, metadata, clean):
    mydob, adm = clean.column("MYDOB").to_pylist(), clean.column("ADMIDATE").to_pylist()
    age = clean.column("STARTAGE").to_pylist()
    infants = [k for k in range(len(age)) if age[k] is not None and age[k] >= 7001]
    assert infants, "the hand-made metadata should produce infants (MYDOB 2021)"
    k = infants[0]
    age[k] = 0  # HES never codes an infant as 0 years
    result = run_qa(replace(clean, "STARTAGE", age), metadata, spec, "2122")
    assert not result.check("derived_fields").passed, (mydob[k], adm[k])


def test_schema_difference_fails_without_crashing(spec, metadata, clean):
    broken = clean.drop_columns(["SEX"]).set_column(
        0, pa.field("EPIKEY", pa.string()), pc.cast(clean.column("EPIKEY"), pa.string())
    )
    result = run_qa(broken, metadata, spec, "2122")
    assert "schema" in failed(result)
    assert "SEX" in result.check("schema").details
    assert "EPIKEY" in result.check("schema").details


def test_shifted_episodes_per_patient_fails(spec, metadata, clean):
    ids = clean.column("PSEUDO_HESID").to_pylist()
    merged = [ids[i - i % 4] for i in range(len(ids))]  # patients of four episodes each
    result = run_qa(replace(clean, "PSEUDO_HESID", merged), metadata, spec, "2122")
    assert "episodes_per_patient" in failed(result)


def test_report_has_charts_and_verdict(spec, metadata, clean):
    result = run_qa(clean, metadata, spec, "2122")
    assert result.html.count("<svg") >= 3 + 10
    assert "Episodes per patient" in result.html and "Null rates" in result.html
    assert "ADMIMETH: top values" in result.html
    assert "**Publishable**" in result.markdown
    assert "| field_distributions | yes | pass |" in result.markdown
    bad = run_qa(replace(clean, "ADMIMETH", ["99"] * ROWS), metadata, spec, "2122")
    assert "Not publishable" in bad.markdown and 'class="fail"' in bad.html


def test_noise_threshold_formula():
    p = np.array([0.5, 0.5])
    assert expected_tvd(p, 100) == pytest.approx(2 * np.sqrt(0.5 / (2 * np.pi * 100)))
    assert margin(10_000) == pytest.approx(np.sqrt(np.log(1e6) / 20_000))


def test_large_real_spec_clean_table_passes():
    """The real APC spec (193 fields), hand-made metadata, a small clean table."""
    apc = load_spec("hes_apc")
    metadata = hand_made_metadata(apc)
    table = clean_table(apc, metadata, 300, seed=5)
    result = run_qa(table, metadata, apc, "2122")
    assert result.passed, [c.details for c in result.blocking_failures]
    assert result.check("derived_fields").metrics["OPERTN_COUNT"]["failures"] == 0


# ----------------------------------------------------- issue 13: defects QA must catch


def with_mydob(spec, table: pa.Table, values) -> pa.Table:
    """``table`` with new MYDOB values and the ages derived from them again."""
    table = replace(table, "MYDOB", values)
    frame = pd.DataFrame({n: table.column(n).to_pylist() for n in table.column_names})
    for f in spec.fields_with_role("derived"):
        if f.derivation.kind in ("age_years", "age_fraction"):
            table = replace(table, f.name, derive(frame, f.derivation))
    return table


def test_sex_shuffled_across_rows_fails_patient_consistency(spec, metadata, clean):
    """Shuffling SEX keeps its marginal but makes most multi-episode patients mixed."""
    rng = np.random.default_rng(0)
    shuffled = rng.permutation(np.array(clean.column("SEX").to_pylist(), dtype=object))
    result = run_qa(replace(clean, "SEX", list(shuffled)), metadata, spec, "2122")
    assert failed(result) == {"patient_consistency"}
    check = result.check("patient_consistency")
    assert check.metrics["failed"] == ["SEX"]
    sex = check.metrics["mixed_shares"]["SEX"]
    assert sex["mixed_among_multi_episode"] > 0.3 and sex["expected"] == pytest.approx(
        50 / 900, abs=1e-6
    )
    assert "hes_mini.SEX:" in check.details and "multi-episode patients" in check.details
    assert "Patient-level consistency" in result.markdown
    assert result.check("field_distributions").passed  # the marginal alone cannot see it


def test_patients_never_mixed_fail_patient_consistency(spec, metadata):
    """The opposite defect: every patient holds one SEX although 5.6% of patients are mixed."""
    table = clean_table(spec, metadata, 4_000, seed=21)
    ids, sex = table.column("PSEUDO_HESID").to_pylist(), table.column("SEX").to_pylist()
    first = {}
    for i, s in zip(ids, sex, strict=True):
        first.setdefault(i, s)
    assert run_qa(table, metadata, spec, "2122").passed
    result = run_qa(replace(table, "SEX", [first[i] for i in ids]), metadata, spec, "2122")
    assert failed(result) == {"patient_consistency"}
    assert result.check("patient_consistency").metrics["mixed_shares"]["SEX"]["observed"] == 0


def test_mydob_varying_within_patients_fails_patient_consistency(spec, metadata, clean):
    """The metadata says every patient's episodes agree on MYDOB; shuffling it breaks that."""
    rng = np.random.default_rng(1)
    mydob = list(rng.permutation(np.array(clean.column("MYDOB").to_pylist(), dtype=object)))
    result = run_qa(with_mydob(spec, clean, mydob), metadata, spec, "2122")
    check = result.check("patient_consistency")
    assert not check.passed and check.blocking
    assert "MYDOB" in check.metrics["failed"]
    assert check.metrics["mixed_shares"]["MYDOB"]["expected"] == 0


def test_birth_month_after_admission_fails(spec, metadata, clean):
    mydob, adm = clean.column("MYDOB").to_pylist(), clean.column("ADMIDATE").to_pylist()
    ids = clean.column("PSEUDO_HESID").to_pylist()
    assert run_qa(clean, metadata, spec, "2122").check("patient_consistency").metrics[
        "births_after"
    ] == {"MYDOB <= ADMIDATE": {"checked": pytest.approx(ROWS, rel=0.2), "failures": 0}}
    k = next(i for i, a in enumerate(adm) if a and date(2021, 4, 1) <= a < date(2021, 7, 1))
    patient = ids[k]
    mydob = ["072021" if i == patient else v for i, v in zip(ids, mydob, strict=True)]
    result = run_qa(with_mydob(spec, clean, mydob), metadata, spec, "2122")
    assert failed(result) == {"patient_consistency"}
    check = result.check("patient_consistency")
    assert check.metrics["births_after"]["MYDOB <= ADMIDATE"]["failures"] >= 1
    assert f"row {k}: MYDOB='072021'" in check.details


def test_perfect_association_planted_without_changing_marginals_fails(spec, metadata):
    """ADMIMETH re-ordered to follow length of stay: both marginals and every row rule stay,
    only the independence check sees it."""
    table = clean_table(spec, metadata, 1_500, seed=4)
    assert run_qa(table, metadata, spec, "2122").passed
    speldur = np.array([-1 if v is None else v for v in table.column("SPELDUR").to_pylist()])
    admimeth = sorted(table.column("ADMIMETH").to_pylist(), key=lambda v: v or "")
    planted = [None] * table.num_rows
    for rank, row_index in enumerate(np.argsort(speldur, kind="stable")):
        planted[row_index] = admimeth[rank]
    result = run_qa(replace(table, "ADMIMETH", planted), metadata, spec, "2122")
    assert failed(result) == {"field_independence"}
    check = result.check("field_independence")
    pair = check.metrics["failed"]["ADMIMETH x SPELDUR"]
    assert pair["cramers_v"] > 0.5 > pair["limit"]
    assert "hes_mini.ADMIMETH x SPELDUR: Cramér's V" in check.details
    assert "Independence of field pairs" in result.markdown


@pytest.mark.parametrize("seed", [31, 32, 33])
def test_clean_large_tables_keep_fields_independent(spec, metadata, seed):
    """More rows make the limit tight (V ~ 0.07 at 4,000 rows): clean tables still pass."""
    result = run_qa(clean_table(spec, metadata, 4_000, seed=seed), metadata, spec, "2122")
    assert result.passed, [c.details for c in result.blocking_failures]
    assert result.check("field_independence").metrics["pairs_checked"] == 80


def test_pairs_exclude_what_the_design_keeps_dependent():
    apc = load_spec("hes_apc")
    names = [f.name for f in apc.scraped_fields]
    pairs = independence.checked_pairs(apc, names, seed=1)
    assert pairs == independence.checked_pairs(apc, names, seed=1)
    assert pairs != independence.checked_pairs(apc, names, seed=2)  # other random pairs
    assert ("ADMIMETH", "SPELDUR") in pairs and ("ADMIDATE", "ADMIMETH") in pairs
    chain = {"ELECDATE", "ADMIDATE", "EPISTART", "EPIEND", "DISDATE"}
    group = chain | {"EPIDUR", "SPELDUR", "SPELDUR_CALC", "ELECDUR", "ELECDUR_CALC", "MYDOB"}
    assert not [p for p in pairs if set(p) <= group]
    assert not [p for p in pairs if p[0].startswith("DIAG_4") and p[1].startswith("DIAG_4")]
    assert ("DIAG_4_01", "OPERTN_4_01") in pairs  # different families are tested
    ae = load_spec("hes_ae")
    ae_pairs = independence.checked_pairs(ae, [f.name for f in ae.scraped_fields], seed=1)
    positional = [p for p in ae_pairs if all(independence.positional_family(n) for n in p)]
    assert positional and not [p for p in positional if p[0][:4] == p[1][:4] == "DIAG"]
    # Every field against ~13 key fields (dates, durations, 7 patient-level fields, ...):
    assert len(pairs) < 3_000  # far fewer than the 18,000 pairs of every field


def test_patient_level_pairs_are_tested_per_patient(spec, metadata, clean):
    result = run_qa(clean, metadata, spec, "2122")
    strongest = result.check("field_independence").metrics
    table = clean
    outcome = independence.independence(table, spec, [("SEX", "MYDOB"), ("ADMIMETH", "SEX")])
    levels = {p.name: (p.level, p.n) for p in outcome.pairs}
    patients = len(set(table.column("PSEUDO_HESID").to_pylist()))
    assert levels["SEX x MYDOB"] == ("patients", patients)
    assert levels["ADMIMETH x SEX"] == ("rows", ROWS)
    assert strongest["pairs_checked"] == 80


def test_sorted_chain_dates_fail_date_distributions(spec, metadata):
    """Each date drawn on its own and the row's dates then sorted (the old engine): the chain
    holds, but the dates and durations no longer follow their own distributions."""
    table = clean_table(spec, metadata, 1_500, seed=6, dates="sorted")
    result = run_qa(table, metadata, spec, "2122")
    assert failed(result) == {"date_distributions"}
    failures = set(result.check("date_distributions").metrics["failed"])
    assert {"SPELDUR"} <= failures <= {"ELECDATE", "ADMIDATE", "DISDATE", "SPELDUR"}
    assert "ELECDATE" in failures or "DISDATE" in failures
    assert result.check("date_chains").passed and result.check("durations").passed


def test_durations_collapsed_to_zero_fail(spec, metadata):
    table = clean_table(spec, metadata, 600, seed=7, dates="same_day")
    assert set(table.column("SPELDUR").drop_null().to_pylist()) == {0}
    result = run_qa(table, metadata, spec, "2122")
    assert failed(result) == {"date_distributions"}
    check = result.check("date_distributions")
    assert "SPELDUR" in check.metrics["failed"]
    assert "hes_mini.SPELDUR: 100.0% of durations are 0 days, released 30-50%" in check.details


def test_dates_and_durations_within_noise_pass_and_block(spec, metadata, clean):
    result = run_qa(clean, metadata, spec, "2122")
    check = result.check("date_distributions")
    assert check.blocking and check.passed
    assert set(check.metrics["fields"]) == {"ELECDATE", "ADMIDATE", "DISDATE", "SPELDUR"}
    assert all(f["blocking"] for f in check.metrics["fields"].values())
    assert "SPELDUR" not in result.check("field_distributions").metrics["fields"]


def test_chi2_quantiles():
    assert independence.chi2_quantile(2, 1e-6) == pytest.approx(-2 * np.log(1e-6))
    assert independence.chi2_quantile(1, 0.05) == pytest.approx(3.8415, abs=1e-3)
    assert independence.chi2_quantile(10, 0.01) == pytest.approx(23.209, rel=0.01)
    assert independence.chi2_quantile(25, 0.001) == pytest.approx(52.620, rel=0.01)


# --------------------------------------------------------------------------------------------
# Dates placed by durations on days that suppression removed
# --------------------------------------------------------------------------------------------


def _placed(truth: dict[str, float], released: list[str], source_rows: int, draws: dict):
    """Released shares = truth restricted to ``released`` days (the rest suppressed)."""
    kept = pd.Series({k: truth[k] for k in released})
    expected = FrequencyExpectation(kept / kept.sum(), float(kept.sum() * source_rows))
    observed = pd.Series(draws, dtype=float)
    return placed_distance(expected, observed, int(observed.sum()), source_rows)


def test_a_placed_date_on_suppressed_days_passes_in_their_share():
    rng = np.random.default_rng(7)
    days = [f"2021-04-{d:02d}" for d in range(1, 31)]
    truth = dict(zip(days, rng.dirichlet(np.ones(30)), strict=True))
    released = sorted(days, key=truth.get)[10:]  # the 10 rarest days suppressed
    sample = rng.choice(days, 20_000, p=list(truth.values()))
    draws = pd.Series(sample).value_counts().to_dict()
    d = _placed(truth, released, 100_000, draws)
    assert not d.failed, d
    # Plain TVD would blame the generator for the suppressed share.
    suppressed = 1 - sum(truth[k] for k in released)
    assert suppressed > d.limit


def test_a_placed_date_scattered_outside_what_was_released_fails():
    rng = np.random.default_rng(8)
    days = [f"2021-04-{d:02d}" for d in range(1, 31)]
    truth = dict(zip(days, rng.dirichlet(np.ones(30)), strict=True))
    released = sorted(days, key=truth.get)[10:]
    inside = rng.choice(
        released, 14_000, p=[truth[k] for k in released] / np.sum([truth[k] for k in released])
    )
    outside = [f"2019-01-{d:02d}" for d in range(1, 31)] * 200  # 6,000 rows (30%) out
    draws = pd.Series(list(inside) + outside).value_counts().to_dict()
    assert _placed(truth, released, 100_000, draws).failed


def test_a_placed_date_with_mass_moved_between_released_days_fails():
    rng = np.random.default_rng(9)
    days = [f"2021-04-{d:02d}" for d in range(1, 31)]
    truth = dict(zip(days, rng.dirichlet(np.ones(30)), strict=True))
    released = sorted(days, key=truth.get)[10:]
    # Every row on the released days, but all of them uniformly: the shape is wrong.
    draws = pd.Series(rng.choice(released, 20_000)).value_counts().to_dict()
    assert _placed(truth, released, 100_000, draws).failed


def test_every_qa_check_says_what_it_checks_in_dagster():
    """The Dagster UI shows each check's description: what is compared, against what limit."""
    from artificial_data.generator.definitions import defs
    from artificial_data.generator.qa.result import CHECK_DESCRIPTIONS

    specs = [s for a in defs.assets if hasattr(a, "check_specs") for s in a.check_specs]
    qa = [s for s in specs if s.name in CHECK_NAMES]
    assert {s.name for s in qa} == set(CHECK_NAMES)
    for s in qa:
        assert s.description.endswith(CHECK_DESCRIPTIONS[s.name])
        assert s.description.startswith("Blocking" if CHECK_NAMES[s.name] else "Informational")
        assert "QA check '" not in s.description
