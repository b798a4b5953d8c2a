"""The metadata contract: pandera validation, canonical hash, round trip through a store."""

import pandas as pd
import pytest

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.disclosure import round_half_up, suppress_counts
from artificial_data.common.metadata_store import MetadataTampered, read_metadata, write_metadata
from artificial_data.common.stores import METADATA_SENSITIVE, ScopedStores
from artificial_data_tests.metadata_factory import header, row, small_metadata


def test_round_half_up_to_five():
    assert list(round_half_up([8, 10, 12, 13, 15, 17, 18, 1000], 5)) == [
        10,
        10,
        10,
        15,
        15,
        15,
        20,
        1000,
    ]


def test_suppression_boundary_uses_raw_counts():
    spec = load_spec("hes_apc")
    frame = pd.DataFrame({"VALUE": list("abcdef"), "COUNT": [1, 7, 8, 12, 13, 0]})
    out = suppress_counts(frame, spec.disclosure)
    assert dict(zip(out["VALUE"], out["WEIGHT"], strict=True)) == {"c": 10, "d": 10, "e": 15}
    assert "COUNT" not in out.columns


def test_valid_metadata_passes_and_hash_ignores_row_order_and_scrape_time():
    spec = load_spec("hes_op")
    rows = small_metadata(spec)
    contract.validate(rows, table_name="hes_op")
    h1 = contract.content_hash(rows, header(spec))
    shuffled = rows.sample(frac=1.0, random_state=3)
    later = header(spec)
    assert contract.content_hash(shuffled, later) == h1
    changed = rows.copy()
    changed.loc[0, "WEIGHT"] = changed.loc[0, "WEIGHT"] + 5
    assert contract.content_hash(changed, header(spec)) != h1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (row("hes_op", "SEX", "NOT_A_TYPE"), "VALUE_TYPE"),
        (row("hes_op", "SEX", contract.CATEGORICAL, VALUE_STRING="1", WEIGHT=-5.0), "WEIGHT"),
        (row("hes_op", "WAITING", contract.CONTINUOUS), "value columns do not match"),
        (row("hes_op", "bad name", contract.CATEGORICAL, VALUE_STRING="x"), "FIELD_NAME"),
    ],
)
def test_contract_violations_name_the_field(bad, message):
    rows = pd.concat([small_metadata(load_spec("hes_op")), pd.DataFrame([bad])], ignore_index=True)
    with pytest.raises(contract.MetadataContractError) as err:
        contract.validate(rows)
    assert message in str(err.value)


def test_store_round_trip_and_tamper_detection(tmp_path):
    spec = load_spec("hes_ae")
    stores = ScopedStores.for_location("scraper", tmp_path)
    rows = small_metadata(spec)
    written = write_metadata(stores, METADATA_SENSITIVE, "hes_ae", "2122", rows, header(spec))
    back = read_metadata(stores, METADATA_SENSITIVE, "hes_ae", "2122")
    assert back.content_hash == written.content_hash
    pd.testing.assert_frame_equal(
        contract.normalise(back.rows).astype(str), contract.normalise(rows).astype(str)
    )
    # Edit the Parquet file on disk behind the store's back.
    import pyarrow.parquet as pq

    path = back.path / "metadata.parquet"
    edited = contract.to_arrow(rows.assign(WEIGHT=rows["WEIGHT"] + 5))
    path.chmod(0o644)
    pq.write_table(edited, path)
    with pytest.raises(MetadataTampered, match="changed on disk"):
        read_metadata(stores, METADATA_SENSITIVE, "hes_ae", "2122")
