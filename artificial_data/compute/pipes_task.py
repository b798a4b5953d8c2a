"""The Databricks task: ``artificial-data pipes-task <step> [--setting NAME=VALUE ...]``.

Launched by ``orchestration/compute.py`` as the ``python_wheel_task`` of a one-time job run. It
opens Dagster Pipes, runs the very step function the local asset runs (``scrape_partition``,
``generate_partition``, ``qa_partition``) on the partition named by the Pipes context, and
reports the result's metadata and check results back, with a few log lines.

What it is told, and where from:
- the Pipes bootstrap (where the context file is, where to write messages): environment
  variables on a new cluster, ``--dagster-pipes-*`` arguments on an existing one, as
  ``PipesDatabricksClient`` passes them;
- its location's settings as ``--setting NAME=VALUE`` parameters: the roots of the stores that
  location is granted, its store backend (on the catalog backend: catalog, table format and
  schema prefix, from which the task's stores derive the schemas of the granted stores only),
  the environment name, the allowed-signers list. Only ``ARTIFICIAL_DATA_*`` names are
  accepted, and never a location's ``ARTIFICIAL_DATA_<LOCATION>_DATABRICKS_*`` credential (the
  task runs as the job's principal);
- the step's run config (e.g. generated rows and seed) in the Pipes extras.

Pipes files live on DBFS and the task reads and writes them through the DBFS FUSE mount,
``/dbfs`` on Databricks (``ARTIFICIAL_DATA_DBFS_MOUNT`` names another root, as the tests'
fake workspace does).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dagster_pipes import (
    DAGSTER_PIPES_CONTEXT_ENV_VAR,
    DAGSTER_PIPES_MESSAGES_ENV_VAR,
    DagsterPipesError,
    PipesBufferedFilesystemMessageWriterChannel,
    PipesContext,
    PipesContextLoader,
    PipesDbfsMessageWriter,
    PipesMappingParamsLoader,
    PipesParams,
    open_dagster_pipes,
)

from artificial_data.compute import (
    GENERATE,
    QA,
    SCRAPE,
    SETTING_PREFIX,
    STEP_ASSET_STAGE,
    STEPS,
)

DBFS_MOUNT_ENV = "ARTIFICIAL_DATA_DBFS_MOUNT"
DEFAULT_DBFS_MOUNT = "/dbfs"
#: Seconds between uploads of buffered Pipes messages (everything left is sent at the end).
MESSAGE_INTERVAL = 1.0


class TaskRefused(ValueError):
    """The task was asked for something it does not do."""


def _on_mount(dbfs_path: str) -> str:
    mount = os.environ.get(DBFS_MOUNT_ENV) or DEFAULT_DBFS_MOUNT
    return os.path.join(mount, dbfs_path.removeprefix("dbfs:").lstrip("/"))


class DbfsContextLoader(PipesContextLoader):
    """Reads the context file ``PipesDbfsContextInjector`` wrote, through the DBFS mount."""

    @contextmanager
    def load_context(self, params: PipesParams) -> Iterator[Any]:
        with open(_on_mount(str(params["path"])), encoding="utf-8") as file:
            yield json.load(file)


class DbfsMessageWriter(PipesDbfsMessageWriter):
    """``PipesDbfsMessageWriter`` through the configured mount; cluster log extras are best effort
    (they need the session Databricks starts, which a task that never uses Spark may lack)."""

    def make_channel(self, params: PipesParams) -> PipesBufferedFilesystemMessageWriterChannel:
        return PipesBufferedFilesystemMessageWriterChannel(
            path=_on_mount(str(params["path"])), interval=self.interval
        )

    def get_opened_extras(self) -> dict:
        try:
            return super().get_opened_extras()
        except DagsterPipesError:
            return {}


def apply_settings(settings: Sequence[str]) -> dict[str, str]:
    """Put the location's ``--setting NAME=VALUE`` pairs into this process's environment."""
    from artificial_data.common.credentials import is_credential_env

    applied = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        if not sep or not name.startswith(SETTING_PREFIX):
            raise TaskRefused(f"setting {name!r} refused: only {SETTING_PREFIX}* names are passed")
        if is_credential_env(name):
            raise TaskRefused(f"setting {name!r} refused: no credential is passed to a task")
        applied[name] = value
    os.environ.update(applied)
    return applied


class TaskSpark:
    """The task's Spark session, created on first use: the cluster's own on Databricks, else
    the project's session for ``ARTIFICIAL_DATA_SPARK_MASTER`` (local Spark by default). The
    catalog tables use the same one (``common/spark.get_spark``)."""

    @property
    def spark_session(self) -> Any:
        from artificial_data.common.settings import load_settings
        from artificial_data.common.spark import get_spark

        return get_spark(load_settings().spark_master, "artificial_data_pipes_task")


def _dataset_of(step: str, asset_key: str) -> str:
    dataset, _, stage = asset_key.partition("/")
    if stage != STEP_ASSET_STAGE[step] or not dataset:
        raise TaskRefused(f"step {step!r} does not materialise {asset_key!r}")
    return dataset


def run_step(step: str, dataset: str, year: str, config: Mapping[str, Any]) -> Any:
    """The same step function the local asset runs, with this location's stores."""
    from artificial_data.common.dataset_spec import load_spec

    spec = load_spec(dataset)
    if step == SCRAPE:
        from artificial_data.orchestration.resources import ScraperStores
        from artificial_data.scraper.assets import scrape_partition

        return scrape_partition(spec, year, ScraperStores().stores(), TaskSpark())
    if step == GENERATE:
        from artificial_data.generator.assets import GenerateConfig, generate_partition
        from artificial_data.orchestration.resources import GeneratorStores

        stores = GeneratorStores().stores()
        return generate_partition(spec, year, GenerateConfig(**config), stores, TaskSpark())
    if step == QA:
        from artificial_data.generator.qa_assets import qa_partition
        from artificial_data.orchestration.resources import GeneratorStores

        return qa_partition(spec, year, GeneratorStores().stores())
    raise TaskRefused(f"unknown step {step!r}; expected one of {STEPS}")


def pipes_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster metadata values as Pipes sends them (``{"raw_value", "type"}``)."""
    from dagster import (
        JsonMetadataValue,
        MarkdownMetadataValue,
        PathMetadataValue,
        TableSchema,
        TableSchemaMetadataValue,
        TextMetadataValue,
        UrlMetadataValue,
    )

    kinds = (
        (PathMetadataValue, "path"),
        (JsonMetadataValue, "json"),
        (MarkdownMetadataValue, "md"),
        (UrlMetadataValue, "url"),
        (TextMetadataValue, "text"),
    )
    converted: dict[str, Any] = {}
    for name, value in metadata.items():
        if isinstance(value, TableSchemaMetadataValue):
            value = value.schema
        if isinstance(value, TableSchema):  # ``dagster/column_schema``
            columns = [{"name": c.name, "type": c.type, "description": c.description}
                       for c in value.columns]  # fmt: skip
            converted[name] = {"raw_value": {"columns": columns}, "type": "table_schema"}
            continue
        kind = next((k for cls, k in kinds if isinstance(value, cls)), None)
        if kind is not None:
            converted[name] = {"raw_value": value.value, "type": kind}
        else:
            converted[name] = {"raw_value": value, "type": "__infer__"}
    return converted


def report(pipes: PipesContext, result: Any) -> None:
    pipes.report_asset_materialization(metadata=pipes_metadata(result.metadata or {}))
    for check in result.check_results or []:
        pipes.report_asset_check(
            check_name=check.check_name,
            passed=check.passed,
            severity=check.severity.value,
            metadata=pipes_metadata(check.metadata or {}),
        )


def _params_loader(context_param: str | None, messages_param: str | None):
    if context_param and messages_param:
        mapping = {
            DAGSTER_PIPES_CONTEXT_ENV_VAR: context_param,
            DAGSTER_PIPES_MESSAGES_ENV_VAR: messages_param,
        }
        return PipesMappingParamsLoader(mapping)
    return PipesMappingParamsLoader(os.environ)


def run_task(
    step: str,
    settings: Sequence[str] = (),
    context_param: str | None = None,
    messages_param: str | None = None,
) -> int:
    """Run ``step`` for the asset partition of the Pipes context; raise what the step raised."""
    if step not in STEPS:
        raise TaskRefused(f"unknown step {step!r}; expected one of {STEPS}")
    applied = apply_settings(settings)
    with open_dagster_pipes(
        params_loader=_params_loader(context_param, messages_param),
        context_loader=DbfsContextLoader(),
        message_writer=DbfsMessageWriter(interval=MESSAGE_INTERVAL),
    ) as pipes:
        if pipes.extras.get("step") != step:
            raise TaskRefused(
                f"task runs {step!r} but Dagster asked for {pipes.extras.get('step')!r}"
            )
        dataset = _dataset_of(step, pipes.asset_key)
        year = pipes.partition_key
        pipes.log.info(
            f"{step} {dataset} {year} on Databricks; settings: {', '.join(sorted(applied))}"
        )
        result = run_step(step, dataset, year, pipes.extras.get("config") or {})
        report(pipes, result)
        pipes.log.info(f"{step} {dataset} {year} done")
    return 0
