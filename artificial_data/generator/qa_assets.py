"""QA assets: ``<dataset>/qa`` (DESIGN §9).

QA compares each artificial partition with the *released* metadata only and reports its
results as blocking asset checks on ``<dataset>/qa``: a failure stops ``<dataset>/published``
(``publication.py``) in the same run, and publication itself refuses any year whose latest QA
did not pass or was made of another artificial table than the current one.
"""

import hashlib
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.stores import ARTIFICIAL, ScopedStores
from artificial_data.common.table_rows import partition_rows
from artificial_data.generator.assets import GENERATION_FILE, read_verified_release
from artificial_data.generator.qa import CHECK_NAMES, run_qa_rows
from artificial_data.generator.qa.result import CHECK_DESCRIPTIONS
from artificial_data.generator.triggers import after_upstream
from artificial_data.orchestration.compute import QA, SparkEngine
from artificial_data.orchestration.keys import artificial_key, qa_key
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.policy import code_version
from artificial_data.orchestration.resources import GeneratorStores

#: Version of this module's steps (with the spec version: each asset's ``code_version``).
CODE_VERSION = 1
QA_FILE = "qa.json"


def generation_sha256(provenance: bytes | None) -> str | None:
    """The identity of an artificial partition: the sha256 of its generation provenance
    (metadata hash, seed, rows, spec version), which decides its rows (the generator is
    deterministic)."""
    return None if provenance is None else hashlib.sha256(provenance).hexdigest()


def qa_object(dataset: str) -> str:
    return f"qa/{dataset}"


def qa_partition(spec: DatasetSpec, year: str, scoped: ScopedStores) -> MaterializeResult:
    """QA of one artificial partition: the step of ``<ds>/qa``, run by the asset here or by a
    Databricks task (``compute/pipes_task.py``); its check results travel with the result."""
    released = read_verified_release(scoped, spec, year).metadata
    artificial = scoped.tables.read(ARTIFICIAL, spec.dataset, year)
    # The partition is read in record batches and single columns, never whole (issue 16;
    # qa/streamed.py); a catalog partition is staged as Parquet first, as publication does.
    with artificial.staged() as staging:
        rows = partition_rows(artificial, staging, buffered=False)
        result = run_qa_rows(
            rows,
            released.rows,
            spec,
            year,
            released.header.source_rows_rounded,
            spill=staging / "_qa_keys",  # the primary key's buckets (qa/key_spill.py)
        )
    summary = {
        "dataset": spec.dataset,
        "financial_year": year,
        "passed": result.passed,
        "metadata_content_hash": released.content_hash,
        # Which artificial table was checked: publication refuses a year regenerated since.
        "generation_sha256": generation_sha256(artificial.attachments.get(GENERATION_FILE)),
        "checks": {c.name: {"passed": c.passed, "blocking": c.blocking} for c in result.checks},
        "checked_at": datetime.now(UTC).isoformat(),
    }
    scoped.write_json_partition(
        ARTIFICIAL,
        qa_object(spec.dataset),
        year,
        {"report.html": result.html, "report.md": result.markdown, QA_FILE: summary},
    )
    return MaterializeResult(
        metadata={
            "passed": result.passed,
            "blocking_failures": [c.name for c in result.blocking_failures],
            # The whole report, charts included (data: images the UI renders): QA sees
            # artificial data and released metadata only, so nothing in it is sensitive.
            "report": MetadataValue.md(result.markdown),
            "report_bytes": len(result.markdown.encode()),
        },
        check_results=[
            AssetCheckResult(
                check_name=c.name,
                passed=c.passed,
                severity=AssetCheckSeverity.ERROR if c.blocking else AssetCheckSeverity.WARN,
                metadata={"details": c.details[:4_000]},
            )
            for c in result.checks
        ],
    )


def build_qa_asset(spec: DatasetSpec) -> AssetsDefinition:
    partitions = financial_year_partitions(spec)

    @asset(
        key=qa_key(spec.dataset),
        deps=[artificial_key(spec.dataset)],
        description=(
            f"QA of artificial {spec.dataset} against the released metadata only: "
            "noise-aware distances, domain, keys, derived fields, date chains, schema."
        ),
        partitions_def=partitions,
        code_version=code_version(spec, CODE_VERSION),
        check_specs=[
            AssetCheckSpec(
                name,
                asset=qa_key(spec.dataset),
                blocking=blocking,
                partitions_def=partitions,
                description=(
                    f"{'Blocking' if blocking else 'Informational'}. {CHECK_DESCRIPTIONS[name]}"
                ),
            )
            for name, blocking in CHECK_NAMES.items()
        ],
        kinds={"pandas", "html"},
        automation_condition=after_upstream(),
    )
    def _qa(
        context: AssetExecutionContext, stores: GeneratorStores, spark: SparkEngine
    ) -> MaterializeResult:
        if (databricks := spark.databricks()) is not None:
            return databricks.run(context, QA, stores.stores())
        return qa_partition(spec, context.partition_key, stores.stores())

    return _qa
