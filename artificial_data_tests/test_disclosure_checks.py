"""Automated disclosure review: each check catches its planted case and passes clean metadata.

The planted cases are the ones an attacker tried (issue 11): identifiers stored as numbers,
names and free text in code fields, values hidden in columns a row should leave empty, a field
of many near-threshold values lifted by a few common ones, impossible dates.
"""

from datetime import date

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
NHS_NUMBER = "9434765919"


def _with(*extra):
    return pd.concat(
        [small_metadata(SPEC), contract.normalise(pd.DataFrame(list(extra)))], ignore_index=True
    )


def _checks_hit(*planted) -> set[str]:
    return {f.check for f in blocking_findings(review_metadata(_with(*planted), SPEC))}


@pytest.mark.parametrize("dataset", ["hes_apc", "hes_op", "hes_ae"])
def test_clean_metadata_passes(dataset):
    spec = load_spec(dataset)
    assert blocking_findings(review_metadata(small_metadata(spec), spec)) == []


def test_nhs_number_check_digit():
    assert is_valid_nhs_number(NHS_NUMBER)
    assert not is_valid_nhs_number("9434765918")


@pytest.mark.parametrize(
    ("planted", "check"),
    [
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING=NHS_NUMBER), "nhs_number"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="LS1 4AP"), "postcode"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="a.b@nhs.net"), "email"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="07700 900123"), "phone_number"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="19", WEIGHT=6.0), "weights"),
        (row("hes_apc", "ADMISORC", "CATEGORICAL", VALUE_STRING="19", WEIGHT=12.0), "weights"),
        (row("hes_apc", "EPIKEY", "DISCRETE", VALUE_NUMERIC=123.0), "identifier_values"),
        (row("hes_apc", "NEWNHSNO", "CATEGORICAL", VALUE_STRING="x"), "forbidden_identifier"),
        (row("hes_apc", "DIAG_3_01", "CATEGORICAL", VALUE_STRING="A01"), "derived_field"),
    ],
)
def test_each_check_catches_its_planted_case(planted, check):
    findings = blocking_findings(review_metadata(_with(planted), SPEC))
    assert check in {f.check for f in findings}, f"{check} missed {planted}"


@pytest.mark.parametrize(
    "planted",
    [
        # A valid NHS number stored as a number in a numeric categorical field (issue 11).
        row("hes_apc", "WAITLIST", "DISCRETE", VALUE_NUMERIC=float(NHS_NUMBER)),
        # ... as a quantile of a continuous field ...
        row(
            "hes_apc",
            "EPIDUR",
            "CONTINUOUS",
            VALUE_NUMERIC=0.1,
            VALUE_NUMERIC_ARRAY=[1.0, float(NHS_NUMBER)],
            WEIGHT_ARRAY=[0.25, 0.5],
            WEIGHT=100.0,
        ),
        # ... inside a patient pattern ...
        row(
            "hes_apc",
            "SEX",
            "DEMOGRAPHIC_CATEGORICAL",
            VALUE_STRING_ARRAY=["1", NHS_NUMBER],
            WEIGHT_ARRAY=[0.5, 0.5],
        ),
        # ... and riding along in a column a CATEGORICAL row leaves empty.
        row(
            "hes_apc",
            "ADMISORC",
            "CATEGORICAL",
            VALUE_STRING="19",
            VALUE_NUMERIC_ARRAY=[float(NHS_NUMBER)],
        ),
    ],
)
def test_nhs_numbers_are_found_in_every_value_type(planted):
    hit = _checks_hit(planted)
    assert "nhs_number" in hit and "domain" in hit


def test_a_phone_number_stored_as_a_number_is_found():
    # 07700 900123 stored as an integer has lost its leading zero.
    planted = row("hes_apc", "WAITLIST", "DISCRETE", VALUE_NUMERIC=7700900123.0)
    assert "phone_number" in _checks_hit(planted)


@pytest.mark.parametrize(
    "planted",
    [
        row("hes_apc", "CAUSE_3", "CATEGORICAL", VALUE_STRING="Zebedee Quimby", WEIGHT=15.0),
        row("hes_apc", "DIAG_4_01", "CATEGORICAL", VALUE_STRING="fell from ladder"),
        row("hes_apc", "ADMIMETH", "CATEGORICAL", VALUE_STRING="2Z"),  # not an ADMIMETH code
        row("hes_apc", "ADMIDATE", "DATE", VALUE_DATE=date(1, 1, 1)),
        row("hes_apc", "ADMIDATE", "DATE", VALUE_DATE=date(9999, 12, 31)),
        row("hes_apc", "WAITLIST", "DISCRETE", VALUE_NUMERIC=2.5),  # not a whole number
        row("hes_apc", "MYDOB", "DEMOGRAPHIC_DATE", VALUE_STRING="Smith", VALUE_NUMERIC=1.0),
        row(
            "hes_apc",
            "SEX",
            "DEMOGRAPHIC_CATEGORICAL",
            VALUE_STRING_ARRAY=["Jo"],
            WEIGHT_ARRAY=[1.0],
        ),
        row(
            "hes_apc",
            "EPIDUR",
            "CONTINUOUS",
            VALUE_NUMERIC=0.1,
            VALUE_NUMERIC_ARRAY=[-5.0, 3.0],
            WEIGHT_ARRAY=[0.25, 0.5],
            WEIGHT=100.0,
        ),
        # A row of the wrong VALUE_TYPE for its field, and a malformed structural column.
        row("hes_apc", "ADMISORC", "DISCRETE", VALUE_NUMERIC=19.0),
        row("hes_apc", "PSEUDO_HESID", "RELATIONSHIP", VALUE_NUMERIC=2.0, VALUE_STRING="Jo"),
    ],
)
def test_values_outside_the_declared_domain_are_blocking(planted):
    assert "domain" in _checks_hit(planted)


def test_a_field_of_near_threshold_values_is_identifier_like_despite_common_values():
    """25,000 values at raw count 8 (weight 10), lifted over the old mean rule by common ones."""
    planted = [
        row("hes_apc", "GPPRAC", "CATEGORICAL", VALUE_STRING=f"Q{i:05d}", WEIGHT=10.0)
        for i in range(25_000)
    ] + [
        row("hes_apc", "GPPRAC", "CATEGORICAL", VALUE_STRING=f"A{i:05d}", WEIGHT=100_000.0)
        for i in range(20)
    ]
    results = review_metadata(_with(*planted), SPEC)
    assert [f.field for f in results["identifier_like"]] == ["GPPRAC"]
    assert "just above the threshold" in results["identifier_like"][0].reason


def test_a_field_of_values_standing_for_about_the_threshold_is_identifier_like():
    planted = [
        row("hes_apc", "GPPRAC", "CATEGORICAL", VALUE_STRING=f"Q{i:05d}", WEIGHT=10.0)
        for i in range(200)
    ]
    results = review_metadata(_with(*planted), SPEC)
    assert [f.field for f in results["identifier_like"]] == ["GPPRAC"]


def test_a_long_tail_of_realistic_weights_is_not_identifier_like():
    """A Zipf-like code list with many small cells, as a real diagnosis field has."""
    weights = [float(max(10, 5 * round(40_000 / (rank + 1) / 5))) for rank in range(400)]
    planted = [
        row("hes_apc", "GPPRAC", "CATEGORICAL", VALUE_STRING=f"Q{i:05d}", WEIGHT=w)
        for i, w in enumerate(weights)
    ]
    assert review_metadata(_with(*planted), SPEC)["identifier_like"] == []


def test_findings_carry_a_keyed_reference_and_reasons_never_hold_the_value():
    planted = row("hes_apc", "CAUSE_3", "CATEGORICAL", VALUE_STRING="Zebedee Quimby")
    key_a, key_b = b"a" * 32, b"b" * 32
    first = blocking_findings(review_metadata(_with(planted), SPEC, key_a))
    again = blocking_findings(review_metadata(_with(planted), SPEC, key_a))
    other = blocking_findings(review_metadata(_with(planted), SPEC, key_b))
    assert first and [f.reference for f in first] == [f.reference for f in again]
    assert {f.reference for f in first}.isdisjoint(f.reference for f in other)
    for f in first:
        assert f.value == "Zebedee Quimby"
        assert "Zebedee" not in f.reason and "Zebedee" not in f.public_line()
        assert "value" not in f.public() and f.reference.startswith("ref-")


@pytest.mark.parametrize("dataset", ["hes_apc", "hes_op", "hes_ae"])
def test_every_field_rejects_canaries_nobody_planted_for_it(dataset):
    """The allowlist, field by field: a name, free text, an e-mail or a 10-digit number is
    outside the declared domain of every scraped field of every dataset, in whatever kind of
    value the field publishes, so no field is a hiding place for an unanticipated canary."""
    spec = load_spec(dataset)
    texts = ["Zebedee Quimby", "fell at home", "jo@example.org", NHS_NUMBER, "SMITH"]
    for f in spec.scraped_fields:
        domain = f.domain
        if f.domain_kind == "text":
            assert not domain.allows_text(texts).any(), (f.name, domain.name)
        elif f.domain_kind == "number":
            assert not domain.allows_numbers([float(NHS_NUMBER), -1.0]).any(), f.name
        else:
            assert not domain.allows_dates([date(1, 1, 1), date(9999, 12, 31)]).any(), f.name


def _null_counts(**values):
    base = {"VALUE_NUMERIC": 60.0, "WEIGHT": 940.0}
    return row("hes_apc", "AEKEY", contract.IDENTIFIER_NULLS, **(base | values))


def test_a_linked_identifier_may_release_its_null_and_filled_counts():
    assert _checks_hit(_null_counts()) == set()
    assert _checks_hit(_null_counts(VALUE_NUMERIC=0.0)) == set()


@pytest.mark.parametrize(
    ("values", "check"),
    [
        ({"VALUE_STRING": "123456789012"}, "domain"),  # a key value in a null-count row
        ({"VALUE_NUMERIC_ARRAY": [123456789012.0]}, "domain"),
        ({"VALUE_DATE": date(2021, 5, 1)}, "domain"),
        ({"VALUE_NUMERIC": float(NHS_NUMBER)}, "nhs_number"),  # a value posing as a count
        ({"VALUE_NUMERIC": 12.5}, "domain"),
        ({"VALUE_NUMERIC": 6.0}, "weights"),  # a null count below the threshold
        ({"VALUE_NUMERIC": 12.0}, "weights"),  # not rounded
        ({"WEIGHT": 12.0}, "weights"),
    ],
)
def test_a_value_in_an_identifier_null_count_row_is_refused(values, check):
    assert check in _checks_hit(_null_counts(**values))


def test_null_counts_only_for_identifier_fields_and_identifiers_never_as_values():
    assert "domain" in _checks_hit(
        row("hes_apc", "ADMISORC", contract.IDENTIFIER_NULLS, VALUE_NUMERIC=10.0, WEIGHT=20.0)
    )
    hit = _checks_hit(row("hes_apc", "AEKEY", contract.CATEGORICAL, VALUE_STRING="1"))
    assert "identifier_values" in hit
