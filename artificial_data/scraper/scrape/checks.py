"""Fail-closed checks on a raw source before anything is aggregated (DESIGN §6).

The scraper refuses, with an error naming the dataset, year and column, rather than guessing:
a forbidden identifier column (always, even when listed as excluded), a column the spec does not
know (schema drift: a new column could hold anything, so it needs a spec change or an explicit
exclusion), a spec field missing from the source, a source type that cannot be cast to the
declared role, and an empty partition (which would publish an empty, misleading summary).
"""

from __future__ import annotations

from pyspark.sql import DataFrame

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.scraper.scrape.casts import plan_casts
from artificial_data.scraper.scrape.errors import ScrapeInputError, where


def check_columns(spec: DatasetSpec, columns: list[str], financial_year: str) -> None:
    """Schema-level checks that need no data: forbidden, unknown and missing columns."""
    place = where(spec, financial_year)
    upper = [c.upper() for c in columns]
    forbidden = sorted(set(upper) & set(spec.forbidden_identifiers))
    if forbidden:
        raise ScrapeInputError(
            f"{place}: source holds forbidden identifier column(s) {forbidden}; "
            "they are refused even when excluded"
        )
    duplicates = sorted({c for c in upper if upper.count(c) > 1})
    if duplicates:
        raise ScrapeInputError(f"{place}: source has duplicate column(s) {duplicates}")
    known = set(spec.field_names)
    drift = [c for c in upper if c not in known and c not in spec.excluded_source_columns]
    if drift:
        raise ScrapeInputError(
            f"{place}: schema drift, source column(s) {drift} are not in the spec; add them "
            "to the spec or to excluded_source_columns"
        )
    missing = [n for n in spec.field_names if n not in set(upper)]
    if missing:
        raise ScrapeInputError(f"{place}: spec field(s) {missing} missing from the source")


def check_schema(df: DataFrame, spec: DatasetSpec, financial_year: str) -> None:
    """The checks that read no data: columns and source types."""
    check_columns(spec, list(df.columns), financial_year)
    plan_casts(spec, df.schema, financial_year)  # raises on a type no cast can bridge


def check_source(df: DataFrame, spec: DatasetSpec, financial_year: str) -> None:
    """Refuse a source that cannot be scraped safely; raise :class:`ScrapeInputError`.

    Value-level failures (e.g. ``12:3x`` in a time-of-day field, or text that is not UTF-8) are
    found while scraping, in the same pass as the aggregations, and raised by :func:`scrape`
    (which also finds an empty partition from its own row count instead of running a separate
    job).
    """
    check_schema(df, spec, financial_year)
    if df.isEmpty():
        raise ScrapeInputError(f"{where(spec, financial_year)}: the source partition is empty")
