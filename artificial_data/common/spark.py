"""One place that knows how this project configures Spark.

Local Spark is the embedded default (DESIGN §11). Session start-up costs 9-14 s here, so the
session is created lazily and shared within a process; the UI is off and shuffle partitions are
few because local data are small per partition. A standalone master or Spark Connect URL is
given through ``ARTIFICIAL_DATA_SPARK_MASTER``; nothing else changes.

HES tables are wide (APC has about 190 fields) and Spark's default limit for whole-stage code
generation is 100 fields. Above that limit Spark not only interprets the plan row by row, it
also turns off its vectorized (columnar) Parquet reader, and reading the raw extract became the
slowest part of a scrape: the frequency pass over 1M APC rows took 26 s with the default and
17 s with the limit raised (``benchmarks/bench_scraper.py``, docs/performance.md).

A session lives as long as its process, but its JVM can die under it (killed for memory, a
crashed executor taking the driver down). Every later call then fails with a bare
``ConnectionRefusedError`` or a py4j network error, sometimes disguised (``df.schema`` raises
"Unable to parse datatype"), which names no dataset and suggests nothing to do.
:func:`explain_dead_spark` turns those into one clear :class:`SparkSessionStopped`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Fields a plan may have before Spark stops generating code for it: above every HES table.
WIDEST_PLAN_FIELDS = 1000


def spark_config(master: str = "local[2]", app_name: str = "artificial_data") -> dict[str, Any]:
    """The Spark configuration used by the code locations, the CLI and the tests."""
    conf: dict[str, Any] = {
        "spark.app.name": app_name,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        # Wider than any HES table, so that the vectorized Parquet reader and whole-stage code
        # generation stay on (see the module docstring).
        "spark.sql.codegen.maxFields": str(WIDEST_PLAN_FIELDS),
    }
    if master.startswith("sc://"):
        conf["spark.remote"] = master
    else:
        conf["spark.master"] = master
    if master.startswith("local"):
        # Local Python workers must run this interpreter (the project's venv), whoever started
        # the process: `make`, `dagster dev`, the daemon's run workers or a test runner.
        python = os.environ.get("PYSPARK_PYTHON") or sys.executable
        conf.update(
            {
                "spark.pyspark.python": python,
                "spark.pyspark.driver.python": python,
                "spark.sql.shuffle.partitions": "4",
                "spark.default.parallelism": "4",
                "spark.driver.memory": "4g",
                "spark.sql.adaptive.enabled": "true",
            }
        )
    return conf


#: Set by the Databricks Runtime on its clusters.
DATABRICKS_RUNTIME_ENV = "DATABRICKS_RUNTIME_VERSION"


def use_this_python_for_local_workers(master: str) -> None:
    """Make local Spark's Python workers run this interpreter (the project's venv).

    PySpark reads ``PYSPARK_PYTHON`` from the environment when the session starts (the
    ``spark.pyspark.python`` setting only reaches spark-submit), so a process started without
    it, such as a Dagster run worker, would run its workers on the system Python.
    """
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def get_spark(master: str = "local[2]", app_name: str = "artificial_data") -> Any:
    """Return the process's shared Spark session, creating it on first use.

    On a Databricks cluster (``DATABRICKS_RUNTIME_VERSION`` set, e.g. a Pipes task) it is the
    session the runtime started, whatever ``master`` says: every user of the session there (the
    step and the catalog tables) shares the cluster's own."""
    from pyspark.sql import SparkSession

    if os.environ.get(DATABRICKS_RUNTIME_ENV):
        return SparkSession.builder.getOrCreate()
    use_this_python_for_local_workers(master)
    builder = SparkSession.builder
    for key, value in spark_config(master, app_name).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


class SparkSessionStopped(RuntimeError):
    """The process's Spark session cannot be used any more: its JVM has stopped."""


#: What py4j and Spark say when the JVM behind a session is gone or its context was stopped.
_STOPPED_MESSAGES = (
    "SparkContext was shut down",
    "Cannot call methods on a stopped SparkContext",
    "Answer from Java side is empty",
    "Error while sending or receiving",
)


def _network_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (
        ConnectionRefusedError,
        ConnectionResetError,
        BrokenPipeError,
    )
    try:  # py4j comes with classic PySpark; a Spark Connect client may run without it
        from py4j.protocol import Py4JNetworkError
    except ImportError:
        return errors
    return (*errors, Py4JNetworkError)


def is_dead_spark_error(error: BaseException) -> bool:
    """Whether ``error``, or an error it was raised from or while handling, says the Spark JVM
    is gone. PySpark often reports a refused connection as another error, hence the chain."""
    network = _network_errors()
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, network):
            return True
        if any(message in str(current) for message in _STOPPED_MESSAGES):
            return True
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return False


@contextmanager
def explain_dead_spark(dataset: str, financial_year: str) -> Iterator[None]:
    """Raise :class:`SparkSessionStopped`, naming the partition, when Spark work inside the
    block fails because the session's JVM has stopped; other errors pass through unchanged."""
    try:
        yield
    except SparkSessionStopped:
        raise
    except Exception as error:
        if not is_dead_spark_error(error):
            raise
        raise SparkSessionStopped(
            f"{dataset} {financial_year}: Spark session is not running (its JVM has stopped): "
            "restart the code location (Reload it in the Dagster UI, or restart the process) so "
            "that it starts a new Spark session, then re-run this partition"
        ) from error
