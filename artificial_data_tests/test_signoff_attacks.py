"""Every measured attack on sign-off and release is refused (issue 12, items 1 and 3).

Real ssh-keygen keys in tmp folders; the operator's allowed-signers list grants ada the
reviewer role, grace the approver role and alan either (see ``conftest.signers``).
"""

import json
import os

import pytest

from artificial_data.common import signing
from artificial_data.common.metadata_store import read_metadata, write_metadata
from artificial_data.common.signing import (
    ALLOWED_SIGNERS_ENV,
    SigningError,
    load_allowed_signers,
    namespace,
)
from artificial_data.common.signoff_statement import Statement, StatementInvalid
from artificial_data.common.stores import ADMIN, METADATA_RELEASED, METADATA_SENSITIVE
from artificial_data.review.demo_signers import (
    _demo_key,
    demo_home,
    demo_sign_off,
    ensure_demo_signers,
)
from artificial_data.review.release import ReleaseRefused, release
from artificial_data.review.signoff import SignOffRefused, statement_log, submit_statement
from artificial_data_tests.metadata_factory import header, small_metadata
from artificial_data_tests.signers import give_to_operator
from artificial_data_tests.test_review import SPEC, YEAR, _signed, _submit, _write_pack

ADA, GRACE, ALAN = "ada@example.org", "grace@example.org", "alan@example.org"


@pytest.fixture
def review(tmp_path, signers):
    from artificial_data.common.stores import ScopedStores

    scraper = ScopedStores.for_location("scraper", tmp_path)
    write_metadata(
        scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), header(SPEC)
    )
    stores = ScopedStores.for_location("review", tmp_path)
    _write_pack(stores)
    return stores


def _append_raw(review, signed, statement_text=None):
    """Write a record straight into the admin store, bypassing every submission check."""
    text = statement_text or signed.statement.to_bytes().decode()
    review.append_record(
        ADMIN, statement_log(SPEC.dataset), {"statement": text, "signature": signed.signature}
    )


def _releases(review):
    return review.read_records(ADMIN, "releases/hes_op")


# ------------------------------------------------------------------------ who signs for what


def test_same_identity_in_both_roles_is_refused(review, signers):
    _submit(review, _signed(review, signers, "reviewer", ALAN))
    with pytest.raises(SignOffRefused, match="two different people"):
        _submit(review, _signed(review, signers, "approver", ALAN))
    # Written past the submission check, the pair is still refused at release.
    _append_raw(review, _signed(review, signers, "approver", ALAN))
    with pytest.raises(ReleaseRefused, match="signed as both reviewer and approver"):
        release(review, SPEC, YEAR)
    assert _releases(review) == []


def test_two_identities_sharing_one_key_are_refused(review, signers):
    # The operator listed one key under two names: still one person.
    signers.keys["eve@example.org"] = signers.key(ADA)
    signers.write({**signers.grants, "eve@example.org": ("approver",)})
    _submit(review, _signed(review, signers, "reviewer", ADA))
    with pytest.raises(SignOffRefused, match="the same key"):
        _submit(review, _signed(review, signers, "approver", "eve@example.org"))
    _append_raw(review, _signed(review, signers, "approver", "eve@example.org"))
    with pytest.raises(ReleaseRefused, match="same key"):
        release(review, SPEC, YEAR)


def test_a_reviewer_key_cannot_sign_for_the_approver_role(review, signers):
    # Ada's key is granted the reviewer namespace only.
    with pytest.raises(SignOffRefused, match="does not verify"):
        _submit(review, _signed(review, signers, "approver", ADA))
    # Nor can she sign as grace with her own key.
    with pytest.raises(SignOffRefused, match="does not verify"):
        _submit(review, _signed(review, signers, "approver", GRACE, key_of=ADA))
    # A reviewer signature moved under an approver statement does not verify either.
    reviewer = _signed(review, signers, "reviewer", ADA)
    forged = Statement(**{**reviewer.statement.__dict__, "role": "approver"})
    with pytest.raises(SignOffRefused, match="does not verify"):
        submit_statement(review, forged.to_bytes(), reviewer.signature)


def test_a_hand_written_statement_with_an_unknown_key_is_refused(review, signers):
    _submit(review, _signed(review, signers, "reviewer", ADA))
    mallory = _signed(review, signers, "approver", "mallory@example.org")
    with pytest.raises(SignOffRefused, match="does not verify"):
        _submit(review, mallory)
    # Written straight into the admin store: ignored, and the release says why.
    _append_raw(review, mallory)
    with pytest.raises(ReleaseRefused, match=r"of the approver.*do not verify"):
        release(review, SPEC, YEAR)


# ------------------------------------------------------------------------------ edited bytes


def test_a_statement_edited_after_signing_is_refused(review, signers):
    signed = _signed(review, signers, "reviewer", ADA, decision="rejected")
    edited = Statement(**{**signed.statement.__dict__, "decision": "approved"})
    with pytest.raises(SignOffRefused, match="does not verify"):
        submit_statement(review, edited.to_bytes(), signed.signature)
    # Re-spelt (same content, other spacing): not the bytes that were signed.
    spaced = json.dumps(json.loads(signed.statement.to_bytes()), sort_keys=True, indent=1)
    with pytest.raises(SignOffRefused, match="canonical"):
        submit_statement(review, spaced, signed.signature)


def test_a_stored_statement_edited_in_place_no_longer_counts(review, signers):
    _submit(review, _signed(review, signers, "reviewer", ADA))
    _submit(review, _signed(review, signers, "approver", GRACE, decision="rejected"))
    # Someone with write access to the admin store turns the rejection into an approval.
    folder = review.partition_path(ADMIN, "statements", SPEC.dataset)
    record_path = sorted(folder.glob("*.json"))[-1]
    record = json.loads(record_path.read_text())
    record["statement"] = record["statement"].replace('"rejected"', '"approved"')
    os.chmod(record_path, 0o644)
    record_path.write_text(json.dumps(record))
    with pytest.raises(ReleaseRefused, match=r"of the approver.*do not verify"):
        release(review, SPEC, YEAR)


def test_an_edited_signature_is_refused(review, signers):
    signed = _signed(review, signers, "reviewer", ADA)
    lines = signed.signature.splitlines()
    middle = lines[2]
    lines[2] = middle[:10] + ("A" if middle[10] != "A" else "B") + middle[11:]
    with pytest.raises(SignOffRefused):
        submit_statement(review, signed.statement.to_bytes(), "\n".join(lines))
    assert review.read_records(ADMIN, statement_log(SPEC.dataset)) == []


# ------------------------------------------------------------------------- what was signed


def test_a_made_up_review_pack_hash_is_refused(review, signers):
    made_up = _signed(review, signers, "reviewer", ADA, pack_hash="ab" * 32)
    with pytest.raises(SignOffRefused, match="current pack is"):
        _submit(review, made_up)
    _append_raw(review, made_up)
    _append_raw(review, _signed(review, signers, "approver", GRACE, pack_hash="ab" * 32))
    with pytest.raises(ReleaseRefused, match="review pack changed after sign-off"):
        release(review, SPEC, YEAR)


def test_a_stale_content_hash_is_refused(review, signers):
    with pytest.raises(SignOffRefused, match="current suppressed metadata has hash"):
        _submit(review, _signed(review, signers, "reviewer", ADA, content_hash="0" * 64))


def test_a_statement_for_another_partition_does_not_count(review, signers):
    signed = _signed(review, signers, "reviewer", ADA)
    other = Statement(**{**signed.statement.__dict__, "financial_year": "2223"})
    with pytest.raises(SignOffRefused):
        submit_statement(review, other.to_bytes(), signed.signature)


# ------------------------------------------------------------------------------------ replay


def test_a_replayed_pair_is_released_once(review, signers):
    reviewer = _signed(review, signers, "reviewer", ADA)
    approver = _signed(review, signers, "approver", GRACE)
    _submit(review, reviewer)
    _submit(review, approver)
    first = release(review, SPEC, YEAR)
    version = first.path.resolve()
    again = release(review, SPEC, YEAR)
    assert again.already_released and "already released" in again.message()
    # Submitting the same statements again records nothing and releases nothing.
    assert not _submit(review, reviewer).recorded
    assert release(review, SPEC, YEAR).already_released
    assert len(_releases(review)) == 1
    assert review.partition_path(METADATA_RELEASED, SPEC.dataset, YEAR).resolve() == version


def test_a_released_statement_cannot_be_reused_with_a_new_partner(review, signers):
    _submit(review, _signed(review, signers, "reviewer", ADA))
    _submit(review, _signed(review, signers, "approver", GRACE))
    release(review, SPEC, YEAR)
    _submit(review, _signed(review, signers, "approver", ALAN))
    with pytest.raises(ReleaseRefused, match="already used by the release"):
        release(review, SPEC, YEAR)
    assert len(_releases(review)) == 1


# --------------------------------------------------------------------------------------- demo


def test_demo_keys_cannot_sign_off_metadata_that_is_not_simulated(tmp_path, monkeypatch):
    from artificial_data.common.stores import ScopedStores

    scraper = ScopedStores.for_location("scraper", tmp_path)
    real = header(SPEC)
    real = type(real)(**{**real.__dict__, "simulated_source": False})
    write_metadata(scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, small_metadata(SPEC), real)
    review = ScopedStores.for_location("review", tmp_path)
    _write_pack(review)
    # The environment says "demo", the header says "not simulated": the header wins.
    monkeypatch.setenv("ARTIFICIAL_DATA_ENV", "demo")
    with pytest.raises(SignOffRefused, match="simulated_source: true"):
        demo_sign_off(review, SPEC.dataset, YEAR)
    # Signing by hand with the demo keys, in the demo namespaces, is refused just the same.
    allowed = ensure_demo_signers(review)
    monkeypatch.setenv(ALLOWED_SIGNERS_ENV, str(allowed))
    current = read_metadata(review, METADATA_SENSITIVE, SPEC.dataset, YEAR)
    from artificial_data.common.disclosure_checks import CHECKLIST_VERSION
    from artificial_data.common.signing import sign_file
    from artificial_data.common.signoff_statement import DEMO_IDENTITIES
    from artificial_data.review.signoff import current_review_pack_hash

    statement = Statement.new(
        dataset=SPEC.dataset,
        financial_year=YEAR,
        content_hash=current.content_hash,
        review_pack_hash=current_review_pack_hash(review, SPEC.dataset, YEAR),
        checklist_version=CHECKLIST_VERSION,
        role="reviewer",
        signer=DEMO_IDENTITIES["reviewer"],
        demo=True,
    )
    path = tmp_path / "demo.json"
    path.write_bytes(statement.to_bytes())
    key = _demo_key(review, "reviewer", tmp_path)
    signature = sign_file(path, key, statement.namespace)
    with pytest.raises(SignOffRefused, match="simulated_source: true"):
        submit_statement(review, statement.to_bytes(), signature)
    # And the demo key cannot pretend the statement is not a demo one.
    real_ns = Statement(**{**statement.__dict__, "demo": False})
    path.write_bytes(real_ns.to_bytes())
    signature = sign_file(path, key, namespace("reviewer"))
    with pytest.raises(SignOffRefused, match="does not verify"):
        submit_statement(review, real_ns.to_bytes(), signature)


def test_demo_sign_off_of_simulated_metadata_is_released_as_demo(review, monkeypatch):
    digests = demo_sign_off(review, SPEC.dataset, YEAR)
    assert len(digests) == 2
    from artificial_data.review.demo_signers import demo_allowed_signers_path, demo_home

    monkeypatch.setenv(ALLOWED_SIGNERS_ENV, str(demo_allowed_signers_path(demo_home(review))))
    result = release(review, SPEC, YEAR)
    assert result.pair.demo and "DEMO" in result.pair.label()
    assert _releases(review)[-1]["demo"] is True


# ---------------------------------------------------------------------------- allowed signers


@pytest.mark.parametrize(
    ("who", "mode", "reason"),
    [
        ("me", 0o444, "owned by this process's user"),
        ("operator", 0o664, "group-writable"),
        ("operator", 0o646, "world-writable"),
    ],
)
def test_an_allowed_signers_list_this_process_could_change_is_refused(
    signers, monkeypatch, who, mode, reason
):
    path = signers.allowed_signers
    if who == "me":
        monkeypatch.setattr(signing, "_process_uid", lambda: os.stat(path).st_uid)
    else:
        give_to_operator(path, mode, monkeypatch)
    with pytest.raises(SigningError, match=reason):
        load_allowed_signers()


def test_an_allowed_signers_list_in_a_folder_we_can_write_is_refused(signers, monkeypatch):
    folder = signers.allowed_signers.parent
    give_to_operator(folder, 0o777, monkeypatch)
    with pytest.raises(SigningError, match="its folder: it is world-writable"):
        load_allowed_signers()


def test_writable_allowed_signers_refuse_submission_and_release(review, signers, monkeypatch):
    _submit(review, _signed(review, signers, "reviewer", ADA))
    _submit(review, _signed(review, signers, "approver", GRACE))
    give_to_operator(signers.allowed_signers, 0o666, monkeypatch)
    with pytest.raises(ReleaseRefused, match="refusing allowed-signers list"):
        release(review, SPEC, YEAR)
    with pytest.raises(SignOffRefused, match="refusing allowed-signers list"):
        _submit(review, _signed(review, signers, "reviewer", ALAN))


def test_allowed_signers_lines_must_name_their_roles(signers, monkeypatch):
    path = signers.allowed_signers
    os.chmod(path, 0o644)
    key = " ".join(signers.public(ADA))
    path.write_text(f"{ADA} {key}\n")
    give_to_operator(path, 0o444, monkeypatch)
    with pytest.raises(SigningError, match="does not say which roles"):
        load_allowed_signers()


def test_no_allowed_signers_configured_is_refused(review, signers, monkeypatch):
    monkeypatch.delenv(ALLOWED_SIGNERS_ENV)
    with pytest.raises(SignOffRefused, match=ALLOWED_SIGNERS_ENV):
        _submit(review, _signed(review, signers, "reviewer", ADA))


def test_a_demo_only_list_may_be_the_demos_own(review):
    # Written by this very process (the demo is its own operator), yet usable: it grants
    # demo namespaces only, which approve nothing but simulated metadata.
    signers = load_allowed_signers(ensure_demo_signers(review))
    assert signers.demo_only


def test_statements_are_canonical_and_parse_back():
    s = Statement.new(
        dataset="hes_op",
        financial_year="2122",
        content_hash="a" * 64,
        review_pack_hash="b" * 64,
        checklist_version="x",
        role="reviewer",
        signer=ADA,
    )
    data = s.to_bytes()
    assert b" " not in data and data.startswith(b'{"checklist_version":"x","content_hash":')
    assert Statement.from_bytes(data) == s and Statement.from_bytes(data + b"\n") == s
    with pytest.raises(StatementInvalid, match="exactly the keys"):
        Statement.from_bytes(data[:-1] + b',"notes":"x"}')
    with pytest.raises(StatementInvalid, match="signer"):
        Statement(**{**s.__dict__, "signer": "*"})


def test_a_pack_built_for_other_metadata_cannot_be_signed_with_new_content(review, signers):
    # A new scrape lands, the old pack is still on file: signing (new content, old pack) would
    # bind content to a pack that does not describe it.
    from artificial_data.common.stores import ScopedStores

    rows = small_metadata(SPEC)
    rows.loc[rows["FIELD_NAME"] == "ADMINCAT", "WEIGHT"] += 5
    scraper = ScopedStores.for_location("scraper", demo_home(review))
    write_metadata(scraper, METADATA_SENSITIVE, SPEC.dataset, YEAR, rows, header(SPEC))
    with pytest.raises(SignOffRefused, match="rebuild hes_op/review_pack"):
        _submit(review, _signed(review, signers, "reviewer", ADA))
