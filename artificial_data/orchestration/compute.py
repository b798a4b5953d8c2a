"""Where a location's Spark-heavy steps run (DESIGN §11): in this process, or on Databricks.

One resource, ``spark``, serves every engine, so the asset definitions are the same in every
mode. It is still the lazy Spark session of the local default (``local[2]``, a ``spark://``
master or a ``sc://`` Spark Connect server, given by ``ARTIFICIAL_DATA_SPARK_MASTER``); with
``ARTIFICIAL_DATA_ENGINE=databricks`` in the location's environment, :meth:`SparkEngine.databricks`
returns a :class:`DatabricksCompute` instead, and the asset hands its step to a one-time
Databricks job run launched with ``dagster_databricks.PipesDatabricksClient``. The run's task is
this package's own entry point (``artificial-data pipes-task <step>``,
``artificial_data/compute/pipes_task.py``) which runs the same step function the local asset
runs and reports its materialisation and check results back through Pipes.

Everything is read from the location's process environment, never from run config (which the
Launchpad can edit):

- ``ARTIFICIAL_DATA_ENGINE``: ``spark`` (default) or ``databricks``.
- ``ARTIFICIAL_DATA_DATABRICKS_CLUSTER``: JSON, either ``{"existing_cluster_id": "..."}`` or
  ``{"new_cluster": {...}}`` (a Databricks cluster spec).
- ``ARTIFICIAL_DATA_DATABRICKS_WHEEL``: the project's wheel on the workspace (``dbfs:/...``,
  ``/Volumes/...`` or ``/Workspace/...``), installed as the task's library; unset when the
  cluster already has it.
- ``ARTIFICIAL_DATA_DATABRICKS_POLL_SECONDS``: run status and Pipes message polling (default 5).
- Credentials: the location's own ``ARTIFICIAL_DATA_<LOCATION>_DATABRICKS_HOST`` with its
  ``..._TOKEN`` or service principal ``..._CLIENT_ID``/``..._CLIENT_SECRET``, read by
  ``databricks_credentials(location).workspace_client()`` (``common/credentials.py``), which
  refuses when the process can also see another location's secret or the SDK's unscoped
  ``DATABRICKS_TOKEN``/``DATABRICKS_CLIENT_SECRET``. They are never config, never forwarded to
  the task and never in the Pipes context.

The task gets this location's settings as task parameters: the roots of the stores it is
granted (never ``ARTIFICIAL_DATA_HOME``, which would name every store), the store backend
(``ARTIFICIAL_DATA_STORE_BACKEND``, and on the catalog backend the catalog, table format and
schema prefix, from which the task derives the schemas of its granted stores only), the
environment name and the allowed-signers list. A cluster spec whose environment names any other
store, a home, a store backend setting or a credential is refused before anything is submitted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagster import AssetExecutionContext, Failure, MaterializeResult
from dagster._core.errors import DagsterExecutionInterruptedError, DagsterPipesExecutionError
from dagster_databricks import PipesDatabricksClient
from dagster_databricks.pipes import PipesDbfsMessageReader
from dagster_pyspark import LazyPySparkResource
from databricks.sdk.service import jobs
from pydantic import model_validator

from artificial_data.common.credentials import (
    UNSCOPED,
    CredentialsRefused,
    databricks_credentials,
    is_credential_env,
)
from artificial_data.common.settings import (
    BACKEND_ENV,
    CATALOG,
    CATALOG_ENV,
    CATALOG_FORMAT_ENV,
    CATALOG_STAGING_ENV,
    ENVIRONMENT_ENV,
    FOLDERS,
    HOME_ENV,
    SCHEMA_PREFIX_ENV,
    SPARK_MASTER_ENV,
    STORE_ENV_PREFIX,
    load_settings,
    store_root_env,
)
from artificial_data.common.signing import ALLOWED_SIGNERS_ENV
from artificial_data.common.spark import spark_config
from artificial_data.common.stores import STORE_NAMES, ScopedStores
from artificial_data.compute import GENERATE, QA, SCRAPE, SETTING_ARGUMENT

ENGINE_ENV = "ARTIFICIAL_DATA_ENGINE"
CLUSTER_ENV = "ARTIFICIAL_DATA_DATABRICKS_CLUSTER"
WHEEL_ENV = "ARTIFICIAL_DATA_DATABRICKS_WHEEL"
POLL_ENV = "ARTIFICIAL_DATA_DATABRICKS_POLL_SECONDS"
ENGINES = ("spark", "databricks")
__all__ = ["GENERATE", "QA", "SCRAPE", "DatabricksCompute", "SparkEngine"]

#: The entry point the task runs (``[project.scripts]`` in pyproject.toml).
PACKAGE_NAME = "artificial_data"
ENTRY_POINT = "artificial-data"
TASK_COMMAND = "pipes-task"


class ComputeNotConfigured(ValueError):
    """The location's environment asks for an engine it does not describe completely."""


@dataclass(frozen=True)
class DatabricksSettings:
    cluster: Mapping[str, Any]
    wheel: str | None
    poll_seconds: float


def load_engine() -> str:
    engine = (os.environ.get(ENGINE_ENV) or "spark").strip().lower()
    if engine not in ENGINES:
        raise ComputeNotConfigured(f"{ENGINE_ENV}={engine!r}; expected one of {ENGINES}")
    return engine


def load_databricks_settings() -> DatabricksSettings:
    text = os.environ.get(CLUSTER_ENV, "").strip()
    if not text:
        raise ComputeNotConfigured(
            f"{ENGINE_ENV}=databricks needs {CLUSTER_ENV}: "
            '{"existing_cluster_id": "..."} or {"new_cluster": {...}}'
        )
    try:
        cluster = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ComputeNotConfigured(f"{CLUSTER_ENV} is not JSON: {exc}") from None
    keys = set(cluster) if isinstance(cluster, dict) else set()
    if len(keys & {"existing_cluster_id", "new_cluster"}) != 1 or keys - {
        "existing_cluster_id",
        "new_cluster",
    }:
        raise ComputeNotConfigured(
            f"{CLUSTER_ENV} must hold exactly one of existing_cluster_id or new_cluster"
        )
    try:
        poll = float(os.environ.get(POLL_ENV) or 5)
    except ValueError:
        raise ComputeNotConfigured(f"{POLL_ENV} is not a number") from None
    wheel = os.environ.get(WHEEL_ENV, "").strip() or None
    return DatabricksSettings(cluster=cluster, wheel=wheel, poll_seconds=max(poll, 0.05))


#: Store backend settings: the task is told its location's, and a cluster spec may not set them.
BACKEND_SETTINGS = (BACKEND_ENV, CATALOG_ENV, CATALOG_FORMAT_ENV, SCHEMA_PREFIX_ENV)


def task_settings(scoped: ScopedStores) -> dict[str, str]:
    """What the task is told: the roots of this location's granted stores, its store backend,
    and nothing wider. On the catalog backend that is the catalog, format and schema prefix:
    the task derives ``<prefix><store>`` for its own granted stores only, so no schema of
    another scope is ever named (the simulator's staging folder is not a step's business)."""
    settings = {store_root_env(s): str(root) for s, root in sorted(scoped.roots.items())}
    catalog = scoped.catalog
    settings[BACKEND_ENV] = FOLDERS if catalog is None else CATALOG
    if catalog is not None:
        settings[CATALOG_ENV] = catalog.catalog
        settings[CATALOG_FORMAT_ENV] = catalog.table_format
        settings[SCHEMA_PREFIX_ENV] = catalog.schema_prefix
    settings[ENVIRONMENT_ENV] = load_settings().environment
    if os.environ.get(ALLOWED_SIGNERS_ENV):
        settings[ALLOWED_SIGNERS_ENV] = os.environ[ALLOWED_SIGNERS_ENV]
    return settings


def _refuse_foreign_stores(scoped: ScopedStores, cluster: Mapping[str, Any]) -> None:
    """A cluster spec written for this location must not name another location's stores, nor
    set the store backend or a credential (the task is told its backend as parameters and runs
    as the job's principal)."""
    env = (cluster.get("new_cluster") or {}).get("spark_env_vars") or {}
    granted = scoped.grants.read | scoped.grants.write
    for name in env:
        if name in BACKEND_SETTINGS or name == CATALOG_STAGING_ENV:
            raise Failure(
                f"{scoped.location}: {CLUSTER_ENV} sets {name} in spark_env_vars; the task is "
                "told its location's store backend as task parameters",
                allow_retries=False,
            )
        if is_credential_env(name) or name in UNSCOPED:
            raise Failure(
                f"{scoped.location}: {CLUSTER_ENV} sets {name} in spark_env_vars; no credential "
                "is ever passed to a task (it runs as the job run's principal)",
                allow_retries=False,
            )
        store = name.removeprefix(STORE_ENV_PREFIX).lower()
        if name == HOME_ENV or (
            name.startswith(STORE_ENV_PREFIX) and (store not in STORE_NAMES or store not in granted)
        ):
            raise Failure(
                f"{scoped.location}: {CLUSTER_ENV} sets {name} in spark_env_vars; a Databricks "
                f"task of this location may only be told the roots of its own stores "
                f"({', '.join(sorted(granted))}), which it is given as task parameters",
                allow_retries=False,
            )


class DatabricksCompute:
    """Runs one step of one asset partition as a one-time Databricks job run (Pipes)."""

    def __init__(self, settings: DatabricksSettings) -> None:
        self.settings = settings

    def submit_task(self, step: str, scoped: ScopedStores) -> Any:
        _refuse_foreign_stores(scoped, self.settings.cluster)
        parameters = [TASK_COMMAND, step]
        for name, value in task_settings(scoped).items():
            parameters += [SETTING_ARGUMENT, f"{name}={value}"]
        task: dict[str, Any] = {
            "task_key": f"artificial_data_{step}",
            "python_wheel_task": {
                "package_name": PACKAGE_NAME,
                "entry_point": ENTRY_POINT,
                "parameters": parameters,
            },
            **self.settings.cluster,
        }
        if self.settings.wheel:
            task["libraries"] = [{"whl": self.settings.wheel}]
        return jobs.SubmitTask.from_dict(task)

    def run(
        self,
        context: AssetExecutionContext,
        step: str,
        scoped: ScopedStores,
        config: Mapping[str, Any] | None = None,
    ) -> MaterializeResult:
        """Submit the step, stream its Pipes messages, return what it reported."""
        # Host and credential: this location's own, from this process's environment only.
        try:
            client = databricks_credentials(scoped.location).workspace_client()
        except CredentialsRefused as exc:
            raise Failure(str(exc), allow_retries=False) from None
        poll = self.settings.poll_seconds
        pipes = _PipesClient(
            client=client,
            message_reader=PipesDbfsMessageReader(client=client, interval=poll),
            poll_interval_seconds=poll,
        )
        task = self.submit_task(step, scoped)
        extras = {"step": step, "config": dict(config or {})}
        run_name = f"artificial_data {step} {context.asset_key.to_user_string()}"
        run_name += f" {context.partition_key}"
        try:
            invocation = pipes.run(
                context=context, task=task, extras=extras, submit_args={"run_name": run_name}
            )
        except DagsterPipesExecutionError as exc:
            raise Failure(
                description=_task_error(client, pipes.run_id, exc), allow_retries=False
            ) from None
        return invocation.get_materialize_result()


class _PipesClient(PipesDatabricksClient):
    """Remembers the run it polls, and does not swallow a cancellation.

    ``PipesDatabricksClient.run`` (0.29.27) cancels the job run when the step is interrupted
    (Dagster's run termination) but then returns as if the run had finished; re-raising here
    makes the step end interrupted, as a local step would.
    """

    run_id: int | None = None

    def _poll_til_success(self, context, run_id):
        self.run_id = run_id
        return super()._poll_til_success(context, run_id)

    def _poll_til_terminating(self, run_id):
        super()._poll_til_terminating(run_id)
        raise DagsterExecutionInterruptedError(f"Databricks run {run_id} was cancelled")


def _task_error(client: Any, run_id: int | None, error: Exception) -> str:
    """The task's own error, which Databricks keeps in the task run's output, else the state."""
    if run_id is None:
        return str(error)
    try:
        run = client.jobs.get_run(run_id)
        task_run = (run.tasks or [None])[0]
        output = client.jobs.get_run_output(task_run.run_id if task_run else run_id)
    except Exception:  # the run's state message is then the best there is
        return str(error)
    if output.error:
        return f"Databricks run {run_id} failed: {output.error}"
    return str(error)


class SparkEngine(LazyPySparkResource):
    """The ``spark`` resource of a location: a lazy local/cluster Spark session, or Databricks.

    The engine is chosen by the process environment (:func:`load_engine`), never by run config.
    ``spark_config`` is a config field of ``LazyPySparkResource``, so the Launchpad could set it;
    anything but the configuration this process's environment gives (the master URL of
    ``ARTIFICIAL_DATA_SPARK_MASTER`` and the project's settings, ``common/spark.py``) is refused
    at construction, before any step runs. Otherwise a run config could send a scrape's raw rows
    to another cluster, or start the Python workers from another interpreter.
    """

    @model_validator(mode="after")
    def _spark_config_from_environment(self) -> SparkEngine:
        app_name = str(self.spark_config.get("spark.app.name", ""))
        expected = spark_config(load_settings().spark_master, app_name)
        if dict(self.spark_config) != expected:
            changed = sorted(
                key
                for key in set(self.spark_config) | set(expected)
                if self.spark_config.get(key) != expected.get(key)
            )
            raise ValueError(
                f"the spark resource's configuration comes from the code location's environment "
                f"({SPARK_MASTER_ENV}), not from run config; refused settings: {', '.join(changed)}"
            )
        return self

    def databricks(self) -> DatabricksCompute | None:
        """The Databricks runner when this location runs its Spark steps there, else None."""
        if load_engine() != "databricks":
            return None
        return DatabricksCompute(load_databricks_settings())
