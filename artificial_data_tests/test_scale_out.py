"""DESIGN §11: the same scraper and generator run unchanged on a Spark cluster and through
Spark Connect, by configuration only (``ARTIFICIAL_DATA_SPARK_MASTER``), and give exactly the
results they give on local Spark.

Each test starts real Spark processes from the installed pyspark: a standalone master with two
workers (one per module), or a Spark Connect server. A driver process (``remote_driver``) then
works through it and the test compares what it made with the same work done on the test
session's local Spark:

- the scrape and generate *functions* on a simulated APC partition (cluster and Connect);
- the scraper's and the generator's *Dagster jobs* (raw -> suppressed metadata -> DEMO sign-off
  and release -> artificial table) for a small OP partition, with the cluster chosen only by
  ``ARTIFICIAL_DATA_SPARK_MASTER`` in the driver's environment and the stores in one folder on
  this machine, which every worker can reach.

Executors run this interpreter and import ``artificial_data`` from the folder this test imported
it from (:data:`PROJECT_ROOT`): a worktree's checkout, not whichever copy the venv has installed.
A cluster outside the tests needs the project installed in its executors' Python instead.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import artificial_data
from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.settings import ENVIRONMENT_ENV, HOME_ENV, SPARK_MASTER_ENV
from artificial_data.common.signing import ALLOWED_SIGNERS_ENV
from artificial_data.simulator import simulate_chunks
from artificial_data_tests import remote_driver

pytestmark = pytest.mark.spark

RAW_ROWS = 4_000
STARTUP_SECONDS = 120
WORKERS = 2
#: The folder this test imported the package from (a worktree's checkout, say).
PROJECT_ROOT = Path(artificial_data.__file__).resolve().parents[1]


def spark_bin(name: str) -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_env(**extra: str) -> dict[str, str]:
    """Spark processes bound to loopback, running this interpreter's Python workers on this
    checkout's package: ``PYTHONPATH`` for the workers (and the drivers), and
    ``spark.executorEnv.PYTHONPATH`` for each application's executors, so that neither imports
    a copy of ``artificial_data`` installed elsewhere in the venv."""
    python_path = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
    )
    return {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": python_path,
        "PYSPARK_SUBMIT_ARGS": f"--conf spark.executorEnv.PYTHONPATH={python_path} pyspark-shell",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_HOSTNAME": "localhost",
        **extra,
    }


class SparkProcess:
    """A long-running Spark JVM whose log is kept, so that a failed start says why."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        self.process = subprocess.Popen(
            args, stdout=self._file, stderr=subprocess.STDOUT, env=spark_env()
        )

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if text in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"{text!r} not seen; log:\n{self.log.read_text(errors='replace')}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._file.close()


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated APC partition as Parquet, readable by every Spark process on this machine."""
    folder = tmp_path_factory.mktemp("raw")
    spec = load_spec(remote_driver.DATASET)
    for i, table in enumerate(
        simulate_chunks(spec, remote_driver.YEAR, RAW_ROWS, seed=3, chunk_rows=1_500)
    ):
        pq.write_table(table, folder / f"part-{i:05d}.parquet")
    return folder


@pytest.fixture(scope="module")
def local_result(spark, raw_folder: Path) -> dict:
    return remote_driver.scrape_and_generate(spark, str(raw_folder))


@pytest.fixture(scope="module")
def standalone_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A standalone Spark master with two 1-core workers on loopback: (URL, logs folder). Each
    worker's executors keep their logs under ``<logs>/work-<n>``."""
    logs = tmp_path_factory.mktemp("standalone")
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    master = SparkProcess(
        [
            spark_bin("spark-class"),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(free_port()),
        ],
        logs / "master.log",
    )
    workers: list[SparkProcess] = []
    try:
        master.wait_for("I have been elected leader")
        for n in range(WORKERS):
            workers.append(
                SparkProcess(
                    [
                        spark_bin("spark-class"),
                        "org.apache.spark.deploy.worker.Worker",
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        "1",
                        "--memory",
                        "1536m",
                        "--webui-port",
                        str(free_port()),
                        "--work-dir",
                        str(logs / f"work-{n}"),
                        url,
                    ],
                    logs / f"worker-{n}.log",
                )
            )
        for worker in workers:
            worker.wait_for("Successfully registered with master")
        yield url, logs
    finally:
        for worker in workers:
            worker.stop()
        master.stop()


def executor_logs(logs: Path) -> dict[int, list[Path]]:
    """Worker number -> the stderr files of the executors it ran."""
    return {n: sorted((logs / f"work-{n}").glob("app-*/*/stderr")) for n in range(WORKERS)}


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A Spark Connect server (over local Spark) on loopback: (URL, its log)."""
    logs = tmp_path_factory.mktemp("connect")
    port = free_port()
    server = SparkProcess(
        [
            spark_bin("spark-submit"),
            "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer",
            "--master",
            "local[2]",
            "--conf",
            f"spark.connect.grpc.binding.port={port}",
            "--conf",
            "spark.connect.grpc.binding.address=127.0.0.1",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            f"spark.pyspark.python={sys.executable}",
            "spark-internal",
        ],
        logs / "server.log",
    )
    try:
        server.wait_for("Spark Connect server started")
        yield f"sc://127.0.0.1:{port}", server.log
    finally:
        server.stop()


def run_remote_driver(master: str, raw_folder: Path, out: Path) -> dict:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "artificial_data_tests.remote_driver",
            master,
            str(raw_folder),
            str(out),
        ],
        env=spark_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(out.read_text())


def test_scrape_and_generation_on_a_standalone_cluster_match_local_spark(
    standalone_master: tuple[str, Path], raw_folder: Path, local_result: dict, tmp_path: Path
):
    url, logs = standalone_master
    remote = run_remote_driver(url, raw_folder, tmp_path / "out.json")
    assert local_result["metadata_rows"] > 100
    assert remote == local_result
    # the work ran on the cluster's executors, not in a local session of the driver
    assert any(executor_logs(logs).values())


def test_scrape_and_generation_through_spark_connect_match_local_spark(
    connect_server: tuple[str, Path], raw_folder: Path, local_result: dict, tmp_path: Path
):
    url, log = connect_server
    remote = run_remote_driver(url, raw_folder, tmp_path / "out.json")
    assert remote == local_result
    # the frames were planned and the Arrow steps run by the server, not by a local session
    assert "map_partitions" in log.read_text(errors="replace")


# ------------------------------------------------------------------ the assets, on the cluster


def asset_env(home: Path) -> dict[str, str]:
    """A single-user home in the test environment: every store is a folder under ``home``."""
    return {HOME_ENV: str(home), ENVIRONMENT_ENV: "test", ALLOWED_SIGNERS_ENV: ""}


@pytest.fixture(scope="module")
def local_assets(spark, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The scraper's and generator's jobs in this process, on the test session's local Spark."""
    home = tmp_path_factory.mktemp("assets_local") / "artificial_data_home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in asset_env(home).items():
            mp.setenv(name, value)
        mp.delenv(SPARK_MASTER_ENV, raising=False)
        mp.delenv("DAGSTER_HOME", raising=False)
        return remote_driver.materialise_through_assets()


def test_scrape_and_generate_assets_on_a_standalone_cluster_match_local_spark(
    standalone_master: tuple[str, Path], local_assets: dict, tmp_path: Path
):
    """DESIGN §11 through the assets: the same Dagster jobs, pointed at a two-worker cluster by
    the location's environment only, make the same suppressed metadata and the same artificial
    table as on local Spark, with the executors reading and writing the store folders."""
    url, logs = standalone_master
    before = {n: set(files) for n, files in executor_logs(logs).items()}
    home = tmp_path / "artificial_data_home"
    home.mkdir()
    out = tmp_path / "assets.json"
    env = spark_env(**asset_env(home), **{SPARK_MASTER_ENV: url})
    env.pop("DAGSTER_HOME", None)
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "artificial_data_tests.remote_driver", "assets", str(out)],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, completed.stderr[-6000:]
    remote = json.loads(out.read_text())
    print(f"[scale-out] assets on {url}: {time.monotonic() - started:.1f}s", file=sys.stderr)

    assert local_assets["where"]["master"].startswith("local")
    assert remote["where"]["master"] == url
    assert remote["same"] == local_assets["same"]
    assert remote["same"]["rows"] == remote_driver.ASSET_ROWS
    assert remote["same"]["generated_from"] == remote["same"]["metadata_hash"]
    # the executors imported this checkout's package, not another copy
    assert remote["where"]["executor_package"] == [str(PROJECT_ROOT)]
    # the table was written by Spark (part files) into the artificial store's folder
    folder = Path(remote["where"]["artificial_folder"])
    assert folder.is_relative_to(home.resolve() / "artificial")
    assert remote["where"]["artificial_files"]
    # this application's tasks ran on both workers' executors
    tasks = {
        n: sum(f.read_text(errors="replace").count("Running task") for f in set(files) - before[n])
        for n, files in executor_logs(logs).items()
    }
    print(f"[scale-out] tasks per worker: {tasks}", file=sys.stderr)
    assert all(tasks.values()), tasks
