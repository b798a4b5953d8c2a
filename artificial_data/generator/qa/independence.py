"""Fields that the design keeps independent must be independent in the artificial table.

Every field is sampled on its own (DESIGN §1, §8): an association between two fields (say
admission method and length of stay) is either a generator bug or, worse, a relationship that
crossed the boundary. Each field's marginal check cannot see it (shuffling one field against
another keeps both marginals), so QA tests pairs of fields for independence.

**Statistic.** Each field is cut into at most :data:`MAX_CATEGORIES` categories: its most
frequent values (null is a value) for categorical fields, equal-frequency bins of the values
for continuous and date fields (null its own bin), every category holding at least
max(5% of rows, √(5·N)) rows so that every expected cell count is at least 5; the rest is
pooled. A pair's r×c table gives Pearson's χ² with (r-1)(c-1) degrees of freedom and Cramér's
V = √(χ² / (N·(min(r, c) - 1))), the effect size the report shows.

**Threshold.** Under independence χ² follows its χ² distribution (every expected count >= 5).
A pair *fails* above the χ² quantile at α = 10⁻⁶ / (number of pairs) (Bonferroni: a correct
generator fails the check less than once in a million whatever the width of the table); it is
*warned* above the quantile at 10⁻² / (number of pairs). The quantiles use the Wilson-Hilferty
approximation (exact for 1 and 2 degrees of freedom), which errs on the high side in the far
tail. With ~840 pairs a 6×6 table fails from V ≈ 0.043 at 10,000 rows and V ≈ 0.004 at 1,000,000; a
perfect association has V = 1.

**Pairs.** Testing every pair of 190 fields is ~18,000 tables; instead, deterministically:
every field against the *key fields* (every date, continuous/duration and patient-level field,
and the first position of each positional code group), plus :data:`RANDOM_PAIRS` further pairs
drawn with a seed taken from the release (dataset, year and a fingerprint of the released
metadata), so another release checks other pairs. Pairs the design keeps dependent are never
tested (:func:`dependent_groups`): the dates of a chain with each other and with their
durations, a birth date with the date its age is measured at (and that date's chain), fields
of the same positional code family (DIAG_4_01..20 are filled in order; AE DIAG3/DIAGA/DIAGS
positions belong together). Two patient-level fields are both constant within a patient, so
their pair is tested on one row per patient. Derived fields are never tested (they are
functions of their sources by design).

**What it cannot see.** An association confined to rare values (pooled into "other"), a
dependence between three or more fields with every pair independent, and pairs not drawn.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec
from artificial_data.generator.qa.distances import (
    FALSE_FAILURE_RATE,
    NumberTally,
    numeric_values,
)

#: Categories per field in a contingency table (most frequent values or bins, plus "other").
MAX_CATEGORIES = 6
#: Smallest share of rows a category holds (smaller ones are pooled).
MIN_SHARE = 0.05
#: Smallest expected count of a cell, which sets the smallest category at small N.
MIN_EXPECTED_CELL = 5
#: Pairs drawn at random (seeded by the release) on top of the key-field pairs.
RANDOM_PAIRS = 200
#: Family probability of a warning (above the threshold, below the limit) for a correct table.
WARNING_RATE = 1e-2

_POSITIONAL = re.compile(r"^(?P<stem>[A-Z][A-Z0-9_]*)_(?P<position>\d{2})$")


@dataclass(frozen=True)
class PairResult:
    """The independence test of one pair of fields."""

    a: str
    b: str
    n: int  # rows (or patients)
    shape: tuple[int, int]
    chi2: float
    df: int
    cramers_v: float
    threshold: float  # Cramér's V of the warning quantile
    limit: float  # Cramér's V of the blocking quantile
    level: str = "rows"  # or "patients"

    @property
    def failed(self) -> bool:
        return self.cramers_v > self.limit

    @property
    def within_noise(self) -> bool:
        return self.cramers_v <= self.threshold

    @property
    def name(self) -> str:
        return f"{self.a} x {self.b}"

    def describe(self) -> str:
        return (
            f"{self.name}: Cramér's V {self.cramers_v:.3f} beyond the limit {self.limit:.3f} "
            f"(chi2 {self.chi2:.1f}, df {self.df}, {self.n} {self.level})"
        )

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "cramers_v": round(self.cramers_v, 6),
            "threshold": round(self.threshold, 6),
            "limit": round(self.limit, 6),
            "chi2": round(self.chi2, 3),
            "df": self.df,
            "n": self.n,
            "level": self.level,
        }


@dataclass(frozen=True)
class IndependenceOutcome:
    pairs: list[PairResult]
    skipped: list[str]  # fields with a single category (nothing to test)

    @property
    def failed(self) -> list[PairResult]:
        return [p for p in self.pairs if p.failed]

    @property
    def warned(self) -> list[PairResult]:
        return [p for p in self.pairs if not p.failed and not p.within_noise]

    def strongest(self, k: int = 10) -> list[PairResult]:
        return sorted(self.pairs, key=lambda p: (p.limit - p.cramers_v, p.name))[:k]


# --------------------------------------------------------------------------- which pairs


def positional_family(name: str) -> str | None:
    """``DIAG_4_07`` -> ``DIAG``; None for a field that is not a numbered position."""
    match = _POSITIONAL.match(name)
    return match["stem"][:4] if match else None


def dependent_groups(spec: DatasetSpec) -> list[frozenset[str]]:
    """Sets of fields the design keeps dependent (no pair inside one set is tested)."""
    groups: list[set[str]] = [set(chain) for chain in spec.date_chains]
    groups += [{d.field, d.start, d.end} for d in (*spec.durations, *spec.clock_durations)]
    for f in spec.fields_with_role("derived"):
        d = f.derivation
        if d.kind in ("age_years", "age_fraction"):
            groups.append({d.birth, d.at})
    merged: list[set[str]] = []
    for group in groups:  # union of overlapping groups
        overlapping = [m for m in merged if m & group]
        for m in overlapping:
            group |= m
            merged.remove(m)
        merged.append(group)
    return [frozenset(g) for g in merged]


def _excluded(a: FieldSpec, b: FieldSpec, groups: list[frozenset[str]]) -> bool:
    if any(a.name in g and b.name in g for g in groups):
        return True
    fa, fb = positional_family(a.name), positional_family(b.name)
    return fa is not None and fa == fb


def key_fields(spec: DatasetSpec, names: list[str]) -> list[str]:
    """Dates, continuous (duration) and patient-level fields, first position of each group."""
    keys, families = [], set()
    for f in spec.scraped_fields:
        if f.name not in names:
            continue
        family = positional_family(f.name)
        if f.role in ("date", "continuous", "patient_categorical", "patient_date"):
            keys.append(f.name)
        elif family is not None and _POSITIONAL.match(f.name)["stem"] not in families:
            families.add(_POSITIONAL.match(f.name)["stem"])
            keys.append(f.name)
    return keys


def release_seed(spec: DatasetSpec, financial_year: str, metadata: pd.DataFrame) -> int:
    """A seed fixed by the release: dataset, year and a fingerprint of the released metadata."""
    digest = hashlib.sha256(f"{spec.dataset}|{financial_year}".encode())
    if len(metadata):
        summary = metadata.groupby(["FIELD_NAME", "VALUE_TYPE"], sort=True)["WEIGHT"].agg(
            ["size", "sum"]
        )
        for (name, kind), (size, total) in summary.iterrows():
            digest.update(f"|{name}:{kind}:{int(size)}:{float(total)!r}".encode())
    return int.from_bytes(digest.digest()[:8], "big")


def checked_pairs(spec: DatasetSpec, names: list[str], seed: int) -> list[tuple[str, str]]:
    """The pairs QA tests, in spec order: key fields against every field, plus random pairs."""
    fields = [f for f in spec.scraped_fields if f.name in names]
    position = {f.name: i for i, f in enumerate(fields)}
    by_name = {f.name: f for f in fields}
    groups = dependent_groups(spec)

    def ordered(a: str, b: str) -> tuple[str, str]:
        return (a, b) if position[a] < position[b] else (b, a)

    pairs: set[tuple[str, str]] = set()
    for key in key_fields(spec, names):
        for f in fields:
            if f.name != key and not _excluded(by_name[key], f, groups):
                pairs.add(ordered(key, f.name))
    candidates = [
        (a.name, b.name)
        for a, b in itertools.combinations(fields, 2)
        if (a.name, b.name) not in pairs and not _excluded(a, b, groups)
    ]
    if candidates:
        rng = np.random.default_rng(seed)
        take = rng.choice(len(candidates), size=min(RANDOM_PAIRS, len(candidates)), replace=False)
        pairs.update(candidates[int(i)] for i in take)
    return sorted(pairs, key=lambda p: (position[p[0]], position[p[1]]))


# --------------------------------------------------------------------------------- binning


def _min_count(n: int) -> float:
    return max(MIN_SHARE * n, math.sqrt(MIN_EXPECTED_CELL * n))


def pool_mapping(codes: np.ndarray, n: int) -> np.ndarray | None:
    """The pooled category of every code of :func:`pool_categories` (indexed by code), or None
    if fewer than two categories remain."""
    if n == 0:
        return None
    return pool_counts(np.bincount(codes), n)


def pool_counts(counts: np.ndarray, n: int) -> np.ndarray | None:
    """:func:`pool_mapping` from the count of every code (``np.bincount`` of the codes)."""
    if n == 0:
        return None
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    least = _min_count(n)
    big = [int(c) for c in order if counts[c] >= least]
    rest = n - int(counts[big].sum()) if big else n
    keep = big if (rest == 0 and len(big) <= MAX_CATEGORIES) else big[: MAX_CATEGORIES - 1]
    mapping = np.full(len(counts), len(keep), dtype=np.uint8)
    mapping[keep] = np.arange(len(keep), dtype=np.uint8)
    other = n - int(counts[keep].sum())
    if 0 < other < least and keep:  # too small to stand alone: join the smallest kept one
        mapping[mapping == len(keep)] = len(keep) - 1
        categories = len(keep)
    else:
        categories = len(keep) + (1 if other else 0)
    return mapping if categories >= 2 else None


def pool_categories(codes: np.ndarray, n: int) -> np.ndarray | None:
    """Keep the most frequent codes holding at least the minimum count (at most
    :data:`MAX_CATEGORIES`, pooled "other" included); None if fewer than two remain."""
    mapping = pool_mapping(codes, n)
    return None if mapping is None else mapping[codes]


def _numeric_edges(values: np.ndarray) -> np.ndarray | None:
    """Edges of the equal-frequency bins of the values (None: no value is present)."""
    present = values[~np.isnan(values)]
    if len(present) == 0:
        return None
    steps = np.linspace(0, 1, MAX_CATEGORIES)[1:-1]
    return np.unique(np.quantile(present, steps))


def _numeric_bins(values: np.ndarray, edges: np.ndarray | None) -> np.ndarray:
    """The bin of each value (ties share a bin), null its own code."""
    if edges is None:
        return np.zeros(len(values), dtype=np.int64)
    is_null = np.isnan(values)
    bins = np.searchsorted(edges, np.where(is_null, 0.0, values), side="left")
    return np.where(is_null, len(edges) + 1, bins).astype(np.int64)


def _numeric(values: np.ndarray) -> np.ndarray:
    """Equal-frequency bins of the values (ties share a bin), null its own code."""
    return _numeric_bins(values, _numeric_edges(values))


def binned_counts(tally: NumberTally, edges: np.ndarray | None) -> np.ndarray:
    """``np.bincount`` of the :func:`_numeric_bins` codes of the values a tally holds."""
    if edges is None:
        return np.asarray([tally.n], dtype=np.int64)
    bins = np.searchsorted(edges, tally.values, side="left")
    counts = np.bincount(bins, weights=tally.counts, minlength=len(edges) + 2).astype(np.int64)
    counts[len(edges) + 1] = tally.nulls
    last = np.flatnonzero(counts)
    return counts[: int(last[-1]) + 1] if len(last) else counts[:1]


def tally_edges(tally: NumberTally) -> np.ndarray | None:
    """:func:`_numeric_edges` of the values a tally holds."""
    if tally.present == 0:
        return None
    return np.unique(tally.quantiles(np.linspace(0, 1, MAX_CATEGORIES)[1:-1]))


def is_binned(f: FieldSpec, value_type: pa.DataType) -> bool:
    """Whether a field is cut into bins of its values (continuous fields, date-typed dates)."""
    return f.role == "continuous" or (f.role == "date" and pa.types.is_date(value_type))


def field_values(column, f: FieldSpec) -> np.ndarray | None:
    """The values a field is binned by (continuous and date fields), None for categories."""
    return _field_values(column, f)


def _field_values(column, f: FieldSpec) -> np.ndarray | None:
    """The values a field is binned by (continuous and date fields), None for categories."""
    if not is_binned(f, column.type):
        return None
    if f.role == "continuous":
        return numeric_values(column, f.time_of_day)
    days = pc.cast(column, pa.int32()).to_numpy(zero_copy_only=False)
    return np.asarray(days, dtype=float)


def field_codes(table: pa.Table, f: FieldSpec) -> np.ndarray:
    """Integer codes of a field's categories before pooling."""
    column = table.column(f.name)
    values = _field_values(column, f)
    if values is not None:
        return _numeric(values)
    encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass(frozen=True)
class Categories:
    """A field's pooled categories, fixed on its whole column, to code record batches by.

    Coding a batch gives the very codes ``pool_categories(field_codes(table, f), n)`` gives
    its rows: the bin edges (continuous, date) or the dictionary of values in order of first
    appearance (the rest) and the pooling come from the whole column."""

    spec_field: FieldSpec
    mapping: np.ndarray
    edges: np.ndarray | None = None
    dictionary: pa.Array | None = None

    @property
    def size(self) -> int:
        return int(self.mapping.max()) + 1

    @classmethod
    def of(cls, column: pa.ChunkedArray, f: FieldSpec) -> Categories | None:
        values = _field_values(column, f)
        if values is not None:
            edges = _numeric_edges(values)
            mapping = pool_mapping(_numeric_bins(values, edges), len(values))
            return None if mapping is None else cls(f, mapping, edges=edges)
        encoded = pc.dictionary_encode(column.combine_chunks(), null_encoding="encode")
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        mapping = pool_mapping(codes, len(codes))
        return None if mapping is None else cls(f, mapping, dictionary=encoded.dictionary)

    @classmethod
    def of_numbers(cls, tally: NumberTally, f: FieldSpec) -> Categories | None:
        """:meth:`of` a continuous or date field from the tally of its binned values (exact:
        the same quantile edges and bin counts)."""
        edges = tally_edges(tally)
        mapping = pool_counts(binned_counts(tally, edges), tally.n)
        return None if mapping is None else cls(f, mapping, edges=edges)

    @classmethod
    def of_values(
        cls, values: list, counts: np.ndarray, value_type: pa.DataType, f: FieldSpec
    ) -> Categories | None:
        """:meth:`of` a categorical field from its distinct values in order of first appearance
        (null included) and their counts: the dictionary encoding of the whole column."""
        mapping = pool_counts(np.asarray(counts, dtype=np.int64), int(np.sum(counts)))
        if mapping is None:
            return None
        return cls(f, mapping, dictionary=pa.array(values, type=value_type))

    def codes(self, column) -> np.ndarray:
        """Pooled codes of a part of the column (a record batch's)."""
        if self.dictionary is None:
            raw = _numeric_bins(_field_values(column, self.spec_field), self.edges)
        else:
            index = pc.index_in(column, value_set=self.dictionary, skip_nulls=False)
            raw = np.asarray(index.to_numpy(zero_copy_only=False), dtype=np.int64)
        return self.mapping[raw]


# ------------------------------------------------------------------------------ the test


def chi2_quantile(df: int, alpha: float) -> float:
    """Upper ``alpha`` quantile of χ²(df): exact for df 1 and 2, else Wilson-Hilferty."""
    if df == 1:
        z = NormalDist().inv_cdf(1 - alpha / 2)
        return z * z
    if df == 2:
        return -2 * math.log(alpha)
    z = NormalDist().inv_cdf(1 - alpha)
    h = 2 / (9 * df)
    return df * (1 - h + z * math.sqrt(h)) ** 3


def pair_test(
    a: np.ndarray, b: np.ndarray, names: tuple[str, str], n_pairs: int, level: str = "rows"
) -> PairResult:
    """Pearson χ² test of independence of two pooled code arrays."""
    return table_test(crosstab(a, b, int(a.max()) + 1, int(b.max()) + 1), names, n_pairs, level)


def crosstab(a: np.ndarray, b: np.ndarray, ka: int, kb: int) -> np.ndarray:
    """Counts of each pair of codes (``ka`` x ``kb``): tables of consecutive batches add up."""
    return np.bincount(a.astype(np.int64) * kb + b, minlength=ka * kb).reshape(ka, kb)


def table_test(
    observed: np.ndarray, names: tuple[str, str], n_pairs: int, level: str = "rows"
) -> PairResult:
    """Pearson χ² test of independence of a contingency table (empty rows and columns drop)."""
    n = int(observed.sum())
    observed = observed[observed.sum(axis=1) > 0][:, observed.sum(axis=0) > 0].astype(float)
    r, c = observed.shape
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / n
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    df = (r - 1) * (c - 1)
    scale = n * (min(r, c) - 1)

    def as_v(x: float) -> float:
        return math.sqrt(x / scale)

    return PairResult(
        names[0],
        names[1],
        n,
        (r, c),
        chi2,
        df,
        as_v(chi2),
        as_v(chi2_quantile(df, WARNING_RATE / n_pairs)),
        as_v(chi2_quantile(df, FALSE_FAILURE_RATE / n_pairs)),
        level,
    )


def patient_level_fields(spec: DatasetSpec) -> set[str]:
    return {f.name for f in spec.fields_with_role("patient_categorical", "patient_date")}


def first_patient_rows(
    columns, spec: DatasetSpec, pairs: list[tuple[str, str]]
) -> np.ndarray | None:
    """Each patient's first row, where a pair of patient-level fields is tested on one row per
    patient; None when no pair needs it or there is no patient key. ``columns``: a table, or
    anything with its ``column`` and ``column_names`` (the streamed QA's columns)."""
    patient_level = patient_level_fields(spec)
    if spec.patient_key not in columns.column_names or not any(
        a in patient_level and b in patient_level for a, b in pairs
    ):
        return None
    encoded = pc.dictionary_encode(columns.column(spec.patient_key).combine_chunks())
    patients = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    return np.unique(patients, return_index=True)[1]


def independence(
    table: pa.Table, spec: DatasetSpec, pairs: list[tuple[str, str]]
) -> IndependenceOutcome:
    """Test every pair (names must be scraped fields of the table)."""
    patient_level = patient_level_fields(spec)
    names = sorted({n for p in pairs for n in p}, key=spec.field_names.index)
    n = table.num_rows
    row_codes = {name: pool_categories(field_codes(table, spec.field(name)), n) for name in names}
    first_rows = first_patient_rows(table, spec, pairs)
    patient_codes: dict[str, np.ndarray | None] = {}
    testable = [
        p
        for p in pairs
        if row_codes[p[0]] is not None
        and row_codes[p[1]] is not None
        and (first_rows is not None or not (p[0] in patient_level and p[1] in patient_level))
    ]
    results = []
    for a, b in testable:
        if a in patient_level and b in patient_level:
            for name in (a, b):
                if name not in patient_codes:
                    raw = field_codes(table, spec.field(name))[first_rows]
                    patient_codes[name] = pool_categories(raw, len(first_rows))
            ca, cb = patient_codes[a], patient_codes[b]
            if ca is None or cb is None:
                continue
            results.append(pair_test(ca, cb, (a, b), len(testable), "patients"))
        else:
            results.append(pair_test(row_codes[a], row_codes[b], (a, b), len(testable)))
    skipped = [name for name, codes in row_codes.items() if codes is None]
    return IndependenceOutcome(results, skipped)
