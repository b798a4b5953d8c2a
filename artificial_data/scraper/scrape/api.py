"""The scraper's public entry points: read a raw partition, scrape it into suppressed metadata.

``scrape`` runs three aggregations over the source, each reading only the columns it needs:
frequencies of all categorical/discrete/date fields (one ``mapInArrow`` + one ``groupBy``),
percentiles of all continuous fields (one ``agg``), patient-level patterns (one
``groupBy`` on the patient key) and, for identifier fields other than the record and patient
keys (linked keys such as AE's EPIKEY), how many records hold one (one small ``agg``: counts,
never a value). The passes read disjoint columns, so on a columnar source
(Parquet, Delta) they do not re-read each other's data and the source is not cached. Only
aggregate counts reach the driver, where the disclosure policy is applied and the result is
validated against the metadata contract before it is returned.

Every error names the dataset, financial year and field and never a raw value (``errors``);
a session whose JVM has died is reported as such (``common.spark.explain_dead_spark``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.spark import explain_dead_spark
from artificial_data.scraper.scrape.casts import FieldCast, plan_casts
from artificial_data.scraper.scrape.checks import check_schema
from artificial_data.scraper.scrape.continuous import (
    FINEST,
    choose_grid,
    choose_tails,
    coarsen,
    summarise_continuous,
    with_tails,
)
from artificial_data.scraper.scrape.errors import ScrapeInputError, where
from artificial_data.scraper.scrape.frequencies import (
    count_values,
    decode_values,
    raise_for_bad_values,
)
from artificial_data.scraper.scrape.patients import count_patient_patterns
from artificial_data.scraper.scrape.suppression import rounded_count, suppress, top_code_episodes

_FREQUENCY_TYPES = (mc.CATEGORICAL, mc.DISCRETE, mc.DATE)
_PATIENT_TYPES = (mc.DEMOGRAPHIC_CATEGORICAL, mc.DEMOGRAPHIC_DATE)


@dataclass(frozen=True)
class ScrapeResult:
    """Suppressed metadata of one dataset-year, ready for the sensitive metadata store."""

    rows: pd.DataFrame  # validated by common.metadata_contract.validate
    header: mc.MetadataHeader
    content_hash: str  # common.metadata_contract.content_hash(rows, header)
    report: dict  # per-field values kept/dropped, source rows rounded, policy, grids chosen


def read_source(
    spark: SparkSession, spec: DatasetSpec, financial_year: str, raw_path: str | None
) -> DataFrame:
    """The raw partition: a Parquet folder of the raw store (local/demo) or, in production,
    the HES table named by the spec for ``financial_year``."""
    with explain_dead_spark(spec.dataset, financial_year):
        if raw_path is not None:
            return spark.read.parquet(raw_path)
        return spark.table(spec.source_table_for(financial_year))


def _frame(spec: DatasetSpec, field: str, value_type: str, **columns: Any) -> dict[str, list]:
    """Contract columns (as lists) for ``field``; columns not given are all null."""
    n = len(columns["WEIGHT"])
    data = {c: list(columns.get(c, [None] * n)) for c in mc.COLUMNS[3:]}
    return {
        "TABLE_NAME": [spec.dataset] * n,
        "FIELD_NAME": [field] * n,
        "VALUE_TYPE": [value_type] * n,
        **data,
    }


def _combine(frames: list[dict[str, list]]) -> pd.DataFrame:
    combined: dict[str, list] = {c: [] for c in mc.COLUMNS}
    for frame in frames:
        for c in mc.COLUMNS:
            combined[c].extend(frame[c])
    return pd.DataFrame(combined, columns=mc.COLUMNS)


def _frequency_rows(
    spec: DatasetSpec, casts: list[FieldCast], counts: pd.DataFrame, report: dict
) -> list[dict[str, list]]:
    frames = []
    by_field = dict(tuple(counts.groupby("FIELD_NAME", sort=False)))
    for cast in casts:
        raw = by_field.get(cast.field.name, counts.iloc[0:0])
        decoded = decode_values(cast, raw["KEY"]).assign(COUNT=raw["COUNT"].to_numpy())
        kept, dropped = suppress(decoded, spec.disclosure)
        report[cast.field.name] = {
            "value_type": cast.value_type,
            "values_kept": len(kept),
            "values_dropped": dropped,
        }
        frames.append(
            _frame(
                spec,
                cast.field.name,
                cast.value_type,
                VALUE_STRING=kept["VALUE_STRING"].tolist(),
                VALUE_NUMERIC=kept["VALUE_NUMERIC"].tolist(),
                VALUE_DATE=kept["VALUE_DATE"].tolist(),
                WEIGHT=kept["WEIGHT"].tolist(),
            )
        )
    return frames


def _continuous_rows(spec: DatasetSpec, summaries: list, report: dict) -> list[dict[str, list]]:
    frames = []
    policy = spec.disclosure
    for s in summaries:
        grid = choose_grid(s.non_null, policy) if s.percentiles else None
        entry = {"value_type": mc.CONTINUOUS, "quantiles": grid or 0, "omitted": grid is None}
        report[s.field] = entry
        if grid is None:
            continue
        values, probs = coarsen(s.percentiles, grid)
        if grid == len(FINEST) and s.tails:
            keep = choose_tails(s.non_null, policy)
            values, probs = with_tails(values, probs, s.tails, keep)
            entry["tail_points"] = len(keep)
        weight = rounded_count(s.non_null, policy)
        nulls = rounded_count(s.nulls, policy)
        null_share = nulls / (nulls + weight)
        entry["null_rate"] = null_share
        frames.append(
            _frame(
                spec,
                s.field,
                mc.CONTINUOUS,
                VALUE_NUMERIC=[null_share],
                VALUE_NUMERIC_ARRAY=[values],
                WEIGHT=[float(weight)],
                WEIGHT_ARRAY=[probs],
            )
        )
    return frames


def _patient_rows(
    spec: DatasetSpec, casts: list[FieldCast], patterns: pd.DataFrame, report: dict
) -> list[dict[str, list]]:
    frames = []
    policy = spec.disclosure
    episodes = patterns[patterns["VALUE_TYPE"] == mc.RELATIONSHIP]
    kept, stats = top_code_episodes(episodes[["NUMBER", "COUNT"]], policy)
    report[spec.patient_key] = {"value_type": mc.RELATIONSHIP, **stats}
    frames.append(
        _frame(
            spec,
            spec.patient_key,
            mc.RELATIONSHIP,
            VALUE_STRING=kept["VALUE_STRING"].tolist(),
            VALUE_NUMERIC=kept["VALUE_NUMERIC"].tolist(),
            VALUE_NUMERIC_ARRAY=kept["VALUE_NUMERIC_ARRAY"].tolist(),
            WEIGHT=kept["WEIGHT"].tolist(),
        )
    )
    for cast in casts:
        raw = patterns[patterns["FIELD_NAME"] == cast.field.name]
        kept, dropped = suppress(raw, policy)
        report[cast.field.name] = {
            "value_type": cast.value_type,
            "values_kept": len(kept),
            "values_dropped": dropped,
        }
        if cast.value_type == mc.DEMOGRAPHIC_CATEGORICAL:
            columns = {
                "VALUE_STRING_ARRAY": kept["VALUES"].tolist(),
                "WEIGHT_ARRAY": kept["SHARES"].tolist(),
            }
        else:
            columns = {
                "VALUE_STRING": kept["VALUE"].tolist(),
                "VALUE_NUMERIC": kept["NUMBER"].tolist(),
            }
        frames.append(
            _frame(
                spec, cast.field.name, cast.value_type, WEIGHT=kept["WEIGHT"].tolist(), **columns
            )
        )
    return frames


def _linked_identifiers(spec: DatasetSpec) -> list[str]:
    """Identifier fields whose null share is released: all but the record and patient keys."""
    keys = (spec.primary_key, spec.patient_key)
    return [f.name for f in spec.fields_with_role("identifier") if f.name not in keys]


def _identifier_null_rows(
    spec: DatasetSpec, df: DataFrame, total: int, report: dict
) -> list[dict[str, list]]:
    """One IDENTIFIER_NULLS row per linked identifier: rounded null and filled counts."""
    names = _linked_identifiers(spec)
    if not names:
        return []
    counts = df.agg(*[F.count(F.col(n)).alias(f"i{k}") for k, n in enumerate(names)]).collect()[0]
    frames = []
    policy = spec.disclosure
    for k, name in enumerate(names):
        filled = int(counts[f"i{k}"])
        nulls, weight = rounded_count(total - filled, policy), rounded_count(filled, policy)
        report[name] = {"value_type": mc.IDENTIFIER_NULLS, "null_records": nulls}
        if nulls + weight == 0:
            continue
        frames.append(
            _frame(
                spec,
                name,
                mc.IDENTIFIER_NULLS,
                VALUE_NUMERIC=[float(nulls)],
                WEIGHT=[float(weight)],
            )
        )
    return frames


def _sort_key(value: Any) -> tuple:
    """Nulls first, then by value; lists compare element-wise as text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (0, "")
    if isinstance(value, list):
        return (1, repr([str(v) for v in value]))
    return (1, value)


def _canonical_order(spec: DatasetSpec, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows in schema order of the fields, then by value, so that output is reproducible."""
    position = {f.name: f.position for f in spec.fields}
    keys = [
        (
            position[r.FIELD_NAME],
            _sort_key(r.VALUE_STRING),
            _sort_key(r.VALUE_NUMERIC),
            _sort_key(r.VALUE_DATE),
            _sort_key(r.VALUE_STRING_ARRAY),
            _sort_key(r.WEIGHT_ARRAY),
        )
        for r in rows.itertuples(index=False)
    ]
    order = sorted(range(len(rows)), key=lambda i: keys[i])
    return rows.iloc[order].reset_index(drop=True)


def scrape(
    df: DataFrame, spec: DatasetSpec, financial_year: str, simulated_source: bool = False
) -> ScrapeResult:
    """Summarise one raw partition into suppressed, contract-valid metadata.

    Fails closed with :class:`ScrapeInputError` (see ``checks``) before producing anything:
    the schema checks run first; an empty partition, uncastable values and text that is not
    UTF-8 are found in the aggregation passes themselves. A dead Spark session raises
    :class:`~artificial_data.common.spark.SparkSessionStopped`.
    """
    with explain_dead_spark(spec.dataset, financial_year):
        return _scrape(df, spec, financial_year, simulated_source)


def _scrape(
    df: DataFrame, spec: DatasetSpec, financial_year: str, simulated_source: bool
) -> ScrapeResult:
    if financial_year not in spec.financial_years:
        raise ScrapeInputError(
            f"{spec.dataset}: financial year {financial_year!r} is not one of the spec's "
            f"{list(spec.financial_years)}"
        )
    check_schema(df, spec, financial_year)
    casts = plan_casts(spec, df.schema, financial_year)
    frequency = [c for c in casts if c.value_type in _FREQUENCY_TYPES]
    continuous = [c for c in casts if c.value_type == mc.CONTINUOUS]
    patient = [c for c in casts if c.value_type in _PATIENT_TYPES]

    total, summaries = summarise_continuous(df, continuous)
    if total == 0:
        raise ScrapeInputError(f"{where(spec, financial_year)}: the source partition is empty")
    counts = count_values(df, frequency)
    raise_for_bad_values(counts, frequency)
    patterns = count_patient_patterns(spec, df, patient)

    fields_report: dict[str, dict[str, Any]] = {}
    frames = (
        _frequency_rows(spec, frequency, counts, fields_report)
        + _continuous_rows(spec, summaries, fields_report)
        + _patient_rows(spec, patient, patterns, fields_report)
        + _identifier_null_rows(spec, df, total, fields_report)
    )
    rows = mc.validate(_canonical_order(spec, mc.normalise(_combine(frames))), spec.dataset)

    header = mc.MetadataHeader(
        dataset=spec.dataset,
        table_name=spec.dataset,
        financial_year=financial_year,
        spec_version=spec.spec_version,
        policy=spec.disclosure.as_dict(),
        source_rows_rounded=rounded_count(total, spec.disclosure),
        simulated_source=simulated_source,
        suppressed_fields=_fully_suppressed(spec, rows),
    )
    report = {
        "dataset": spec.dataset,
        "financial_year": financial_year,
        "policy": spec.disclosure.as_dict(),
        "source_rows_rounded": header.source_rows_rounded,
        "simulated_source": simulated_source,
        "metadata_rows": len(rows),
        "fully_suppressed": list(header.suppressed_fields),
        "fields": {name: fields_report[name] for name in _report_order(spec, fields_report)},
        "not_scraped": {
            "identifier": [
                f.name
                for f in spec.fields_with_role("identifier")
                if f.name not in _linked_identifiers(spec)
            ],
            "derived": [f.name for f in spec.fields_with_role("derived")],
        },
    }
    return ScrapeResult(
        rows=rows, header=header, content_hash=mc.content_hash(rows, header), report=report
    )


def _fully_suppressed(spec: DatasetSpec, rows: pd.DataFrame) -> tuple[str, ...]:
    """Scraped fields (and the patient key) of which suppression left no row, schema order."""
    present = set(rows["FIELD_NAME"])
    names = [f.name for f in spec.scraped_fields]
    if spec.patient_key not in names:
        names.append(spec.patient_key)
    position = {f.name: f.position for f in spec.fields}
    return tuple(sorted((n for n in names if n not in present), key=lambda n: position[n]))


def _report_order(spec: DatasetSpec, fields_report: dict) -> list[str]:
    position = {f.name: f.position for f in spec.fields}
    return sorted(fields_report, key=lambda n: position[n])
