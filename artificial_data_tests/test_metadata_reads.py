"""Each step reads, validates and hash-checks each metadata partition it needs once (issue 16).

One hes_op 2122 partition goes from scrape to publication through the real step functions and
Dagster jobs, with ``metadata_contract.validate`` and ``content_hash`` counted per partition
(``metadata_work.py``). A second read of the same partition inside one step is the waste this
guards against; a read in each step is the point (a file edited between steps is caught).
"""

import json
from types import SimpleNamespace

import pytest
from dagster import DagsterInstance, build_sensor_context

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.metadata_store import read_metadata, write_metadata
from artificial_data.common.stores import (
    ADMIN,
    METADATA_RELEASED,
    METADATA_SENSITIVE,
    ScopedStores,
)
from artificial_data.generator.assets import GenerateConfig, generate_partition
from artificial_data.generator.qa_assets import qa_partition
from artificial_data.orchestration.keys import published_key
from artificial_data.orchestration.resources import ReviewStores
from artificial_data.scraper.assets import scrape_partition
from artificial_data.simulator.writer import write_raw_partition
from artificial_data_tests.metadata_factory import header
from artificial_data_tests.metadata_work import MetadataWork
from artificial_data_tests.qa_tables import clean_table, hand_made_metadata, write_as_generated

SPEC = load_spec("hes_op")
YEAR = "2122"
SENSITIVE = f"metadata_sensitive/hes_op/{YEAR}"
RELEASED = f"metadata_released/hes_op/{YEAR}"


def _sign_off_config(signed) -> dict:
    config = {"statement": signed.statement.to_bytes().decode(), "signature": signed.signature}
    return {"ops": {"record_signed_statement_op": {"config": config}}}


def _plant_clean_table(generator: ScopedStores, content_hash: str) -> None:
    """A table QA passes (``qa_tables.clean_table``), written as the generator writes it."""
    rows = read_metadata(generator, METADATA_RELEASED, SPEC.dataset, YEAR).rows
    table = clean_table(SPEC, rows, 200, seed=7)
    write_as_generated(generator, SPEC, YEAR, table, content_hash)


def review_steps(home, signers, work: MetadataWork, steps: dict) -> str:
    """Review pack, both sign-offs (the UI job), the sign-off sensor and status job, the release
    and the pack again, on hand-made metadata that passes the disclosure checks and, with a
    clean table, QA. Records each step's metadata work; returns the released content hash."""
    from artificial_data.review.definitions import build_definitions

    scraper = ScopedStores.for_location("scraper", home, simulated_raw=True)
    metadata = hand_made_metadata(SPEC)
    write_metadata(scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, metadata, header(SPEC))
    review, instance = build_definitions(), DagsterInstance.ephemeral()
    admin = ScopedStores.for_location("review", home)

    def run(step: str, job: str, **kwargs) -> None:
        work.reset()
        assert review.resolve_job_def(job).execute_in_process(instance=instance, **kwargs).success
        steps[step] = work.snapshot()

    run("review_pack", "review_pack_hes_op", partition_key=YEAR)
    pack = json.loads(
        (admin.partition_path(ADMIN, "review_packs/hes_op", YEAR) / "pack.json").read_text()
    )
    for role, who in (("reviewer", "ada@example.org"), ("approver", "grace@example.org")):
        signed = signers.sign(
            role,
            who,
            dataset=SPEC.dataset,
            year=YEAR,
            content_hash=pack["content_hash"],
            review_pack_hash=pack["review_pack_hash"],
        )
        run(f"sign_off_job ({role})", "sign_off_job", run_config=_sign_off_config(signed))
    context = build_sensor_context(
        instance=instance, resources={"stores": ReviewStores()}, definitions=review
    )
    review.resolve_sensor_def("sign_off_status_sensor").evaluate_tick(context)
    steps["sign_off_status_sensor tick"] = work.snapshot()
    run("sign_off_status_job", "sign_off_status_job")
    run("release", "release_hes_op", partition_key=YEAR)
    run("review_pack (after a release)", "review_pack_hes_op", partition_key=YEAR)
    return pack["content_hash"]


def _once(*partitions: str) -> dict:
    return {kind: dict.fromkeys(partitions, 1) for kind in ("validated", "hashed")}


def test_each_review_qa_and_publication_step_reads_each_partition_once(home, signers, monkeypatch):
    from artificial_data.generator.definitions import build_definitions

    work, steps = MetadataWork().install(monkeypatch), {}
    content_hash = review_steps(home, signers, work, steps)
    generator = ScopedStores.for_location("generator", home)
    _plant_clean_table(generator, content_hash)
    work.reset()
    assert qa_partition(SPEC, YEAR, generator).metadata["passed"]
    steps["qa"] = work.snapshot()
    job = build_definitions().resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(
        partition_key=YEAR, asset_selection=[published_key(SPEC.dataset)]
    ).success
    steps["publish"] = work.snapshot()

    assert steps == {
        "review_pack": _once(SENSITIVE),
        # The first statement also keeps a snapshot of the signed metadata: the rows just
        # verified, written without validating them again.
        "sign_off_job (reviewer)": _once(SENSITIVE),
        "sign_off_job (approver)": _once(SENSITIVE),
        "sign_off_status_sensor tick": _once(SENSITIVE),
        "sign_off_status_job": _once(SENSITIVE),
        # The released copy is written from the rows verified at the start of the release.
        "release": _once(SENSITIVE),
        "review_pack (after a release)": _once(SENSITIVE, RELEASED),
        "qa": _once(RELEASED),
        "publish": _once(RELEASED),
    }


@pytest.mark.spark
def test_the_scrape_and_the_generation_validate_and_hash_once(home, spark, signers, monkeypatch):
    work, steps = MetadataWork().install(monkeypatch), {}
    scraper = ScopedStores.for_location("scraper", home, simulated_raw=True)
    write_raw_partition(scraper, SPEC, YEAR, rows=300, seed=3)
    work.reset()
    stored = scrape_partition(SPEC, YEAR, scraper, SimpleNamespace(spark_session=spark))
    steps["scrape"] = work.snapshot()
    # Written without a second validation, the rows still read back verified, under their hash.
    again = read_metadata(scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR)
    assert again.content_hash == stored.metadata["content_hash"]
    review_steps(home, signers, work, {})
    work.reset()
    generator = ScopedStores.for_location("generator", home)
    engine = SimpleNamespace(spark_session=spark)
    generate_partition(SPEC, YEAR, GenerateConfig(rows=200), generator, engine)
    steps["generate"] = work.snapshot()

    # The scraper validates and hashes the rows it builds, and writes them as they are.
    assert steps == {"scrape": _once("_scrape"), "generate": _once(RELEASED)}
