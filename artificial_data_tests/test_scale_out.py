"""DESIGN §11: the same scraper and generator run unchanged on a Spark cluster and through
Spark Connect, by configuration only (``ARTIFICIAL_DATA_SPARK_MASTER``), and give exactly the
results they give on local Spark.

Each test starts real Spark processes from the installed pyspark: a standalone master with one
worker, or a Spark Connect server. A driver process (``remote_driver``) then scrapes a simulated
APC partition and generates a table from that metadata through it; the test compares its
metadata hash and table fingerprint with the same work done on the test session's local Spark.
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

from artificial_data.common.dataset_spec import load_spec
from artificial_data.simulator import simulate_chunks
from artificial_data_tests import remote_driver

pytestmark = [pytest.mark.spark, pytest.mark.slow]

RAW_ROWS = 4_000
STARTUP_SECONDS = 120


def spark_bin(name: str) -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_env() -> dict[str, str]:
    """Spark processes bound to loopback, running this interpreter's Python workers."""
    return {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_HOSTNAME": "localhost",
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
    """A standalone Spark master with one 2-core worker on loopback: (URL, logs folder)."""
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
    worker = None
    try:
        master.wait_for("I have been elected leader")
        worker = SparkProcess(
            [
                spark_bin("spark-class"),
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--cores",
                "2",
                "--memory",
                "2g",
                "--webui-port",
                str(free_port()),
                "--work-dir",
                str(logs / "work"),
                url,
            ],
            logs / "worker.log",
        )
        worker.wait_for("Successfully registered with master")
        yield url, logs
    finally:
        if worker is not None:
            worker.stop()
        master.stop()


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
    # the work ran on the cluster's executor, not in a local session of the driver
    assert list((logs / "work").glob("app-*/*/stderr"))


def test_scrape_and_generation_through_spark_connect_match_local_spark(
    connect_server: tuple[str, Path], raw_folder: Path, local_result: dict, tmp_path: Path
):
    url, log = connect_server
    remote = run_remote_driver(url, raw_folder, tmp_path / "out.json")
    assert remote == local_result
    # the frames were planned and the Arrow steps run by the server, not by a local session
    assert "map_partitions" in log.read_text(errors="replace")
