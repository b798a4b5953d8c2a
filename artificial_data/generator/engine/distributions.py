"""Turn released metadata rows (DESIGN §5, encoding in ``common/metadata_contract.py``) into
samplers, checking every row against the dataset spec on the way.

Why check here and not only with the pandera contract: the contract knows the columns, not
the spec. Only the generator knows that ``ADMIDATE`` must be a date or that ``PARTYEAR``
must be an integer, and a value that does not fit must stop the run with the dataset, field
and value named, before any Spark task starts. Fields without any metadata row (fully
suppressed) are legitimate and come out null.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec
from artificial_data.common.schema import arrow_type
from artificial_data.generator.engine.chains import ChainPlan, plan_chains
from artificial_data.generator.engine.errors import GenerationError
from artificial_data.generator.engine.patients import (
    EpisodesPerPatient,
    ModalValueSampler,
    PatternSampler,
)
from artificial_data.generator.engine.sampling import (
    CategoricalSampler,
    ContinuousSampler,
    cumulative,
)

RowSampler = CategoricalSampler | ContinuousSampler
PatientSampler = PatternSampler | ModalValueSampler

_INT_RANGES = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


@dataclass(frozen=True)
class GenerationPlan:
    """Everything a chunk needs, parsed once per table-year and shipped to the executors."""

    spec: DatasetSpec
    financial_year: str
    episodes: EpisodesPerPatient
    row_samplers: dict[str, RowSampler] = field(default_factory=dict)
    patient_samplers: dict[str, PatientSampler] = field(default_factory=dict)
    chains: tuple[ChainPlan, ...] = ()
    #: Released null share of linked identifier fields (IDENTIFIER_NULLS), e.g. AE EPIKEY.
    identifier_nulls: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Casting single values to a field's type
# --------------------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def cast_value(spec: DatasetSpec, f: FieldSpec, value: Any) -> Any:
    """``value`` as a Python value of ``f``'s type (None for null); GenerationError if not."""
    if _is_missing(value):
        return None

    def bad(why: str) -> GenerationError:
        return GenerationError(
            spec.dataset, f.name, value, f"cannot be cast to {f.spark_type}: {why}"
        )

    t = f.spark_type
    if t == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            raise bad("a boolean for a text field")
        if isinstance(value, int | float | np.integer | np.floating):
            number = float(value)
            return str(int(number)) if number.is_integer() else repr(number)
        if isinstance(value, date):
            return value.isoformat()
        raise bad(f"unexpected {type(value).__name__}")
    if t in _INT_RANGES:
        number = _as_number(value, bad)
        if not number.is_integer():
            raise bad("not a whole number")
        low, high = _INT_RANGES[t]
        if not low <= number <= high:
            raise bad("out of range")
        return int(number)
    if t == "double":
        return _as_number(value, bad)
    if t.startswith("decimal"):
        target = arrow_type(t)
        try:
            dec = Decimal(value) if isinstance(value, str) else Decimal(repr(float(value)))
            dec = dec.quantize(Decimal(1).scaleb(-target.scale))
        except (InvalidOperation, ValueError, TypeError) as exc:
            raise bad("not a number") from exc
        if len(dec.as_tuple().digits) > target.precision:
            raise bad(f"more than {target.precision} digits")
        return dec
    if t == "date":
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError as exc:
                raise bad("not an ISO date") from exc
        raise bad(f"unexpected {type(value).__name__}")
    if t == "boolean":
        text = str(value).strip().lower()
        if text in ("true", "1", "1.0", "y"):
            return True
        if text in ("false", "0", "0.0", "n"):
            return False
        raise bad("not a boolean")
    raise bad("unsupported type")


def _as_number(value: Any, bad) -> float:
    if isinstance(value, bool):
        raise bad("a boolean, not a number")
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise bad("not a number") from exc
    if not math.isfinite(number):
        raise bad("not a finite number")
    return number


def typed_array(spec: DatasetSpec, f: FieldSpec, values: list[Any]) -> pa.Array:
    """An Arrow array of ``f``'s type from raw metadata values (checked one by one)."""
    return pa.array([cast_value(spec, f, v) for v in values], type=arrow_type(f.spark_type))


# --------------------------------------------------------------------------------------------
# One parser per VALUE_TYPE
# --------------------------------------------------------------------------------------------


def _weights(spec: DatasetSpec, f: FieldSpec, rows: pd.DataFrame) -> np.ndarray | None:
    """Row weights (None when every weight is zero: as good as fully suppressed)."""
    weights = rows["WEIGHT"].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        raise GenerationError(spec.dataset, f.name, float(weights[bad][0]), "weight must be >= 0")
    return weights if weights.sum() > 0 else None


def _frequency_sampler(spec: DatasetSpec, f: FieldSpec, rows: pd.DataFrame) -> RowSampler | None:
    value_type = rows["VALUE_TYPE"].iloc[0]
    if value_type == mc.CATEGORICAL:
        raw = rows["VALUE_STRING"].tolist()
    elif value_type == mc.DISCRETE:
        raw = rows["VALUE_NUMERIC"].tolist()
    elif f.spark_type == "date":  # DATE of a date-typed field (ISO text tolerated)
        raw = [
            d if not _is_missing(d) else s
            for d, s in zip(rows["VALUE_DATE"], rows["VALUE_STRING"], strict=True)
        ]
    else:  # DATE of a text-typed field: the text
        raw = rows["VALUE_STRING"].tolist()
    weights = _weights(spec, f, rows)
    if weights is None:
        return None
    return CategoricalSampler(values=typed_array(spec, f, raw), cum=cumulative(weights))


def _array(value: Any) -> list | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return list(value)


def _continuous_sampler(spec: DatasetSpec, f: FieldSpec, rows: pd.DataFrame) -> ContinuousSampler:
    if len(rows) != 1:
        raise GenerationError(spec.dataset, f.name, len(rows), "CONTINUOUS needs exactly one row")
    row = rows.iloc[0]
    quantiles = _array(row["VALUE_NUMERIC_ARRAY"])
    probs = _array(row["WEIGHT_ARRAY"])
    if not quantiles or probs is None or len(quantiles) != len(probs):
        raise GenerationError(
            spec.dataset,
            f.name,
            quantiles,
            "CONTINUOUS needs quantiles and cumulative probabilities of the same length",
        )
    try:
        q = np.asarray(quantiles, dtype=np.float64)
        p = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise GenerationError(spec.dataset, f.name, quantiles, "quantiles must be numbers") from exc
    if not (np.isfinite(q).all() and np.isfinite(p).all()):
        raise GenerationError(spec.dataset, f.name, quantiles, "quantiles must be finite")
    if (np.diff(q) < 0).any():
        raise GenerationError(spec.dataset, f.name, quantiles, "quantiles must be ascending")
    if (np.diff(p) <= 0).any() or p[0] < 0 or p[-1] > 1:
        raise GenerationError(
            spec.dataset, f.name, probs, "probabilities must be strictly ascending within [0, 1]"
        )
    null_share = row["VALUE_NUMERIC"]
    null_share = 0.0 if _is_missing(null_share) else float(null_share)
    if not 0.0 <= null_share <= 1.0:
        raise GenerationError(spec.dataset, f.name, null_share, "null share must be within 0..1")
    target = arrow_type(f.spark_type)
    if not (f.is_numeric or f.time_of_day or f.spark_type == "string"):
        raise GenerationError(
            spec.dataset, f.name, f.spark_type, "CONTINUOUS metadata for a non-numeric field"
        )
    lower, upper = _declared_range(f)
    return ContinuousSampler(
        quantiles=q,
        probs=p,
        null_share=null_share,
        arrow_type=target,
        integer=pa.types.is_integer(target),
        time_of_day=f.time_of_day,
        lower=lower,
        upper=upper,
    )


def _declared_range(f: FieldSpec) -> tuple[float | None, float | None]:
    """The field's declared numeric range (the spec's domain), which the tails respect."""
    domain = f.domain
    if domain is None or domain.kind != "range":
        return None, None
    return domain.minimum, domain.maximum


def _pattern_sampler(spec: DatasetSpec, f: FieldSpec, rows: pd.DataFrame) -> PatternSampler | None:
    weights = _weights(spec, f, rows)
    if weights is None:
        return None
    domain: list[Any] = []
    index: dict[Any, int] = {}
    patterns: list[tuple[list[int], np.ndarray]] = []
    for values, shares in zip(rows["VALUE_STRING_ARRAY"], rows["WEIGHT_ARRAY"], strict=True):
        values, shares = _array(values), _array(shares)
        if not values or shares is None or len(values) != len(shares):
            raise GenerationError(
                spec.dataset, f.name, values, "a pattern needs values and shares of equal length"
            )
        s = np.asarray(shares, dtype=np.float64)
        if not np.isfinite(s).all() or (s < 0).any() or s.sum() <= 0:
            raise GenerationError(spec.dataset, f.name, shares, "pattern shares must be >= 0")
        idx = []
        for v in values:
            typed = cast_value(spec, f, v)
            if typed not in index:
                index[typed] = len(domain)
                domain.append(typed)
            idx.append(index[typed])
        patterns.append((idx, s))
    width = max(len(idx) for idx, _ in patterns)
    pattern_values = np.zeros((len(patterns), width), dtype=np.int64)
    pattern_cum = np.full((len(patterns), width), 2.0)
    for p, (idx, s) in enumerate(patterns):
        pattern_values[p, : len(idx)] = idx
        pattern_values[p, len(idx) :] = idx[-1]
        pattern_cum[p, : len(idx)] = cumulative(s)
    return PatternSampler(
        domain=pa.array(domain, type=arrow_type(f.spark_type)),
        pattern_values=pattern_values,
        pattern_cum=pattern_cum,
        cum=cumulative(weights),
    )


def _modal_sampler(spec: DatasetSpec, f: FieldSpec, rows: pd.DataFrame) -> ModalValueSampler | None:
    weights = _weights(spec, f, rows)
    if weights is None:
        return None
    raw = [
        s if not _is_missing(s) else d
        for s, d in zip(rows["VALUE_STRING"], rows["VALUE_DATE"], strict=True)
    ]
    domain: list[Any] = []
    index: dict[Any, int] = {}
    modal = []
    for v in raw:
        typed = cast_value(spec, f, v)
        if typed not in index:
            index[typed] = len(domain)
            domain.append(typed)
        modal.append(index[typed])
    agreement = rows["VALUE_NUMERIC"].to_numpy(dtype=np.float64)
    agreement = np.where(np.isnan(agreement), 1.0, agreement)
    bad = (agreement < 0) | (agreement > 1)
    if bad.any():
        raise GenerationError(
            spec.dataset, f.name, float(agreement[bad][0]), "agreement share must be within 0..1"
        )
    modal_np = np.asarray(modal, dtype=np.int64)
    value_weights = np.bincount(modal_np, weights=weights, minlength=len(domain))
    return ModalValueSampler(
        domain=pa.array(domain, type=arrow_type(f.spark_type)),
        modal=modal_np,
        agreement=agreement,
        cum=cumulative(weights),
        value_cum=cumulative(value_weights),
    )


def _episodes(spec: DatasetSpec, rows: pd.DataFrame) -> EpisodesPerPatient:
    key = spec.patient_key
    weights = _weights(spec, spec.field(key), rows)
    if weights is None:
        return EpisodesPerPatient.one_each()
    counts = []
    for _, row in rows.iterrows():
        value = row["VALUE_NUMERIC"]
        if row["VALUE_STRING"] == mc.TOP_CODED:
            pool = _array(row["VALUE_NUMERIC_ARRAY"])
            if not pool or len(pool) < 2:
                raise GenerationError(
                    spec.dataset, key, pool, "the top-coded bucket needs [smallest, representative]"
                )
            value = pool[1]
        elif not _is_missing(row["VALUE_STRING"]):
            raise GenerationError(
                spec.dataset, key, row["VALUE_STRING"], "unknown RELATIONSHIP marker"
            )
        if _is_missing(value) or float(value) < 1 or not float(value).is_integer():
            raise GenerationError(
                spec.dataset, key, value, "episodes per patient must be a whole number >= 1"
            )
        counts.append(int(value))
    return EpisodesPerPatient(counts=np.asarray(counts, dtype=np.int64), cum=cumulative(weights))


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------


def build_plan(metadata: pd.DataFrame, spec: DatasetSpec, financial_year: str) -> GenerationPlan:
    """Check ``metadata`` against ``spec`` and parse it into samplers."""
    missing = [c for c in mc.COLUMNS if c not in metadata.columns]
    if missing:
        raise GenerationError(spec.dataset, None, missing, "metadata lacks contract columns")
    names = set(spec.field_names)
    episodes = EpisodesPerPatient.one_each()
    row_samplers: dict[str, RowSampler] = {}
    patient_samplers: dict[str, PatientSampler] = {}
    identifier_nulls: dict[str, float] = {}
    for name, rows in metadata.groupby("FIELD_NAME", sort=True):
        if name not in names:
            raise GenerationError(
                spec.dataset,
                str(name),
                rows["VALUE_TYPE"].iloc[0],
                f"metadata row for a field not in the {spec.dataset} spec ({financial_year})",
            )
        f = spec.field(name)
        types = sorted({str(t) for t in rows["VALUE_TYPE"]})
        if f.role in ("identifier", "derived"):
            if name == spec.patient_key and types == [mc.RELATIONSHIP]:
                episodes = _episodes(spec, rows)
                continue
            keys = (spec.primary_key, spec.patient_key)
            if f.role == "identifier" and name not in keys and types == [mc.IDENTIFIER_NULLS]:
                identifier_nulls[name] = _null_share(spec, f, rows)
                continue
            raise GenerationError(
                spec.dataset,
                name,
                types,
                f"{f.role} fields are never sampled: only RELATIONSHIP rows of the patient key "
                f"and {mc.IDENTIFIER_NULLS} rows of other identifiers",
            )
        expected = mc.value_type_of(f)
        if types != [expected]:
            raise GenerationError(
                spec.dataset, name, types, f"expected VALUE_TYPE {expected} for role {f.role}"
            )
        if expected == mc.CONTINUOUS:
            row_samplers[name] = _continuous_sampler(spec, f, rows)
        elif expected == mc.DEMOGRAPHIC_CATEGORICAL:
            sampler = _pattern_sampler(spec, f, rows)
            if sampler is not None:
                patient_samplers[name] = sampler
        elif expected == mc.DEMOGRAPHIC_DATE:
            sampler = _modal_sampler(spec, f, rows)
            if sampler is not None:
                patient_samplers[name] = sampler
        else:
            sampler = _frequency_sampler(spec, f, rows)
            if sampler is not None:
                row_samplers[name] = sampler
    return GenerationPlan(
        spec=spec,
        financial_year=financial_year,
        episodes=episodes,
        row_samplers=row_samplers,
        patient_samplers=patient_samplers,
        chains=plan_chains(spec, row_samplers, financial_year),
        identifier_nulls=identifier_nulls,
    )


def _null_share(spec: DatasetSpec, f: FieldSpec, rows: pd.DataFrame) -> float:
    """The null share of an IDENTIFIER_NULLS row: null / (null + filled) records."""
    if len(rows) != 1:
        raise GenerationError(spec.dataset, f.name, len(rows), "expected one null-count row")
    nulls, filled = float(rows["VALUE_NUMERIC"].iloc[0]), float(rows["WEIGHT"].iloc[0])
    if not (math.isfinite(nulls) and nulls >= 0 and math.isfinite(filled) and filled >= 0):
        raise GenerationError(spec.dataset, f.name, nulls, "null counts must be >= 0")
    return nulls / (nulls + filled) if nulls + filled > 0 else 0.0
