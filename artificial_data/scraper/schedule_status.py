"""Per dataset: the year its scrape schedule refreshes, its cron, whether it is on, and when it
last ticked and ran (``artificial-data schedules``), read from the Dagster instance.

The same facts are on the schedule's page in the UI; this answers without a browser, e.g. on
the machine running the daemon. Read-only: it never starts or stops a schedule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import DagsterInstance, RunsFilter
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

from artificial_data.common.dataset_spec import load_all_specs
from artificial_data.common.settings import load_settings
from artificial_data.scraper.schedules import schedule_name

#: A state declared in code (default_status RUNNING) is as on as one started by hand.
_ON = {InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE}


@dataclass(frozen=True)
class ScheduleStatus:
    dataset: str
    schedule: str
    refreshes_year: str
    cron: str
    running: bool
    last_tick_at: datetime | None = None
    last_tick_status: str | None = None
    last_run_at: datetime | None = None
    last_run_status: str | None = None
    last_run_partition: str | None = None


def _when(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def schedule_statuses(instance: DagsterInstance) -> list[ScheduleStatus]:
    """One row per dataset of the specs, whether or not its schedule was ever started."""
    states = {
        state.instigator_name: state
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SCHEDULE)
    }
    cron = load_settings().scrape_cron
    rows = []
    for spec in load_all_specs():
        name = schedule_name(spec.dataset)
        state = states.get(name)
        tick = None
        if state is not None:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
            tick = ticks[0] if ticks else None
        runs = instance.get_run_records(RunsFilter(tags={"dagster/schedule_name": name}), limit=1)
        run = runs[0] if runs else None
        rows.append(
            ScheduleStatus(
                dataset=spec.dataset,
                schedule=name,
                refreshes_year=spec.financial_years[-1],
                cron=cron,
                running=state is not None and state.status in _ON,
                last_tick_at=_when(tick.timestamp) if tick else None,
                last_tick_status=tick.status.value if tick else None,
                last_run_at=_when(run.create_timestamp.timestamp()) if run else None,
                last_run_status=run.dagster_run.status.value if run else None,
                last_run_partition=run.dagster_run.tags.get("dagster/partition") if run else None,
            )
        )
    return rows


def format_statuses(rows: list[ScheduleStatus]) -> str:
    """A plain table, one line per dataset."""

    def stamp(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M UTC") if value else "never"

    header = ("dataset", "schedule", "year", "cron", "state", "last tick", "last run")
    lines = [header]
    for r in rows:
        tick = f"{stamp(r.last_tick_at)} {r.last_tick_status or ''}".strip()
        run = (
            f"{stamp(r.last_run_at)} {r.last_run_status} ({r.last_run_partition})"
            if r.last_run_at
            else "never"
        )
        state = "running" if r.running else "stopped"
        lines.append((r.dataset, r.schedule, r.refreshes_year, r.cron, state, tick, run))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
