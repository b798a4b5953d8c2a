"""The demo slice end to end: simulated raw -> suppressed metadata -> DEMO sign-off ->
released metadata -> artificial tables in the exact schema, for all three datasets."""

import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.metadata_store import read_metadata
from artificial_data.common.schema import arrow_schema
from artificial_data.common.stores import ADMIN, METADATA_RELEASED, RAW, ScopedStores
from artificial_data.review.signoff import DEMO_REVIEWER


@pytest.mark.spark
@pytest.mark.slow
def test_demo_slice_for_every_dataset(home, monkeypatch, spark):
    from artificial_data.demo import run_demo

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    outputs = run_demo(years=("2122",), raw_rows=4_000, artificial_rows=1_500)
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
        # The sign-off is recorded as a demo sign-off, bound to the released content.
        records = review.read_records(ADMIN, f"signoffs/{out.dataset}")
        assert len(records) == 1 and records[0]["demo"] is True
        assert records[0]["reviewer"] == DEMO_REVIEWER
        released = read_metadata(review, METADATA_RELEASED, out.dataset, "2122")
        assert released.content_hash == records[0]["content_hash"]
        assert released.header.simulated_source is True
        # Derived fields never cross the boundary; identifier fields only as the patient key's
        # RELATIONSHIP rows and, for linked keys, IDENTIFIER_NULLS counts (never a value).
        crossed = set(released.rows["FIELD_NAME"])
        by_field = released.rows.groupby("FIELD_NAME")["VALUE_TYPE"].agg(set).to_dict()
        for f in spec.fields:
            if f.role == "derived" or f.name == spec.primary_key:
                assert f.name not in crossed
            elif f.role == "identifier" and f.name != spec.patient_key and f.name in crossed:
                assert by_field[f.name] == {"IDENTIFIER_NULLS"}
                rows = released.rows[released.rows["FIELD_NAME"] == f.name]
                assert rows["VALUE_STRING"].isna().all() and rows["VALUE_DATE"].isna().all()
