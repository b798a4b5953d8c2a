"""Scrape with a Spark session whose JVM has been killed, in a process of its own.

Killing the JVM of the test session's shared Spark would break every later test, so the test
of the dead-session message runs this instead and reads the errors it prints as JSON:

    python -m artificial_data_tests.dead_spark_driver RAW_PARQUET_FOLDER
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

from artificial_data_tests.test_scrape import hand_made, to_spark, toy_spec

YEAR = "2122"


def error_of(call: Any) -> dict[str, str] | None:
    try:
        call()
    except Exception as error:
        return {"type": type(error).__name__, "message": str(error)}
    return None


def main(raw_folder: str) -> None:
    from artificial_data.common.spark import get_spark
    from artificial_data.scraper.scrape import read_source, scrape

    spark = get_spark("local[1]", app_name="artificial_data_dead_spark")
    spec = toy_spec()
    df = to_spark(spark, spec, hand_made())
    jvm = spark.sparkContext._gateway.proc  # the java process PySpark launched
    jvm.send_signal(signal.SIGKILL)
    jvm.wait()
    errors = {
        "scrape": error_of(lambda: scrape(df, spec, YEAR)),
        "read_source": error_of(lambda: read_source(spark, spec, YEAR, raw_folder)),
    }
    print(json.dumps(errors))


if __name__ == "__main__":
    main(sys.argv[1])
