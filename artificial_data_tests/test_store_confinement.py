"""Every read confined to its store's root (issue 12 item 5).

Each test builds a route by which, on a single folder tree, the open generator could once be
made to read raw data or unreleased metadata through its own, correctly granted store, and
checks that the store now refuses it with a ScopeViolation naming location, store and object.
"""

import os
import time

import pytest

from artificial_data.common.settings import HOME_ENV, load_settings, store_root_env
from artificial_data.common.stores import (
    ARTIFICIAL,
    METADATA_RELEASED,
    METADATA_SENSITIVE,
    PUBLISHED,
    RAW,
    STORE_NAMES,
    PartitionMissing,
    ScopedStores,
    ScopeViolation,
    StoreNotConfigured,
)

DS, YEAR = "hes_apc", "2122"
CANARY = "SENSITIVE-CANARY"


def _files(**files):
    def writer(folder):
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name.replace("_", ".", 1)).write_text(text)

    return writer


@pytest.fixture
def home(tmp_path):
    """Sensitive metadata written by the scraper, released metadata written by review."""
    scraper = ScopedStores.for_location("scraper", tmp_path)
    review = ScopedStores.for_location("review", tmp_path)
    scraper.write_partition(
        METADATA_SENSITIVE, DS, YEAR, _files(metadata_parquet=CANARY, header_json=CANARY)
    )
    review.write_partition(
        METADATA_RELEASED, DS, YEAR, _files(metadata_parquet="released", header_json="released")
    )
    return tmp_path


def _generator(home):
    return ScopedStores.for_location("generator", home)


def _sensitive_version(home):
    return ScopedStores.for_location("scraper", home).partition_path(METADATA_SENSITIVE, DS, YEAR)


def _released_version(home):
    return _generator(home).partition_path(METADATA_RELEASED, DS, YEAR)


def _refused(call, *args, match=None):
    with pytest.raises(ScopeViolation) as err:
        call(*args)
    message = str(err.value)
    assert "'generator'" in message and f"'{METADATA_RELEASED}'" in message, message
    assert DS in message, message
    if match:
        assert match in message, message
    return message


def test_released_partition_reads_normally(home):
    path = _released_version(home)
    assert (path / "header.json").read_text() == "released"
    assert path.parent.name == ".versions" and path.is_relative_to(home / METADATA_RELEASED)
    assert _generator(home).has_partition(METADATA_RELEASED, DS, YEAR)


@pytest.mark.parametrize("name", ["metadata.parquet", "header.json"])
def test_symlinked_file_inside_a_released_partition(home, name):
    released = _released_version(home)
    (released / name).unlink()
    os.symlink(_sensitive_version(home) / name, released / name)
    _refused(
        _generator(home).partition_path, METADATA_RELEASED, DS, YEAR, match="is a symbolic link"
    )


def test_symlinked_folder_inside_a_released_partition(home):
    released = _released_version(home)
    os.symlink(_sensitive_version(home), released / "more")
    _refused(_generator(home).partition_path, METADATA_RELEASED, DS, YEAR, match="'more'")


@pytest.mark.parametrize("relative", [True, False])
def test_symlinked_partition_folder(home, relative):
    entry = home / METADATA_RELEASED / DS / YEAR
    sensitive = _sensitive_version(home)
    entry.unlink()
    os.symlink(os.path.relpath(sensitive, entry.parent) if relative else sensitive, entry)
    stores = _generator(home)
    for call in (stores.partition_path, stores.has_partition):
        _refused(call, METADATA_RELEASED, DS, YEAR, match="does not point at one of its own")


def test_symlinked_store_root(tmp_path):
    ScopedStores.for_location("scraper", tmp_path).write_partition(
        METADATA_SENSITIVE, DS, YEAR, _files(header_json=CANARY)
    )
    os.symlink(tmp_path / METADATA_SENSITIVE, tmp_path / METADATA_RELEASED)
    stores = _generator(tmp_path)
    for call, args in (
        (stores.partition_path, (METADATA_RELEASED, DS, YEAR)),
        (stores.has_partition, (METADATA_RELEASED, DS, YEAR)),
        (stores.partitions, (METADATA_RELEASED, DS)),
    ):
        _refused(call, *args, match="the store root is a symbolic link")


def test_symlink_in_a_parent_component(home):
    released_object = home / METADATA_RELEASED / DS
    os.rename(released_object, home / "aside")
    os.symlink(home / METADATA_SENSITIVE / DS, released_object)
    stores = _generator(home)
    _refused(stores.partition_path, METADATA_RELEASED, DS, YEAR, match=f"'{DS}' is a symbolic")
    _refused(stores.partitions, METADATA_RELEASED, DS)


def test_symlinked_versions_folder(home):
    versions = home / METADATA_RELEASED / DS / ".versions"
    target = os.readlink(home / METADATA_RELEASED / DS / YEAR)
    sensitive_versions = home / METADATA_SENSITIVE / DS / ".versions"
    os.rename(sensitive_versions / _sensitive_version(home).name, sensitive_versions / target[10:])
    os.rename(versions, home / "aside")
    os.symlink(sensitive_versions, versions)
    _refused(
        _generator(home).partition_path,
        METADATA_RELEASED,
        DS,
        YEAR,
        match="'hes_apc/.versions' is a symbolic link",
    )


def test_hard_link_to_a_file_outside(home):
    released = _released_version(home)
    (released / "header.json").unlink()
    os.link(_sensitive_version(home) / "header.json", released / "header.json")
    _refused(_generator(home).partition_path, METADATA_RELEASED, DS, YEAR, match="is a hard link")


@pytest.mark.parametrize(
    "forged",
    [
        "../../metadata_sensitive/hes_apc/2122",
        ".versions/../../../metadata_sensitive/hes_apc/2122",
        ".versions/2122-0123456789abcdef0123456789abcdef/../../../../metadata_sensitive",
        "./.versions/2122-0123456789abcdef0123456789abcdef",
        ".versions/2223-0123456789abcdef0123456789abcdef",
        "ABSOLUTE",
    ],
)
def test_forged_swap_link(home, forged):
    entry = home / METADATA_RELEASED / DS / YEAR
    versions = home / METADATA_RELEASED / DS / ".versions"
    if forged == "ABSOLUTE":
        forged = str(versions / os.readlink(entry).split("/")[1])
    (versions / "2223-0123456789abcdef0123456789abcdef").mkdir()
    entry.unlink()
    os.symlink(forged, entry)
    stores = _generator(home)
    _refused(stores.partition_path, METADATA_RELEASED, DS, YEAR, match="its own versions")
    # The owner's next write refuses too, and leaves the link's target alone.
    review = ScopedStores.for_location("review", home)
    with pytest.raises(ScopeViolation, match="its own versions"):
        review.write_partition(METADATA_RELEASED, DS, YEAR, _files(header_json="x"))
    assert (_sensitive_version(home) / "header.json").read_text() == CANARY


def test_orphan_version_is_never_read_and_is_cleaned_up(tmp_path):
    stores = _generator(tmp_path)
    stores.write_partition(ARTIFICIAL, DS, "2021", _files(part_txt="live"))
    versions = tmp_path / ARTIFICIAL / DS / ".versions"
    old = versions / f"{YEAR}-{'a' * 32}"
    young = versions / f"{YEAR}-{'b' * 32}"
    for orphan in (old, young):
        orphan.mkdir()
        (orphan / "part.txt").write_text("killed write")
    stale_link = tmp_path / ARTIFICIAL / DS / f".{YEAR}.link-{'c' * 32}"
    os.symlink(f".versions/{old.name}", stale_link)
    hours_ago = time.time() - stores.orphan_grace - 3600
    os.utime(old, (hours_ago, hours_ago))
    os.utime(stale_link, (hours_ago, hours_ago), follow_symlinks=False)

    assert stores.partitions(ARTIFICIAL, DS) == ["2021"]
    assert not stores.has_partition(ARTIFICIAL, DS, YEAR)
    with pytest.raises(PartitionMissing):
        stores.partition_path(ARTIFICIAL, DS, YEAR)

    stores.write_partition(ARTIFICIAL, DS, "2021", _files(part_txt="rewritten"))
    assert not old.exists() and not os.path.lexists(stale_link)
    assert young.exists(), "a version younger than the grace period may be a write in progress"
    assert (stores.partition_path(ARTIFICIAL, DS, "2021") / "part.txt").read_text() == "rewritten"
    assert sorted(p.name.split("-")[0] for p in versions.iterdir()) == ["2021", YEAR]


def test_symlinked_record_and_secret_are_refused(tmp_path):
    review = ScopedStores.for_location("review", tmp_path)
    review.append_record("admin", "signoffs/hes_apc", {"n": 1})
    (tmp_path / "elsewhere.json").write_text('{"n": 2}')
    os.symlink(tmp_path / "elsewhere.json", tmp_path / "admin/signoffs/hes_apc/zzz.json")
    with pytest.raises(ScopeViolation, match="symbolic link"):
        review.read_records("admin", "signoffs/hes_apc")
    (tmp_path / METADATA_SENSITIVE / "secrets").mkdir(parents=True)
    os.symlink(tmp_path / "elsewhere.json", tmp_path / METADATA_SENSITIVE / "secrets/key")
    with pytest.raises(ScopeViolation, match="symbolic link"):
        review.secret(METADATA_SENSITIVE, "secrets/key", lambda: b"k" * 32)


def test_a_secret_is_readable_by_the_store_group(tmp_path):
    scraper = ScopedStores.for_location("scraper", tmp_path)
    key = scraper.secret(METADATA_SENSITIVE, "secrets/key", lambda: b"k" * 32)
    assert key == b"k" * 32
    mode = (tmp_path / METADATA_SENSITIVE / "secrets/key").stat().st_mode & 0o777
    assert mode & 0o007 == 0 and mode & 0o020 == 0


def test_only_granted_roots_are_held(tmp_path):
    roots = {s: tmp_path / s for s in STORE_NAMES}
    stores = ScopedStores.for_location("generator", roots)
    assert set(stores.roots) == {METADATA_RELEASED, ARTIFICIAL, PUBLISHED}
    only_released = ScopedStores.for_location("generator", {METADATA_RELEASED: roots[RAW]})
    assert only_released.partitions(METADATA_RELEASED, DS) == []
    with pytest.raises(StoreNotConfigured, match="ARTIFICIAL_DATA_STORE_ARTIFICIAL"):
        only_released.partitions(ARTIFICIAL, DS)
    # Told nothing about raw, the scraper's stores cannot find it.
    scraper = ScopedStores.for_location("scraper", {METADATA_SENSITIVE: roots[METADATA_SENSITIVE]})
    with pytest.raises(StoreNotConfigured, match="'raw'"):
        scraper.partition_path(RAW, DS, YEAR)


def test_settings_with_only_store_roots(tmp_path, monkeypatch):
    for store in STORE_NAMES:
        monkeypatch.delenv(store_root_env(store), raising=False)
    monkeypatch.delenv(HOME_ENV, raising=False)
    monkeypatch.setenv(store_root_env(METADATA_RELEASED), str(tmp_path / "released"))
    monkeypatch.setenv(store_root_env(ARTIFICIAL), str(tmp_path / "artificial"))
    settings = load_settings()
    assert settings.home is None
    assert dict(settings.store_roots) == {
        METADATA_RELEASED: tmp_path / "released",
        ARTIFICIAL: tmp_path / "artificial",
    }
    stores = ScopedStores.for_location("generator")  # roots from the environment
    assert set(stores.roots) == {METADATA_RELEASED, ARTIFICIAL}

    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))
    settings = load_settings()
    assert settings.home == (tmp_path / "home").resolve()
    assert settings.store_roots[RAW] == settings.home / RAW
    assert settings.store_roots[ARTIFICIAL] == tmp_path / "artificial"
