"""A Spark driver run in its own process against a Spark cluster or Spark Connect server.

A Python process can hold only one SparkContext, and the test session's is local, so the tests
of DESIGN §11 ("the same assets run unchanged on a cluster") run the scraper and the generator
here, in a subprocess pointed at another master, and compare its fingerprints with the ones the
test computes on local Spark. Two modes:

    python -m artificial_data_tests.remote_driver MASTER RAW_PARQUET_FOLDER OUT_JSON
    python -m artificial_data_tests.remote_driver assets OUT_JSON

The first calls the scrape and generate functions on a session it makes for ``MASTER``. The
second runs the code locations' own Dagster jobs (:func:`materialise_through_assets`), exactly as
``make demo`` does; the master is whatever the process environment says
(``ARTIFICIAL_DATA_SPARK_MASTER``), as it is for a deployed code location, and the stores are
those of ``ARTIFICIAL_DATA_HOME``.
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

#: The dataset-year the asset runs materialise: small, so that one run costs seconds.
ASSET_DATASET = "hes_op"
ASSET_YEAR = "2122"
ASSET_RAW_ROWS = 5_000
ASSET_ROWS = 2_500  # the generator's default chunk is smaller: several tasks per table
ASSET_SEED = 20_260_401


def frame_fingerprint(frame: Any) -> str:
    """SHA-256 of a pandas frame's rows, independent of row order."""
    lines = sorted(frame.astype(str).agg("\x1f".join, axis=1))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def table_fingerprint(df: Any) -> str:
    """SHA-256 of a Spark frame's rows, independent of row order and partitioning."""
    return frame_fingerprint(df.toPandas())


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


def _run_job(defs: Any, job: str, instance: Any, run_config=None, assets=None) -> None:
    config = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}, **(run_config or {})}
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=ASSET_YEAR,
        instance=instance,
        run_config=config,
        asset_selection=assets,
        raise_on_error=True,
    )
    assert result.success, f"{job} failed"


def materialise_through_assets() -> dict[str, Any]:
    """Run raw -> suppressed metadata (the scraper's job), review pack, DEMO sign-off, release,
    and the artificial table (the generator's job) for one small dataset-year, each location
    with its own definitions and resources, in this process's environment (its home, its
    master). Returns what must not depend on where Spark ran, and where it ran."""
    import pyarrow.parquet as pq
    from dagster import DagsterInstance
    from pyspark.sql import SparkSession

    from artificial_data.common.settings import load_settings
    from artificial_data.common.stores import ARTIFICIAL, METADATA_SENSITIVE
    from artificial_data.demo import demo_sign_off, use_demo_signers
    from artificial_data.generator.definitions import defs as generator_defs
    from artificial_data.orchestration.keys import artificial_key, raw_key, step_config
    from artificial_data.review.definitions import defs as review_defs
    from artificial_data.scraper.definitions import defs as scraper_defs

    ds = ASSET_DATASET
    settings = load_settings()
    use_demo_signers()
    instance = DagsterInstance.ephemeral()
    raw = step_config(raw_key(ds), rows=ASSET_RAW_ROWS, seed=ASSET_SEED)
    _run_job(scraper_defs, f"scrape_{ds}", instance, raw)
    _run_job(review_defs, f"review_pack_{ds}", instance)
    demo_sign_off(load_spec(ds), ASSET_YEAR)
    _run_job(review_defs, f"release_{ds}", instance)
    generate = step_config(artificial_key(ds), rows=ASSET_ROWS)
    _run_job(generator_defs, f"generate_{ds}", instance, generate, assets=[artificial_key(ds)])

    roots = settings.store_roots
    header = roots[METADATA_SENSITIVE] / ds / ASSET_YEAR / "header.json"
    artificial = (roots[ARTIFICIAL] / ds / ASSET_YEAR).resolve()
    provenance = json.loads((artificial / "_generation.json").read_text())
    table = pq.read_table(artificial)
    session = SparkSession.builder.getOrCreate()  # the one the jobs' resources started
    return {
        "same": {  # must not depend on where Spark ran
            "metadata_hash": json.loads(header.read_text())["content_hash"],
            "generated_from": provenance["metadata_content_hash"],
            "seed": provenance["seed"],
            "rows": table.num_rows,
            "artificial": frame_fingerprint(table.to_pandas()),
        },
        "where": {
            "master": session.sparkContext.master,
            "executor_package": sorted(set(executor_package_folders(session))),
            "artificial_folder": str(artificial),
            "artificial_files": sorted(p.name for p in artificial.glob("part-*.parquet")),
        },
    }


def executor_package_folders(session: Any) -> list[str]:
    """Where the executors' Python workers import ``artificial_data`` from."""

    def folder(_: Any) -> str:
        import artificial_data

        return str(Path(artificial_data.__file__).resolve().parents[1])

    return session.sparkContext.parallelize(range(4), 4).map(folder).collect()


def main(argv: list[str]) -> None:
    if argv[0] == "assets":
        (out,) = argv[1:]
        from pyspark.sql import SparkSession

        try:
            Path(out).write_text(json.dumps(materialise_through_assets()))
        finally:
            if (session := SparkSession.getActiveSession()) is not None:
                session.stop()
        return
    master, raw_folder, out = argv
    from artificial_data.common.spark import get_spark

    spark = get_spark(master, app_name="artificial_data_remote_driver")
    try:
        Path(out).write_text(json.dumps(scrape_and_generate(spark, raw_folder)))
    finally:
        spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
