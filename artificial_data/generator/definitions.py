"""Dagster definitions of the generator code location (open scope).

May read: metadata_released (and its own outputs). May write: artificial, published. It holds
no resource that can reach raw data or unreleased metadata.

``<ds>/reviewed_metadata`` is declared here as an external asset (an ``AssetSpec``, made by the
review location) with its financial-year partitions, so that the automation conditions map each
year of a release to the same year of ``<ds>/artificial`` (``triggers.py``).
"""

from dagster import AssetSelection, AssetSpec, Definitions, define_asset_job, in_process_executor

from artificial_data.common.dataset_spec import load_all_specs
from artificial_data.common.stores import GENERATOR
from artificial_data.generator.assets import build_artificial_asset
from artificial_data.generator.publication import build_published_asset
from artificial_data.generator.qa_assets import build_qa_asset
from artificial_data.generator.triggers import build_automation_sensor
from artificial_data.orchestration.keys import artificial_key, reviewed_key
from artificial_data.orchestration.partitions import financial_year_partitions
from artificial_data.orchestration.policy import with_location_policy
from artificial_data.orchestration.resources import GeneratorStores, spark_resource


def released_metadata_spec(spec) -> AssetSpec:
    """``<ds>/reviewed_metadata`` as this location sees it: partitioned, made elsewhere."""
    return AssetSpec(
        reviewed_key(spec.dataset),
        partitions_def=financial_year_partitions(spec),
        group_name=spec.dataset,
        description=f"Released {spec.dataset} metadata, materialised by the review location.",
    )


def build_definitions() -> Definitions:
    assets, released, generate_jobs = [], [], {}
    for spec in load_all_specs():
        released.append(released_metadata_spec(spec))
        assets += [
            build_artificial_asset(spec),
            build_qa_asset(spec),
            build_published_asset(spec),
        ]
        keys = [artificial_key(spec.dataset)]
        generate_jobs[spec.dataset] = define_asset_job(
            f"generate_{spec.dataset}",
            selection=AssetSelection.assets(*keys).downstream(),
            description=f"Generate (and check and publish) artificial {spec.dataset}.",
        )
    return Definitions(
        assets=[*released, *with_location_policy(GENERATOR, assets)],
        jobs=list(generate_jobs.values()),
        sensors=[build_automation_sensor(sorted(generate_jobs))],
        resources={
            "stores": GeneratorStores(),
            "spark": spark_resource("artificial_data_generator"),
        },
        executor=in_process_executor,
    )


defs = build_definitions()
