"""Scoped stores: grants per location, ScopeViolation, atomic idempotent partition writes."""

import os

import pytest

from artificial_data.common.stores import (
    ADMIN,
    ARTIFICIAL,
    METADATA_RELEASED,
    METADATA_SENSITIVE,
    PUBLISHED,
    RAW,
    PartitionMissing,
    ScopedStores,
    ScopeViolation,
)


def _write_text(text):
    def writer(folder):
        folder.mkdir(parents=True)
        (folder / "part.txt").write_text(text)

    return writer


@pytest.mark.parametrize(
    ("location", "readable", "writable"),
    [
        ("scraper", {RAW, METADATA_SENSITIVE}, {METADATA_SENSITIVE}),
        ("review", {METADATA_SENSITIVE, ADMIN, METADATA_RELEASED}, {ADMIN, METADATA_RELEASED}),
        ("generator", {METADATA_RELEASED, ARTIFICIAL, PUBLISHED}, {ARTIFICIAL, PUBLISHED}),
    ],
)
def test_grants_per_location(tmp_path, location, readable, writable):
    stores = ScopedStores.for_location(location, tmp_path)
    all_stores = {RAW, METADATA_SENSITIVE, ADMIN, METADATA_RELEASED, ARTIFICIAL, PUBLISHED}
    for store in all_stores:
        if store in readable:
            assert stores.partitions(store, "hes_apc") == []
        else:
            with pytest.raises(ScopeViolation):
                stores.partitions(store, "hes_apc")
        if store in writable:
            stores.write_partition(store, "hes_apc", "2122", _write_text("x"))
        else:
            with pytest.raises(ScopeViolation):
                stores.write_partition(store, "hes_apc", "2122", _write_text("x"))


def test_generator_reading_raw_names_location_store_and_object(tmp_path):
    stores = ScopedStores.for_location("generator", tmp_path)
    with pytest.raises(ScopeViolation) as err:
        stores.partition_path(RAW, "hes_apc", "2122")
    message = str(err.value)
    assert "'generator'" in message and "'raw'" in message and "hes_apc/2122" in message


def test_grants_can_be_narrowed_but_never_widened(tmp_path):
    narrowed = ScopedStores.for_location("review", tmp_path, read=[METADATA_SENSITIVE], write=[])
    with pytest.raises(ScopeViolation):
        narrowed.write_partition(ADMIN, "x", "1", _write_text("x"))
    with pytest.raises(ScopeViolation, match=r"'generator'.*'raw'"):
        ScopedStores.for_location("generator", tmp_path, read=[RAW, METADATA_RELEASED])
    with pytest.raises(ScopeViolation):
        ScopedStores.for_location("scraper", tmp_path, write=[RAW])  # not simulated
    assert RAW in ScopedStores.for_location("scraper", tmp_path, simulated_raw=True).grants.write


@pytest.mark.parametrize("obj", ["../raw/hes_apc", "hes_apc/../../raw", "/etc", ".hidden", ""])
def test_object_names_cannot_escape_the_store(tmp_path, obj):
    stores = ScopedStores.for_location("generator", tmp_path)
    with pytest.raises(ScopeViolation):
        stores.partitions(METADATA_RELEASED, obj)


def test_symlink_out_of_the_store_is_refused(tmp_path):
    stores = ScopedStores.for_location("generator", tmp_path)
    (tmp_path / RAW / "hes_apc").mkdir(parents=True)
    (tmp_path / METADATA_RELEASED).mkdir()
    os.symlink(tmp_path / RAW / "hes_apc", tmp_path / METADATA_RELEASED / "hes_apc")
    with pytest.raises(ScopeViolation, match="'hes_apc' is a symbolic link"):
        stores.partitions(METADATA_RELEASED, "hes_apc")


def test_partition_write_is_atomic_and_idempotent(tmp_path):
    stores = ScopedStores.for_location("generator", tmp_path)
    stores.write_partition(ARTIFICIAL, "hes_apc", "2122", _write_text("first"))
    path = stores.partition_path(ARTIFICIAL, "hes_apc", "2122")
    assert (path / "part.txt").read_text() == "first"

    def failing(folder):
        folder.mkdir(parents=True)
        (folder / "part.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        stores.write_partition(ARTIFICIAL, "hes_apc", "2122", failing)
    assert (
        stores.partition_path(ARTIFICIAL, "hes_apc", "2122") / "part.txt"
    ).read_text() == "first"

    stores.write_partition(ARTIFICIAL, "hes_apc", "2122", _write_text("second"))
    stores.write_partition(ARTIFICIAL, "hes_apc", "2122", _write_text("second"))
    assert (
        stores.partition_path(ARTIFICIAL, "hes_apc", "2122") / "part.txt"
    ).read_text() == "second"
    # Old versions and failed attempts are cleaned up: one live version remains.
    assert len(list((tmp_path / ARTIFICIAL / "hes_apc" / ".versions").iterdir())) == 1
    assert stores.partitions(ARTIFICIAL, "hes_apc") == ["2122"]


def test_missing_partition_is_a_clear_error(tmp_path):
    stores = ScopedStores.for_location("generator", tmp_path)
    with pytest.raises(PartitionMissing, match="'metadata_released' has no partition '2122'"):
        stores.partition_path(METADATA_RELEASED, "hes_apc", "2122")


def test_append_only_records(tmp_path):
    stores = ScopedStores.for_location("review", tmp_path)
    first = stores.append_record(ADMIN, "signoffs/hes_apc", {"n": 1})
    stores.append_record(ADMIN, "signoffs/hes_apc", {"n": 2})
    assert [r["n"] for r in stores.read_records(ADMIN, "signoffs/hes_apc")] == [1, 2]
    assert oct(first.stat().st_mode & 0o777) == "0o444"
