"""Shared fixtures. One local Spark session serves the whole test session (it costs 9-14 s to
start); tests that do not need Spark never trigger it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from artificial_data.common.settings import ENVIRONMENT_ENV, HOME_ENV


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from artificial_data.common.spark import get_spark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = get_spark("local[2]", app_name="artificial_data_tests")
    yield session
    session.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``ARTIFICIAL_DATA_HOME`` for one test, in the simulated (test) environment."""
    root = tmp_path / "artificial_data_home"
    root.mkdir()
    monkeypatch.setenv(HOME_ENV, str(root))
    monkeypatch.setenv(ENVIRONMENT_ENV, "test")
    return root


@pytest.fixture
def signers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Real ssh-keygen keys and the operator's allowed-signers list (ARTIFICIAL_DATA_ALLOWED_SIGNERS
    points at it): ada may review, grace may approve, alan may do either."""
    from artificial_data_tests.signers import DEFAULT_GRANTS, Signers

    folder = tmp_path / "signing"
    folder.mkdir()
    signers = Signers(folder, monkeypatch)
    signers.write(DEFAULT_GRANTS)
    return signers
