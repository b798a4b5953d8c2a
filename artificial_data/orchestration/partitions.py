"""Financial-year partitions, coded as in HES (``2122`` = April 2021 to March 2022)."""

from __future__ import annotations

from functools import cache

from dagster import StaticPartitionsDefinition

from artificial_data.common.dataset_spec import DatasetSpec


@cache
def _financial_years(years: tuple[str, ...]) -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition(list(years))


def financial_year_partitions(spec: DatasetSpec) -> StaticPartitionsDefinition:
    """The partitions of every asset of ``spec``'s dataset (shared between equal year lists)."""
    return _financial_years(tuple(spec.financial_years))
