"""Hand-made released metadata and clean artificial tables sampled from it, for QA and
publication tests that must not depend on the real generator engine.

``clean_table`` is a deliberately simple stand-in for the engine: it samples every field from
its metadata with numpy, then applies the rules QA checks (date order, durations, derived
fields, identifiers), so a correct table passes QA and each planted defect is the only fault.

Like the engine (DESIGN §8) it places the dates of a chain from one anchor date by day gaps, and
the hand-made metadata of the other dates and of the durations is the exact distribution this
model implies, so every date *and* every duration follows its own metadata while the chain stays
in order. Patients hold their patient-level values the way the metadata says: a pattern of
several values goes to a patient with several episodes, and a birth month is never after an
admission.
"""

from __future__ import annotations

import json
import string
import zlib
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec, parse_spec
from artificial_data.common.patterns import distinct_matches
from artificial_data.common.schema import arrow_schema
from artificial_data.common.stores import ARTIFICIAL, ScopedStores
from artificial_data.generator.assets import GENERATION_FILE
from artificial_data_tests.metadata_factory import row

CODES = ["01", "02", "03", "10", "A01", "B20", "&", None]
CODE_WEIGHTS = [300, 200, 100, 80, 60, 40, 20, 100]
DIAG_CODES = ["A001", "B002", "C013", "J450", "-", None]
DIAG_WEIGHTS = [200, 150, 100, 50, 30, 300]
DATES = [
    date(2021, 4, 1),
    date(2021, 7, 15),
    date(2021, 10, 2),
    date(2022, 1, 20),
    date(2022, 3, 30),
    date(1800, 1, 1),
    None,
]
DATE_WEIGHTS = [100, 100, 100, 100, 100, 10, 40]
MYDOBS = ["011950", "061975", "121999", "032021", "072021", None]
PLACEHOLDER = date(1800, 1, 1)

#: Days from one member of a date chain to the next after the anchor, and before it.
GAP_AFTER = {0: 40, 1: 20, 2: 10, 4: 10, 9: 10, 20: 10}
GAP_BEFORE = {0: 30, 7: 30, 30: 20, 90: 20}
#: Share of non-anchor chain members that are null although the anchor is a real date.
MEMBER_NULL = 0.1
#: Cumulative probabilities of the released percentile grid of a duration.
DURATION_PROBABILITIES = (0.1, 0.3, 0.5, 0.7, 0.9, 0.99)
#: Total weight the derived metadata of chain members is scaled to (weights rounded to 5).
DERIVED_TOTAL = 100_000


#: Declared value domains of the mini spec's scraped fields (named ones from the HES library).
MINI_DOMAINS = {
    "ADMIMETH": {"pattern": "[0-9]{2}|[A-Z][0-9]{2}", "codes": ["&"]},
    "EPIORDER": "small_count",
    "DIAG_4_01": "icd10_4",
    "DIAG_4_02": "icd10_4",
    "ELECDATE": "hes_date",
    "ADMIDATE": "hes_date",
    "DISDATE": "hes_date",
    "SPELDUR": "duration_days",
    "ALCFRAC": "fraction",
    "ARRIVALTIME": "time_of_day",
    "SEX": "sex",
    "MYDOB": "month_year_of_birth",
    "APPTAGE": "age_years",
    "ALCNRWFRAC": "fraction",
}


def write_as_generated(
    scoped: ScopedStores,
    spec: DatasetSpec,
    year: str,
    table: pa.Table,
    content_hash: str,
    **extra: object,
) -> None:
    """Write a hand-made ``table`` into the artificial store the way the generator writes a
    partition: the rows with a generation provenance naming the release (``content_hash``) it
    claims to come from, which QA and publication read. ``extra`` adds provenance keys."""
    provenance = {
        "dataset": spec.dataset,
        "financial_year": year,
        "rows": table.num_rows,
        "size": "sample",
        "seed": 7,
        "base_seed": 0,
        "metadata_content_hash": content_hash,
        "spec_version": spec.spec_version,
        **extra,
    }
    scoped.tables.write(
        ARTIFICIAL, spec.dataset, year, table, {GENERATION_FILE: json.dumps(provenance)}
    )


def replace_column(table: pa.Table, name: str, values) -> pa.Table:
    """``table`` with column ``name`` holding ``values`` (in the column's own type)."""
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


def mini_spec() -> DatasetSpec:
    """A small APC-like spec exercising every role, derivation, date chain and duration."""
    ident = {"format": "alphanumeric", "length": 32, "prefix": "TEST", "per": "patient"}
    fields = [
        {
            "name": "EPIKEY",
            "type": "long",
            "role": "identifier",
            "identifier": {"format": "digits", "length": 12},
        },
        {"name": "PSEUDO_HESID", "type": "string", "role": "identifier", "identifier": ident},
        {"name": "ADMIMETH", "type": "string", "role": "categorical"},
        {"name": "EPIORDER", "type": "int", "role": "categorical"},
        {"name": "DIAG_4_01", "type": "string", "role": "categorical"},
        {"name": "DIAG_4_02", "type": "string", "role": "categorical"},
        {
            "name": "DIAG_3_01",
            "type": "string",
            "role": "derived",
            "derivation": {"kind": "truncate", "source": "DIAG_4_01", "length": 3},
        },
        {
            "name": "DIAG_4_CONCAT",
            "type": "string",
            "role": "derived",
            "derivation": {"kind": "concat", "sources": ["DIAG_4_01", "DIAG_4_02"]},
        },
        {
            "name": "DIAG_COUNT",
            "type": "int",
            "role": "derived",
            "derivation": {"kind": "count", "sources": ["DIAG_4_01", "DIAG_4_02"]},
        },
        {"name": "ELECDATE", "type": "date", "role": "date"},
        {"name": "ADMIDATE", "type": "date", "role": "date"},
        {"name": "DISDATE", "type": "date", "role": "date"},
        {"name": "SPELDUR", "type": "int", "role": "continuous"},
        {"name": "ALCFRAC", "type": "double", "role": "continuous"},
        {"name": "ARRIVALTIME", "type": "string", "role": "continuous", "time_of_day": True},
        {"name": "SEX", "type": "string", "role": "patient_categorical"},
        {"name": "MYDOB", "type": "string", "role": "patient_date"},
        {
            "name": "STARTAGE",
            "type": "int",
            "role": "derived",
            "derivation": {"kind": "age_years", "birth": "MYDOB", "at": "ADMIDATE", "cap": 120},
        },
        {
            "name": "STARTAGE_CALC",
            "type": "double",
            "role": "derived",
            "derivation": {"kind": "age_fraction", "birth": "MYDOB", "at": "ADMIDATE", "cap": 120},
        },
        {"name": "APPTAGE", "type": "int", "role": "categorical"},
        {
            "name": "APPTAGE_CALC",
            "type": "double",
            "role": "derived",
            "derivation": {"kind": "age_fraction_from_code", "source": "APPTAGE"},
        },
        {"name": "ALCNRWFRAC", "type": "decimal(16,15)", "role": "categorical"},
    ]
    for f in fields:
        if f["name"] in MINI_DOMAINS:
            f["domain"] = MINI_DOMAINS[f["name"]]
    return parse_spec(
        {
            "dataset": "hes_mini",
            "spec_version": 1,
            "financial_years": ["2122"],
            "primary_key": "EPIKEY",
            "patient_key": "PSEUDO_HESID",
            "source_table": "hes.mini_{fyear}",
            "published_table": "artificial_hes_mini_{fyear}",
            "forbidden_identifiers": ["NHS_NUMBER"],
            "date_chains": [["ELECDATE", "ADMIDATE", "DISDATE"]],
            "durations": [{"field": "SPELDUR", "start": "ADMIDATE", "end": "DISDATE"}],
            "fields": fields,
        }
    )


def hand_made_metadata(spec: DatasetSpec) -> pd.DataFrame:
    """Released-style metadata for every scraped field of ``spec`` (weights multiples of 5)."""
    t, rows = spec.dataset, []
    placed = chain_members(spec)
    duration_of = {d.field: d for d in spec.durations}
    for f in spec.scraped_fields:
        if f.name in duration_of:
            values, null_share = duration_distribution(spec, duration_of[f.name])
            rows.append(
                row(
                    t,
                    f.name,
                    contract.CONTINUOUS,
                    VALUE_NUMERIC=null_share,
                    WEIGHT=_round5(DERIVED_TOTAL * (1 - null_share)),
                    VALUE_NUMERIC_ARRAY=_quantiles(values, DURATION_PROBABILITIES),
                    WEIGHT_ARRAY=list(DURATION_PROBABILITIES),
                )
            )
        elif f.name in placed and placed[f.name][1] != anchor_index(placed[f.name][0]):
            for d, share in member_distribution(*placed[f.name]).items():
                w = float(max(5, _round5(share * DERIVED_TOTAL)))
                if f.spark_type == "date":
                    rows.append(row(t, f.name, contract.DATE, VALUE_DATE=d, WEIGHT=w))
                else:
                    text = d.isoformat() if d else None
                    rows.append(row(t, f.name, contract.DATE, VALUE_STRING=text, WEIGHT=w))
        elif f.role == "continuous":
            if f.time_of_day:
                q, c = [60.0, 480.0, 720.0, 1000.0, 1380.0], [0.05, 0.25, 0.5, 0.75, 0.95]
            elif f.spark_type in ("int", "long"):
                q, c = [0.0, 0.0, 1.0, 3.0, 7.0, 20.0], [0.1, 0.3, 0.5, 0.7, 0.9, 0.99]
            else:
                q, c = [0.1, 0.25, 0.5, 0.75, 0.9], [0.1, 0.3, 0.5, 0.7, 0.9]
            rows.append(
                row(
                    t,
                    f.name,
                    contract.CONTINUOUS,
                    VALUE_NUMERIC=0.1,
                    WEIGHT=900.0,
                    VALUE_NUMERIC_ARRAY=q,
                    WEIGHT_ARRAY=c,
                )
            )
        elif f.role == "date":
            for d, w in zip(DATES, DATE_WEIGHTS, strict=True):
                if f.spark_type == "date":
                    rows.append(row(t, f.name, contract.DATE, VALUE_DATE=d, WEIGHT=float(w)))
                else:
                    rows.append(
                        row(
                            t,
                            f.name,
                            contract.DATE,
                            WEIGHT=float(w),
                            VALUE_STRING=d.isoformat() if d else None,
                        )
                    )
        elif f.role == "patient_categorical":
            values = _inside_domain(f, ["1", "2", "9"])
            if len(set(values)) < 3:  # a pattern domain: three distinct examples inside it
                values = f.domain.examples(3)
            one, two, nine = values
            rows += [
                row(
                    t,
                    f.name,
                    contract.DEMOGRAPHIC_CATEGORICAL,
                    VALUE_STRING_ARRAY=[one],
                    WEIGHT_ARRAY=[1.0],
                    WEIGHT=400.0,
                ),
                row(
                    t,
                    f.name,
                    contract.DEMOGRAPHIC_CATEGORICAL,
                    VALUE_STRING_ARRAY=[two],
                    WEIGHT_ARRAY=[1.0],
                    WEIGHT=450.0,
                ),
                row(
                    t,
                    f.name,
                    contract.DEMOGRAPHIC_CATEGORICAL,
                    VALUE_STRING_ARRAY=[one, nine],
                    WEIGHT_ARRAY=[0.5, 0.5],
                    WEIGHT=50.0,
                ),
            ]
        elif f.role == "patient_date":
            rows += [
                row(
                    t,
                    f.name,
                    contract.DEMOGRAPHIC_DATE,
                    VALUE_STRING=v,
                    VALUE_NUMERIC=1.0,
                    WEIGHT=w,
                )
                for v, w in zip(MYDOBS, [200, 300, 200, 50, 50, 20], strict=True)
            ]
        elif f.name.startswith("DIAG_4"):
            rows += [
                row(t, f.name, contract.CATEGORICAL, VALUE_STRING=v, WEIGHT=float(w))
                for v, w in zip(DIAG_CODES, DIAG_WEIGHTS, strict=True)
            ]
        elif "AGE" in f.name and f.is_numeric:
            rows += [
                row(t, f.name, contract.DISCRETE, VALUE_NUMERIC=float(v), WEIGHT=float(w))
                for v, w in ((0, 20), (7001, 10), (7004, 15), (35, 100), (80, 50))
            ]
        elif f.is_numeric:
            values = [0.125, 0.5, 1.0] if f.spark_type.startswith("decimal") else [1.0, 2.0, 3.0]
            values = _inside_domain(f, values)
            weights = [500.0, 300.0, 100.0][: len(values)]
            rows += [
                row(t, f.name, contract.DISCRETE, VALUE_NUMERIC=v, WEIGHT=w)
                for v, w in zip([*values, np.nan], [*weights, 100.0], strict=True)
            ]
        else:
            codes = _inside_domain(f, CODES[:-1])
            rows += [
                row(t, f.name, contract.CATEGORICAL, VALUE_STRING=v, WEIGHT=float(w))
                for v, w in zip(
                    [*codes, None], [*CODE_WEIGHTS[: len(codes)], CODE_WEIGHTS[-1]], strict=True
                )
            ]
    rows += [
        row(t, spec.patient_key, contract.RELATIONSHIP, VALUE_NUMERIC=float(k), WEIGHT=w)
        for k, w in ((1, 600.0), (2, 250.0), (3, 100.0))
    ]
    rows.append(
        row(
            t,
            spec.patient_key,
            contract.RELATIONSHIP,
            VALUE_STRING=contract.TOP_CODED,
            VALUE_NUMERIC=4.0,
            VALUE_NUMERIC_ARRAY=[4.0, 6.0],
            WEIGHT=50.0,
        )
    )
    return contract.validate(pd.DataFrame(rows))


def _inside_domain(f, values: list) -> list:
    """``values`` if the field's declared domain allows them all, else as many values drawn from
    the domain (a released value is always inside it: the review blocks any other)."""
    domain = f.domain
    if domain is None:
        return values
    if domain.is_numeric:
        if domain.allows_numbers(values).all():
            return values
        if domain.kind == "codes":
            return [float(c) for c in domain.codes[: len(values)]]
        lo, hi = domain.minimum, domain.maximum
        if domain.integral or not f.spark_type.startswith("decimal"):
            return [float(v) for v in range(int(np.ceil(lo)), int(np.floor(hi)) + 1)[:3]]
        return [lo + (hi - lo) * v for v in (0.125, 0.5, 1.0)]
    if domain.allows_text(values).all():
        return values
    if domain.kind == "codes":
        return list(domain.codes[: len(values)])
    rng = np.random.default_rng(zlib.crc32(f.name.encode()))
    return [*distinct_matches(domain.pattern, rng, len(values) - 1), *domain.codes[:1]]


# ------------------------------------------------------------------- the date-chain model


def _round5(x: float) -> int:
    return int(5 * round(x / 5))


def anchor_index(chain: tuple[str, ...]) -> int:
    """The anchor of a chain: its second member (APC ADMIDATE, OP APPTDATE), or its only one."""
    return min(1, len(chain) - 1)


def chain_members(spec: DatasetSpec) -> dict[str, tuple[tuple[str, ...], int]]:
    """Each chain member's chain and position."""
    return {m: (chain, i) for chain in spec.date_chains for i, m in enumerate(chain)}


def _step(chain: tuple[str, ...], t: int) -> dict[int, int]:
    """Gap distribution from member ``t`` to member ``t + 1``."""
    return GAP_BEFORE if t + 1 <= anchor_index(chain) else GAP_AFTER


def _convolve(a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for x, p in a.items():
        for y, q in b.items():
            out[x + y] = out.get(x + y, 0.0) + p * q
    return out


def _normalised(weights: dict) -> dict:
    total = float(sum(weights.values()))
    return {k: v / total for k, v in weights.items()}


def _days_between(chain: tuple[str, ...], start: int, end: int) -> dict[int, float]:
    out = {0: 1.0}
    for t in range(start, end):
        out = _convolve(out, _normalised(_step(chain, t)))
    return out


def _anchor_shares() -> dict:
    return _normalised(dict(zip(DATES, DATE_WEIGHTS, strict=True)))


def member_distribution(chain: tuple[str, ...], j: int) -> dict:
    """Exact shares of each value (date, placeholder, None) of chain member ``j``."""
    a = anchor_index(chain)
    offsets = _days_between(chain, j, a) if j < a else _days_between(chain, a, j)
    sign = -1 if j < a else 1
    out: dict = {}
    for anchor, p in _anchor_shares().items():
        if anchor is None or anchor == PLACEHOLDER:
            out[anchor] = out.get(anchor, 0.0) + p
            continue
        out[None] = out.get(None, 0.0) + p * MEMBER_NULL
        for days, q in offsets.items():
            d = anchor + timedelta(days=sign * days)
            out[d] = out.get(d, 0.0) + p * (1 - MEMBER_NULL) * q
    return out


def duration_distribution(spec: DatasetSpec, d) -> tuple[dict[int, float], float]:
    """Exact shares of a duration's days (where both dates are real) and its null share."""
    members = chain_members(spec)
    (chain, s), (chain_e, e) = members[d.start], members[d.end]
    assert chain == chain_e and s < e, f"{d.field}: dates of a duration are in one chain"
    real = sum(p for v, p in _anchor_shares().items() if v is not None and v != PLACEHOLDER)
    non_anchor = sum(1 for i in (s, e) if i != anchor_index(chain))
    return _days_between(chain, s, e), 1 - real * (1 - MEMBER_NULL) ** non_anchor


def _quantiles(values: dict[int, float], probabilities) -> list[float]:
    """q(c) = the smallest value whose cumulative share reaches c."""
    keys = sorted(values)
    cumulative = np.cumsum([values[k] for k in keys])
    return [float(keys[int(np.searchsorted(cumulative, c - 1e-12))]) for c in probabilities]


def _place_chain(rng, chain, anchor_values, rows) -> dict[str, list]:
    """The dates of one chain from the anchor dates by sampled gaps (nulls kept in place)."""
    a = anchor_index(chain)
    steps = []
    for t in range(len(chain) - 1):
        gaps = _step(chain, t)
        steps.append(np.asarray(_choice(rng, list(gaps), list(gaps.values()), rows)))
    out = {}
    for j, name in enumerate(chain):
        if j < a:
            offset = -np.sum(steps[j:a], axis=0) if a > j else np.zeros(rows)
        else:
            offset = np.sum(steps[a:j], axis=0) if j > a else np.zeros(rows)
        offset = np.broadcast_to(np.asarray(offset, dtype=np.int64), (rows,))
        missing = rng.random(rows) < MEMBER_NULL
        values = []
        for i, anchor in enumerate(anchor_values):
            if anchor is None or anchor == PLACEHOLDER or j == a:
                values.append(anchor)
            else:
                values.append(None if missing[i] else anchor + timedelta(days=int(offset[i])))
        out[name] = values
    return out


# ----------------------------------------------------------------------- the stand-in engine


def _choice(rng, values, weights, size):
    p = np.asarray(weights, dtype=float)
    idx = rng.choice(len(values), size=size, p=p / p.sum())
    return [values[i] for i in idx]


def _episodes(rng, metadata, spec, rows) -> np.ndarray:
    rel = metadata[metadata["VALUE_TYPE"] == contract.RELATIONSHIP]
    counts = [
        int(a[1]) if s == contract.TOP_CODED else int(k)
        for s, k, a in zip(
            rel["VALUE_STRING"], rel["VALUE_NUMERIC"], rel["VALUE_NUMERIC_ARRAY"], strict=True
        )
    ]
    per_patient = np.asarray(_choice(rng, counts, rel["WEIGHT"], rows), dtype=int)
    ends = np.cumsum(per_patient)
    last = int(np.searchsorted(ends, rows))
    per_patient = per_patient[: last + 1].copy()
    per_patient[-1] -= ends[last] - rows
    return np.repeat(np.arange(len(per_patient)), per_patient)


def _continuous(rng, r, size, integer, time_of_day):
    q = np.asarray(r["VALUE_NUMERIC_ARRAY"], float)
    c = np.asarray(r["WEIGHT_ARRAY"], float)
    lows = np.concatenate([[q[0]], q])
    highs = np.concatenate([q, [q[-1]]])
    masses = np.diff(np.concatenate([[0.0], c, [1.0]]))
    b = rng.choice(len(masses), size=size, p=masses)
    values = lows[b] + rng.random(size) * (highs[b] - lows[b])
    values = np.where(rng.random(size) < r["VALUE_NUMERIC"], np.nan, values)
    if integer or time_of_day:
        values = np.round(values)
    if time_of_day:
        return [None if np.isnan(v) else f"{int(v) // 60:02d}{int(v) % 60:02d}" for v in values]
    return values


def _patient_patterns(rng, m: pd.DataFrame, patient: np.ndarray) -> list:
    """Per-episode values of a patient-level field from its released patterns: a pattern of
    several values goes to a patient with several episodes (each value at least once), so the
    share of patients whose episodes disagree is the released one."""
    sizes = np.bincount(patient)
    weights = m["WEIGHT"].to_numpy(dtype=float)
    arrays, shares = list(m["VALUE_STRING_ARRAY"]), list(m["WEIGHT_ARRAY"])
    mixed = np.array([len(a) > 1 for a in arrays])
    multi = sizes >= 2
    chosen = np.empty(len(sizes), dtype=int)
    p_mixed = weights[mixed].sum() / weights.sum()
    is_mixed = multi & (rng.random(len(sizes)) < min(1.0, p_mixed / max(multi.mean(), 1e-9)))
    for where, group in ((is_mixed, mixed), (~is_mixed, ~mixed)):
        if where.any() and group.any():
            idx = np.flatnonzero(group)
            chosen[where] = rng.choice(
                idx, size=int(where.sum()), p=weights[idx] / weights[idx].sum()
            )
    out: list = []
    for p, size in enumerate(sizes):
        values, share = arrays[chosen[p]], shares[chosen[p]]
        if len(values) == 1:
            out += [values[0]] * size
            continue
        extra = rng.choice(len(values), size=max(size - len(values), 0), p=share)
        episode = [*range(len(values)), *extra][:size]
        out += [values[int(i)] for i in rng.permutation(episode)]
    return out


def _month_start(mmyyyy: str | None) -> date | None:
    return date(int(mmyyyy[2:]), int(mmyyyy[:2]), 1) if mmyyyy else None


def _births_not_after(spec, frame: pd.DataFrame, patient: np.ndarray, metadata) -> None:
    """A patient born after one of their admissions gets the latest released birth month that is
    not after any of them (the rule QA checks on every row)."""
    for f in spec.fields_with_role("derived"):
        d = f.derivation
        if d.kind not in ("age_years", "age_fraction"):
            continue
        released = metadata[metadata["FIELD_NAME"] == d.birth]["VALUE_STRING"]
        months = sorted((_month_start(v), v) for v in released if v)
        births = frame[d.birth].to_list()
        earliest: dict[int, date] = {}
        for p, at in zip(patient, frame[d.at], strict=True):
            if isinstance(at, date) and at.year > 1801:
                earliest[p] = min(at, earliest.get(p, at))
        for i, p in enumerate(patient):
            born = _month_start(births[i])
            if born is not None and p in earliest and born > earliest[p]:
                fits = [v for start, v in months if start <= earliest[p]]
                births[i] = fits[-1] if fits else None
        frame[d.birth] = births


def _age_code(days: int, years: int) -> int:
    if years >= 1:
        return min(years, 120)
    for code, lo in ((7007, 273), (7006, 182), (7005, 91), (7004, 29), (7003, 7), (7002, 1)):
        if days >= lo:
            return code
    return 7001


def clean_table(
    spec: DatasetSpec, metadata: pd.DataFrame, rows: int, seed: int = 1, dates: str = "anchored"
) -> pa.Table:
    """An artificial table that follows ``metadata`` and every rule QA checks.

    ``dates`` plants date defects that keep every row rule: ``"sorted"`` draws each chain
    member from its own metadata and sorts each row's dates (the old engine), ``"same_day"``
    puts every date of a chain on its anchor date (every duration 0 days)."""
    rng = np.random.default_rng(seed)
    patient = _episodes(rng, metadata, spec, rows)
    n_patients = int(patient.max()) + 1
    by_field = dict(tuple(metadata.groupby("FIELD_NAME")))
    data: dict[str, list] = {}
    for f in spec.scraped_fields:
        m = by_field[f.name]
        m = m[m["VALUE_TYPE"] != contract.RELATIONSHIP]
        vt = m["VALUE_TYPE"].iloc[0]
        if vt == contract.CATEGORICAL:
            data[f.name] = _choice(rng, list(m["VALUE_STRING"]), m["WEIGHT"], rows)
        elif vt == contract.DISCRETE:
            values = _choice(rng, list(m["VALUE_NUMERIC"]), m["WEIGHT"], rows)
            data[f.name] = [None if np.isnan(v) else v for v in values]
        elif vt == contract.DATE:
            col = "VALUE_DATE" if f.spark_type == "date" else "VALUE_STRING"
            data[f.name] = _choice(rng, list(m[col]), m["WEIGHT"], rows)
        elif vt == contract.CONTINUOUS:
            values = _continuous(
                rng, m.iloc[0], rows, f.spark_type in ("int", "long"), f.time_of_day
            )
            data[f.name] = [None if (isinstance(v, float) and np.isnan(v)) else v for v in values]
        elif vt == contract.DEMOGRAPHIC_CATEGORICAL:
            data[f.name] = _patient_patterns(rng, m, patient)
        elif vt == contract.DEMOGRAPHIC_DATE:
            modal = _choice(rng, list(m["VALUE_STRING"]), m["WEIGHT"], n_patients)
            data[f.name] = [modal[p] for p in patient]
    for chain in spec.date_chains:  # one anchor, the other members placed by gaps
        anchor = chain[anchor_index(chain)]
        if dates == "anchored":
            data.update(_place_chain(rng, chain, data[anchor], rows))
        elif dates == "same_day":
            data.update({name: list(data[anchor]) for name in chain})
        elif dates == "sorted":
            for i in range(rows):
                real = [n for n in chain if isinstance(data[n][i], date) and data[n][i].year > 1801]
                for name, value in zip(real, sorted(data[n][i] for n in real), strict=True):
                    data[name][i] = value
        else:
            raise ValueError(f"unknown dates mode {dates!r}")
        for name in chain:
            if spec.field(name).spark_type != "date":
                data[name] = [d.isoformat() if d else None for d in data[name]]
    frame = pd.DataFrame(data)
    real_date = lambda d: isinstance(d, date) and d.year > 1801  # noqa: E731
    for d in spec.durations:
        frame[d.field] = [
            (e - s).days if real_date(s) and real_date(e) else None
            for s, e in zip(frame[d.start], frame[d.end], strict=True)
        ]
    _births_not_after(spec, frame, patient, metadata)
    ids = rng.choice(9 * 10**11, size=rows, replace=False) + 10**11
    alphabet = np.array(list(string.ascii_uppercase + string.digits))
    hesids = ["TEST" + "".join(rng.choice(alphabet, 28)) for _ in range(n_patients)]
    for f in spec.fields_with_role("identifier"):
        ident = f.identifier
        if f.name == spec.patient_key:
            frame[f.name] = [hesids[p] for p in patient]
        elif ident.format == "digits":
            frame[f.name] = (
                ids
                if f.name == spec.primary_key
                else rng.integers(10 ** (ident.length - 1), 10**ident.length, rows)
            )
        else:
            body = ident.length - len(ident.prefix)
            frame[f.name] = [
                ident.prefix + "".join(rng.choice(alphabet, body)) for _ in range(rows)
            ]
    for f in spec.fields_with_role("derived"):
        frame[f.name] = derive(frame, f.derivation)
    schema = arrow_schema(spec)
    return pa.table([_column(frame[f.name], f.type) for f in schema], schema=schema)


def _column(values: pd.Series, arrow_type: pa.DataType) -> pa.Array:
    values = [None if (v is None or (isinstance(v, float) and np.isnan(v))) else v for v in values]
    if pa.types.is_decimal(arrow_type):
        values = [None if v is None else Decimal(repr(float(v))) for v in values]
    elif pa.types.is_integer(arrow_type):
        values = [None if v is None else int(v) for v in values]
    elif pa.types.is_floating(arrow_type):
        values = [None if v is None else float(v) for v in values]
    return pa.array(values, arrow_type)


def derive(frame: pd.DataFrame, d) -> list:
    if d.kind == "truncate":
        return [None if v is None else v[: d.length] for v in frame[d.source]]
    if d.kind == "concat":
        joined = [
            ",".join(v for v in vals if v)
            for vals in zip(*(frame[s] for s in d.sources), strict=True)
        ]
        return [j or None for j in joined]
    if d.kind == "count":
        return [
            sum(1 for v in vals if v not in (None, "&", "-", ""))
            for vals in zip(*(frame[s] for s in d.sources), strict=True)
        ]
    if d.kind == "age_fraction_from_code":
        mids = {7001: 0.0, 7002: 3, 7003: 17, 7004: 60, 7005: 136, 7006: 227, 7007: 320}
        out = []
        for v in frame[d.source]:
            if v is None:
                out.append(None)
            elif int(v) in mids:
                out.append(mids[int(v)] / 365.25)
            else:
                out.append(float(v))
        return out
    out = []
    for b, at in zip(frame[d.birth], frame[d.at], strict=True):
        born = date(int(b[2:]), int(b[:2]), 1) if b else None
        if born is None or at is None or at < born:
            out.append(None)
            continue
        days = (at - born).days
        years = at.year - born.year - ((at.month, at.day) < (born.month, born.day))
        out.append(_age_code(days, years) if d.kind == "age_years" else min(days / 365.25, 120))
    return out
