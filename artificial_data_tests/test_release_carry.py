"""Years carried over from the previous release (issue 16): an unchanged year is copied, not
formatted and deflated again, the release is the same bytes as one written from scratch, and
nothing is carried that is not exactly what the previous release's record says it published."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from artificial_data.common.stores import PUBLISHED, ScopedStores
from artificial_data.generator.publish import api, carry, package, releases
from artificial_data.generator.publish.releases import PublicationError, publish_release
from artificial_data.generator.publish.year_rows import ParquetRows
from artificial_data_tests.qa_tables import clean_table, hand_made_metadata, mini_spec

YEARS = ("2122", "2223")
CANARY = "CARRYCANARY"


@pytest.fixture(scope="module")
def spec():
    return dataclasses.replace(mini_spec(), financial_years=YEARS)


@pytest.fixture(scope="module")
def parquet_years(spec, tmp_path_factory) -> dict[str, Path]:
    """Each year (and a regenerated 2223) as an artificial partition's Parquet file."""
    metadata = hand_made_metadata(spec)
    folder = tmp_path_factory.mktemp("artificial")
    out = {}
    for name, rows, seed in (("2122", 400, 1), ("2223", 300, 2), ("2223-regenerated", 300, 3)):
        out[name] = folder / f"{name}.parquet"
        pq.write_table(clean_table(spec, metadata, rows, seed=seed), out[name], row_group_size=90)
    return out


@pytest.fixture
def scoped(home):
    return ScopedStores.for_location("generator", home)


@pytest.fixture
def formatted(monkeypatch) -> list[str]:
    """The years whose CSV publication formats (every other year is carried)."""
    calls: list[str] = []
    real = releases.write_csv

    def counting(year, path):
        calls.append(path.name.rsplit("_", 1)[1].removesuffix(".csv"))
        return real(year, path)

    monkeypatch.setattr(releases, "write_csv", counting)
    return calls


def release(scoped, spec, years: dict[str, Path], month="202612"):
    tables = {y: ParquetRows([p]) for y, p in years.items()}
    prov = {y: {"metadata_content_hash": "ab" * 32, "seed": 7} for y in tables}
    return publish_release(
        scoped,
        spec,
        tables,
        prov,
        kind="sample",
        release_month=month,
        recorded_at=f"{month[:4]}-{month[4:]}-05T10:00:00+00:00",
        release_info={"years": prov},
    )


def fresh_files(spec, outcome, years: dict[str, Path], folder: Path) -> dict[str, str]:
    """The sha256 of every file of ``outcome``'s release written from scratch (nothing
    carried), with the same inputs."""
    tables = {y: ParquetRows([p]) for y, p in years.items()}
    prov = {y: {"metadata_content_hash": "ab" * 32, "seed": 7} for y in tables}
    return api.build_package(
        tables,
        spec,
        folder,
        release_month=outcome.record["release_month"],
        version=outcome.version,
        size="sample",
        release_info={"years": prov},
    ).files


def folder_files(path: Path) -> dict[str, str]:
    return {p.name: package.sha256(p) for p in sorted(path.iterdir())}


@pytest.mark.parametrize("zip64", [False, True], ids=["zip", "zip64"])
def test_an_unchanged_year_is_copied_and_the_release_is_the_one_written_afresh(
    scoped, spec, parquet_years, formatted, tmp_path, monkeypatch, zip64
):
    if zip64:  # every entry takes the ZIP64 headers, as a 10M-row year's CSV does
        monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 1 << 10)
    first = {"2122": parquet_years["2122"]}
    v1 = release(scoped, spec, first)
    assert v1.carried == () and formatted == ["2122"]
    both = {"2122": parquet_years["2122"], "2223": parquet_years["2223"]}
    v2 = release(scoped, spec, both, month="202701")
    assert v2.created and v2.carried == ("2122",) and v2.carry_refused == {}
    assert formatted == ["2122", "2223"]  # 2122 was not formatted a second time
    assert folder_files(v2.path) == fresh_files(spec, v2, both, tmp_path / "fresh")
    assert v2.record["files_sha256"] == folder_files(v2.path)
    with zipfile.ZipFile(v2.zip_path) as archive:
        assert archive.testzip() is None  # every entry's CRC checks
        csv = archive.read(f"{v2.name}/artificial_hes_mini_2122.csv")
    assert hashlib.sha256(csv).hexdigest() == v2.record["years"]["2122"]["artificial_sha256"]
    assert_entries_recorded(v2)


def _entry_data_start(zip_path: Path, info: zipfile.ZipInfo) -> int:
    """Where the entry's compressed bytes start, found here from its local header's name and
    extra-field lengths (not with the code under test)."""
    with open(zip_path, "rb") as fh:
        fh.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", fh.read(4))
    return info.header_offset + 30 + name_length + extra_length


def assert_entries_recorded(outcome) -> None:
    """The record's ``zip_entries`` are true of the zip: each one's compressed bytes (found
    here from the zip's own directory and local header) have its sha256 and inflate to the
    entry's file, with its CRC and size."""
    with zipfile.ZipFile(outcome.zip_path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        assert sorted(outcome.record["zip_entries"]) == sorted(
            i.filename.rsplit("/", 1)[1] for i in infos
        )
        for info in infos:
            facts = outcome.record["zip_entries"][info.filename.rsplit("/", 1)[1]]
            with open(outcome.zip_path, "rb") as fh:
                fh.seek(_entry_data_start(outcome.zip_path, info))
                raw = fh.read(info.compress_size)
            data = archive.read(info)
            assert zlib.decompress(raw, -zlib.MAX_WBITS) == data
            assert facts == {
                "deflated_sha256": hashlib.sha256(raw).hexdigest(),
                "compress_size": len(raw),
                "crc": zlib.crc32(data),
                "file_size": len(data),
            }


def test_the_same_inputs_again_format_nothing_and_make_no_version(
    scoped, spec, parquet_years, formatted
):
    both = {"2122": parquet_years["2122"], "2223": parquet_years["2223"]}
    v1 = release(scoped, spec, both)
    again = release(scoped, spec, both)
    assert not again.created and again.name == v1.name and again.carried == ("2122", "2223")
    assert formatted == ["2122", "2223"]  # only the first publication formatted anything


def test_a_regenerated_year_or_a_changed_writer_is_formatted_afresh(
    scoped, spec, parquet_years, formatted, monkeypatch
):
    release(scoped, spec, {"2122": parquet_years["2122"], "2223": parquet_years["2223"]})
    regenerated = {"2122": parquet_years["2122"], "2223": parquet_years["2223-regenerated"]}
    v2 = release(scoped, spec, regenerated)
    assert v2.created and v2.carried == ("2122",)
    assert formatted == ["2122", "2223", "2223"]
    # Another formatter or library version: nothing is carried, however unchanged the rows.
    monkeypatch.setattr(carry, "writer_sha256", lambda: "0" * 64)
    v3 = release(scoped, spec, regenerated, month="202701")
    assert v3.created and v3.carried == () and formatted[3:] == ["2122", "2223"]


def test_a_release_recorded_without_entry_facts_is_not_carried(
    scoped, spec, parquet_years, formatted, tmp_path, monkeypatch
):
    """A release recorded before its zip entries' facts were kept (before session 14) cannot
    have its entry checked still compressed: its years are formatted afresh, not trusted."""
    release(scoped, spec, {"2122": parquet_years["2122"]})
    real = releases.read_index

    def without_entry_facts(*args):
        return [{k: v for k, v in r.items() if k != "zip_entries"} for r in real(*args)]

    monkeypatch.setattr(releases, "read_index", without_entry_facts)
    both = {"2122": parquet_years["2122"], "2223": parquet_years["2223"]}
    v2 = release(scoped, spec, both, month="202701")
    assert v2.created and v2.carried == ()
    assert "keeps no facts" in v2.carry_refused["2122"]
    assert formatted == ["2122", "2122", "2223"]
    assert folder_files(v2.path) == fresh_files(spec, v2, both, tmp_path / "fresh")


def _plant_canary_in_zip(zip_path: Path) -> None:
    """Rewrite the zip with a name planted into every CSV (an edit on disk)."""
    planted = zip_path.with_suffix(".planted")
    with zipfile.ZipFile(zip_path) as old, zipfile.ZipFile(planted, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename.endswith(".csv"):
                data = data.replace(b"\n", f",{CANARY}\n".encode(), 2)
            new.writestr(info, data)
    os.replace(planted, zip_path)


def _edit_parquet(folder: Path) -> None:
    path = next(folder.glob("*_2122.parquet"))
    path.write_bytes(path.read_bytes() + CANARY.encode())


def _link_zip(folder: Path) -> None:
    """The zip replaced by a link to a byte-identical copy: still not a file to trust."""
    zip_path = next(folder.glob("*.zip"))
    copy = folder.parent / "elsewhere.zip"
    shutil.copyfile(zip_path, copy)
    zip_path.unlink()
    zip_path.symlink_to(copy)


EDITS = {
    "canary planted in the zip": lambda folder: _plant_canary_in_zip(next(folder.glob("*.zip"))),
    "parquet edited": _edit_parquet,
    "zip deleted": lambda folder: next(folder.glob("*.zip")).unlink(),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_previous_release_edited_on_disk_is_not_carried(
    scoped, spec, parquet_years, formatted, tmp_path, edit
):
    v1 = release(scoped, spec, {"2122": parquet_years["2122"]})
    EDITS[edit](v1.path)
    both = {"2122": parquet_years["2122"], "2223": parquet_years["2223"]}
    v2 = release(scoped, spec, both, month="202701")
    assert v2.created and v2.carried == () and set(v2.carry_refused) == {"2122"}
    assert formatted == ["2122", "2122", "2223"]  # formatted afresh from the artificial table
    assert folder_files(v2.path) == fresh_files(spec, v2, both, tmp_path / "fresh")
    with zipfile.ZipFile(v2.zip_path) as archive:
        assert not any(CANARY.encode() in archive.read(n) for n in archive.namelist())


def test_a_link_planted_in_the_previous_release_stops_publication(scoped, spec, parquet_years):
    """The store refuses to read through a link (its own wall): publication stops, loudly,
    and writes nothing, even though the link points at a byte-identical zip."""
    from artificial_data.common.stores import ScopeViolation

    v1 = release(scoped, spec, {"2122": parquet_years["2122"]})
    _link_zip(v1.path)
    both = {"2122": parquet_years["2122"], "2223": parquet_years["2223"]}
    with pytest.raises(ScopeViolation, match="symbolic link"):
        release(scoped, spec, both, month="202701")
    assert [r["version"] for r in releases.read_index(scoped, spec.dataset)] == [1]


def _middle_of_csv_entry(zip_path: Path) -> int:
    """The offset of the middle of the first CSV entry's compressed data."""
    with zipfile.ZipFile(zip_path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(".csv"))
    return _entry_data_start(zip_path, info) + info.compress_size // 2


def _corrupt_csv_entry(zip_path: Path) -> None:
    """Flip bytes inside the first CSV entry's compressed data, in place."""
    with open(zip_path, "r+b") as fh:
        fh.seek(_middle_of_csv_entry(zip_path))
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))


def _cut_csv_entry_short(zip_path: Path) -> None:
    """Truncate the zip in the middle of the first CSV entry's compressed data."""
    with open(zip_path, "r+b") as fh:
        fh.truncate(_middle_of_csv_entry(zip_path))


@pytest.mark.parametrize(
    "edit",
    [
        lambda folder: _corrupt_csv_entry(next(folder.glob("*.zip"))),
        lambda folder: _cut_csv_entry_short(next(folder.glob("*.zip"))),
        _edit_parquet,
    ],
    ids=["zip entry", "zip cut short", "parquet"],
)
def test_a_carried_file_changed_after_its_check_fails_and_publishes_nothing(
    scoped, spec, parquet_years, monkeypatch, edit
):
    v1 = release(scoped, spec, {"2122": parquet_years["2122"]})
    real = releases.plan_carry

    def edited_after_the_check(*args):
        plan = real(*args)
        assert set(plan.years) == {"2122"}
        edit(v1.path)  # between the check and the copy
        return plan

    monkeypatch.setattr(releases, "plan_carry", edited_after_the_check)
    before = sorted(p.name for p in v1.path.parent.iterdir())
    both = {"2122": parquet_years["2122"], "2223": parquet_years["2223"]}
    with pytest.raises(
        PublicationError, match=r"2122.* (is not the file|changed).*; nothing was published"
    ):
        release(scoped, spec, both, month="202701")
    assert sorted(p.name for p in v1.path.parent.iterdir()) == before  # no v2, nothing left
    assert [r["version"] for r in releases.read_index(scoped, spec.dataset)] == [1]
    assert not list(scoped.partition_path(PUBLISHED, spec.dataset, v1.name).parent.glob(".*"))
