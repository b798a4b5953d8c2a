"""What every asset of a code location carries, in Dagster's own vocabulary, applied in one place.

- **owners**: the team answerable for a location's assets (Dagster accepts ``team:<name>`` or an
  e-mail address), shown on every asset page and searchable in the catalog;
- **group**: the dataset, so the lineage shows one box per dataset and code location, holding
  nodes labelled by stage (``orchestration/keys.py``);
- **tags**: ``scope`` (sensitive, admin, open), the store scope the location works in;
- **code_version**: the dataset spec's version and the asset module's own version constant,
  so a changed spec or a changed step shows its partitions as out of date;
- **pool** ``spark``: every step that starts a Spark session (a JVM) in any backend, so the
  instance's pool limit (``deploy/dagster.yaml``) bounds how many run at once;
- ``dagster/column_schema`` and ``dagster/row_count`` for the raw and artificial tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dagster import AssetSpec, MetadataValue, TableColumn, TableSchema, map_asset_specs

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.stores import GENERATOR, REVIEW, SCRAPER

#: The team that owns each location's assets (DESIGN §2: one scope per location).
OWNERS: dict[str, tuple[str, ...]] = {
    SCRAPER: ("team:hes-data-access",),
    REVIEW: ("team:disclosure-review",),
    GENERATOR: ("team:artificial-data",),
}
SCOPES: dict[str, str] = {SCRAPER: "sensitive", REVIEW: "admin", GENERATOR: "open"}
#: The concurrency pool of every step that starts Spark; its limit is the instance's.
SPARK_POOL = "spark"
#: Dagster's own metadata keys, rendered natively by the UI.
COLUMN_SCHEMA = "dagster/column_schema"
ROW_COUNT = "dagster/row_count"


def code_version(spec: DatasetSpec, module_version: int) -> str:
    """``spec<N>.code<M>``: bump the module's constant when its step's output changes."""
    return f"spec{spec.spec_version}.code{module_version}"


def with_location_policy(location: str, assets: Iterable[Any]) -> list[Any]:
    """``assets`` (AssetsDefinitions or AssetSpecs) with the location's owners, scope tag and
    the dataset (the key's first part) as group."""

    def apply(spec: AssetSpec) -> AssetSpec:
        return spec.replace_attributes(
            owners=list(OWNERS[location]),
            group_name=spec.key.path[0],
            tags={**spec.tags, "scope": SCOPES[location]},
        )

    return list(map_asset_specs(apply, list(assets)))


def table_schema(spec: DatasetSpec) -> TableSchema:
    """The HES table of ``spec`` as Dagster's column schema (name, Spark type, role)."""
    return TableSchema(
        columns=[
            TableColumn(name=f.name, type=f.spark_type, description=f"{f.role} field")
            for f in spec.fields
        ]
    )


def table_metadata(spec: DatasetSpec, rows: int | None = None) -> dict[str, Any]:
    """``dagster/column_schema`` (and ``dagster/row_count`` when known) of a HES table."""
    metadata: dict[str, Any] = {COLUMN_SCHEMA: MetadataValue.table_schema(table_schema(spec))}
    if rows is not None:
        metadata[ROW_COUNT] = rows
    return metadata
