"""Publication asset: ``<dataset>/published`` (DESIGN §9).

The asset stays partitioned by financial year, like everything upstream of it, so that a year's
blocking QA checks stop its own publication and a run for one year needs nothing else to be
materialised. But what a partition run publishes is the dataset's **whole release**: every year
whose released metadata was generated into an artificial table that passed its latest QA. The
release is versioned in the published store (``publish/releases.py``): a run whose inputs are
already published (e.g. the second of two years' runs after both passed QA) makes no new
version, so any number of partition runs, retries or backfills converge on one release.
"""

import contextlib
import json
from enum import Enum
from importlib.metadata import version as package_version

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
from artificial_data.common.metadata_store import read_metadata
from artificial_data.common.stores import ARTIFICIAL, METADATA_RELEASED, ScopedStores
from artificial_data.generator.assets import GENERATION_FILE, NOT_RELEASED_HINT
from artificial_data.generator.publish.release_docs import (
    release_month_of,
    release_time,
    source_facts,
)
from artificial_data.generator.publish.releases import ReleaseRace, publish_release
from artificial_data.generator.publish.year_rows import partition_rows
from artificial_data.generator.qa_assets import QA_FILE, generation_sha256, qa_object
from artificial_data.generator.triggers import after_passed_qa
from artificial_data.orchestration.keys import published_key, qa_key
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.policy import code_version
from artificial_data.orchestration.resources import GeneratorStores

ONS_SPECTRUM_LEVEL = "3: synthetically-augmented plausible"

#: Version of this module's step (with the spec version: the asset's ``code_version``).
CODE_VERSION = 1


class ReleaseKind(Enum):
    sample = "sample"
    full = "full"


class PublishConfig(Config):
    """Kind and month of the release ``artificial_hes_<ds>_<YYYYMM>_v<N>_<sample|full>``; the
    version ``N`` is never chosen: the next free one is taken when the inputs are new."""

    release_kind: ReleaseKind | None = Field(
        default=None,
        description="sample or full; default the size every year was generated with "
        "(GenerateConfig.size, recorded with the table). Never guessed from the row count.",
    )
    release_month: str | None = Field(
        default=None,
        description="YYYYMM; default the month of the release's recorded time (its latest "
        "metadata scrape), never the wall clock",
    )


def release_info(spec: DatasetSpec, provenance: dict[str, dict], recorded_at: str) -> dict:
    """The release facts copied into the release notes: nothing in them depends on when the
    publication runs (``recorded_at`` is the release's recorded time, see ``release_time``)."""
    packages = ("artificial_data", "dagster", "pyspark", "pandera", "pyarrow")
    facts = source_facts({"years": provenance}, provenance)
    return {
        "ons_synthetic_data_spectrum_level": ONS_SPECTRUM_LEVEL,
        "dataset": spec.dataset,
        "spec_version": spec.spec_version,
        "disclosure_policy": spec.disclosure.as_dict(),
        "years": provenance,
        "simulated_source": facts["simulated_source"],
        "demo_sign_off": facts["demo_sign_off"],
        "versions": {p: package_version(p) for p in packages},
        "metadata_scraped_at": recorded_at,
    }


def _released_facts(scoped: ScopedStores, spec: DatasetSpec, year: str, info: dict) -> dict:
    """The scrape time and source of the released metadata the year's table was made from."""
    # The table and its QA were made from verified metadata (generation and QA re-verify the
    # signatures); here only the recorded header and the hash it was made from are read.
    released = read_metadata(scoped, METADATA_RELEASED, spec.dataset, year, hint=NOT_RELEASED_HINT)
    if released.content_hash != info.get("metadata_content_hash"):
        raise Failure(
            f"{spec.dataset} {year}: the artificial table was generated from metadata "
            f"{str(info.get('metadata_content_hash'))[:12]}, but the released metadata is now "
            f"{released.content_hash[:12]}; materialise {spec.dataset}/artificial and "
            f"{spec.dataset}/qa for this year again"
        )
    return {
        "metadata_scraped_at": released.header.scraped_at,
        # The released header is the authority on the source, whatever the table recorded.
        "simulated_source": bool(released.header.simulated_source),
    }


def _qa_passed(context, scoped: ScopedStores, spec: DatasetSpec, year: str, provenance) -> bool:
    """Whether the latest QA of ``year`` passed and checked the current artificial table."""
    obj = qa_object(spec.dataset)
    if not scoped.has_partition(ARTIFICIAL, obj, year):
        return False
    summary = json.loads((scoped.partition_path(ARTIFICIAL, obj, year) / QA_FILE).read_text())
    if not summary.get("passed"):
        context.log.warning(f"{spec.dataset} {year}: latest QA failed; not published")
        return False
    checked = summary.get("generation_sha256")
    if checked is not None and checked != generation_sha256(provenance):
        context.log.warning(
            f"{spec.dataset} {year}: the artificial table changed since its QA; not published "
            f"until {spec.dataset}/qa runs for this year again"
        )
        return False
    return True


def _release_kind(spec: DatasetSpec, config: PublishConfig, provenance: dict[str, dict]) -> str:
    generated = {y: p.get("size") for y, p in provenance.items()}
    recorded = {k for k in generated.values() if k is not None}
    if config.release_kind is not None:
        kind = ReleaseKind(config.release_kind).value
        other = sorted(y for y, k in generated.items() if k not in (None, kind))
        if other:
            raise Failure(
                f"{spec.dataset}: release_kind is {kind}, but years {', '.join(other)} were "
                f"generated as {generated[other[0]]}; regenerate them with size {kind} or "
                f"publish them as {generated[other[0]]}"
            )
        return kind
    if len(recorded) > 1:
        raise Failure(
            f"{spec.dataset}: the years were generated with different sizes "
            f"({json.dumps(generated, sort_keys=True)}); regenerate them with one size or set "
            "release_kind"
        )
    if not recorded or None in generated.values():
        raise Failure(
            f"{spec.dataset}: the size of years "
            f"{', '.join(sorted(y for y, k in generated.items() if k is None))} was not recorded "
            "when they were generated; set release_kind (sample or full) in the run config"
        )
    return recorded.pop()


def _publish_years(
    context: AssetExecutionContext,
    config: PublishConfig,
    scoped: ScopedStores,
    spec: DatasetSpec,
    staging: contextlib.ExitStack,
) -> MaterializeResult:
    """Publish the release of every year that passed QA (the step of ``<ds>/published``).

    ``staging`` holds each catalog year's exported copy (``TablePartition.staged``) until the
    release is written."""
    # Each year is read in record batches from its Parquet files when it is formatted and
    # copied, one year at a time: no year is loaded whole (issue 16).
    tables, provenance, recorded = {}, {}, []
    for year in scoped.tables.partitions(ARTIFICIAL, spec.dataset):
        artificial = scoped.tables.read(ARTIFICIAL, spec.dataset, year)
        generation = artificial.attachments.get(GENERATION_FILE)
        if generation is None or not _qa_passed(context, scoped, spec, year, generation):
            continue
        info = json.loads(generation)
        info.update(_released_facts(scoped, spec, year, info))
        tables[year] = partition_rows(artificial, staging.enter_context(artificial.staged()))
        recorded.append(info["metadata_scraped_at"])
        provenance[year] = info
    if context.partition_key not in tables:
        raise Failure(
            f"{spec.dataset} {context.partition_key}: no artificial table that passed QA; "
            f"materialise {spec.dataset}/artificial and {spec.dataset}/qa for this year first"
        )
    kind = _release_kind(spec, config, provenance)
    recorded_at = release_time(recorded)
    month = config.release_month or release_month_of(recorded_at)
    try:
        outcome = publish_release(
            scoped,
            spec,
            tables,
            provenance,
            kind=kind,
            release_month=month,
            recorded_at=recorded_at,
            release_info=release_info(spec, provenance, recorded_at),
        )
    except ReleaseRace as exc:
        raise Failure(description=str(exc)) from None
    record = outcome.record
    for year, reason in sorted(outcome.carry_refused.items()):
        context.log.warning(
            f"{spec.dataset} {year}: not copied from the previous release ({reason}); "
            "formatted afresh. The published store may have been edited: check that release."
        )
    if not outcome.created:
        context.log.info(
            f"{spec.dataset}: these inputs are already published as {outcome.name}; no new version"
        )
    return MaterializeResult(
        metadata={
            "release": outcome.name,
            "version": outcome.version,
            "new_version": outcome.created,
            "release_kind": kind,
            "years": sorted(record["years"]),
            # Years whose files were copied from the previous release, not written again.
            "carried_over": list(outcome.carried),
            "source": record["source"],
            "simulated_source": record["simulated_source"],
            "demo_sign_off": record["demo_sign_off"],
            "zip": MetadataValue.path(str(outcome.zip_path)),
            "rows": {y: r["rows"] for y, r in record["years"].items()},
            "previous_version": record["previous_version"] or 0,
            "created_at": record["created_at"],
        }
    )


def build_published_asset(spec: DatasetSpec) -> AssetsDefinition:
    @asset(
        key=published_key(spec.dataset),
        deps=[qa_key(spec.dataset)],
        description=(
            f"Published artificial {spec.dataset}: one versioned release holding every year "
            "whose latest QA passed (a zip of one CSV per year in the NHS artificial HES "
            "format, Parquet per year, data dictionary, user notice, release notes). A new "
            "year or a regenerated year makes a new version; no version is ever rewritten."
        ),
        partitions_def=financial_year_partitions(spec),
        kinds={"csv", "parquet"},
        code_version=code_version(spec, CODE_VERSION),
        automation_condition=after_passed_qa(),
    )
    def _published(
        context: AssetExecutionContext, config: PublishConfig, stores: GeneratorStores
    ) -> MaterializeResult:
        scoped = stores.stores()
        with contextlib.ExitStack() as staging:
            return _publish_years(context, config, scoped, spec, staging)

    return _published
