"""The scrape schedules through Dagster: a tick asks for exactly the partition the schedule
names, the operator can read which year that is, and under the real daemon a started schedule
launches that run and it succeeds."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    AssetCheckKey,
    DagsterInstance,
    DagsterRunStatus,
    DefaultScheduleStatus,
    RunsFilter,
    build_schedule_context,
    instance_for_test,
    validate_run_config,
)

from artificial_data.common.dataset_spec import load_all_specs
from artificial_data.common.settings import DEFAULT_SCRAPE_CRON, ENVIRONMENT_ENV, SCRAPE_CRON_ENV
from artificial_data.orchestration.keys import raw_key, suppressed_key
from artificial_data.scraper.schedules import REFRESHES_YEAR_TAG, schedule_name

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def scraper(home, monkeypatch):
    from artificial_data.scraper.definitions import build_definitions

    monkeypatch.delenv(SCRAPE_CRON_ENV, raising=False)
    return build_definitions()


def test_each_tick_asks_for_the_latest_year_of_its_dataset(scraper):
    when = datetime(2026, 12, 5, 2, 0, tzinfo=ZoneInfo("Europe/London"))
    with instance_for_test() as instance:
        for spec in load_all_specs():
            latest = spec.financial_years[-1]
            schedule = scraper.resolve_schedule_def(schedule_name(spec.dataset))
            assert schedule.cron_schedule == DEFAULT_SCRAPE_CRON
            assert schedule.execution_timezone == "Europe/London"
            assert schedule.default_status == DefaultScheduleStatus.STOPPED
            with build_schedule_context(
                instance=instance,
                scheduled_execution_time=when,
                repository_def=scraper.get_repository_def(),
            ) as context:
                data = schedule.evaluate_tick(context)
            (request,) = data.run_requests
            assert request.partition_key == latest
            assert request.tags["dagster/partition"] == latest  # resolved as the daemon does
            assert request.tags[REFRESHES_YEAR_TAG] == latest
            assert request.run_key == f"{spec.dataset}:{latest}:{when.isoformat()}"

            # The run it names: the dataset's scrape job for that year, valid as configured.
            job = scraper.resolve_job_def(schedule.job_name)
            assert job.name == f"scrape_{spec.dataset}"
            assert job.partitions_def.get_partition_keys()[-1] == latest
            validate_run_config(job, request.run_config)
            keys = {raw_key(spec.dataset), suppressed_key(spec.dataset)}
            assert set(job.asset_layer.selected_asset_keys) == keys
            checks = {
                key
                for checks_def in scraper.asset_checks or []
                for key in checks_def.check_keys
                if key.asset_key == suppressed_key(spec.dataset)
            }
            assert checks and all(isinstance(k, AssetCheckKey) for k in checks)
            assert checks <= set(job.asset_layer.asset_graph.asset_check_keys)


def test_the_operator_can_read_which_year_each_schedule_refreshes(scraper):
    for spec in load_all_specs():
        latest = spec.financial_years[-1]
        schedule = scraper.resolve_schedule_def(schedule_name(spec.dataset))
        assert f"{spec.dataset} financial year {latest}" in schedule.description
        assert schedule.tags[REFRESHES_YEAR_TAG] == latest
        assert schedule.metadata["refreshes_year"].value == latest
        assert schedule.metadata["cron"].value == DEFAULT_SCRAPE_CRON


def test_the_cron_comes_from_the_environment(home, monkeypatch):
    from artificial_data.scraper.definitions import build_definitions

    monkeypatch.setenv(SCRAPE_CRON_ENV, "*/5 * * * *")
    schedule = build_definitions().resolve_schedule_def(schedule_name("hes_op"))
    assert schedule.cron_schedule == "*/5 * * * *"
    assert "`*/5 * * * *`" in schedule.description


def test_schedule_status_before_anything_ran(home, monkeypatch, tmp_path, capsys):
    """`artificial-data schedules` on a fresh instance: every dataset, its year and cron, all
    stopped, never ticked or ran."""
    from artificial_data.cli import main

    monkeypatch.delenv(SCRAPE_CRON_ENV, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert main(["schedules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["dataset", "schedule", "year", "cron"]
    for spec in load_all_specs():
        (line,) = [line for line in lines if line.startswith(spec.dataset + " ")]
        assert f" {schedule_name(spec.dataset)} " in line
        assert f" {spec.financial_years[-1]} " in line and DEFAULT_SCRAPE_CRON in line
        assert line.endswith("stopped  never      never")


def _wait_for_run(instance, name: str, deadline: float):
    """The first run launched by schedule ``name``, once it has finished (or None)."""
    while time.monotonic() < deadline:
        runs = instance.get_runs(RunsFilter(tags={"dagster/schedule_name": name}))
        if runs and runs[-1].is_finished:
            return instance.get_run_by_id(runs[-1].run_id)
        time.sleep(2)
    return None


@pytest.mark.slow
def test_a_started_schedule_launches_its_partition_under_the_daemon(tmp_path, monkeypatch):
    """`dagster schedule start`, then `dagster-daemon run` with the project's instance config
    and the scraper location alone, on a cron of every minute: the tick launches one run of
    `scrape_hes_op` for its latest year, which succeeds."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text((ROOT / "deploy/dagster.yaml").read_text())
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n"
        "      module_name: artificial_data.scraper.definitions\n"
        f"      attribute: defs\n      working_directory: {ROOT}\n      location_name: scraper\n"
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "ARTIFICIAL_DATA_HOME": str(tmp_path / "stores"),
        ENVIRONMENT_ENV: "test",
        SCRAPE_CRON_ENV: "* * * * *",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "PYSPARK_PYTHON": sys.executable,
    }
    bin_dir = Path(sys.executable).parent
    name = schedule_name("hes_op")
    started = subprocess.run(
        [str(bin_dir / "dagster"), "schedule", "start", name, "-w", str(workspace)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", "-w", str(workspace)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            run = _wait_for_run(instance, name, time.monotonic() + 180)
        assert run is not None, (tmp_path / "daemon.log").read_text()[-3000:]
        latest = next(s for s in load_all_specs() if s.dataset == "hes_op").financial_years[-1]
        assert run.job_name == "scrape_hes_op"
        assert run.tags["dagster/partition"] == latest
        assert run.tags[REFRESHES_YEAR_TAG] == latest
        assert run.status == DagsterRunStatus.SUCCESS, (tmp_path / "daemon.log").read_text()[-3000:]
        assert (tmp_path / "stores" / "metadata_sensitive" / "hes_op" / latest).exists()

    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        log.close()

    # With a cron of every minute a later tick may have launched another run before the daemon
    # stopped: each is one run of the same partition, and the status reports the newest.
    from artificial_data.scraper.schedule_status import schedule_statuses

    monkeypatch.setenv(SCRAPE_CRON_ENV, "* * * * *")
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_run_records(RunsFilter(tags={"dagster/schedule_name": name}))
        statuses = {s.dataset: s for s in schedule_statuses(instance)}
    assert {(r.dagster_run.job_name, r.dagster_run.tags["dagster/partition"]) for r in runs} == {
        ("scrape_hes_op", latest)
    }
    # What the operator reads: hes_op on, its year, its last tick and run; the others stopped.
    hes_op = statuses["hes_op"]
    assert hes_op.running and hes_op.refreshes_year == latest and hes_op.cron == "* * * * *"
    assert hes_op.last_tick_at is not None and hes_op.last_tick_status is not None
    assert hes_op.last_run_partition == latest
    assert hes_op.last_run_status == runs[0].dagster_run.status.value
    assert hes_op.last_run_at.timestamp() == runs[0].create_timestamp.timestamp()
    assert not statuses["hes_apc"].running and statuses["hes_apc"].last_run_at is None
