"""A Spark driver run in its own process against a Spark cluster or Spark Connect server.

A Python process can hold only one SparkContext, and the test session's is local, so the tests
of DESIGN §11 ("the same assets run unchanged on a cluster") run the scraper and the generator
here, in a subprocess pointed at another master, and compare its fingerprints with the ones the
test computes on local Spark:

    python -m artificial_data_tests.remote_driver MASTER RAW_PARQUET_FOLDER OUT_JSON
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from artificial_data.common.dataset_spec import load_spec

DATASET = "hes_apc"
YEAR = "2122"
GENERATED_ROWS = 3_000
SEED = 20_211
CHUNK_ROWS = 1_000  # three chunks, so three tasks spread over the executors


def table_fingerprint(df: Any) -> str:
    """SHA-256 of a Spark frame's rows, independent of row order and partitioning."""
    frame = df.toPandas()
    lines = sorted(frame.astype(str).agg("\x1f".join, axis=1))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def scrape_and_generate(spark: Any, raw_folder: str) -> dict[str, Any]:
    """The scraper's content hash on ``raw_folder`` and the fingerprint of a table generated
    from that metadata, with the same code the assets run."""
    from artificial_data.generator.engine import generate_table
    from artificial_data.scraper.scrape import read_source, scrape

    spec = load_spec(DATASET)
    result = scrape(read_source(spark, spec, YEAR, raw_folder), spec, YEAR, simulated_source=True)
    generated = generate_table(spark, result.rows, spec, YEAR, GENERATED_ROWS, SEED, CHUNK_ROWS)
    return {
        "metadata_hash": result.content_hash,
        "metadata_rows": len(result.rows),
        "generated": table_fingerprint(generated),
    }


def main(argv: list[str]) -> None:
    master, raw_folder, out = argv
    from artificial_data.common.spark import get_spark

    spark = get_spark(master, app_name="artificial_data_remote_driver")
    try:
        Path(out).write_text(json.dumps(scrape_and_generate(spark, raw_folder)))
    finally:
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
