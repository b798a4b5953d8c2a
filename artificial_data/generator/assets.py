"""Generator assets: ``<dataset>/artificial`` from the released metadata only."""

import json
from pathlib import Path
from typing import Any, Literal

from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.released import ReleaseUnverified, VerifiedRelease, verify_release
from artificial_data.common.spark import explain_dead_spark
from artificial_data.common.stores import ARTIFICIAL, ScopedStores
from artificial_data.common.tables import FolderTables
from artificial_data.generator.engine import (
    FULL_ROWS,
    SAMPLE_ROWS,
    generate_table,
    generation_seed,
    write_table_files,
)
from artificial_data.generator.triggers import after_upstream
from artificial_data.orchestration.compute import GENERATE, SparkEngine
from artificial_data.orchestration.keys import artificial_key, reviewed_key
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.policy import SPARK_POOL, code_version, table_metadata
from artificial_data.orchestration.resources import GeneratorStores

#: Version of this module's steps (with the spec version: each asset's ``code_version``).
CODE_VERSION = 1
#: Provenance of an artificial partition (seed, metadata hash), read by publication.
GENERATION_FILE = "_generation.json"
NOT_RELEASED_HINT = (
    "Metadata reaches the released store only after a reviewer and an approver sign it off "
    "with their own keys and the review location releases it (see docs/reviewer_guide.md)."
)


def read_verified_release(scoped: ScopedStores, spec: DatasetSpec, year: str) -> VerifiedRelease:
    """The released metadata of one partition, re-verified (signatures, content hash,
    disclosure policy, fields) before anything uses it; a refusal is a one-line Failure."""
    try:
        return verify_release(scoped, spec, year, hint=NOT_RELEASED_HINT)
    except ReleaseUnverified as exc:
        raise Failure(description=str(exc), allow_retries=False) from None


def sign_off_provenance(verified: VerifiedRelease) -> dict:
    return {"label": verified.pair.label(), **verified.pair.summary()}


class GenerateConfig(Config):
    """Size and seed of the artificial table of one dataset-year."""

    size: Literal["sample", "full"] = Field(
        default="sample", description="sample = 10,000 rows, full = 1,000,000 rows"
    )
    rows: int | None = Field(default=None, ge=1, description="Overrides `size` when given.")
    base_seed: int = Field(default=0, description="Mixed with the metadata hash into the seed.")

    def row_count(self) -> int:
        if self.rows is not None:
            return self.rows
        return SAMPLE_ROWS if self.size == "sample" else FULL_ROWS


def generate_partition(
    spec: DatasetSpec, year: str, config: GenerateConfig, scoped: ScopedStores, spark: Any
) -> MaterializeResult:
    """Generate one artificial partition: the step of ``<ds>/artificial``, run by the asset here
    or by a Databricks task (``compute/pipes_task.py``). ``spark`` has a ``spark_session``."""
    verified = read_verified_release(scoped, spec, year)
    released = verified.metadata
    rows = config.row_count()
    seed = generation_seed(released.content_hash, spec.dataset, year, config.base_seed)
    session = spark.spark_session
    if scoped.tables.backend == FolderTables.backend:
        # A folder of Parquet files: each Spark task writes its chunks' files itself.
        def table(folder: Path) -> None:
            write_table_files(session, released.rows, spec, year, rows, seed, folder)

    else:  # a catalog table: Spark's own writer (Delta on Databricks)
        with explain_dead_spark(spec.dataset, year):
            table = generate_table(session, released.rows, spec, year, rows, seed)
    provenance = {
        "dataset": spec.dataset,
        "financial_year": year,
        "rows": rows,
        # The release kind this table is for (configuration, never guessed from `rows`).
        "size": config.size,
        "seed": seed,
        "base_seed": config.base_seed,
        "metadata_content_hash": released.content_hash,
        "policy": released.header.policy,
        "spec_version": spec.spec_version,
        "simulated_source": released.header.simulated_source,
        "sign_off": sign_off_provenance(verified),
    }

    # The provenance is an attachment of the partition: on the folder backend a file beside
    # the Parquet files (underscore-prefixed: ignored by Spark, pyarrow and DuckDB readers).
    attachments = {GENERATION_FILE: json.dumps(provenance, indent=2)}
    with explain_dead_spark(spec.dataset, year):
        path = scoped.tables.write(ARTIFICIAL, spec.dataset, year, table, attachments)
    return MaterializeResult(
        metadata={
            **table_metadata(spec, rows),
            "rows": rows,
            "columns": len(spec.fields),
            "seed": seed,
            "metadata_content_hash": released.content_hash,
            "sign_off": verified.pair.label(),
            "demo_sign_off": verified.pair.demo,
            "path": MetadataValue.path(str(path)),
        }
    )


def build_artificial_asset(spec: DatasetSpec) -> AssetsDefinition:
    @asset(
        key=artificial_key(spec.dataset),
        deps=[reviewed_key(spec.dataset)],
        description=(
            f"Artificial {spec.title}: every field sampled independently from the released "
            "metadata, patients -> episodes, derived fields and IDs added, exact HES schema."
        ),
        partitions_def=financial_year_partitions(spec),
        metadata={"scope": "open", "spec_version": spec.spec_version, **table_metadata(spec)},
        kinds={"spark", "parquet"},
        code_version=code_version(spec, CODE_VERSION),
        pool=SPARK_POOL,
        automation_condition=after_upstream(),
    )
    def _artificial(
        context: AssetExecutionContext,
        config: GenerateConfig,
        stores: GeneratorStores,
        spark: SparkEngine,
    ) -> MaterializeResult:
        if (databricks := spark.databricks()) is not None:
            return databricks.run(context, GENERATE, stores.stores(), config.model_dump())
        return generate_partition(spec, context.partition_key, config, stores.stores(), spark)

    return _artificial
