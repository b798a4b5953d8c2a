"""Steps every dataset shares: year, patient-level fields, providers, residence, specialties,
identifiers, the generic fill of every remaining field, and rare-value planting."""

from __future__ import annotations

import zlib

import numpy as np
import pyarrow as pa

from artificial_data.common.arrow_buffers import masked_array
from artificial_data.common.dataset_spec import FieldSpec
from artificial_data.simulator import arrays as A
from artificial_data.simulator.context import Chunk
from artificial_data.simulator.domains import REGIONS, catalogue, domain_for, providers
from artificial_data.simulator.patients import ETHNOS_CODES, SEX_CODES

#: Fields describing where the patient lives or is registered: one value per patient (with the
#: same coding noise as any field), because people do not move between most episodes.
RESIDENCE_FIELDS = frozenset(
    [
        "GPPRAC",
        "LSOA01",
        "LSOA11",
        "MSOA01",
        "MSOA11",
        "RESGOR",
        "RESGOR_ONS",
        "RESCTY",
        "RESCTY_ONS",
        "RESLADST",
        "RESLADST_ONS",
        "PCON",
        "PCON_ONS",
        "CCG_RESIDENCE",
        "CCG_GP_PRACTICE",
        "RESPCT_HIS",
        "RESSTHA_HIS",
        "AT_RESIDENCE",
        "AT_GP_PRACTICE",
        "CR_RESIDENCE",
        "CR_GP_PRACTICE",
        "NER_RESIDENCE",
        "NER_GP_PRACTICE",
    ]
)
# ONS small-area code ranges (England): LSOA E01000001.., MSOA E02000001..
_SMALL_AREAS = {"LSOA": ("E01", 34_753), "MSOA": ("E02", 7_201)}
_KEY_MULTIPLIER = 2_654_435_761  # prime, so it is coprime with 9 * 10^k: a bijection below


def stable_hash(*parts: object) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode())


def put(ch: Chunk, name: str, values: pa.Array, plantable: bool = False) -> None:
    """Set a column if the spec has it (models may compute fields a spec does not list)."""
    if ch.has(name):
        ch.cols[name] = values
        if plantable:
            ch.plantable[name] = domain_for(ch.spec.field(name))


def year_fields(ch: Chunk) -> None:
    put(ch, "FYEAR", A.take_strings([ch.financial_year], np.zeros(ch.n, dtype=np.int32)))
    partyear = int(("20" if int(ch.financial_year[:2]) < 50 else "19") + ch.financial_year)
    put(ch, "PARTYEAR", pa.array(np.full(ch.n, partyear, dtype=np.int32)))


def patient_fields(ch: Chunk) -> None:
    """SEX, ETHNOS, MYDOB and any other patient-level field, consistent per patient."""
    p = ch.patients
    for f in ch.spec.fields_with_role("patient_categorical"):
        if f.name == "SEX":
            ch.cols[f.name] = A.take_strings(SEX_CODES, p.sex)
        elif f.name == "ETHNOS":
            ch.cols[f.name] = A.take_strings(ETHNOS_CODES, p.ethnos)
        else:
            dom = domain_for(f)
            per_patient = dom.sample_index(ch.rng, p.count)[p.of_row]
            noise = ch.rng.random(ch.n) < 0.03
            per_patient[noise] = dom.sample_index(ch.rng, int(noise.sum()))
            ch.cols[f.name] = dom.array(per_patient)
    for f in ch.spec.fields_with_role("patient_date"):
        year, month = A.year_month(p.mydob_birth)
        if f.spark_type == "date":
            ch.cols[f.name] = A.dates(A.month_start(year, month), p.mydob_null)
        else:  # MMYYYY text, as HES MYDOB
            chars = np.hstack([A.digits(month, 2), A.digits(year, 4)])
            ch.cols[f.name] = A.fixed_width_strings(chars, p.mydob_null)


def provider_fields(ch: Chunk) -> None:
    """Provider codes that agree with each other: trust, its sites, its region."""
    trusts, region = providers()
    weights = A.zipf_weights(len(trusts), 0.7)
    t = A.weighted_index(ch.rng, A.cumulative(weights), ch.n)
    put(ch, "PROCODE3", A.take_strings(trusts, t), plantable=False)
    other = A.weighted_index(ch.rng, A.cumulative(weights), ch.n)
    put(ch, "PROCODET", A.take_strings(trusts, np.where(ch.rng.random(ch.n) < 0.96, t, other)))
    site_codes = np.array([f"{tr}{s:02d}" for tr in trusts for s in range(1, 9)], dtype=object)
    site = t * 8 + np.minimum(ch.rng.geometric(0.5, ch.n) - 1, 7)
    put(ch, "PROCODE5", A.take_strings(site_codes, t * 8))
    put(ch, "SITETRET", A.take_strings(site_codes, site))
    put(ch, "GORTREAT", A.take_strings(REGIONS, region[t]))


def residence_fields(ch: Chunk) -> None:
    """Where the patient lives and is registered: drawn per patient, repeated per episode."""
    p = ch.patients
    for name in sorted(RESIDENCE_FIELDS):
        if not ch.wants(name):
            continue
        kind = name[:4]
        if kind in _SMALL_AREAS:
            prefix, size = _SMALL_AREAS[kind]
            area = np.floor(ch.rng.random(p.count) ** 1.3 * size).astype(np.int64) + 1
            null = (ch.rng.random(p.count) < 0.01)[p.of_row]
            ch.cols[name] = A.prefixed_numbers(prefix, area[p.of_row], 6, null)
            continue
        dom = domain_for(ch.spec.field(name))
        idx = dom.sample_index(ch.rng, p.count)[p.of_row]
        moved = ch.rng.random(ch.n) < 0.02
        idx[moved] = dom.sample_index(ch.rng, int(moved.sum()))
        ch.cols[name] = dom.array(idx, dom.null_mask(ch.rng, ch.n))
        ch.plantable[name] = dom


def specialty_fields(ch: Chunk, obstetric: np.ndarray | None = None) -> None:
    """MAINSPEF/TRETSPEF: children mostly paediatrics, elderly often geriatrics, pregnancy
    obstetrics (a planted age/specialty correlation)."""
    if not (ch.wants("MAINSPEF") or ch.wants("TRETSPEF")):
        return
    cat = catalogue()
    main, tret = cat["MAINSPEF"], cat["TRETSPEF"]
    age = ch.age_years if ch.age_years is not None else np.full(ch.n, 40.0)
    m = main.sample_index(ch.rng, ch.n)
    u = ch.rng.random(ch.n)
    m = np.where((age < 16) & (u < 0.6), main.code("420"), m)
    m = np.where((age >= 75) & (u < 0.25), main.code("430"), m)
    if obstetric is not None:
        m = np.where(obstetric, main.code("501"), m)
    put(ch, "MAINSPEF", main.array(m))
    main_values = np.array(main.values, dtype=object)
    tret_lookup = {v: i for i, v in enumerate(tret.values)}
    same = np.array([tret_lookup.get(v, 0) for v in main_values])[m]
    t = np.where(ch.rng.random(ch.n) < 0.7, same, tret.sample_index(ch.rng, ch.n))
    put(ch, "TRETSPEF", tret.array(t))


def unique_numbers(ch: Chunk, name: str, width: int) -> np.ndarray:
    """Distinct ``width``-digit numbers for every row of the partition, across chunks.

    Row ``r`` of the partition gets ``10^(w-1) + (r * P + offset) mod 9*10^(w-1)`` with a prime
    ``P``: a bijection, so keys never collide and do not look sequential.
    """
    modulus = 9 * 10 ** (width - 1)
    offset = stable_hash(ch.seed, ch.spec.dataset, ch.financial_year, name) % modulus
    rows = ch.index * ch.chunk_rows + np.arange(ch.n, dtype=np.int64)
    return 10 ** (width - 1) + (rows * _KEY_MULTIPLIER + offset) % modulus


def identifier_fields(ch: Chunk) -> None:
    """Keys and other identifiers in their spec format (never learnt from anything)."""
    p = ch.patients
    for f in ch.spec.fields_with_role("identifier"):
        fmt = f.identifier
        mask = ch.identifier_nulls.get(f.name)
        if fmt.per == "patient":
            ids = A.random_alphanumeric(ch.rng, p.count, fmt.length, fmt.prefix)
            ch.cols[f.name] = ids.take(masked_array(p.of_row.astype(np.int32), mask))
        elif fmt.format == "digits":
            numbers = unique_numbers(ch, f.name, fmt.length)
            if f.spark_type in ("long", "int"):
                ch.cols[f.name] = masked_array(numbers, mask)
            else:
                ch.cols[f.name] = A.prefixed_numbers(fmt.prefix, numbers, fmt.length, mask)
        else:
            ids = A.random_alphanumeric(ch.rng, ch.n, fmt.length, fmt.prefix)
            if mask is not None:
                ids = A.replace_where(ids, mask, None)
            ch.cols[f.name] = ids


def generic_fill(ch: Chunk) -> None:
    """Every field no step has set: drawn from its domain, or a plausible default by role."""
    rng, n = ch.rng, ch.n
    for f in ch.spec.fields:
        if f.name in ch.cols or f.role in ("identifier", "derived"):
            continue
        if f.role == "date":
            ch.cols[f.name] = _generic_date(ch, f)
        elif f.role == "continuous":
            if f.time_of_day:
                ch.cols[f.name] = A.hhmm(rng.integers(0, 1440, n), rng.random(n) < 0.05)
            else:
                values = np.floor(rng.exponential(12.0, n))
                if f.domain is not None and f.domain.kind == "range":
                    values = np.clip(values, np.ceil(f.domain.minimum), np.floor(f.domain.maximum))
                ch.cols[f.name] = masked_array(values, rng.random(n) < 0.05)
        else:
            dom = domain_for(f)
            ch.cols[f.name] = dom.sample(rng, n)
            ch.plantable[f.name] = dom


def _generic_date(ch: Chunk, f: FieldSpec) -> pa.Array:
    base = (
        ch.event_date
        if ch.event_date is not None
        else (ch.fy_start + ch.rng.integers(0, ch.fy_end - ch.fy_start + 1, ch.n))
    )
    days = base + np.floor(ch.rng.exponential(10.0, ch.n)).astype(np.int64)
    null = ch.rng.random(ch.n) < 0.05
    placeholder = ch.rng.random(ch.n) < 0.005
    days = np.where(placeholder, A.PLACEHOLDER_NULL_DATE, days)
    if f.spark_type == "date":
        return A.dates(days, null)
    return A.dates(days, null).cast(pa.string())


def date_chain_fill(ch: Chunk) -> None:
    """Chains a model did not build: each date on or after the previous one."""
    for chain in ch.spec.date_chains:
        missing = [name for name in chain if name not in ch.cols]
        if not missing:
            continue
        if len(missing) != len(chain):
            raise ValueError(
                f"{ch.spec.dataset}: date chain {chain} is half built (missing {missing})"
            )
        days = ch.fy_start + ch.rng.integers(0, ch.fy_end - ch.fy_start + 1, ch.n)
        if ch.event_date is None:
            ch.event_date = days
        for name in chain:
            ch.cols[name] = A.dates(days)
            days = days + np.floor(ch.rng.exponential(5.0, ch.n)).astype(np.int64)


def plant_rare_values(ch: Chunk) -> list[tuple[str, object, int]]:
    """Plant rare values (1-7 rows each) into domain-drawn fields.

    Each rare value of a field is planted in one chunk only (chunk ``i`` plants the field's
    ``i``-th rare value), so its partition-wide count stays between 1 and 7 at any size.
    Returns what was planted (field, value, rows).
    """
    planted = []
    for name in sorted(ch.plantable):
        dom = ch.plantable[name]
        if ch.index >= len(dom.rare):
            continue
        value = dom.rare[ch.index]
        k = min(ch.n, 1 + stable_hash(ch.seed, name, ch.index) % 7)
        rows = ch.rng.choice(ch.n, size=k, replace=False)
        mask = np.zeros(ch.n, dtype=bool)
        mask[rows] = True
        col = ch.cols[name]
        ch.cols[name] = A.replace_where(col, mask, value)
        planted.append((name, value, k))
    return planted
