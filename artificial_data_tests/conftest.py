"""Shared fixtures, and which tests are slow.

One local Spark session serves the whole test session (it costs 9-14 s to start); tests that do
not need Spark never trigger it.

``SLOW_MODULES`` and ``SLOW_FUNCTIONS`` are the one list of slow tests, each with its reason:
`make test` (the developer's loop, under 10 minutes on a 2-core machine) leaves them out with
``-m "not slow"``, `make test-slow` runs exactly them, and CI runs both, so that CI runs every
test exactly once (docs/performance.md, "Test suite and demo"). A test marked ``slow`` anywhere
else fails the collection, and so does an entry that names no test, so the list stays true.
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from artificial_data.common.settings import ENVIRONMENT_ENV, HOME_ENV

#: Module files whose every test is slow -> why.
SLOW_MODULES: dict[str, str] = {
    "test_browser.py": "starts `dagster dev` and drives Chromium through the UI after a demo run",
    "test_scale_out.py": "starts a standalone Spark cluster and a Spark Connect server",
    "test_fidelity.py": "scrapes and generates 30,000 APC and AE rows and compares them",
    "test_leaks.py": "runs every code location's jobs over planted canaries, then scans every byte",
    "test_end_to_end.py": "the demo slice for all three datasets through the Dagster jobs",
}

#: Module file -> test function (with all its parameters) -> why it is slow.
SLOW_FUNCTIONS: dict[str, dict[str, str]] = {
    "test_metadata_reads.py": {
        "test_the_scrape_and_the_generation_validate_and_hash_once": (
            "scrapes and generates hes_op through Spark, with the review steps between"
        ),
    },
    "test_isolation.py": {
        name: "needs the isolated deployment: Unix users, store roots, a generator code server"
        for name in (
            "test_store_roots_are_owned_and_moded_per_the_grants",
            "test_generator_server_runs_as_the_generator_user",
            "test_generator_environment_names_no_raw_or_sensitive_store",
            "test_code_as_the_generator_user_gets_os_permission_errors",
            "test_generator_server_answers_grpc",
        )
    },
    "test_databricks_pipes.py": {
        "test_generate_and_qa_round_trip_through_pipes": (
            "generates and checks a table through Pipes: a Spark task in a subprocess"
        ),
        "test_a_failing_task_fails_the_step_with_the_tasks_error": "a Pipes task subprocess",
        "test_terminating_the_dagster_run_cancels_the_databricks_run": (
            "a Pipes task subprocess, terminated while it runs"
        ),
    },
    "test_catalog_stores.py": {
        "test_pipeline_runs_through_the_assets_on_catalog_tables": (
            "the whole pipeline's jobs on catalog tables"
        ),
        "test_replacing_one_year_keeps_the_others_and_a_failed_write_keeps_the_old": (
            "catalog table writes, one failing inside its Spark job and waited out"
        ),
    },
    "test_scrape_errors.py": {
        "test_a_dead_spark_session_is_reported_as_such": (
            "starts a second Spark session in a subprocess and kills its JVM"
        ),
    },
    "test_definitions.py": {
        "test_workspace_validates_with_the_dagster_cli": (
            "`dagster definitions validate` loads the three code locations in subprocesses"
        ),
        "test_widened_run_config_is_refused_by_the_launchpad_path": (
            "starts the generator's code server in another process"
        ),
    },
    "test_schedules.py": {
        "test_a_started_schedule_launches_its_partition_under_the_daemon": (
            "`dagster schedule start`, then `dagster-daemon run` until a tick's run succeeds"
        ),
    },
    "test_triggers.py": {
        "test_in_the_workspace_the_release_is_the_review_locations_asset": (
            "loads the whole workspace: the three code locations in their own processes"
        ),
    },
    "test_generator_spark.py": {
        "test_spark_table_equals_the_chunk_loop_for_any_partitioning": (
            "generates APC on Spark three ways and compares each with the chunk loop"
        ),
    },
}

TESTS_FOLDER = Path(__file__).parent


def _slow_reason(item: pytest.Item) -> str | None:
    module = item.path.name
    function = getattr(item, "originalname", item.name)
    return SLOW_FUNCTIONS.get(module, {}).get(function) or SLOW_MODULES.get(module)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the listed tests ``slow`` before ``-m`` selects on it (hence ``tryfirst``); refuse a
    list entry that names no test, and a ``slow`` mark from anywhere but the list."""
    listed = [(module, "") for module in SLOW_MODULES] + [
        (module, function) for module, functions in SLOW_FUNCTIONS.items() for function in functions
    ]
    stale = [f"{m}::{f}" if f else m for m, f in listed if not _names_a_test(m, f)]
    if stale:
        raise pytest.UsageError(f"the conftest's slow list names no test: {', '.join(stale)}")
    for item in items:
        reason = _slow_reason(item)
        if reason is None:
            if item.get_closest_marker("slow") is not None:
                raise pytest.UsageError(
                    f"{item.nodeid} is marked slow outside the conftest's slow list: list it "
                    "there (SLOW_MODULES or SLOW_FUNCTIONS) with the reason"
                )
            continue
        item.add_marker(pytest.mark.slow(reason=reason))


def _names_a_test(module: str, function: str) -> bool:
    """Whether the module file exists and, when a function is named, defines it (read from the
    source, so that it holds whatever part of the suite was collected)."""
    path = TESTS_FOLDER / module
    if not path.is_file():
        return False
    if not function:
        return True
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
        for node in tree.body
    )


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from artificial_data.common.spark import get_spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = get_spark("local[2]", app_name="artificial_data_tests")
    yield session
    session.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``ARTIFICIAL_DATA_HOME`` for one test, in the simulated (test) environment."""
    root = tmp_path / "artificial_data_home"
    root.mkdir()
    monkeypatch.setenv(HOME_ENV, str(root))
    monkeypatch.setenv(ENVIRONMENT_ENV, "test")
    return root


@pytest.fixture
def signers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Real ssh-keygen keys and the operator's allowed-signers list (ARTIFICIAL_DATA_ALLOWED_SIGNERS
    points at it): ada may review, grace may approve, alan may do either."""
    from artificial_data_tests.signers import DEFAULT_GRANTS, Signers

    folder = tmp_path / "signing"
    folder.mkdir()
    signers = Signers(folder, monkeypatch)
    signers.write(DEFAULT_GRANTS)
    return signers
