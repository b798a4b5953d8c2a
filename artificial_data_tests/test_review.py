"""Hash-bound sign-off and release: the happy path and every tamper case is refused."""

import pandas as pd
import pyarrow.parquet as pq
import pytest

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.disclosure_checks import review_metadata
from artificial_data.common.metadata_store import read_metadata, write_metadata
from artificial_data.common.references import reference_key
from artificial_data.common.stores import (
    ADMIN,
    METADATA_RELEASED,
    METADATA_SENSITIVE,
    ScopedStores,
)
from artificial_data.review.release import ReleaseRefused, release
from artificial_data.review.review_pack import build_review_pack
from artificial_data.review.signoff import (
    SignOff,
    SignOffRefused,
    record_sign_off,
    review_pack_object,
)
from artificial_data_tests.metadata_factory import header, row, small_metadata

SPEC = load_spec("hes_op")
YEAR = "2122"


@pytest.fixture
def stores(tmp_path):
    scraper = ScopedStores.for_location("scraper", tmp_path)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    review = ScopedStores.for_location("review", tmp_path)
    _write_pack(review)
    return {"scraper": scraper, "review": review}


def _write_pack(review):
    current = read_metadata(review, METADATA_SENSITIVE, SPEC.dataset, YEAR)
    findings = review_metadata(current.rows, SPEC, reference_key(review))
    pack = build_review_pack(SPEC, YEAR, current, findings, None)
    review.write_json_partition(ADMIN, review_pack_object(SPEC.dataset), YEAR, pack.files())
    return current.content_hash, pack.review_pack_hash


def _sign_off(review, content_hash=None, pack_hash=None, **kw):
    current = read_metadata(review, METADATA_SENSITIVE, SPEC.dataset, YEAR)
    from artificial_data.review.signoff import current_review_pack_hash

    values = dict(
        dataset=SPEC.dataset,
        financial_year=YEAR,
        content_hash=content_hash or current.content_hash,
        review_pack_hash=pack_hash or current_review_pack_hash(review, SPEC.dataset, YEAR),
        reviewer="Ada Reviewer",
        reviewer_role="Disclosure reviewer",
        approver="Grace Approver",
        approver_role="IAO",
        decision="approved",
    )
    values.update(kw)
    return SignOff(**values)


def test_sign_off_then_release_copies_exactly_the_signed_content(stores):
    signed = record_sign_off(stores["review"], _sign_off(stores["review"]))
    result = release(stores["review"], SPEC, YEAR)
    assert result.content_hash == signed.content_hash
    released = read_metadata(stores["review"], METADATA_RELEASED, SPEC.dataset, YEAR)
    assert released.content_hash == signed.content_hash


def test_release_without_sign_off_is_refused(stores):
    with pytest.raises(ReleaseRefused, match="no sign-off"):
        release(stores["review"], SPEC, YEAR)


def test_sign_off_for_a_stale_hash_is_refused(stores):
    with pytest.raises(SignOffRefused, match="current suppressed metadata has hash"):
        record_sign_off(stores["review"], _sign_off(stores["review"], content_hash="0" * 64))


def test_sign_off_for_a_stale_review_pack_is_refused(stores):
    with pytest.raises(SignOffRefused, match="current pack"):
        record_sign_off(stores["review"], _sign_off(stores["review"], pack_hash="f" * 64))


def test_same_person_cannot_review_and_approve(stores):
    with pytest.raises(SignOffRefused, match="two different people"):
        record_sign_off(stores["review"], _sign_off(stores["review"], approver="ada reviewer"))


def test_replayed_sign_off_is_refused(stores):
    first = record_sign_off(stores["review"], _sign_off(stores["review"]))
    with pytest.raises(SignOffRefused, match="replay"):
        record_sign_off(stores["review"], first)


def test_new_scrape_after_sign_off_blocks_release_and_says_what_changed(stores):
    record_sign_off(stores["review"], _sign_off(stores["review"]))
    rows = small_metadata(SPEC)
    rows.loc[rows["FIELD_NAME"] == "ADMINCAT", "WEIGHT"] += 5
    extra = contract.normalise(
        pd.DataFrame([row("hes_op", "REFSOURC", "CATEGORICAL", VALUE_STRING="NEW", WEIGHT=10.0)])
    )
    write_metadata(
        stores["scraper"],
        METADATA_SENSITIVE,
        SPEC.dataset,
        YEAR,
        pd.concat([rows, extra], ignore_index=True),
        header(SPEC),
    )
    with pytest.raises(ReleaseRefused) as err:
        release(stores["review"], SPEC, YEAR)
    message = str(err.value)
    assert "changed after sign-off" in message
    assert "ADMINCAT: 0 values added, 0 removed, 3 weights changed" in message
    assert "REFSOURC: 1 values added" in message


def test_edit_on_disk_after_sign_off_is_refused(stores):
    record_sign_off(stores["review"], _sign_off(stores["review"]))
    path = stores["review"].partition_path(METADATA_SENSITIVE, SPEC.dataset, YEAR)
    table = pq.read_table(path / "metadata.parquet").to_pandas()
    table.loc[0, "WEIGHT"] = 1000.0
    (path / "metadata.parquet").chmod(0o644)
    pq.write_table(contract.to_arrow(table), path / "metadata.parquet")
    with pytest.raises(ReleaseRefused, match="changed on disk"):
        release(stores["review"], SPEC, YEAR)
    assert not stores["review"].has_partition(METADATA_RELEASED, SPEC.dataset, YEAR)


def test_rejected_sign_off_does_not_release(stores):
    record_sign_off(stores["review"], _sign_off(stores["review"], decision="rejected"))
    with pytest.raises(ReleaseRefused, match="decided 'rejected'"):
        release(stores["review"], SPEC, YEAR)


def test_blocking_finding_stops_release_keeps_the_previous_one_and_names_no_value(tmp_path):
    scraper = ScopedStores.for_location("scraper", tmp_path)
    review = ScopedStores.for_location("review", tmp_path)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    _write_pack(review)
    record_sign_off(review, _sign_off(review))
    good = release(review, SPEC, YEAR).content_hash

    planted = row("hes_op", "REFSOURC", "CATEGORICAL", VALUE_STRING="LS1 4AP", WEIGHT=10.0)
    bad = pd.concat(
        [small_metadata(SPEC), contract.normalise(pd.DataFrame([planted]))], ignore_index=True
    )
    write_metadata(scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, bad, header(SPEC))
    _write_pack(review)
    record_sign_off(review, _sign_off(review))
    with pytest.raises(ReleaseRefused, match="blocking disclosure finding") as refused:
        release(review, SPEC, YEAR)
    message = str(refused.value)
    assert "LS1 4AP" not in message and "REFSOURC" in message and "ref-" in message
    # The previous release is intact, and the reviewer finds the value by its reference.
    assert read_metadata(review, METADATA_RELEASED, SPEC.dataset, YEAR).content_hash == good
    pack_folder = review.partition_path(ADMIN, review_pack_object(SPEC.dataset), YEAR)
    pack_md = (pack_folder / "review_pack.md").read_text()
    reference = message.split("ref-")[1][:16]
    assert f"ref-{reference} REFSOURC = `LS1 4AP`" in pack_md
    assert f"ref-{reference}" in (pack_folder / "review_pack.html").read_text()


def test_the_ui_copy_of_the_review_pack_holds_no_value(stores):
    planted = row("hes_op", "REFSOURC", "CATEGORICAL", VALUE_STRING="Zebedee Quimby", WEIGHT=10.0)
    rows = pd.concat(
        [small_metadata(SPEC), contract.normalise(pd.DataFrame([planted]))], ignore_index=True
    )
    write_metadata(stores["scraper"], METADATA_SENSITIVE, SPEC.dataset, YEAR, rows, header(SPEC))
    current = read_metadata(stores["review"], METADATA_SENSITIVE, SPEC.dataset, YEAR)
    findings = review_metadata(current.rows, SPEC)
    pack = build_review_pack(SPEC, YEAR, current, findings, None)
    assert "Zebedee Quimby" in pack.markdown and "Zebedee Quimby" in pack.html
    assert "Zebedee" not in pack.public_markdown
    assert findings["domains"][0].reference in pack.public_markdown
    # Not one released value of any field is in the UI copy, only counts and domains.
    for value in current.rows["VALUE_STRING"].dropna().unique():
        if len(value) > 3:  # short codes such as '01' also stand in the row counts
            assert f"| {value} |" not in pack.public_markdown
    assert "| REFSOURC | CATEGORICAL |" in pack.public_markdown


def test_review_pack_lists_fields_findings_and_changes(stores):
    current = read_metadata(stores["review"], METADATA_SENSITIVE, SPEC.dataset, YEAR)
    pack = build_review_pack(
        SPEC,
        YEAR,
        current,
        review_metadata(current.rows, SPEC),
        ["ADMINCAT: 1 values added, 0 removed, 0 weights changed"],
    )
    assert current.content_hash in pack.markdown
    assert "### ADMINCAT (CATEGORICAL" in pack.markdown
    assert "ADMINCAT: 1 values added" in pack.html
    assert "SIMULATED" in pack.markdown
    assert len(pack.review_pack_hash) == 64


def test_cli_sign_off_records_and_refuses_stale_hashes(home, capsys):
    from artificial_data.cli import main

    review = ScopedStores.for_location("review", home)
    scraper = ScopedStores.for_location("scraper", home)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    content_hash, pack_hash = _write_pack(review)
    args = [
        "sign-off",
        "--dataset",
        "hes_op",
        "--year",
        YEAR,
        "--review-pack-hash",
        pack_hash,
        "--reviewer",
        "Ada Reviewer",
        "--approver",
        "Grace Approver",
    ]
    assert main([*args, "--content-hash", "0" * 64]) == 2
    assert "sign-off refused" in capsys.readouterr().err
    assert main([*args, "--content-hash", content_hash]) == 0
    assert "recorded sign-off" in capsys.readouterr().out
    records = review.read_records(ADMIN, "signoffs/hes_op")
    assert [r["content_hash"] for r in records] == [content_hash]
