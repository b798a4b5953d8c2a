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
    current_review_pack_hash,
    review_pack_object,
    submit_statement,
)
from artificial_data_tests.metadata_factory import header, row, small_metadata

SPEC = load_spec("hes_op")
YEAR = "2122"


@pytest.fixture
def stores(tmp_path, signers):
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


def _signed(review, signers, role, identity, content_hash=None, pack_hash=None, **kw):
    current = read_metadata(review, METADATA_SENSITIVE, SPEC.dataset, YEAR)
    return signers.sign(
        role,
        identity,
        dataset=SPEC.dataset,
        year=YEAR,
        content_hash=content_hash or current.content_hash,
        review_pack_hash=pack_hash or current_review_pack_hash(review, SPEC.dataset, YEAR),
        **kw,
    )


def _submit(review, signed):
    return submit_statement(review, signed.statement.to_bytes(), signed.signature)


def _sign_off(review, signers, decision="approved"):
    """Ada reviews, Grace approves: both sign the current hashes and submit."""
    for role, who in (("reviewer", "ada@example.org"), ("approver", "grace@example.org")):
        _submit(review, _signed(review, signers, role, who, decision=decision))


def test_signed_pair_then_release_copies_exactly_the_signed_content(stores, signers):
    _sign_off(stores["review"], signers)
    result = release(stores["review"], SPEC, YEAR)
    released = read_metadata(stores["review"], METADATA_RELEASED, SPEC.dataset, YEAR)
    current = read_metadata(stores["review"], METADATA_SENSITIVE, SPEC.dataset, YEAR)
    assert result.content_hash == released.content_hash == current.content_hash
    assert not result.already_released
    # The signed statements travel with the released metadata.
    assert sorted(p.name for p in (result.path / "signoff").iterdir()) == [
        "approver.json",
        "approver.json.sig",
        "reviewer.json",
        "reviewer.json.sig",
    ]
    record = stores["review"].read_records(ADMIN, "releases/hes_op")[-1]
    assert record["reviewer"] == "ada@example.org" and record["approver"] == "grace@example.org"
    assert record["demo"] is False and record["pair_digest"] == result.pair.digest


def test_release_without_sign_off_is_refused(stores):
    with pytest.raises(ReleaseRefused, match="no sign-off"):
        release(stores["review"], SPEC, YEAR)


def test_release_with_only_the_reviewer_waits_for_the_approver(stores, signers):
    _submit(stores["review"], _signed(stores["review"], signers, "reviewer", "ada@example.org"))
    with pytest.raises(ReleaseRefused, match="of the approver"):
        release(stores["review"], SPEC, YEAR)


def test_new_scrape_after_sign_off_blocks_release_and_says_what_changed(stores, signers):
    _sign_off(stores["review"], signers)
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


def test_edit_on_disk_after_sign_off_is_refused(stores, signers):
    _sign_off(stores["review"], signers)
    path = stores["review"].partition_path(METADATA_SENSITIVE, SPEC.dataset, YEAR)
    table = pq.read_table(path / "metadata.parquet").to_pandas()
    table.loc[0, "WEIGHT"] = 1000.0
    (path / "metadata.parquet").chmod(0o644)
    pq.write_table(contract.to_arrow(table), path / "metadata.parquet")
    with pytest.raises(ReleaseRefused, match="changed on disk"):
        release(stores["review"], SPEC, YEAR)
    assert not stores["review"].has_partition(METADATA_RELEASED, SPEC.dataset, YEAR)


def test_rejected_sign_off_does_not_release(stores, signers):
    _sign_off(stores["review"], signers, decision="rejected")
    with pytest.raises(ReleaseRefused, match="decided 'rejected'"):
        release(stores["review"], SPEC, YEAR)


def test_blocking_finding_stops_release_keeps_the_previous_one_and_names_no_value(
    tmp_path, signers
):
    scraper = ScopedStores.for_location("scraper", tmp_path)
    review = ScopedStores.for_location("review", tmp_path)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    _write_pack(review)
    _sign_off(review, signers)
    good = release(review, SPEC, YEAR).content_hash

    planted = row("hes_op", "REFSOURC", "CATEGORICAL", VALUE_STRING="LS1 4AP", WEIGHT=10.0)
    bad = pd.concat(
        [small_metadata(SPEC), contract.normalise(pd.DataFrame([planted]))], ignore_index=True
    )
    write_metadata(scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, bad, header(SPEC))
    _write_pack(review)
    _sign_off(review, signers)
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


def test_cli_show_sign_submit(home, signers, capsys, tmp_path):
    from artificial_data.cli import main

    review = ScopedStores.for_location("review", home)
    scraper = ScopedStores.for_location("scraper", home)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    content_hash, pack_hash = _write_pack(review)
    where = ["--dataset", "hes_op", "--year", YEAR]

    assert main(["sign-off", "show", *where]) == 0
    shown = capsys.readouterr().out
    assert "waiting for sign-off" in shown
    assert content_hash in shown and pack_hash in shown
    assert "min_count 8, rounding_base 5" in shown and "source rows         1,000" in shown
    assert "--role reviewer" in shown and "--role approver" in shown

    out = tmp_path / "statements"
    for role, who in (("reviewer", "ada@example.org"), ("approver", "grace@example.org")):
        sign = ["sign-off", "sign", *where, "--role", role, "--identity", who]
        assert main([*sign, "--key", str(signers.key(who)), "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        statement = out / f"hes_op_{YEAR}_{role}_{who}.json"
        assert statement.read_text() in printed and "BEGIN SSH SIGNATURE" in printed
        submit = ["sign-off", "submit", "--statement", str(statement)]
        assert main([*submit, "--signature", f"{statement}.sig"]) == 0
        assert f"recorded {role} {who}" in capsys.readouterr().out
    # Submitting the same statement again is a no-op, said so.
    assert main([*submit, "--signature", f"{statement}.sig"]) == 0
    assert "already recorded" in capsys.readouterr().out

    assert main(["sign-off", "show", *where]) == 0
    assert "signed (reviewer ada@example.org, approver grace@example.org" in (
        capsys.readouterr().out
    )
    records = review.read_records(ADMIN, "statements/hes_op")
    assert len(records) == 2


def test_cli_refusals_are_one_line_with_exit_code_2(home, signers, capsys, tmp_path):
    from artificial_data.cli import main

    review = ScopedStores.for_location("review", home)
    scraper = ScopedStores.for_location("scraper", home)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    _write_pack(review)
    where = ["--dataset", "hes_op", "--year", YEAR]
    key = str(signers.key("ada@example.org"))
    out = str(tmp_path / "s")
    cases = [
        # a stale content hash
        ["sign-off", "sign", *where, "--role", "reviewer", "--identity", "ada@example.org",
         "--key", key, "--content-hash", "0" * 64, "--out", out],
        # ada may not approve: signed, but refused straight away
        ["sign-off", "sign", *where, "--role", "approver", "--identity", "ada@example.org",
         "--key", key, "--out", out],
        # no such file
        ["sign-off", "submit", "--statement", "nope.json", "--signature", "nope.json.sig"],
        # a year that was never scraped
        ["sign-off", "sign", "--dataset", "hes_op", "--year", "1920", "--role", "reviewer",
         "--identity", "ada@example.org", "--key", key, "--out", out],
    ]  # fmt: skip
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("sign-off refused: ") and err.count("\n") == 1, err
        assert "Traceback" not in err


def test_the_ui_copy_of_the_review_pack_is_whole_with_every_fields_facts(stores):
    """Every section, every field and every finding (by reference) of the pack is in the UI
    copy, whatever its length; each field with facts that are not values."""
    planted = [
        row("hes_op", "REFSOURC", "CATEGORICAL", VALUE_STRING=f"Quimby {i:04d}", WEIGHT=10.0)
        for i in range(900)
    ]
    rows = pd.concat(
        [small_metadata(SPEC), contract.normalise(pd.DataFrame(planted))], ignore_index=True
    )
    write_metadata(stores["scraper"], METADATA_SENSITIVE, SPEC.dataset, YEAR, rows, header(SPEC))
    current = read_metadata(stores["review"], METADATA_SENSITIVE, SPEC.dataset, YEAR)
    findings = review_metadata(current.rows, SPEC)
    assert len(findings["domains"]) >= 900
    public = build_review_pack(SPEC, YEAR, current, findings, None).public_markdown
    assert len(public) > 60_000  # longer than the old cut, and not cut
    assert "Quimby" not in public
    for found in findings.values():
        for f in found:
            assert f.reference in public
    for heading in ("Where to read the values", "Automated checks", "Changes since the last "
                    "release", "Reviewer checklist", "Fields"):  # fmt: skip
        assert f"## {heading}\n" in public
    assert f"artificial-data sign-off show --dataset {SPEC.dataset} --year {YEAR}" in public
    assert f"admin/review_packs/{SPEC.dataset}/{YEAR}/review_pack.html" in public
    field_rows = [
        line.split(" | ")[0][2:]
        for line in public.split("## Fields\n", 1)[1].splitlines()
        if line.startswith("| ") and not line.startswith("| field |")
    ]
    assert field_rows == sorted(set(current.rows["FIELD_NAME"]))
    # A string categorical of small_metadata: two values and a null, 20 each, of 1,000 rows.
    name = next(
        f.name
        for f in SPEC.scraped_fields
        if f.role == "categorical" and not f.is_numeric and f.name != "REFSOURC"
    )
    domain = SPEC.field(name).domain.name
    assert f"| {name} | CATEGORICAL | 3 | {domain} | 0.333 | 2 | 0.940 | - |" in public
    refsourc = next(line for line in public.splitlines() if line.startswith("| REFSOURC |"))
    assert f"domains: {len([f for f in findings['domains'] if f.field == 'REFSOURC'])} " in (
        refsourc
    )


def test_field_facts_count_and_share_without_a_value():
    from artificial_data.review.review_pack import field_facts

    group = contract.normalise(
        pd.DataFrame(
            [
                row("t", "F", "CATEGORICAL", VALUE_STRING=v, WEIGHT=w)
                for v, w in (("a", 50.0), ("b", 30.0), (None, 20.0))
            ]
        )
    )
    assert field_facts(group, 125, 0) == ("3", "0.200", "2", "0.200")
    continuous = contract.normalise(
        pd.DataFrame(
            [
                row(
                    "t",
                    "D",
                    "CONTINUOUS",
                    VALUE_NUMERIC=0.25,
                    WEIGHT=90.0,
                    VALUE_NUMERIC_ARRAY=[0.0, 5.0, 30.0],
                    WEIGHT_ARRAY=[0.1, 0.5, 0.9],
                )
            ]
        )
    )
    assert field_facts(continuous, 125, 0) == ("1", "0.250", "3 quantiles", "-")
    nulls = contract.normalise(
        pd.DataFrame([row("t", "K", "IDENTIFIER_NULLS", VALUE_NUMERIC=30.0, WEIGHT=90.0)])
    )
    assert field_facts(nulls, 125, 0) == ("1", "0.250", "-", "-")
