"""Regenerate the artificial tables after each release (DESIGN §7).

One mechanism: this sensor reads the materialisations of ``<dataset>/reviewed_metadata`` from
the instance's event log and asks for one generation run per release event (run_key = the
event's storage id), so a release is never generated twice and never missed. A release whose
content the current artificial partition was already generated from (e.g. by `make demo` or a
manual run) is skipped.
"""

import json

from dagster import (
    AssetRecordsFilter,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from artificial_data.common.stores import ARTIFICIAL, ScopedStores
from artificial_data.generator.assets import GENERATION_FILE
from artificial_data.orchestration.keys import reviewed_key
from artificial_data.orchestration.resources import GeneratorStores


def _already_generated(scoped: ScopedStores, dataset: str, partition: str, record) -> bool:
    """True when the artificial partition was generated from the released content hash."""
    materialization = record.asset_materialization
    released_hash = materialization.metadata.get("content_hash") if materialization else None
    if released_hash is None:
        return False
    provenance = scoped.tables.attachment(ARTIFICIAL, dataset, partition, GENERATION_FILE)
    if provenance is None:
        return False
    generated_from = json.loads(provenance).get("metadata_content_hash")
    return generated_from == getattr(released_hash, "value", released_hash)


def build_regeneration_sensor(generate_jobs: dict[str, JobDefinition]):
    @sensor(
        name="regenerate_after_release",
        jobs=list(generate_jobs.values()),
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Generates the artificial tables once for every new metadata release.",
    )
    def _sensor(context: SensorEvaluationContext, stores: GeneratorStores) -> SensorResult:
        cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
        scoped = stores.stores()
        requests = []
        for dataset, job in sorted(generate_jobs.items()):
            after = cursor.get(dataset)
            result = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=reviewed_key(dataset), after_storage_id=after),
                limit=100,
                ascending=True,
            )
            for record in result.records:
                partition = record.partition_key
                cursor[dataset] = max(cursor.get(dataset, 0), record.storage_id)
                if partition is None or _already_generated(scoped, dataset, partition, record):
                    continue
                requests.append(
                    RunRequest(
                        run_key=f"{dataset}:{partition}:{record.storage_id}",
                        job_name=job.name,
                        partition_key=partition,
                        tags={"released_by_event": str(record.storage_id)},
                    )
                )
        return SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))

    return _sensor
