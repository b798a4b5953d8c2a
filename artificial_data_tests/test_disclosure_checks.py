"""Automated disclosure review: each check catches its planted case and passes clean metadata."""

import pandas as pd
import pytest

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.disclosure_checks import (
    blocking_findings,
    is_valid_nhs_number,
    review_metadata,
)
from artificial_data_tests.metadata_factory import row, small_metadata

SPEC = load_spec("hes_apc")


def _with(*extra):
    return pd.concat(
        [small_metadata(SPEC), contract.normalise(pd.DataFrame(list(extra)))], ignore_index=True
    )


def test_clean_metadata_passes():
    assert blocking_findings(review_metadata(small_metadata(SPEC), SPEC)) == []


def test_nhs_number_check_digit():
    assert is_valid_nhs_number("9434765919")
    assert not is_valid_nhs_number("9434765918")


@pytest.mark.parametrize(
    ("planted", "check"),
    [
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="9434765919"), "value_scans"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="LS1 4AP"), "value_scans"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="a.b@nhs.net"), "value_scans"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="07700 900123"), "value_scans"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="Z", WEIGHT=6.0), "weights"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="Z", WEIGHT=12.0), "weights"),
        (row("hes_apc", "EPIKEY", "DISCRETE", VALUE_NUMERIC=123.0), "fields"),
        (row("hes_apc", "NEWNHSNO", "CATEGORICAL", VALUE_STRING="x"), "fields"),
        (row("hes_apc", "DIAG_3_01", "CATEGORICAL", VALUE_STRING="A01"), "fields"),
    ],
)
def test_each_check_catches_its_planted_case(planted, check):
    results = review_metadata(_with(planted), SPEC)
    assert results[check], f"{check} missed {planted}"
    assert {f.check for f in blocking_findings(results)} <= {
        "nhs_number",
        "email",
        "postcode",
        "phone_number",
        "weights",
        "forbidden_identifier",
        "identifier_values",
        "derived_field",
        "unknown_field",
        "relationship_key",
    }


def test_postcode_like_org_codes_are_allowed_in_org_fields():
    planted = row("hes_apc", "PROCODE5", "CATEGORICAL", VALUE_STRING="RX1 4AB")
    assert review_metadata(_with(planted), SPEC)["value_scans"] == []


def test_identifier_like_field_is_flagged():
    planted = [
        row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING=f"ID{i:05d}", WEIGHT=10.0)
        for i in range(200)
    ]
    results = review_metadata(_with(*planted), SPEC)
    assert [f.field for f in results["identifier_like"]] == ["ADMISORC"]
