"""Regenerate the artificial tables after each release (DESIGN §7).

One mechanism: this sensor reads the materialisations of ``metadata/reviewed/<dataset>`` from
the instance's event log and asks for one generation run per release event (run_key = the
event's storage id), so a release is never generated twice and never missed.
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

from artificial_data.orchestration.keys import reviewed_key


def build_regeneration_sensor(generate_jobs: dict[str, JobDefinition]):
    @sensor(
        name="regenerate_after_release",
        jobs=list(generate_jobs.values()),
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description="Generates the artificial tables once for every new metadata release.",
    )
    def _sensor(context: SensorEvaluationContext) -> SensorResult:
        cursor: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
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
                if partition is None:
                    continue
                requests.append(
                    RunRequest(
                        run_key=f"{dataset}:{partition}:{record.storage_id}",
                        job_name=job.name,
                        partition_key=partition,
                        tags={"released_by_event": str(record.storage_id)},
                    )
                )
                cursor[dataset] = max(cursor.get(dataset, 0), record.storage_id)
        return SensorResult(run_requests=requests, cursor=json.dumps(cursor, sort_keys=True))

    return _sensor
