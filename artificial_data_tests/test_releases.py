"""Versioned releases (issue 15 item 5): a release holds every year, versions never rewrite,
the same inputs make no new version, the kind comes from configuration, and the package says
plainly when its source was simulated and its sign-off a demo."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from artificial_data.common.stores import PUBLISHED, ScopedStores
from artificial_data.generator.publish import releases
from artificial_data.generator.publish.releases import (
    ReleaseRace,
    index_object,
    publish_release,
    read_index,
)
from artificial_data_tests.qa_tables import clean_table, hand_made_metadata, mini_spec

YEARS = ("2122", "2223")


@pytest.fixture(scope="module")
def spec():
    return dataclasses.replace(mini_spec(), financial_years=YEARS)


@pytest.fixture(scope="module")
def tables(spec):
    metadata = hand_made_metadata(spec)
    return {
        "2122": clean_table(spec, metadata, 120, seed=1),
        "2223": clean_table(spec, metadata, 130, seed=2),
        "2223-regenerated": clean_table(spec, metadata, 130, seed=3),
    }


def provenance(year: str, *, simulated=True, demo=True, metadata="aa") -> dict:
    return {
        "financial_year": year,
        "metadata_content_hash": metadata * 32,
        "seed": 7,
        "simulated_source": simulated,
        "sign_off": {"demo": demo, "pair_digest": f"pair-{year}", "reviewer_statement": "r"},
    }


def release(scoped, spec, tables: dict, *, kind="sample", month="202612", **facts):
    prov = {y: provenance(y, **facts) for y in tables}
    info = {"years": prov, "policy": spec.disclosure.as_dict(), "versions": {"x": "1"}}
    return publish_release(
        scoped,
        spec,
        tables,
        prov,
        kind=kind,
        release_month=month,
        recorded_at=f"{month[:4]}-{month[4:]}-05T10:00:00+00:00",
        release_info=info,
    )


def snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under ``folder``: sha256, inode and mtime (a rewrite changes one of them)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(folder))] = (digest, st.st_ino, st.st_mtime_ns)
    return out


@pytest.fixture
def scoped(home):
    return ScopedStores.for_location("generator", home)


def test_new_year_then_regeneration_make_new_versions_and_never_rewrite(scoped, spec, tables):
    v1 = release(scoped, spec, {"2122": tables["2122"]})
    assert v1.created and v1.name == "artificial_hes_mini_202612_v1_sample"
    before = snapshot(v1.path)

    both = {"2122": tables["2122"], "2223": tables["2223"]}
    v2 = release(scoped, spec, both, month="202701")
    assert v2.created and v2.name == "artificial_hes_mini_202701_v2_sample"
    with zipfile.ZipFile(v2.zip_path) as archive:
        names = archive.namelist()
        notes = json.loads(archive.read(f"{v2.name}/release_notes.json"))
    assert f"{v2.name}/artificial_hes_mini_2122.csv" in names
    assert f"{v2.name}/artificial_hes_mini_2223.csv" in names
    assert notes["financial_years"] == ["2122", "2223"] and notes["version"] == 2
    assert sorted(p.name for p in v2.path.glob("*.parquet")) == [
        "artificial_hes_mini_2122.parquet",
        "artificial_hes_mini_2223.parquet",
    ]
    assert snapshot(v1.path) == before  # v1: same bytes, same files, not touched

    regenerated = {"2122": tables["2122"], "2223": tables["2223-regenerated"]}
    v3 = release(scoped, spec, regenerated, month="202701")
    assert v3.created and v3.version == 3 and v3.record["previous_version"] == 2
    assert snapshot(v1.path) == before
    index = read_index(scoped, spec.dataset)
    assert [(r["version"], sorted(r["years"])) for r in index] == [
        (1, ["2122"]),
        (2, ["2122", "2223"]),
        (3, ["2122", "2223"]),
    ]
    changed = index[2]["years"]["2223"]["artificial_sha256"]
    assert changed != index[1]["years"]["2223"]["artificial_sha256"]
    assert index[2]["years"]["2122"] == index[1]["years"]["2122"]
    assert index[2]["created_at"] == "2027-01-05T10:00:00+00:00"  # recorded, not the clock
    assert index[1]["years"]["2122"]["sign_off"]["pair_digest"] == "pair-2122"
    assert index[2]["files_sha256"][f"{v3.name}.zip"] == snapshot(v3.path)[f"{v3.name}.zip"][0]


def test_the_same_inputs_make_no_new_version_and_leave_bytes_identical(home, scoped, spec, tables):
    both = {"2122": tables["2122"], "2223": tables["2223"]}
    first = release(scoped, spec, both)
    store = home / PUBLISHED
    before = snapshot(store)
    again = release(scoped, spec, both)
    assert not again.created and again.name == first.name and again.record == first.record
    assert snapshot(store) == before
    assert not [p for p in (store / spec.dataset).iterdir() if p.name.startswith(".")]
    # A different store with the same inputs: the same bytes (byte-identical publication).
    other = ScopedStores.for_location("generator", home.parent / "other_home")
    twin = release(other, spec, both)
    assert {k: v[0] for k, v in snapshot(twin.path).items()} == {
        k: v[0] for k, v in snapshot(first.path).items()
    }


def test_sample_and_full_are_separate_series_named_by_the_kind_given(scoped, spec, tables):
    sample = release(scoped, spec, {"2122": tables["2122"]}, kind="sample")
    full = release(scoped, spec, {"2122": tables["2122"]}, kind="full")
    assert sample.name.endswith("_v1_sample") and full.name.endswith("_v1_full")
    assert tables["2122"].num_rows == 120  # 'full' although tiny: never guessed from rows
    with pytest.raises(releases.PublicationError, match="release kind"):
        release(scoped, spec, {"2122": tables["2122"]}, kind="huge")


def test_a_racing_second_writer_of_the_same_version_fails_cleanly(
    scoped, spec, tables, monkeypatch
):
    release(scoped, spec, {"2122": tables["2122"]})
    stale = read_index(scoped, spec.dataset)  # what the second writer saw when it started
    winner = release(scoped, spec, {"2122": tables["2122"], "2223": tables["2223"]})
    assert winner.version == 2
    before = snapshot(scoped.roots[PUBLISHED])

    calls = []
    real = releases.read_index

    def first_stale(s, dataset):
        # The index as it was when the second writer planned its carry and when it decided
        # its version (its first two reads); the winner committed after both.
        calls.append(dataset)
        return stale if len(calls) <= 2 else real(s, dataset)

    monkeypatch.setattr(releases, "read_index", first_stale)
    monkeypatch.setattr(releases, "_folder_versions", lambda *_: [1])  # as it saw them too
    other = {"2122": tables["2122"], "2223": tables["2223-regenerated"]}
    with pytest.raises(ReleaseRace, match="version 2 of the sample release"):
        release(scoped, spec, other)
    assert snapshot(scoped.roots[PUBLISHED]) == before  # nothing clobbered, nothing left over

    # The loser of a race for the same inputs returns the winner's release.
    calls.clear()
    same = release(scoped, spec, {"2122": tables["2122"], "2223": tables["2223"]})
    assert not same.created and same.name == winner.name
    assert snapshot(scoped.roots[PUBLISHED]) == before


def test_a_version_record_is_an_exclusive_claim(scoped):
    scoped.create_record(PUBLISHED, index_object("hes_mini"), "sample-v0001", {"a": 1})
    with pytest.raises(FileExistsError):
        scoped.create_record(PUBLISHED, index_object("hes_mini"), "sample-v0001", {"a": 2})
    (record,) = scoped.read_records(PUBLISHED, index_object("hes_mini"))
    assert record == {"a": 1}

    def writer(folder):
        folder.mkdir()
        (folder / "f.txt").write_text("new")

    path = scoped.write_folder_once(PUBLISHED, "hes_mini", "once", writer)
    with pytest.raises(FileExistsError):
        scoped.write_folder_once(PUBLISHED, "hes_mini", "once", writer)
    (path / "f.txt").chmod(0o644)
    assert (path / "f.txt").read_text() == "new"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_versions_of_release_folders_older_than_the_index_are_not_reused(scoped, spec, tables):
    def legacy(folder):
        folder.mkdir()
        (folder / "artificial_hes_mini_202612_v1_sample.zip").write_bytes(b"old")

    scoped.write_partition(PUBLISHED, spec.dataset, "artificial_hes_mini_202612_v1_sample", legacy)
    new = release(scoped, spec, {"2122": tables["2122"]})
    assert new.name == "artificial_hes_mini_202612_v2_sample"


def test_a_folder_lost_after_its_claim_is_restored_byte_for_byte(scoped, spec, tables):
    import shutil

    first = release(scoped, spec, {"2122": tables["2122"]})
    before = {k: v[0] for k, v in snapshot(first.path).items()}
    shutil.rmtree(first.path)  # as if killed between the index record and the rename
    again = release(scoped, spec, {"2122": tables["2122"]})
    assert not again.created and again.name == first.name
    assert {k: v[0] for k, v in snapshot(again.path).items()} == before


# ------------------------------------------------------------ what the package says


def _package_texts(outcome) -> tuple[str, dict]:
    notice = (outcome.path / "user_notice.md").read_text()
    with zipfile.ZipFile(outcome.zip_path) as archive:
        assert archive.read(f"{outcome.name}/user_notice.md").decode() == notice
        notes = json.loads(archive.read(f"{outcome.name}/release_notes.json"))
    return notice, notes


def test_simulated_source_and_demo_sign_off_are_said_plainly(scoped, spec, tables):
    outcome = release(scoped, spec, {"2122": tables["2122"]})
    notice, notes = _package_texts(outcome)
    assert "SIMULATED SOURCE" in notice and "DEMO SIGN-OFF" in notice
    assert "taken from **simulated stand-in data** shaped like HES (not real HES)" in notice
    assert "Aggregate statistics were taken from HES" not in notice
    assert "not by a disclosure review" in notice
    assert notes["source"]["simulated_source"] is True
    assert notes["source"]["demo_sign_off"] is True
    assert notes["source"]["simulated_source_years"] == ["2122"]
    assert outcome.record["simulated_source"] and outcome.record["demo_sign_off"]
    assert "SIMULATED SOURCE" in outcome.record["source"]


def test_a_release_from_real_metadata_makes_no_simulated_or_demo_claim(scoped, spec, tables):
    outcome = release(scoped, spec, {"2122": tables["2122"]}, simulated=False, demo=False)
    notice, notes = _package_texts(outcome)
    assert "Aggregate statistics were taken from HES for each field" in notice
    assert "simulated" not in notice.lower() and "demo" not in notice.lower()
    assert notes["source"]["simulated_source"] is False
    assert notes["source"]["demo_sign_off"] is False
    assert "simulated" not in outcome.record["source"].lower()


def test_a_mixed_release_names_the_simulated_years(scoped, spec, tables):
    prov = {
        "2122": provenance("2122", simulated=False, demo=False),
        "2223": provenance("2223"),
    }
    outcome = publish_release(
        scoped,
        spec,
        {"2122": tables["2122"], "2223": tables["2223"]},
        prov,
        kind="sample",
        release_month="202701",
        recorded_at="2027-01-05T10:00:00+00:00",
        release_info={"years": prov},
    )
    notice, notes = _package_texts(outcome)
    assert "SIMULATED SOURCE (financial years 2223)" in notice
    assert "HES for 2122 and **simulated stand-in data**" in notice
    assert notes["source"]["demo_sign_off_years"] == ["2223"]


def test_record_files_are_read_only(scoped, spec, tables):
    release(scoped, spec, {"2122": tables["2122"]})
    (record,) = (scoped.roots[PUBLISHED] / index_object(spec.dataset)).iterdir()
    assert record.name == "sample-v0001.json"
    assert oct(os.stat(record).st_mode & 0o777) == oct(0o444)
