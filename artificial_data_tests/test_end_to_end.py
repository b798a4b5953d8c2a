"""The demo slice end to end: simulated raw -> suppressed metadata -> DEMO sign-off ->
released metadata -> artificial tables in the exact schema, for all three datasets."""

import json
import zipfile

import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.metadata_store import read_metadata
from artificial_data.common.schema import arrow_schema
from artificial_data.common.signoff_statement import DEMO_IDENTITIES
from artificial_data.common.stores import ADMIN, METADATA_RELEASED, RAW, ScopedStores


@pytest.mark.spark
def test_demo_slice_for_every_dataset(home, monkeypatch, spark):
    from artificial_data.demo import run_demo

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    # The demo points this process at its own allowed-signers list; undo that afterwards.
    monkeypatch.delenv("ARTIFICIAL_DATA_ALLOWED_SIGNERS", raising=False)
    outputs = run_demo(years=("2122",), raw_rows=20_000, artificial_rows=1_500)
    assert sorted(o.dataset for o in outputs) == ["hes_ae", "hes_apc", "hes_op"]

    review = ScopedStores.for_location("review", home)
    scraper = ScopedStores.for_location("scraper", home, simulated_raw=True)
    for out in outputs:
        spec = load_spec(out.dataset)
        table = pq.read_table(out.path)
        assert table.num_rows == 1_500
        assert table.schema.remove_metadata() == arrow_schema(spec)
        # The raw input was simulated and is labelled so.
        assert (scraper.partition_path(RAW, out.dataset, "2122") / "_SIMULATED").exists()
        # Two DEMO statements are recorded, signed with the demo's own keys, and the release
        # (record, partition, asset, generation provenance, release notes) says DEMO.
        records = review.read_records(ADMIN, f"statements/{out.dataset}")
        statements = [json.loads(r["statement"]) for r in records]
        assert sorted(s["role"] for s in statements) == ["approver", "reviewer"]
        assert all(s["demo"] is True for s in statements)
        assert {s["signer"] for s in statements} == set(DEMO_IDENTITIES.values())
        released = read_metadata(review, METADATA_RELEASED, out.dataset, "2122")
        assert all(s["content_hash"] == released.content_hash for s in statements)
        assert released.header.simulated_source is True
        assert (released.path / "signoff" / "approver.json.sig").exists()
        (release_record,) = review.read_records(ADMIN, f"releases/{out.dataset}")
        assert release_record["demo"] is True
        provenance = json.loads((out.path / "_generation.json").read_text())
        assert provenance["sign_off"]["demo"] is True and "DEMO" in provenance["sign_off"]["label"]
        (archive,) = out.published
        with zipfile.ZipFile(archive) as z:
            notes = next(n for n in z.namelist() if n.endswith("release_notes.json"))
            assert json.loads(z.read(notes))["release_info"]["demo_sign_off"] is True
        # Derived fields never cross the boundary; identifier fields cross only as their
        # rounded null share (IDENTIFIER_NULLS rows, which hold no value).
        rows = released.rows
        for f in spec.fields:
            mine = rows[rows["FIELD_NAME"] == f.name]
            if f.role == "derived":
                assert mine.empty, f.name
            elif f.role == "identifier" and f.name != spec.patient_key:
                assert set(mine["VALUE_TYPE"]) <= {"IDENTIFIER_NULLS"}, f.name
                assert mine["VALUE_STRING"].isna().all(), f.name
