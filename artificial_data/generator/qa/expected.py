"""What the reviewed metadata says each artificial field should look like.

QA compares the artificial table with the released metadata only (DESIGN §9), so this module
turns the long metadata table (encoding: ``common.metadata_contract`` docstring) into one small
expectation per field: value shares for frequency fields, a quantile grid for continuous fields,
value shares for patient-level fields and the episodes-per-patient distribution.

Values of every kind are compared through one *key* text (``value_key``) so that a discrete
``2.0`` in the metadata matches an ``int`` 2 in the table and a ``date`` matches its ISO text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec

#: The key of the null value (null is a value like any other in frequency metadata).
NULL_KEY = "\x00null"
#: HES placeholder dates ("not known" / "not applicable"), never ordered or measured.
PLACEHOLDER_DATES = (date(1800, 1, 1), date(1801, 1, 1))


def value_key(value: Any) -> str:
    """One comparable text for a metadata or table value (numbers as floats, dates as ISO)."""
    if value is None or value is pd.NaT:
        return NULL_KEY
    if isinstance(value, float) and math.isnan(value):
        return NULL_KEY
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, datetime | pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(float(value))
    if hasattr(value, "is_finite"):  # decimal.Decimal
        return repr(float(value))
    return str(value)


def display_key(key: str) -> str:
    return "(null)" if key == NULL_KEY else key


@dataclass(frozen=True)
class FrequencyExpectation:
    """Shares of each value (key) of a field, null included; ``weight`` = total count."""

    shares: pd.Series  # index: value key, values: share (sums to 1)
    weight: float

    @property
    def null_share(self) -> float:
        return float(self.shares.get(NULL_KEY, 0.0))

    @property
    def domain(self) -> set[str]:
        return set(self.shares.index) - {NULL_KEY}


@dataclass(frozen=True)
class ContinuousExpectation:
    """Quantile grid of the non-null values plus the null share."""

    quantiles: np.ndarray  # ascending values
    probabilities: np.ndarray  # ascending cumulative probabilities in (0, 1)
    null_share: float
    weight: float

    def bins(self) -> tuple[np.ndarray, np.ndarray]:
        """Edges and the mass of each bin ``(-inf, e0], (e0, e1], ..., (e_last, inf)``.

        Tied quantiles (common for day counts) collapse into one edge holding the highest
        cumulative probability at that value, i.e. a point mass at the edge.
        """
        edges, last = np.unique(self.quantiles, return_index=False), []
        for e in edges:
            last.append(self.probabilities[self.quantiles == e].max())
        cumulative = np.maximum.accumulate(np.asarray(last, dtype=float))
        masses = np.clip(np.diff(np.concatenate([[0.0], cumulative, [1.0]])), 0.0, None)
        if len(edges) >= 3:
            # Nothing is published below the first or above the last quantile (no min, no
            # max), so how a generator fills the tails (clamping or extending) is its own
            # business: each tail is merged with its neighbouring bin.
            masses = np.concatenate(
                [[masses[0] + masses[1]], masses[2:-2], [masses[-2] + masses[-1]]]
            )
            edges = edges[1:-1]
        return edges, masses


@dataclass(frozen=True)
class FieldExpectation:
    """The metadata of one field, in the shape QA compares against."""

    field: FieldSpec
    value_type: str
    frequency: FrequencyExpectation | None = None
    continuous: ContinuousExpectation | None = None
    patterns: int = 0  # number of DEMOGRAPHIC_* rows (patient-level fields)
    #: Patient-level fields: share of patients whose episodes do not all hold the same value
    #: (a pattern of two or more values; for MYDOB an agreement share below 1).
    mixed_share: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Expectations:
    """Every field's expectation plus the episodes-per-patient distribution."""

    fields: dict[str, FieldExpectation]
    episodes: FrequencyExpectation | None  # keys: episodes per patient as text, or "k+"
    top_coded_from: int | None  # smallest count of the pooled top-coded bucket, if any
    missing: list[str]  # scraped fields of the spec without any metadata row


def _shares(keys: list[str], weights: np.ndarray) -> pd.Series:
    series = pd.Series(weights, index=keys, dtype=float).groupby(level=0).sum()
    total = series.sum()
    return series / total if total > 0 else series


def _frequency(rows: pd.DataFrame, column: str) -> FrequencyExpectation:
    keys = [value_key(v) for v in rows[column]]
    weights = rows["WEIGHT"].to_numpy(dtype=float)
    return FrequencyExpectation(_shares(keys, weights), float(weights.sum()))


def _date_value(row: pd.Series) -> Any:
    return row["VALUE_DATE"] if row["VALUE_DATE"] is not None else row["VALUE_STRING"]


@dataclass(frozen=True)
class EpisodeMeans:
    """Mean episodes per patient, overall and among patients with two or more episodes."""

    overall: float
    multi: float


def _demographic_categorical(
    rows: pd.DataFrame, means: EpisodeMeans | None
) -> FrequencyExpectation:
    """Episode-level value shares implied by the per-patient patterns.

    Only a patient with two or more episodes can hold a pattern of several values, so a
    generator that reproduces the patterns gives mixed patterns to such patients: a mixed
    pattern weighs E[m | m >= 2] episodes, a single-value pattern the rest of the mean. Without
    an episodes-per-patient distribution every pattern weighs the same.
    """
    weight = rows["WEIGHT"].to_numpy(dtype=float)
    mixed = np.array([len(v) > 1 for v in rows["VALUE_STRING_ARRAY"]], dtype=bool)
    episodes = np.ones(len(rows))
    total, w_mixed = weight.sum(), weight[mixed].sum()
    if means is not None and total > 0 and w_mixed > 0 and w_mixed < total:
        single = (means.overall * total - means.multi * w_mixed) / (total - w_mixed)
        episodes = np.where(mixed, means.multi, max(single, 1.0))
    keys, weights = [], []
    for values, shares, w, e in zip(
        rows["VALUE_STRING_ARRAY"], rows["WEIGHT_ARRAY"], weight, episodes, strict=True
    ):
        shares = shares if shares is not None else [1.0 / len(values)] * len(values)
        share_total = sum(shares) or 1.0
        for v, s in zip(values, shares, strict=True):
            keys.append(value_key(v))
            weights.append(w * e * s / share_total)
    return FrequencyExpectation(_shares(keys, np.asarray(weights)), float(total))


def _mixed_share(weights: np.ndarray, mixed: np.ndarray) -> float:
    total = float(weights.sum())
    return float(weights[mixed].sum()) / total if total > 0 else 0.0


def _continuous(rows: pd.DataFrame, spec: DatasetSpec, name: str) -> ContinuousExpectation:
    if len(rows) != 1:
        raise contract.MetadataContractError(
            f"{spec.dataset}.{name}: expected one CONTINUOUS row, found {len(rows)}"
        )
    row = rows.iloc[0]
    quantiles = np.asarray(row["VALUE_NUMERIC_ARRAY"], dtype=float)
    probabilities = np.asarray(row["WEIGHT_ARRAY"], dtype=float)
    if len(quantiles) != len(probabilities) or len(quantiles) == 0:
        raise contract.MetadataContractError(
            f"{spec.dataset}.{name}: quantile and probability arrays differ in length"
        )
    null_share = row["VALUE_NUMERIC"]
    null_share = 0.0 if null_share is None or math.isnan(null_share) else float(null_share)
    return ContinuousExpectation(quantiles, probabilities, null_share, float(row["WEIGHT"]))


def _episodes(rows: pd.DataFrame) -> tuple[FrequencyExpectation | None, int | None]:
    if rows.empty:
        return None, None
    top = rows[rows["VALUE_STRING"] == contract.TOP_CODED]
    top_from = int(top["VALUE_NUMERIC"].min()) if not top.empty else None
    keys = [episodes_key(int(k), top_from) for k in rows["VALUE_NUMERIC"].to_numpy(dtype=float)]
    weights = rows["WEIGHT"].to_numpy(dtype=float)
    return FrequencyExpectation(_shares(keys, weights), float(weights.sum())), top_from


def _episode_means(rows: pd.DataFrame) -> EpisodeMeans | None:
    """Mean episodes per patient; the top-coded pool counts as its representative count."""
    if rows.empty:
        return None
    counts = []
    for s, k, a in zip(
        rows["VALUE_STRING"], rows["VALUE_NUMERIC"], rows["VALUE_NUMERIC_ARRAY"], strict=True
    ):
        top = s == contract.TOP_CODED and a is not None and len(a) > 1
        counts.append(float(a[1]) if top else float(k))
    counts = np.asarray(counts)
    weights = rows["WEIGHT"].to_numpy(dtype=float)
    multi = counts >= 2
    if weights.sum() <= 0 or weights[multi].sum() <= 0:
        return None
    return EpisodeMeans(
        overall=float((counts * weights).sum() / weights.sum()),
        multi=float((counts[multi] * weights[multi]).sum() / weights[multi].sum()),
    )


def episodes_key(count: int, top_from: int | None) -> str:
    """Key of an episodes-per-patient count: the count, or ``"k+"`` inside the top-coded pool."""
    if top_from is not None and count >= top_from:
        return f"{top_from}+"
    return str(count)


def build_expectations(metadata: pd.DataFrame, spec: DatasetSpec) -> Expectations:
    """Group the released metadata of ``spec``'s table by field into expectations."""
    metadata = contract.normalise(metadata)
    if metadata["TABLE_NAME"].isin([spec.dataset]).any():
        metadata = metadata[metadata["TABLE_NAME"] == spec.dataset]
    by_field = {name: rows for name, rows in metadata.groupby("FIELD_NAME", sort=False)}
    rel = metadata[
        (metadata["VALUE_TYPE"] == contract.RELATIONSHIP)
        & (metadata["FIELD_NAME"] == spec.patient_key)
    ]
    means = _episode_means(rel)
    fields: dict[str, FieldExpectation] = {}
    missing = []
    for f in spec.scraped_fields:
        rows = by_field.get(f.name)
        if rows is None or rows.empty:
            missing.append(f.name)
            continue
        rows = rows[rows["VALUE_TYPE"] != contract.RELATIONSHIP]
        value_type = str(rows["VALUE_TYPE"].iloc[0])
        if value_type == contract.CATEGORICAL:
            exp = FieldExpectation(f, value_type, frequency=_frequency(rows, "VALUE_STRING"))
        elif value_type == contract.DISCRETE:
            exp = FieldExpectation(f, value_type, frequency=_frequency(rows, "VALUE_NUMERIC"))
        elif value_type == contract.DATE:
            values = rows.apply(_date_value, axis=1) if len(rows) else []
            keys = [value_key(v) for v in values]
            weights = rows["WEIGHT"].to_numpy(dtype=float)
            freq = FrequencyExpectation(_shares(keys, weights), float(weights.sum()))
            exp = FieldExpectation(f, value_type, frequency=freq)
        elif value_type == contract.CONTINUOUS:
            exp = FieldExpectation(f, value_type, continuous=_continuous(rows, spec, f.name))
        elif value_type == contract.DEMOGRAPHIC_CATEGORICAL:
            mixed = np.array([len(v) > 1 for v in rows["VALUE_STRING_ARRAY"]], dtype=bool)
            exp = FieldExpectation(
                f,
                value_type,
                frequency=_demographic_categorical(rows, means),
                patterns=len(rows),
                mixed_share=_mixed_share(rows["WEIGHT"].to_numpy(dtype=float), mixed),
            )
        elif value_type == contract.DEMOGRAPHIC_DATE:
            agreement = rows["VALUE_NUMERIC"].to_numpy(dtype=float)
            exp = FieldExpectation(
                f,
                value_type,
                frequency=_frequency(rows, "VALUE_STRING"),
                patterns=len(rows),
                # NaN agreement (not recorded) counts as full agreement
                mixed_share=_mixed_share(rows["WEIGHT"].to_numpy(dtype=float), agreement < 1),
            )
        else:
            raise contract.MetadataContractError(
                f"{spec.dataset}.{f.name}: unexpected VALUE_TYPE {value_type!r}"
            )
        fields[f.name] = exp
    episodes, top_from = _episodes(rel)
    return Expectations(fields, episodes, top_from, missing)
