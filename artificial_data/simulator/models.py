"""Dataset models: the episode-level structure of admitted care, outpatients and A&E.

Each model fills the fields whose values depend on each other in real HES, and plants the
correlations the tests measure (and that the artificial data must *not* keep):

* admitted care (APC): age -> diagnosis chapter; sex -> sex-specific diagnoses; admission
  method -> length of stay (emergencies stay longer, elective day cases 0 days); age ->
  specialty and risk of death; the date chain ELECDATE <= ADMIDATE <= EPISTART <= EPIEND <=
  DISDATE; spell flags (EPIORDER, SPELBGIN, SPELEND, FAE, FDE) agreeing with each other;
* outpatients (OP): priority -> waiting time; REQDATE <= APPTDATE; attendance status -> DNA
  date and outcome; age -> diagnosis and specialty;
* A&E: arrival time and the four durations in order (initial assessment <= treatment <=
  conclusion <= departure); age and disposal -> time in department.

Anything a model does not set is filled from its domain by the common steps.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.arrow_buffers import masked_array
from artificial_data.simulator import arrays as A
from artificial_data.simulator import codes as C
from artificial_data.simulator.common_fields import put, specialty_fields
from artificial_data.simulator.context import Chunk
from artificial_data.simulator.derive import age_codes, floor3, fractional_years, whole_years
from artificial_data.simulator.domains import Domain, catalogue
from artificial_data.simulator.patients import PatientProfile

PROFILES = {
    "hes_apc": PatientProfile(tail_exponent=1.45, max_episodes=400, ages="admitted"),
    "hes_op": PatientProfile(tail_exponent=1.1, max_episodes=300, ages="outpatient"),
    "hes_ae": PatientProfile(tail_exponent=1.9, max_episodes=150, ages="emergency"),
}
DEFAULT_PROFILE = PatientProfile(tail_exponent=1.5, max_episodes=200, ages="admitted")


def positions(ch: Chunk, pattern: str) -> list[str]:
    """Spec fields matching ``pattern`` (e.g. ``DIAG_4_\\d\\d``), in schema order."""
    rx = re.compile(f"^{pattern}$")
    return [n for n in ch.spec.field_names if rx.match(n)]


@cache
def _dictionary(values: tuple) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def code_columns(
    ch: Chunk,
    names: list[str],
    count: np.ndarray,
    dictionary: pa.Array,
    draw: Callable[[np.ndarray, int], np.ndarray],
    empty_codes: tuple[tuple[str, float], ...] = (),
) -> None:
    """Fill coded positions 1..count per row (the rest null), drawing with ``draw(rows, pos)``.

    ``empty_codes`` gives what position 1 shows when a row has no code (e.g. ``-`` for "no
    operation", ``&`` for "not known") with their shares; otherwise position 1 is null there.
    """
    for pos, name in enumerate(names, start=1):
        rows = np.nonzero(count >= pos)[0]
        idx = np.zeros(ch.n, dtype=np.int32)
        if len(rows):
            idx[rows] = draw(rows, pos)
        col = A.take_strings(dictionary, idx, count < pos)
        if pos == 1 and empty_codes:
            labels = tuple(c for c, _ in empty_codes)
            which = A.weighted_index(ch.rng, A.cumulative([w for _, w in empty_codes]), ch.n)
            col = pc.if_else(pa.array(count < 1), A.take_strings(labels, which), col)
        ch.cols[name] = col


def _event_days(ch: Chunk, earliest: np.ndarray) -> np.ndarray:
    """A day in the financial year, not before ``earliest`` (e.g. the birth date)."""
    lo = np.maximum(ch.fy_start, earliest)
    span = np.maximum(ch.fy_end - lo + 1, 1)
    return lo + np.floor(ch.rng.random(ch.n) * span).astype(np.int64)


def _diagnoses(ch: Chunk, names: list[str], count: np.ndarray) -> np.ndarray:
    """ICD-10 positions with the age/sex structure; returns the primary code index."""
    book = C.icd10()
    primary = C.draw_diagnoses(ch.rng, ch.age_years, ch.female, ch.male, secondary=False)

    def draw(rows: np.ndarray, pos: int) -> np.ndarray:
        if pos == 1:
            return primary[rows]
        return C.draw_diagnoses(
            ch.rng, ch.age_years[rows], ch.female[rows], ch.male[rows], secondary=True
        )

    code_columns(ch, names, count, _dictionary(tuple(book.codes)), draw, (("&", 1.0),))
    return primary


def _procedures(ch: Chunk, names: list[str], count: np.ndarray, empty) -> None:
    book = C.opcs4()

    def draw(rows: np.ndarray, pos: int) -> np.ndarray:
        return C.draw_procedures(ch.rng, len(rows), main=pos == 1)

    code_columns(ch, names, count, _dictionary(tuple(book.codes)), draw, empty)


def _code_counts(ch: Chunk, mean: np.ndarray | float, cap: int, minimum: int = 1) -> np.ndarray:
    return np.minimum(minimum + ch.rng.poisson(mean, ch.n), cap)


def _choose(dom: Domain, idx: np.ndarray, *pairs: tuple[np.ndarray, str]) -> np.ndarray:
    """Override domain indices: for each (mask, value) set ``value`` where ``mask``."""
    for mask, value in pairs:
        idx = np.where(mask, dom.code(value), idx)
    return idx


# --------------------------------------------------------------------------------------------
# Admitted patient care
# --------------------------------------------------------------------------------------------


def admitted_care(ch: Chunk) -> None:
    rng, n, cat = ch.rng, ch.n, catalogue()
    birth = ch.patients.birth_of_row
    approx_age = (ch.fy_start + 182 - birth) / 365.25
    female = ch.female

    meth_dom = cat["ADMIMETH"]
    meth = meth_dom.sample_index(rng, n)
    values = np.array(meth_dom.values)

    def is_(*codes_: str) -> np.ndarray:
        return np.isin(meth, [meth_dom.code(c) for c in codes_])

    meth = np.where(is_("82", "83") & (approx_age >= 1), meth_dom.code("21"), meth)
    maternity_ok = female & (approx_age >= 15) & (approx_age < 50)
    meth = np.where(is_("31", "32") & ~maternity_ok, meth_dom.code("11"), meth)
    elective = is_("11", "12", "13")
    emergency = np.char.startswith(values[meth].astype(str), "2")
    maternity, baby = is_("31", "32"), is_("82", "83")
    put(ch, "ADMIMETH", meth_dom.array(meth), plantable=True)

    # Length of stay: the planted admission-method/LOS correlation.
    day_case = elective & (rng.random(n) < 0.55)
    mean_los = np.select(
        [elective, emergency, maternity, baby],
        [3.0, 2.0 + np.clip(approx_age, 0, 100) / 12.0, 1.5, 2.0],
        4.0,
    )
    spell = np.floor(rng.exponential(mean_los)).astype(np.int64)
    spell = np.where(rng.random(n) < 0.01, spell + np.floor(rng.exponential(60.0, n)), spell)
    spell = np.where(day_case, 0, spell).astype(np.int64)

    classpat = cat["CLASSPAT"]
    cp = np.where(day_case, classpat.code("2"), classpat.code("1"))
    odd = rng.random(n) < 0.01
    cp = np.where(odd, classpat.sample_index(rng, n), cp)
    put(ch, "CLASSPAT", classpat.array(cp), plantable=True)

    # Episodes within the spell, then dates.
    epiorder = np.asarray(cat["EPIORDER"].values)[cat["EPIORDER"].sample_index(rng, n)]
    epiorder = np.where(spell < 2, 1, epiorder)
    final = np.where(epiorder == 1, rng.random(n) < 0.9, rng.random(n) < 0.6) | (spell == 0)
    start_off = np.where(epiorder == 1, 0, np.floor(rng.random(n) * (spell + 1))).astype(np.int64)
    start_off = np.minimum(start_off, spell)
    end_off = start_off + np.floor(rng.random(n) * (spell - start_off + 1)).astype(np.int64)
    end_off = np.where(final, spell, np.minimum(end_off, spell))
    unfinished = rng.random(n) < 0.003
    final &= ~unfinished

    epistart = _event_days(ch, birth + start_off)
    admidate = epistart - start_off
    epiend = admidate + end_off
    disdate = admidate + spell
    ch.event_date = admidate
    ch.age_years = (admidate - birth) / 365.25

    waits = np.floor(rng.exponential(55.0, n)).astype(np.int64)
    u = rng.random(n)
    elec_null = np.where(elective, u < 0.05, u < 0.97)
    elecdate = np.where(elective, admidate - waits, A.PLACEHOLDER_NULL_DATE)
    elecdate = np.where(elective & (u > 0.985), A.PLACEHOLDER_NULL_DATE, elecdate)
    elecdate = np.where(elective & (u > 0.995), A.PLACEHOLDER_INVALID_DATE, elecdate)
    put(ch, "ELECDATE", A.dates(elecdate, elec_null))
    put(ch, "ADMIDATE", A.dates(admidate))
    put(ch, "EPISTART", A.dates(epistart))
    put(ch, "EPIEND", A.dates(epiend, unfinished))
    put(ch, "DISDATE", A.dates(disdate, ~final))

    put(ch, "EPIORDER", pa.array(epiorder.astype(np.int32)))
    put(ch, "EPISTAT", A.take_strings(("3", "1"), unfinished.astype(np.int32)))
    put(ch, "FCE", pa.array((~unfinished).astype(np.int32)))
    first = epiorder == 1
    put(ch, "FAE", pa.array(first.astype(np.int32)))
    put(ch, "FAE_EMERGENCY", pa.array((first & emergency).astype(np.int32)))
    put(ch, "FDE", pa.array(final.astype(np.int32)))
    put(ch, "SPELBGIN", A.take_strings(("0", "2"), first.astype(np.int32)))
    put(ch, "SPELEND", A.take_strings(("N", "Y"), final.astype(np.int32)))
    age_days = epistart - birth
    put(ch, "NEODUR", masked_array(age_days.astype(np.int32), age_days >= 28))

    # Diagnoses, procedures, external causes, alcohol.
    diag_names = positions(ch, r"DIAG_4_\d\d")
    n_diag = _code_counts(ch, 0.6 + np.clip(ch.age_years, 0, 100) / 14.0, len(diag_names))
    n_diag = np.where(rng.random(n) < 0.002, 0, n_diag)
    primary = _diagnoses(ch, diag_names, n_diag)
    book = C.icd10()
    chapter = book.chapter_of[primary]
    obstetric = (chapter == book.chapter_index("O")) | maternity

    p_proc = np.select([elective, emergency, maternity], [0.8, 0.3, 0.45], 0.2)
    has_proc = rng.random(n) < p_proc
    op_names = positions(ch, r"OPERTN_4_\d\d")
    n_op = np.where(has_proc, _code_counts(ch, 1.1, len(op_names)), 0)
    _procedures(ch, op_names, n_op, (("-", 0.97), ("&", 0.03)))

    injury = np.isin(chapter, [book.chapter_index("S"), book.chapter_index("T")])
    has_cause = np.where(injury, rng.random(n) < 0.85, rng.random(n) < 0.02)
    causes = C.EXTERNAL_CAUSES
    cause = A.weighted_index(rng, A.cumulative(A.zipf_weights(len(causes), 1.2)), n)
    cause4 = A.take_strings(causes, cause, ~has_cause)
    put(ch, "CAUSE_4", cause4)
    put(ch, "CAUSE_3", pc.utf8_slice_codeunits(cause4, 0, 3))
    _alcohol(ch)

    # Discharge: older patients die more often; unfinished spells have no discharge.
    p_die = np.select([ch.age_years >= 80, ch.age_years >= 65], [0.07, 0.03], 0.005)
    died = final & (rng.random(n) < p_die)
    dismeth = cat["DISMETH"]
    dm = dismeth.sample_index(rng, n)
    dm = np.where(np.isin(dm, [dismeth.code("4"), dismeth.code("8")]), dismeth.code("1"), dm)
    dm = _choose(dismeth, dm, (died, "4"), (~final, "8"))
    put(ch, "DISMETH", dismeth.array(dm))
    disdest = cat["DISDEST"]
    dd = disdest.sample_index(rng, n)
    dd = np.where(dd == disdest.code("79"), disdest.code("19"), dd)
    dd = _choose(disdest, dd, (died, "79"), (~final, "98"))
    put(ch, "DISDEST", disdest.array(dd), plantable=True)

    epitype = cat["EPITYPE"]
    et = epitype.sample_index(rng, n)
    et = np.where(np.isin(et, [epitype.code("2"), epitype.code("3")]), epitype.code("1"), et)
    et = _choose(epitype, et, (maternity & (rng.random(n) < 0.7), "2"), (baby, "3"))
    put(ch, "EPITYPE", epitype.array(et))

    specialty_fields(ch, obstetric)
    if ch.has("AEKEY") and ch.spec.primary_key != "AEKEY":
        ch.identifier_nulls["AEKEY"] = ~(is_("21") & (rng.random(n) < 0.85))


def _alcohol(ch: Chunk) -> None:
    """Alcohol-attributable diagnosis and its fraction, for a few adult episodes."""
    rng, n = ch.rng, ch.n
    if not any(ch.has(f) for f in ("ALCDIAG_4", "ALCFRAC", "ALCNRWDIAG", "ALCBRDDIAG")):
        return
    alcohol = (ch.age_years >= 16) & (rng.random(n) < 0.05)
    codes_, fractions = zip(*C.ALCOHOL_CODES, strict=True)
    which = A.weighted_index(rng, A.cumulative(A.zipf_weights(len(codes_), 1.0)), n)
    fraction = np.asarray(fractions)[which]
    narrow = alcohol & (rng.random(n) < 0.6)
    put(ch, "ALCDIAG_4", A.take_strings(codes_, which, ~alcohol))
    put(ch, "ALCFRAC", masked_array(fraction, ~alcohol))
    put(ch, "ALCNRWDIAG", A.take_strings(codes_, which, ~narrow))
    put(ch, "ALCNRWFRAC", masked_array(fraction, ~narrow))
    put(ch, "ALCBRDDIAG", A.take_strings(codes_, which, ~alcohol))
    put(ch, "ALCBRDFRAC", masked_array(fraction, ~alcohol))


# --------------------------------------------------------------------------------------------
# Outpatients
# --------------------------------------------------------------------------------------------


def _age_fields(ch: Chunk, code_name: str, calc_name: str) -> None:
    """An HES age code and its exact fractional age (the latter inside the code's interval)."""
    birth = ch.patients.birth_of_row
    days = ch.event_date - birth
    years = whole_years(birth, ch.event_date)
    put(ch, code_name, pa.array(age_codes(days, years).astype(np.int32)))
    if ch.has(calc_name):
        put(
            ch,
            calc_name,
            pa.array(np.minimum(floor3(fractional_years(birth, ch.event_date)), 120.0)),
        )
        ch.keep_derived.add(calc_name)


def outpatients(ch: Chunk) -> None:
    rng, n, cat = ch.rng, ch.n, catalogue()
    birth = ch.patients.birth_of_row
    appt = _event_days(ch, birth)
    # Few clinics at weekends: move most Saturday/Sunday appointments to Friday/Monday.
    weekday = (appt + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
    move = rng.random(n) < 0.95
    appt = np.where(move & (weekday == 5), appt - 1, appt)
    appt = np.where(move & (weekday == 6), appt + 1, appt)
    appt = np.maximum(appt, birth)
    ch.event_date = appt
    ch.age_years = (appt - birth) / 365.25

    priority = cat["PRIORITY"]
    pr = priority.sample_index(rng, n)
    mean_wait = np.array([70.0, 25.0, 10.0, 50.0])[pr]  # routine, urgent, two-week wait, unknown
    wait = np.floor(rng.exponential(mean_wait)).astype(np.int64)
    req = np.maximum(appt - wait, birth)
    u = rng.random(n)
    req = np.where(u < 0.01, A.PLACEHOLDER_NULL_DATE, req)
    put(ch, "PRIORITY", priority.array(pr), plantable=True)
    put(ch, "APPTDATE", A.dates(appt))
    put(ch, "REQDATE", A.dates(req, u > 0.96))
    waitdays = np.where(u < 0.01, -1, appt - req)
    put(ch, "WAITDAYS", masked_array(waitdays.astype(np.int32), (u < 0.01) | (u > 0.9)))

    attended = cat["ATTENDED"]
    at = attended.sample_index(rng, n)
    att = np.isin(at, [attended.code("5"), attended.code("6")])
    dna = at == attended.code("3")
    put(ch, "ATTENDED", attended.array(at))
    put(ch, "ATTENDANCE", pa.array(att.astype(np.int32)))
    put(ch, "DNADATE", A.dates(appt, ~dna))
    if ch.has("OUTCOME"):
        put(ch, "OUTCOME", cat["OUTCOME"].array(cat["OUTCOME"].sample_index(rng, n), ~att))
    _age_fields(ch, "APPTAGE", "APPTAGE_CALC")

    diag_names = positions(ch, r"DIAG_4_\d\d")
    coded = rng.random(n) < 0.12
    n_diag = np.where(coded, _code_counts(ch, 0.5, len(diag_names)), 0)
    primary = _diagnoses(ch, diag_names, n_diag)
    op_names = positions(ch, r"OPERTN_4_\d\d")
    n_op = np.where(rng.random(n) < 0.25, _code_counts(ch, 0.3, len(op_names)), 0)
    _procedures(ch, op_names, n_op, (("-", 0.93), ("&", 0.07)))
    book = C.icd10()
    obstetric = coded & (book.chapter_of[primary] == book.chapter_index("O"))
    specialty_fields(ch, obstetric)


# --------------------------------------------------------------------------------------------
# Accident and emergency
# --------------------------------------------------------------------------------------------


@cache
def _ae_codes(kind: str) -> Domain:
    """A&E diagnosis (condition + sub-analysis), investigation and treatment code lists."""
    rng = np.random.default_rng([4242, zlib.crc32(kind.encode())])
    if kind == "diag":
        values = [f"{c:02d}{s}" for c in range(1, 39) for s in (0, 1, 2, 3, 4, 5, 6, 9)]
    elif kind == "treat":
        values = [f"{c:02d}{s}" for c in range(1, 58) for s in (0, 1, 2, 3, 9)]
    elif kind == "invest":
        values = [f"{c:02d}" for c in range(1, 25)]
    elif kind == "area":
        values = [f"{c:02d}" for c in range(1, 37)]
    else:
        values = ["1", "2", "3", "8"]
    values = [values[i] for i in rng.permutation(len(values))]
    return Domain(tuple(values), tuple(A.zipf_weights(len(values), 1.1)))


def emergency_care(ch: Chunk) -> None:
    rng, n, cat = ch.rng, ch.n, catalogue()
    birth = ch.patients.birth_of_row
    arrival = _event_days(ch, birth)
    ch.event_date = arrival
    ch.age_years = (arrival - birth) / 365.25
    put(ch, "ARRIVALDATE", A.dates(arrival))
    _age_fields(ch, "ARRIVALAGE", "ARRIVALAGE_CALC")

    # Arrivals peak late morning to evening.
    hour_weights = [
        2,
        1.5,
        1.2,
        1,
        1,
        1,
        1.5,
        2.5,
        4,
        6,
        7,
        7,
        6.5,
        6.5,
        6,
        6,
        6,
        6,
        6,
        5.5,
        5,
        4.5,
        3.5,
        2.5,
    ]
    minute = A.weighted_index(rng, A.cumulative(hour_weights), n) * 60 + rng.integers(0, 60, n)
    put(ch, "ARRIVALTIME", A.hhmm(minute))

    disp = cat["AEATTENDDISP"]
    d = disp.sample_index(rng, n)
    admitted = d == disp.code("01")
    put(ch, "AEATTENDDISP", disp.array(d), plantable=True)
    slow = np.where(ch.age_years >= 75, 1.4, 1.0)
    init = np.floor(rng.exponential(20.0 * slow))
    treat = init + np.floor(rng.exponential(45.0 * slow))
    concl = treat + np.floor(rng.exponential(60.0 * slow))
    depart = (
        concl
        + np.floor(rng.exponential(30.0 * slow))
        + admitted * np.floor(rng.exponential(150.0, n))
    )
    for name_dur, name_time, minutes, null_share in (
        ("INITDUR", "INITTIME", init, 0.04),
        ("TRETDUR", "TRETTIME", treat, 0.06),
        ("CONCLDUR", "CONCLTIME", concl, 0.08),
        ("DEPDUR", "DEPTIME", depart, 0.01),
    ):
        null = rng.random(n) < null_share
        put(ch, name_dur, masked_array(minutes.astype(np.int32), null))
        put(ch, name_time, A.hhmm(minute + minutes.astype(np.int64), null))
    if ch.has("EPIKEY") and ch.spec.primary_key != "EPIKEY":
        ch.identifier_nulls["EPIKEY"] = ~(admitted & (rng.random(n) < 0.9))

    diag_names = positions(ch, r"DIAG3_\d\d")
    n_diag = _code_counts(ch, 0.4, len(diag_names))
    n_diag = np.where(rng.random(n) < 0.03, 0, n_diag)
    diag = _ae_codes("diag")
    child = ch.age_years < 16

    def draw_diag(rows: np.ndarray, pos: int) -> np.ndarray:
        idx = diag.sample_index(rng, len(rows))
        # Children: a different mix of conditions (reverse the ranking for a share of them).
        flip = child[rows] & (rng.random(len(rows)) < 0.4)
        return np.where(flip, len(diag.values) - 1 - idx, idx)

    code_columns(ch, diag_names, n_diag, _dictionary(diag.values), draw_diag, (("&", 1.0),))
    for pattern, kind, share in (("DIAGA_\\d\\d", "area", 0.7), ("DIAGS_\\d\\d", "side", 0.4)):
        dom = _ae_codes(kind)
        for pos, name in enumerate(positions(ch, pattern), start=1):
            null = (n_diag < pos) | (rng.random(n) > share)
            put(ch, name, dom.array(dom.sample_index(rng, n), null))
    for pattern, kind, mean, minimum in (
        ("INVEST2_\\d\\d", "invest", 1.2, 0),
        ("TREAT3_\\d\\d", "treat", 0.8, 1),
    ):
        dom = _ae_codes(kind)
        names = positions(ch, pattern)
        count = _code_counts(ch, mean, len(names), minimum)

        def draw(rows: np.ndarray, pos: int, dom: Domain = dom) -> np.ndarray:
            return dom.sample_index(rng, len(rows))

        code_columns(ch, names, count, _dictionary(dom.values), draw)
    if ch.wants("SUSLDDATE_HIS"):
        load = arrival + np.floor(rng.exponential(20.0, n)).astype(np.int64)
        u = rng.random(n)
        load = np.where(u < 0.01, A.PLACEHOLDER_NULL_DATE, load)
        put(ch, "SUSLDDATE_HIS", A.dates(load, u > 0.99).cast(pa.string()))
    specialty_fields(ch)


def generic_events(ch: Chunk) -> None:
    """A dataset without a model: one event date per row in the financial year."""
    birth = ch.patients.birth_of_row
    ch.event_date = _event_days(ch, birth)
    ch.age_years = (ch.event_date - birth) / 365.25
    specialty_fields(ch)


MODELS: dict[str, Callable[[Chunk], None]] = {
    "hes_apc": admitted_care,
    "hes_op": outpatients,
    "hes_ae": emergency_care,
}
