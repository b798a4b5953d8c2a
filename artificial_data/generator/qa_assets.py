"""QA and publication assets: ``<dataset>/qa`` and ``<dataset>/published`` (DESIGN §9).

QA compares each artificial partition with the *released* metadata only and reports its
results as blocking asset checks on ``<dataset>/qa``: a failure stops ``<dataset>/published``
in the same run, and publication itself refuses any year whose latest QA did not pass.
"""

import json
import shutil
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
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
from artificial_data.common.metadata_store import read_metadata
from artificial_data.common.stores import (
    ARTIFICIAL,
    METADATA_RELEASED,
    PUBLISHED,
    ScopedStores,
)
from artificial_data.generator.assets import (
    GENERATION_FILE,
    NOT_RELEASED_HINT,
    read_verified_release,
)
from artificial_data.generator.engine import SAMPLE_ROWS
from artificial_data.generator.publish import publish
from artificial_data.generator.publish.release_docs import release_month_of, release_time
from artificial_data.generator.qa import CHECK_NAMES, run_qa
from artificial_data.generator.qa.result import CHECK_DESCRIPTIONS
from artificial_data.orchestration.compute import QA, SparkEngine
from artificial_data.orchestration.keys import artificial_key, published_key, qa_key
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.policy import code_version
from artificial_data.orchestration.resources import GeneratorStores

#: Version of this module's steps (with the spec version: each asset's ``code_version``).
CODE_VERSION = 1
ONS_SPECTRUM_LEVEL = "3: synthetically-augmented plausible"
QA_FILE = "qa.json"


def qa_object(dataset: str) -> str:
    return f"qa/{dataset}"


def qa_partition(spec: DatasetSpec, year: str, scoped: ScopedStores) -> MaterializeResult:
    """QA of one artificial partition: the step of ``<ds>/qa``, run by the asset here or by a
    Databricks task (``compute/pipes_task.py``); its check results travel with the result."""
    released = read_verified_release(scoped, spec, year).metadata
    table = scoped.tables.read(ARTIFICIAL, spec.dataset, year).arrow()
    result = run_qa(table, released.rows, spec, year, released.header.source_rows_rounded)
    summary = {
        "dataset": spec.dataset,
        "financial_year": year,
        "passed": result.passed,
        "metadata_content_hash": released.content_hash,
        "checks": {c.name: {"passed": c.passed, "blocking": c.blocking} for c in result.checks},
        "checked_at": datetime.now(UTC).isoformat(),
    }
    path = scoped.write_json_partition(
        ARTIFICIAL,
        qa_object(spec.dataset),
        year,
        {"report.html": result.html, "report.md": result.markdown, QA_FILE: summary},
    )
    return MaterializeResult(
        metadata={
            "passed": result.passed,
            "blocking_failures": [c.name for c in result.blocking_failures],
            "report": MetadataValue.md(result.markdown[:60_000]),
            "html": MetadataValue.path(str(path / "report.html")),
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
    )
    def _qa(
        context: AssetExecutionContext, stores: GeneratorStores, spark: SparkEngine
    ) -> MaterializeResult:
        if (databricks := spark.databricks()) is not None:
            return databricks.run(context, QA, stores.stores())
        return qa_partition(spec, context.partition_key, stores.stores())

    return _qa


class PublishConfig(Config):
    """Names the release: ``artificial_hes_<ds>_<YYYYMM>_v<N>_<sample|full>.zip``."""

    release_month: str | None = Field(
        default=None,
        description="YYYYMM; default the month of the release's recorded time (its latest "
        "metadata scrape), never the wall clock",
    )
    version: int = Field(default=1, ge=1)


def release_info(spec: DatasetSpec, provenance: dict[str, dict], recorded_at: str) -> dict:
    """The release facts copied into the release notes: nothing in them depends on when the
    publication runs (``recorded_at`` is the release's recorded time, see ``release_time``)."""
    packages = ("artificial_data", "dagster", "pyspark", "pandera", "pyarrow")
    return {
        "ons_synthetic_data_spectrum_level": ONS_SPECTRUM_LEVEL,
        "dataset": spec.dataset,
        "spec_version": spec.spec_version,
        "disclosure_policy": spec.disclosure.as_dict(),
        "years": provenance,
        "demo_sign_off": any(
            (info.get("sign_off") or {}).get("demo", False) for info in provenance.values()
        ),
        "versions": {p: package_version(p) for p in packages},
        "metadata_scraped_at": recorded_at,
    }


def _recorded_time(scoped, spec: DatasetSpec, year: str, info: dict) -> str:
    """The scrape time of the released metadata the year's table was generated from."""
    # The table and its QA were made from verified metadata (generation and QA re-verify the
    # signatures); here only the recorded scrape time and the hash it was made from are read.
    released = read_metadata(scoped, METADATA_RELEASED, spec.dataset, year, hint=NOT_RELEASED_HINT)
    if released.content_hash != info.get("metadata_content_hash"):
        raise Failure(
            f"{spec.dataset} {year}: the artificial table was generated from metadata "
            f"{str(info.get('metadata_content_hash'))[:12]}, but the released metadata is now "
            f"{released.content_hash[:12]}; materialise {spec.dataset}/artificial and "
            f"{spec.dataset}/qa for this year again"
        )
    return released.header.scraped_at


def build_published_asset(spec: DatasetSpec) -> AssetsDefinition:
    @asset(
        key=published_key(spec.dataset),
        deps=[qa_key(spec.dataset)],
        description=(
            f"Published artificial {spec.dataset}: a zip of one CSV per financial year in the "
            "NHS artificial HES format, Parquet, data dictionary, user notice, release notes. "
            "Holds every year whose latest QA passed."
        ),
        partitions_def=financial_year_partitions(spec),
        kinds={"csv", "parquet"},
        code_version=code_version(spec, CODE_VERSION),
    )
    def _published(
        context: AssetExecutionContext, config: PublishConfig, stores: GeneratorStores
    ) -> MaterializeResult:
        scoped = stores.stores()
        tables, provenance, sizes, recorded = {}, {}, set(), []
        for year in scoped.tables.partitions(ARTIFICIAL, spec.dataset):
            if not scoped.has_partition(ARTIFICIAL, qa_object(spec.dataset), year):
                continue
            qa_path = scoped.partition_path(ARTIFICIAL, qa_object(spec.dataset), year)
            if not json.loads((qa_path / QA_FILE).read_text())["passed"]:
                context.log.warning(f"{spec.dataset} {year}: latest QA failed; not published")
                continue
            artificial = scoped.tables.read(ARTIFICIAL, spec.dataset, year)
            tables[year] = artificial.arrow()
            info = json.loads(artificial.attachments[GENERATION_FILE])
            info["metadata_scraped_at"] = _recorded_time(scoped, spec, year, info)
            recorded.append(info["metadata_scraped_at"])
            provenance[year] = info
            sizes.add("sample" if info["rows"] <= SAMPLE_ROWS else "full")
        if context.partition_key not in tables:
            raise Failure(
                f"{spec.dataset} {context.partition_key}: no artificial table that passed QA; "
                f"materialise {spec.dataset}/artificial and {spec.dataset}/qa for this year first"
            )
        size = "full" if "full" in sizes else "sample"
        recorded_at = release_time(recorded)
        month = config.release_month or release_month_of(recorded_at)
        release_name = (
            f"artificial_hes_{spec.dataset.removeprefix('hes_')}_{month}_v{config.version}_{size}"
        )

        def write(folder: Path) -> None:
            # publish() builds <out>/<release name>/; make that folder the partition itself.
            staging = folder.with_name(f".{folder.name}.staging")
            try:
                publish(
                    tables,
                    spec,
                    staging,
                    release_month=month,
                    version=config.version,
                    size=size,
                    release_info=release_info(spec, provenance, recorded_at),
                )
                (staging / release_name).rename(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

        path = scoped.write_partition(PUBLISHED, spec.dataset, release_name, write)
        zips = sorted(path.rglob("*.zip"))
        return MaterializeResult(
            metadata={
                "release": release_name,
                "years": sorted(tables),
                "zip": MetadataValue.path(str(zips[0]) if zips else str(path)),
                "rows": {y: t.num_rows for y, t in tables.items()},
            }
        )

    return _published
