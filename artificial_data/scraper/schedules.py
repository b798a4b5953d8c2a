"""The scrape schedules: one per dataset, each refreshing one financial year (DESIGN §7).

HES is refreshed monthly in-year, so a schedule scrapes the latest financial year of its
dataset's spec. Each tick asks for exactly one run of ``scrape_<dataset>`` for that year's
partition; what follows (review pack, sign-off, release, generation) is the review and
generator locations' automation.

Which year a schedule refreshes is visible without reading code: in its description, as the
schedule tag ``artificial_data/refreshes_year`` and metadata ``refreshes_year`` (the UI's
schedule page shows both), and as the tag of every run it launches (beside Dagster's own
``dagster/partition`` and ``dagster/schedule_name``), so the runs list filtered by schedule
shows when it last ran and for which year.

The schedules start stopped: a scrape produces sensitive metadata that then waits for a
human, so an operator turns a schedule on deliberately.
"""

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    schedule,
)

#: The tag (on the schedule and on each run it launches) naming the year it refreshes.
REFRESHES_YEAR_TAG = "artificial_data/refreshes_year"
DATASET_TAG = "artificial_data/dataset"
TIMEZONE = "Europe/London"


def schedule_name(dataset: str) -> str:
    return f"monthly_scrape_{dataset}"


def build_scrape_schedule(dataset: str, job, latest_year: str, cron: str) -> ScheduleDefinition:
    """The schedule of ``dataset``: on ``cron`` (Europe/London), one run of ``job`` (the
    dataset's ``define_asset_job``) for the partition ``latest_year``."""
    tags = {DATASET_TAG: dataset, REFRESHES_YEAR_TAG: latest_year}

    @schedule(
        name=schedule_name(dataset),
        job=job,
        cron_schedule=cron,
        execution_timezone=TIMEZONE,
        default_status=DefaultScheduleStatus.STOPPED,
        description=(
            f"Scrapes {dataset} financial year {latest_year} (the latest in its spec) on cron "
            f"`{cron}` ({TIMEZONE}): one run of {job.name} for partition {latest_year}. "
            "Stopped by default: every scrape waits for a human review."
        ),
        tags=tags,
        metadata={"dataset": dataset, "refreshes_year": latest_year, "job": job.name, "cron": cron},
    )
    def _schedule(context: ScheduleEvaluationContext) -> RunRequest:
        when = context.scheduled_execution_time
        # One run per tick: the run key names the tick, so a retried tick launches nothing more.
        run_key = f"{dataset}:{latest_year}:{when.isoformat()}" if when else None
        return RunRequest(run_key=run_key, partition_key=latest_year, tags=tags)

    return _schedule
