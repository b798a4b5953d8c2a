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
"""

from __future__ import annotations

import os
import sys
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


def use_this_python_for_local_workers(master: str) -> None:
    """Make local Spark's Python workers run this interpreter (the project's venv).

    PySpark reads ``PYSPARK_PYTHON`` from the environment when the session starts (the
    ``spark.pyspark.python`` setting only reaches spark-submit), so a process started without
    it, such as a Dagster run worker, would run its workers on the system Python.
    """
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def get_spark(master: str = "local[2]", app_name: str = "artificial_data") -> Any:
    """Return the process's shared Spark session, creating it on first use."""
    from pyspark.sql import SparkSession

    use_this_python_for_local_workers(master)
    builder = SparkSession.builder
    for key, value in spark_config(master, app_name).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
