"""The generator re-verifies released metadata before it uses a row (issue 12, item 2).

Each case plants released metadata the way an attacker with write access to the released
store (or a release that bypassed review) would, and the generator must refuse it with one
line naming dataset, year and what failed.
"""

import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from artificial_data.common import metadata_contract as contract
from artificial_data.common.metadata_store import HEADER_FILE, ROWS_FILE, write_metadata
from artificial_data.common.released import ReleaseUnverified, statement_files, verify_release
from artificial_data.common.stores import METADATA_RELEASED, METADATA_SENSITIVE, ScopedStores
from artificial_data.review.release import release
from artificial_data_tests.metadata_factory import header, small_metadata
from artificial_data_tests.test_review import SPEC, YEAR, _sign_off, _write_pack

ADA, GRACE = "ada@example.org", "grace@example.org"


@pytest.fixture
def released(tmp_path, signers):
    """A real release: scrape stand-in, review pack, two signed statements, release."""
    scraper = ScopedStores.for_location("scraper", tmp_path)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    review = ScopedStores.for_location("review", tmp_path)
    _write_pack(review)
    _sign_off(review, signers)
    result = release(review, SPEC, YEAR)
    generator = ScopedStores.for_location("generator", tmp_path)
    return {"review": review, "generator": generator, "path": result.path, "result": result}


def _plant(review, signers, rows, hdr, demo=False):
    """Released metadata signed by two valid people, written past review's checks."""
    rows = contract.validate(rows, table_name=hdr.table_name)
    digest = contract.content_hash(rows, hdr)
    sign = dict(dataset=SPEC.dataset, year=YEAR, content_hash=digest, review_pack_hash="c" * 64)
    reviewer = signers.sign("reviewer", ADA, demo=demo, **sign)
    approver = signers.sign("approver", GRACE, demo=demo, **sign)
    write_metadata(
        review,
        METADATA_RELEASED,
        SPEC.dataset,
        YEAR,
        rows,
        hdr,
        extra_files=statement_files(reviewer, approver),
    )


def _refused(generator, match):
    with pytest.raises(ReleaseUnverified, match=match) as err:
        verify_release(generator, SPEC, YEAR)
    message = str(err.value)
    assert message.startswith(f"{SPEC.dataset} {YEAR}: released metadata refused: ")
    assert "\n" not in message
    return message


def _writable(path):
    os.chmod(path, 0o644)
    return path


def test_a_genuine_release_verifies(released):
    verified = verify_release(released["generator"], SPEC, YEAR)
    assert verified.metadata.content_hash == released["result"].content_hash
    assert verified.pair.reviewer.statement.signer == ADA
    assert verified.pair.approver.statement.signer == GRACE


def test_released_metadata_edited_on_disk_and_rehashed_is_refused(released):
    path = released["path"]
    table = contract.from_arrow(pq.read_table(path / ROWS_FILE))
    table.loc[table["FIELD_NAME"] == "ADMINCAT", "WEIGHT"] += 500
    pq.write_table(contract.to_arrow(table), _writable(path / ROWS_FILE))
    recorded = json.loads((path / HEADER_FILE).read_text())
    recorded.pop("content_hash")
    hdr = contract.MetadataHeader.from_dict(recorded)
    recorded["content_hash"] = contract.content_hash(table, hdr)
    _writable(path / HEADER_FILE).write_text(json.dumps(recorded))
    _refused(released["generator"], "the statements sign content hash")


def test_released_metadata_edited_without_rehash_is_refused(released):
    path = released["path"]
    table = contract.from_arrow(pq.read_table(path / ROWS_FILE))
    table.loc[0, "WEIGHT"] = 1000.0
    pq.write_table(contract.to_arrow(table), _writable(path / ROWS_FILE))
    _refused(released["generator"], "changed on disk")


def test_an_edited_released_statement_is_refused(released):
    statement = released["path"] / "signoff" / "approver.json"
    edited = statement.read_text().replace(GRACE, "mallory@example.org")
    _writable(statement).write_text(edited)
    _refused(released["generator"], "does not verify")


def test_an_edited_released_signature_is_refused(released):
    signature = released["path"] / "signoff" / "reviewer.json.sig"
    lines = signature.read_text().splitlines()
    lines[1] = lines[1][:-4] + ("AAAA" if not lines[1].endswith("AAAA") else "BBBB")
    _writable(signature).write_text("\n".join(lines) + "\n")
    _refused(released["generator"], "sign-off")


def test_released_metadata_without_its_statements_is_refused(released):
    (released["path"] / "signoff" / "approver.json.sig").unlink()
    _refused(released["generator"], "approver's signed statement is not in the release")


def test_a_weight_that_breaks_the_policy_is_refused(released, signers):
    rows = small_metadata(SPEC)
    rows.loc[rows.index[0], "WEIGHT"] = 3.0  # a raw count of 3, published
    _plant(released["review"], signers, rows, header(SPEC))
    _refused(released["generator"], r"1 weight\(s\) break the policy")


def test_a_header_policy_below_the_hes_floor_is_refused(released, signers):
    rows = small_metadata(SPEC)
    rows["WEIGHT"] = 1.0
    loose = header(SPEC)
    loose = type(loose)(**{**loose.__dict__, "policy": {"min_count": 1, "rounding_base": 1}})
    _plant(released["review"], signers, rows, loose)
    _refused(released["generator"], "policy min_count 1 publishes raw counts below 8")


def test_a_missing_field_is_refused_a_fully_suppressed_one_is_not(released, signers):
    rows = small_metadata(SPEC)
    rows = rows[rows["FIELD_NAME"] != "ADMINCAT"].reset_index(drop=True)
    _plant(released["review"], signers, rows, header(SPEC))
    _refused(released["generator"], "missing and not recorded as fully suppressed: ADMINCAT")

    recorded = header(SPEC)
    recorded = type(recorded)(**{**recorded.__dict__, "suppressed_fields": ("ADMINCAT",)})
    _plant(released["review"], signers, rows, recorded)
    verify_release(released["generator"], SPEC, YEAR)


def test_demo_statements_on_metadata_that_is_not_simulated_are_refused(released, signers):
    signers.write({ADA: ("reviewer",), GRACE: ("approver",)}, demo=True)
    hdr = header(SPEC)
    _plant(released["review"], signers, small_metadata(SPEC), hdr, demo=True)
    verify_release(released["generator"], SPEC, YEAR)  # simulated: fine, and labelled DEMO
    real = type(hdr)(**{**hdr.__dict__, "simulated_source": False})
    _plant(released["review"], signers, small_metadata(SPEC), real, demo=True)
    _refused(released["generator"], "DEMO sign-off")


def test_the_generator_asset_fails_with_one_line(released, monkeypatch):
    from dagster import materialize

    from artificial_data.generator.assets import build_artificial_asset
    from artificial_data.orchestration.resources import GeneratorStores, spark_resource

    statement = released["path"] / "signoff" / "reviewer.json"
    _writable(statement).write_text(statement.read_text().replace("approved", "rejected"))
    monkeypatch.setenv("ARTIFICIAL_DATA_HOME", str(released["review"].roots["admin"].parent))
    monkeypatch.setenv("ARTIFICIAL_DATA_ENV", "test")
    result = materialize(
        [build_artificial_asset(SPEC)],
        partition_key=YEAR,
        resources={"stores": GeneratorStores(), "spark": spark_resource("unused")},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("hes_op 2122: released metadata refused: sign-off:")
    assert "\n" not in description


def test_policy_rows_are_checked_not_only_the_header(released, signers):
    # A header that claims the floor does not make rows that break it acceptable.
    rows = pd.concat([small_metadata(SPEC)], ignore_index=True)
    rows.loc[rows["FIELD_NAME"] == "ADMINCAT", "WEIGHT"] = 12.0  # not a multiple of 5
    _plant(released["review"], signers, rows, header(SPEC))
    _refused(released["generator"], "first in field ADMINCAT")


def test_the_scraper_records_fully_suppressed_fields_in_the_header():
    from artificial_data.scraper.scrape.api import _fully_suppressed

    rows = small_metadata(SPEC)
    assert _fully_suppressed(SPEC, rows) == ()
    rows = rows[~rows["FIELD_NAME"].isin(["ADMINCAT", SPEC.patient_key])]
    assert _fully_suppressed(SPEC, rows) == tuple(
        f.name for f in SPEC.fields if f.name in ("ADMINCAT", SPEC.patient_key)
    )
    # An empty list leaves the content hash as it was before the list existed.
    hdr = header(SPEC)
    assert "suppressed_fields" not in hdr.hashed_part()
    listed = type(hdr)(**{**hdr.__dict__, "suppressed_fields": ("ADMINCAT",)})
    assert contract.content_hash(rows, listed) != contract.content_hash(rows, hdr)
    assert contract.MetadataHeader.from_dict(listed.as_dict()) == listed
