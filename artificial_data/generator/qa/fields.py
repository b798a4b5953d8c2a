"""Per-field comparison of the artificial table with the released metadata.

For every scraped field this computes the distance to its metadata (with noise-aware limits),
its null rate against the metadata's, the categories it covers, and any value that lies
outside the domain: a value the reviewed metadata never released, or a value outside the field's
*declared* value domain (``FieldSpec.domain``, the same allowlist the disclosure review and the
simulator use: one list, not three). The checks in ``api`` summarise these outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec
from artificial_data.generator.qa.distances import (
    Distance,
    NumberTally,
    continuous_tally_distance,
    frequency_distance,
    numeric_values,
    observed_counts,
    placed_distance,
    quantile_bracket_tally_distance,
    suppressed_share,
)
from artificial_data.generator.qa.expected import (
    NULL_KEY,
    Expectations,
    FieldExpectation,
    FrequencyExpectation,
    episodes_key,
    value_key,
)
from artificial_data.generator.qa.patient_runs import PatientSizes
from artificial_data.generator.qa.patients import mixed_patients, value_codes

#: A category expected this many times (or more) should be present in the output.
COVERAGE_MIN_EXPECTED = 10
#: A null share is flagged beyond this many binomial standard errors (plus 2/N) of the released.
NULL_RATE_Z = 4
#: Values per field in the report's top-values charts.
TOP_VALUES = 10
_FREQUENCY_TYPES = (contract.CATEGORICAL, contract.DISCRETE, contract.DATE)


@dataclass
class FieldOutcome:
    """How one artificial field compares with its metadata."""

    name: str
    value_type: str
    distance: Distance
    blocking: bool  # every compared field blocks today (kept for informational fields)
    expected_null: float
    observed_null: float
    n: int  # rows (or patients, for patient-level fields)
    out_of_domain: list[str] = field(default_factory=list)
    out_of_domain_rows: int = 0
    #: Example values outside the field's declared domain (also counted in out_of_domain_rows).
    undeclared: list[str] = field(default_factory=list)
    categories: int = 0
    categories_present: int = 0
    missing_expected: list[str] = field(default_factory=list)  # common categories absent
    top: list[tuple[str, float, float]] = field(default_factory=list)  # key, expected, observed
    note: str = ""
    #: Lowest null share the source may have had when suppression thinned the field's released
    #: values (a date-chain member): see :func:`null_share_range`. None: ``expected_null``.
    expected_null_low: float | None = None

    @property
    def null_rate_flagged(self) -> bool:
        """Whether the null share is further than NULL_RATE_Z standard errors (plus 2/N) from
        the released share, or from the range of shares the release allows."""
        low = self.expected_null if self.expected_null_low is None else self.expected_null_low
        high, n = self.expected_null, max(self.n, 1)
        nearest = min(max(self.observed_null, low), high)
        return (
            abs(self.observed_null - nearest)
            > NULL_RATE_Z * np.sqrt(nearest * (1 - nearest) / n) + 2 / n
        )


def null_share_range(expected: FrequencyExpectation, source_rows: int | None) -> float | None:
    """The lowest null share a date-chain member's source may have had.

    Suppression removes rare *days* (never the null, a value of thousands of records), so the
    released null share is the source's divided by ``1 - s`` (``s``: the suppressed share). A
    chain member the generator places from the anchor by a duration takes its nulls from that
    duration, i.e. the source's share ``null_share·(1 - s)``; the anchor keeps the released
    share. Which member is the anchor is the generator's choice, so QA accepts the range."""
    s = suppressed_share(expected, source_rows)
    return expected.null_share * (1.0 - s) if s > 0 else None


def _top(
    expected: pd.Series, observed: pd.Series, k: int = TOP_VALUES
) -> list[tuple[str, float, float]]:
    both = pd.concat([expected, observed], axis=1, keys=["e", "o"]).fillna(0.0)
    both["m"] = both[["e", "o"]].max(axis=1)
    both = both.sort_values(["m", "e"], ascending=False).head(k)
    return [(str(i), float(r.e), float(r.o)) for i, r in both.iterrows()]


def declared_outliers(spec_field: FieldSpec, column: pa.ChunkedArray) -> dict[str, int]:
    """Rows per value (by value key) of ``column`` outside the field's declared domain.

    Null is always inside. Values are judged as the scraper publishes them: numbers as numbers
    (decimals through their exact text, times of day HHMM as minutes after midnight; unreadable
    HHMM text is reported by the continuous check), date-typed dates as dates, the rest as text.
    """
    if spec_field.domain is None:
        return {}
    if spec_field.time_of_day:
        minutes = numeric_values(column, True)
        values, counts = np.unique(minutes[~np.isnan(minutes)], return_counts=True)
        return minute_outliers(spec_field, values, counts)
    tally = outlier_column(spec_field, column).value_counts()
    return tally_outliers(
        spec_field,
        tally.field("values").to_pylist(),
        tally.field("counts").to_numpy(zero_copy_only=False),
    )


def outlier_column(spec_field: FieldSpec, column):
    """The column as its declared domain judges it (text domains judge text)."""
    if spec_field.domain_kind == "text" and not (
        pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    ):
        return pc.cast(column, pa.string())
    return column


def minute_outliers(spec_field: FieldSpec, values: np.ndarray, counts) -> dict[str, int]:
    """:func:`declared_outliers` of a time of day from its distinct minutes (sorted) and counts."""
    ok = spec_field.domain.allows_numbers(values.tolist())
    return {
        f"{int(v) // 60:02d}{int(v) % 60:02d}": int(c)
        for v, c, good in zip(values, counts, ok, strict=True)
        if not good
    }


def tally_outliers(spec_field: FieldSpec, values: list, counts) -> dict[str, int]:
    """:func:`declared_outliers` from a tally of the :func:`outlier_column`'s distinct values."""
    domain, kind = spec_field.domain, spec_field.domain_kind
    if kind == "number":
        values = [None if v is None else float(v) for v in values]
        ok = domain.allows_numbers(values)
    elif kind == "date":
        ok = domain.allows_dates(values)
    else:
        ok = domain.allows_text(values)
    return {value_key(v): int(c) for v, c, good in zip(values, counts, ok, strict=True) if not good}


#: Unreadable values of a time of day shown as examples (the first ones, in row order).
UNREADABLE_EXAMPLES = 5
_HHMM = r"^([01][0-9]|2[0-3])[0-5][0-9]$"


def unreadable_values(column, limit: int = UNREADABLE_EXAMPLES) -> list[str]:
    """The first ``limit`` non-null values of a time of day that are not HHMM, in row order."""
    text = pc.cast(column, pa.string())
    ok = pc.match_substring_regex(text, _HHMM)
    return pc.filter(text, pc.invert(pc.fill_null(ok, True))).slice(0, limit).to_pylist()


class FieldColumns(Protocol):
    """What :func:`analyse_fields` reads of a table: its row count and column names, each
    field's value counts, declared-domain outliers, null count and numeric tally (continuous
    fields), the first unreadable times of day, and the per-patient statistics (episodes per
    patient, modal values, mixed patients, malformed birth months). :class:`TableColumns`
    computes them from an Arrow table; ``streamed.StreamedColumns`` from tallies merged over
    record batches (whole columns only as fallbacks)."""

    @property
    def num_rows(self) -> int: ...

    @property
    def column_names(self) -> list[str]: ...

    def column(self, name: str) -> pa.ChunkedArray: ...

    def counts(self, name: str) -> pd.Series: ...

    def outliers(self, spec_field: FieldSpec) -> dict[str, int]: ...

    def numbers(self, spec_field: FieldSpec) -> NumberTally: ...

    def null_count(self, name: str) -> int: ...

    def unreadable(self, spec_field: FieldSpec) -> list[str]: ...

    def patient_sizes(self) -> PatientSizes: ...

    def modal_counts(self, name: str) -> pd.Series: ...

    def malformed_months(self, name: str) -> dict[str, int]: ...

    def mixed(self, name: str) -> tuple[int, int, int]: ...


class TableColumns:
    """:class:`FieldColumns` of an Arrow table in memory."""

    def __init__(self, table: pa.Table, patient_key: str | None = None):
        self.table = table
        self.patient_key = patient_key
        self.num_rows = table.num_rows
        self.column_names = table.column_names

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def counts(self, name: str) -> pd.Series:
        return observed_counts(self.table.column(name))

    def outliers(self, spec_field: FieldSpec) -> dict[str, int]:
        return declared_outliers(spec_field, self.table.column(spec_field.name))

    def numbers(self, spec_field: FieldSpec) -> NumberTally:
        column = self.table.column(spec_field.name)
        return NumberTally.of(numeric_values(column, spec_field.time_of_day))

    def null_count(self, name: str) -> int:
        return self.table.column(name).null_count

    def unreadable(self, spec_field: FieldSpec) -> list[str]:
        return unreadable_values(self.table.column(spec_field.name))

    def patient_sizes(self) -> PatientSizes:
        return whole_patient_sizes(self.table.column(self.patient_key))

    def modal_counts(self, name: str) -> pd.Series:
        return modal_values(self.table.column(self.patient_key), self.table.column(name))

    def malformed_months(self, name: str) -> dict[str, int]:
        return malformed_months(self.table.column(name))

    def mixed(self, name: str) -> tuple[int, int, int]:
        keys = value_codes(self.table.column(self.patient_key))
        return mixed_patients(keys, self.table.column(name))


def whole_patient_sizes(keys: pa.ChunkedArray) -> PatientSizes:
    """:class:`PatientSizes` of a whole patient-key column."""
    return PatientSizes.of(keys.value_counts().field("counts").to_numpy(zero_copy_only=False))


def malformed_text(column):
    """The values of a birth month (no declared domain) that are not MMYYYY text."""
    text = pc.cast(column, pa.string())
    bad = pc.invert(pc.match_substring_regex(text, r"^(0[1-9]|1[0-2])[0-9]{4}$"))
    return pc.filter(text, pc.fill_null(bad, False))


def malformed_months(column) -> dict[str, int]:
    """Rows per value of a birth month (no declared domain) that is not MMYYYY text."""
    return observed_counts(malformed_text(column)).to_dict()


def _frequency_outcome(
    name,
    exp: FieldExpectation,
    counts: pd.Series,
    n: int,
    blocking: bool,
    note: str = "",
    shared_domain: frozenset[str] = frozenset(),
    undeclared: frozenset[str] = frozenset(),
    source_rows: int | None = None,
) -> FieldOutcome:
    """``shared_domain``: reviewed values of other fields that may legitimately land in this
    one (the members of a date chain swap values when each row's dates are put in order).
    ``undeclared``: keys outside the field's declared domain, out of domain even if released."""
    freq: FrequencyExpectation = exp.frequency
    total = float(counts.sum())
    shares = counts / total if total > 0 else counts
    if shared_domain:  # a date-chain member: may be placed on suppressed days
        distance = placed_distance(freq, counts, n, source_rows)
    else:
        distance = frequency_distance(freq, counts, n)
    extra = [
        k
        for k in counts.index
        if k != NULL_KEY
        and (k in undeclared or (k not in freq.shares.index and k not in shared_domain))
    ]
    present = set(counts.index[counts > 0])
    domain = freq.domain
    common = freq.shares[(freq.shares * total >= COVERAGE_MIN_EXPECTED)].index
    return FieldOutcome(
        name=name,
        value_type=exp.value_type,
        distance=distance,
        blocking=blocking,
        expected_null=freq.null_share,
        observed_null=float(shares.get(NULL_KEY, 0.0)),
        n=n,
        out_of_domain=sorted(extra)[:5],
        out_of_domain_rows=int(counts[extra].sum()) if extra else 0,
        undeclared=sorted(k for k in extra if k in undeclared)[:5],
        categories=len(domain),
        categories_present=len(domain & present),
        missing_expected=[k for k in common if k not in present][:5],
        top=_top(freq.shares, shares),
        note=note,
        expected_null_low=null_share_range(freq, source_rows) if shared_domain else None,
    )


def modal_values(patients: pa.ChunkedArray, values: pa.ChunkedArray) -> pd.Series:
    """Each patient's most frequent value (ties: the smallest), as value counts by key."""
    frame = pd.DataFrame(
        {
            "p": patients.to_numpy(),
            "v": pc.fill_null(pc.cast(values, pa.string()), NULL_KEY).to_numpy(
                zero_copy_only=False
            ),
        }
    )
    sizes = frame.groupby(["p", "v"], sort=False).size().reset_index(name="n")
    sizes = sizes.sort_values(["p", "n", "v"], ascending=[True, False, True])
    modal = sizes.drop_duplicates("p")["v"]
    return modal.value_counts().astype(float)


def date_and_duration_fields(spec: DatasetSpec) -> list[str]:
    """Every date field and every duration field of the spec, in spec order."""
    durations = {d.field for d in spec.durations}
    return [f.name for f in spec.scraped_fields if f.role == "date" or f.name in durations]


def analyse_fields(
    table: pa.Table | FieldColumns,
    spec: DatasetSpec,
    exps: Expectations,
    source_rows: int | None = None,
) -> list[FieldOutcome]:
    """Compare every scraped field present in both the table and the metadata.

    ``source_rows``: the source's (rounded) row count from the metadata header; with it, a date
    placed by a duration is compared on the released days (``placed_distance``)."""
    if isinstance(table, pa.Table):
        table = TableColumns(table, spec.patient_key)
    n = table.num_rows
    # Dates and durations follow their own released distributions like every other field
    # (DESIGN §8: one anchor date, the others placed by released durations): blocking.
    timed = date_and_duration_fields(spec)
    sizes = table.patient_sizes() if spec.patient_key in table.column_names else None
    n_patients = sizes.patients if sizes is not None else n
    # Episode-level shares of a patient-level field are clustered by patient: their sampling
    # noise is that of Kish's effective sample size n^2 / sum(m_i^2), m_i = episodes of
    # patient i, which is far below the number of patients when a few have many episodes.
    n_clustered = n_patients
    if sizes is not None and n:
        n_clustered = max(1, int(n * n / float(sizes.sum_of_squares)))
    chain_domain: dict[str, frozenset[str]] = {}
    for chain in spec.date_chains:
        union = frozenset(
            k
            for m in chain
            if m in exps.fields and exps.fields[m].frequency is not None
            for k in exps.fields[m].frequency.shares.index
        )
        chain_domain.update(dict.fromkeys(chain, union))
    outcomes = []
    for name, exp in exps.fields.items():
        if name not in table.column_names:
            continue
        note = "date / duration: its own released distribution" if name in timed else ""
        outliers = table.outliers(exp.field)
        if exp.value_type in _FREQUENCY_TYPES:
            outcomes.append(
                _frequency_outcome(
                    name,
                    exp,
                    table.counts(name),
                    n,
                    True,
                    note,
                    chain_domain.get(name, frozenset()),
                    frozenset(outliers),
                    source_rows,
                )
            )
        elif exp.value_type == contract.DEMOGRAPHIC_CATEGORICAL:
            outcomes.append(
                _frequency_outcome(
                    name,
                    exp,
                    table.counts(name),
                    n_clustered,
                    True,
                    "episode-level shares; noise limits use the effective number of patients",
                    undeclared=frozenset(outliers),
                )
            )
        elif exp.value_type == contract.DEMOGRAPHIC_DATE and sizes is not None:
            outcome = _frequency_outcome(
                name,
                exp,
                table.modal_counts(name),
                n_patients,
                True,
                "each patient's modal value against the metadata's modal values",
            )
            if exp.field.domain is None:  # no declared domain: at least well-formed MMYYYY
                outliers = table.malformed_months(name)
            if outliers:  # rows (not patients) outside the declared domain
                outcome.undeclared = sorted(outliers)[:5]
                outcome.out_of_domain = sorted(set(outcome.out_of_domain) | set(outcome.undeclared))
                outcome.out_of_domain_rows += sum(int(c) for c in outliers.values())
            outcome.observed_null = table.null_count(name) / max(n, 1)
            outcomes.append(outcome)
        elif exp.value_type == contract.CONTINUOUS:
            cont = exp.continuous
            tally = table.numbers(exp.field)
            nulls = table.null_count(name)
            discretised = exp.field.time_of_day or exp.field.spark_type in ("int", "long")
            distance = (
                quantile_bracket_tally_distance if discretised else continuous_tally_distance
            )(cont, tally)
            unreadable = tally.nulls - nulls
            examples = table.unreadable(exp.field) if unreadable else []
            outcomes.append(
                FieldOutcome(
                    name=name,
                    value_type=exp.value_type,
                    distance=distance,
                    blocking=True,
                    expected_null=cont.null_share,
                    observed_null=nulls / max(n, 1),
                    n=n,
                    out_of_domain=[str(e) for e in examples] + sorted(outliers)[:5],
                    out_of_domain_rows=unreadable + sum(outliers.values()),
                    undeclared=sorted(outliers)[:5],
                    note="; ".join(
                        t
                        for t in (note, "integer values: quantile-bracket test" * discretised)
                        if t
                    ),
                )
            )
    return outcomes


def episodes_outcome(
    table: pa.Table | FieldColumns, spec: DatasetSpec, exps: Expectations
) -> FieldOutcome | None:
    """Episodes per patient in the output against the RELATIONSHIP distribution."""
    if exps.episodes is None or spec.patient_key not in table.column_names:
        return None
    if isinstance(table, pa.Table):
        table = TableColumns(table, spec.patient_key)
    sizes = table.patient_sizes()
    keys = [episodes_key(int(k), exps.top_coded_from) for k in sizes.by_size]
    counts = pd.Series(np.asarray(list(sizes.by_size.values()), dtype=float), index=keys)
    counts = counts.groupby(level=0).sum()
    exp = FieldExpectation(
        spec.field(spec.patient_key), contract.RELATIONSHIP, frequency=exps.episodes
    )
    return _frequency_outcome(
        spec.patient_key, exp, counts, sizes.patients, True, "patients by number of episodes"
    )
