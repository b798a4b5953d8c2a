"""Scraper assets: ``<dataset>/raw`` and ``<dataset>/suppressed_metadata`` per dataset spec.

Raw HES is an external table in production (shown in the lineage, never materialised here);
only in a simulated environment (local, demo, test) is it the simulator's stand-in data.
"""

from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.metadata_store import write_metadata
from artificial_data.common.settings import load_settings
from artificial_data.common.spark import explain_dead_spark
from artificial_data.common.stores import METADATA_SENSITIVE, RAW, ScopedStores
from artificial_data.orchestration.compute import SCRAPE, SparkEngine
from artificial_data.orchestration.keys import raw_key, suppressed_key
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.policy import SPARK_POOL, code_version, table_metadata
from artificial_data.orchestration.resources import ScraperStores
from artificial_data.scraper.scrape import read_source, scrape
from artificial_data.simulator import write_raw_partition

#: Version of this module's steps (with the spec version: each asset's ``code_version``).
CODE_VERSION = 1


class SimulateConfig(Config):
    """How much stand-in raw data to simulate for one dataset-year."""

    rows: int = Field(default=20_000, ge=1, le=50_000_000, description="Episodes to simulate.")
    seed: int = Field(default=20260401, description="Seed; the same seed gives the same data.")


def build_raw_asset(spec: DatasetSpec, simulated: bool) -> AssetsDefinition | AssetSpec:
    """The raw extract: simulated where allowed, otherwise an external table."""
    description = (
        f"Raw {spec.title} ({spec.dataset}): the record-level extract, one partition per "
        "financial year. Sensitive: only the scraper reads it."
    )
    if not simulated:
        return AssetSpec(
            raw_key(spec.dataset),
            description=description + f" External table `{spec.source_table}`, never written here.",
            partitions_def=financial_year_partitions(spec),
            metadata={
                "source_table": spec.source_table,
                "scope": "sensitive",
                **table_metadata(spec),
            },
            kinds={"spark", "table"},
        )

    @asset(
        key=raw_key(spec.dataset),
        description=description + " Here SIMULATED stand-in data (never real patients).",
        partitions_def=financial_year_partitions(spec),
        metadata={"simulated": True, "scope": "sensitive", **table_metadata(spec)},
        kinds={"python", "parquet"},
        code_version=code_version(spec, CODE_VERSION),
    )
    def _raw(
        context: AssetExecutionContext, config: SimulateConfig, stores: ScraperStores
    ) -> MaterializeResult:
        info = write_raw_partition(
            stores.stores(), spec, context.partition_key, rows=config.rows, seed=config.seed
        )
        return MaterializeResult(
            metadata={
                **table_metadata(spec, info.rows),
                "simulated": True,
                "rows": info.rows,
                "patients": info.patients,
                "seed": info.seed,
                "path": MetadataValue.path(str(info.path)),
            }
        )

    return _raw


def scrape_partition(
    spec: DatasetSpec, year: str, scoped: ScopedStores, spark: Any
) -> MaterializeResult:
    """Scrape one partition into suppressed metadata: the step of ``<ds>/suppressed_metadata``,
    run by the asset here or by a Databricks task (``compute/pipes_task.py``). ``spark`` is
    anything with a ``spark_session``."""
    simulated = load_settings().uses_simulated_raw
    with explain_dead_spark(spec.dataset, year):  # the session itself may be the dead part
        session = spark.spark_session
        if simulated:  # the raw store's table, in this process's store backend
            source = scoped.tables.read(RAW, spec.dataset, year).spark(session)
        else:
            source = read_source(session, spec, year, None)
        result = scrape(source, spec, year, simulated_source=simulated)
    # ``scrape`` validated and hashed its rows: written as they are, checked by every reader.
    stored = write_metadata(
        scoped,
        METADATA_SENSITIVE,
        spec.dataset,
        year,
        result.rows,
        result.header,
        validated_hash=result.content_hash,
    )
    kept = result.report.get("fields", {})
    return MaterializeResult(
        metadata={
            "content_hash": stored.content_hash,
            "source_rows_rounded": result.header.source_rows_rounded,
            "metadata_rows": len(result.rows),
            "policy": MetadataValue.json(result.header.policy),
            "simulated_source": simulated,
            "values_kept_and_dropped": MetadataValue.json(kept),
        }
    )


def build_suppressed_asset(spec: DatasetSpec) -> AssetsDefinition:
    """Field-by-field aggregate metadata with small-number suppression applied."""

    @asset(
        key=suppressed_key(spec.dataset),
        deps=[raw_key(spec.dataset)],
        description=(
            f"Suppressed metadata of {spec.dataset}: per-field frequencies, percentiles and "
            "episodes per patient scraped from the raw extract, after the disclosure policy "
            "(small counts suppressed, the rest rounded). Sensitive until signed off."
        ),
        partitions_def=financial_year_partitions(spec),
        metadata={"scope": "sensitive", "policy": spec.disclosure.as_dict()},
        kinds={"spark", "parquet"},
        code_version=code_version(spec, CODE_VERSION),
        pool=SPARK_POOL,
    )
    def _suppressed(
        context: AssetExecutionContext, stores: ScraperStores, spark: SparkEngine
    ) -> MaterializeResult:
        if (databricks := spark.databricks()) is not None:
            return databricks.run(context, SCRAPE, stores.stores())
        return scrape_partition(spec, context.partition_key, stores.stores(), spark)

    return _suppressed
