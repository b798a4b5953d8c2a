"""The isolated deployment gives each code location its own Databricks credential, and no other.

``deploy/isolated.py`` builds every location's environment from scratch. A location's credential
comes from its own root-owned file ``<credentials>/<location>.env``; these tests attack that
from outside the code path: another location's secret put into the generator's file, a
world-readable file, a symbolic link, and the printed plan (which must not show a secret).
No root needed: the files belong to the user running the tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from artificial_data.common.credentials import credential_env
from artificial_data_tests.test_isolation import deploy

SCRAPER_TOKEN = "dapi-scraper-secret-1111"
GENERATOR_TOKEN = "dapi-generator-secret-2222"


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def layout(tmp_path: Path):
    folder = tmp_path / "credentials"
    folder.mkdir()
    host = "https://adb-1.example.net"
    _write(
        folder / "scraper.env",
        f"{credential_env('scraper', 'HOST')}={host}\n"
        f"{credential_env('scraper', 'TOKEN')}={SCRAPER_TOKEN}\n",
    )
    _write(
        folder / "generator.env",
        f"# generator service principal\n{credential_env('generator', 'HOST')}={host}\n"
        f"{credential_env('generator', 'TOKEN')}={GENERATOR_TOKEN}\n",
    )
    return deploy.Layout(
        stores=tmp_path / "stores",
        state=tmp_path / "state",
        credentials=folder,
        platform={"ARTIFICIAL_DATA_ENGINE": "databricks", "UNRELATED": "x"},
    )


def test_each_location_gets_only_its_own_credential(layout):
    scraper, review, generator = (
        layout.location_env(loc) for loc in ("scraper", "review", "generator")
    )
    assert scraper[credential_env("scraper", "TOKEN")] == SCRAPER_TOKEN
    assert generator[credential_env("generator", "TOKEN")] == GENERATOR_TOKEN
    assert SCRAPER_TOKEN not in json.dumps(generator) and SCRAPER_TOKEN not in json.dumps(review)
    assert GENERATOR_TOKEN not in json.dumps(scraper)
    assert not any("DATABRICKS" in k and "ARTIFICIAL_DATA_REVIEW" not in k for k in review)
    # Platform settings pass through from the allow-list only.
    assert generator["ARTIFICIAL_DATA_ENGINE"] == "databricks" and "UNRELATED" not in generator


def test_another_locations_secret_in_the_generators_file_is_refused(layout):
    _write(
        layout.credentials / "generator.env",
        f"{credential_env('scraper', 'TOKEN')}={SCRAPER_TOKEN}\n",
    )
    with pytest.raises(deploy.CredentialFileRefused) as refused:
        layout.location_env("generator")
    message = str(refused.value)
    assert credential_env("scraper", "TOKEN") in message and "another location" in message
    assert SCRAPER_TOKEN not in message


def test_the_sdks_shared_token_cannot_be_smuggled_in(layout):
    _write(layout.credentials / "generator.env", "DATABRICKS_TOKEN=dapi-shared\n")
    with pytest.raises(deploy.CredentialFileRefused, match="DATABRICKS_TOKEN is not allowed"):
        layout.location_env("generator")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_readable_credential_file_is_refused(layout, mode):
    (layout.credentials / "scraper.env").chmod(mode)
    with pytest.raises(deploy.CredentialFileRefused, match="mode 0600"):
        layout.location_env("scraper")


def test_a_linked_credential_file_is_refused(layout, tmp_path):
    target = _write(tmp_path / "elsewhere.env", f"{credential_env('generator', 'HOST')}=h\n")
    (layout.credentials / "generator.env").unlink()
    os.symlink(target, layout.credentials / "generator.env")
    with pytest.raises(deploy.CredentialFileRefused, match="not a link"):
        layout.location_env("generator")


def test_no_file_means_no_databricks_credential(layout):
    (layout.credentials / "scraper.env").unlink()
    assert not [
        k for k in layout.location_env("scraper") if "DATABRICKS_" in k and "CLUSTER" not in k
    ]


def test_plan_and_env_never_print_a_secret(layout, capsys, monkeypatch):
    argv = ["--stores", str(layout.stores), "--state", str(layout.state)]
    argv += ["--credentials", str(layout.credentials)]
    deploy.main([*argv, "plan"])
    deploy.main([*argv, "env", "generator"])
    printed = capsys.readouterr().out
    assert SCRAPER_TOKEN not in printed and GENERATOR_TOKEN not in printed
    assert f"{credential_env('generator', 'TOKEN')}=***" in printed
    assert credential_env("generator", "HOST") in printed
