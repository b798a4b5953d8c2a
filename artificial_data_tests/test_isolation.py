"""Separation by the operating system (DESIGN §2, issue 12 item 4).

Sets up the isolated deployment with the same script as ``make isolated``
(``deploy/isolated.py``: users, groups, store roots, venv), puts canaries into the raw and the
sensitive metadata stores, starts the generator's gRPC code server under its own Unix user with
only its own settings, and proves that code running as that user, bypassing every check of the
project, gets an operating-system PermissionError on raw and sensitive data while it can read
the released metadata. Needs root (to create users and switch to them).
"""

import importlib.util
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DS, YEAR = "hes_apc", "2122"
RAW_CANARY = "RAW-CANARY-7f3a"
SENSITIVE_CANARY = "SENSITIVE-CANARY-91c2"
RELEASED_TEXT = "released-metadata-ok"


def _deploy():
    spec = importlib.util.spec_from_file_location("isolated_deploy", REPO / "deploy/isolated.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


deploy = _deploy()

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="the isolated deployment needs root and useradd to create and switch to its users",
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------- no root needed: the plan


def test_workspace_file_points_at_the_three_default_servers():
    assert yaml.safe_load((REPO / "workspace-isolated.yaml").read_text()) == yaml.safe_load(
        deploy.Layout().workspace_yaml()
    )


def test_each_location_is_told_only_its_own_store_roots():
    layout = deploy.Layout()
    told = {
        loc: {k for k in layout.location_env(loc) if k.startswith("ARTIFICIAL_DATA_STORE_")}
        for loc in ("scraper", "review", "generator")
    }
    prefix = "ARTIFICIAL_DATA_STORE_"
    assert told["scraper"] == {prefix + "RAW", prefix + "METADATA_SENSITIVE"}
    # Only the locations that verify sign-offs are told where the operator's keys are.
    signers = {loc for loc in told if "ARTIFICIAL_DATA_ALLOWED_SIGNERS" in layout.location_env(loc)}
    assert signers == {"review", "generator"}
    assert told["review"] == {
        prefix + "METADATA_SENSITIVE",
        prefix + "ADMIN",
        prefix + "METADATA_RELEASED",
    }
    assert told["generator"] == {
        prefix + "METADATA_RELEASED",
        prefix + "ARTIFICIAL",
        prefix + "PUBLISHED",
    }
    for loc in told:
        assert "ARTIFICIAL_DATA_HOME" not in layout.location_env(loc)
    assert not any(k.startswith(prefix) for k in layout.instance_env())
    plan = layout.store_plan()
    assert plan["raw"]["mode"] == "0o2700" and plan["raw"]["readers"] == []
    assert plan["metadata_sensitive"]["readers"] == ["ad-review"]
    assert plan["metadata_released"]["readers"] == ["ad-generator"]


# --------------------------------------------------------------------- root: the real thing

PROBE = r"""
import errno, json, os, sys
import pyarrow.parquet as pq
from artificial_data.common.stores import ScopedStores, METADATA_RELEASED, METADATA_SENSITIVE, RAW
raw_root, sensitive_root, raw_file, sensitive_file = sys.argv[1:5]
out = {}
def attempt(name, call):
    try:
        value = call()
    except PermissionError as exc:
        out[name] = f"{type(exc).__name__}:{exc.errno}"
    except Exception as exc:
        out[name] = f"{type(exc).__name__}:{exc}"
    else:
        out[name] = f"READ:{value!r}"[:200]
attempt("open_raw", lambda: open(raw_file, "rb").read())
attempt("pyarrow_raw", lambda: pq.read_table(raw_file).to_pylist())
attempt("list_raw_root", lambda: os.listdir(raw_root))
attempt("open_sensitive", lambda: open(sensitive_file).read())
attempt("list_sensitive_root", lambda: os.listdir(sensitive_root))
roots = {RAW: raw_root, METADATA_SENSITIVE: sensitive_root}
scraper = ScopedStores.for_location("scraper", roots, simulated_raw=True)
attempt("stores_raw", lambda: scraper.partition_path(RAW, "hes_apc", "2122"))
attempt("stores_sensitive", lambda: scraper.partition_path(METADATA_SENSITIVE, "hes_apc", "2122"))
told = ScopedStores.for_location("scraper", simulated_raw=True)
attempt("stores_raw_from_env", lambda: told.partition_path(RAW, "hes_apc", "2122"))
generator = ScopedStores.for_location("generator")
attempt("released", lambda: open(
    generator.partition_path(METADATA_RELEASED, "hes_apc", "2122") / "header.json").read())
print(json.dumps(out))
"""

WRITE_RAW = r"""
import pyarrow as pa, pyarrow.parquet as pq, sys
from artificial_data.common.stores import ScopedStores, RAW, METADATA_SENSITIVE
stores = ScopedStores.for_location("scraper", simulated_raw=True)
def raw(folder):
    folder.mkdir()
    pq.write_table(pa.table({"PSEUDO_HESID": [sys.argv[1]]}), folder / "part-0.parquet")
stores.write_partition(RAW, "hes_apc", "2122", raw)
stores.write_json_partition(METADATA_SENSITIVE, "hes_apc", "2122", {"header.json": sys.argv[2]})
"""

WRITE_RELEASED = r"""
import sys
from artificial_data.common.stores import ScopedStores, METADATA_RELEASED
ScopedStores.for_location("review").write_json_partition(
    METADATA_RELEASED, "hes_apc", "2122", {"header.json": sys.argv[1]})
"""


def _as(layout, location, code, *args):
    python = str(layout.venv / "bin" / "python")
    command = deploy.as_user(
        layout.user(location), layout.location_env(location), [python, "-c", code, *args]
    )
    return subprocess.run(
        command,
        umask=layout.umask(location),
        cwd=layout.home(layout.user(location)),
        capture_output=True,
        text=True,
        check=True,
    )


@pytest.fixture(scope="module")
def deployment():
    base = Path(tempfile.mkdtemp(prefix="ad-isolation-", dir="/tmp"))
    os.chmod(base, 0o755)
    venv = Path(os.environ.get("ARTIFICIAL_DATA_TEST_VENV", "/opt/artificial_data/test-venv"))
    ports = {loc: _free_port() for loc in ("scraper", "review", "generator")}
    layout = deploy.Layout(
        stores=base / "srv",
        state=base / "state",
        venv=venv,
        environment="test",
        ports=ports,
        allowed_signers=base / "etc" / "allowed_signers",
    )
    timings = {}
    started = time.monotonic()
    deploy.setup(layout)
    timings["setup"] = time.monotonic() - started
    _as(layout, "scraper", WRITE_RAW, RAW_CANARY, SENSITIVE_CANARY)
    _as(layout, "review", WRITE_RELEASED, RELEASED_TEXT)
    log = open(base / "generator.log", "wb")  # noqa: SIM115
    started = time.monotonic()
    server = deploy.start_code_server(layout, "generator", log)
    try:
        deploy.wait_healthy(layout, ports["generator"], server)
        timings["generator_server_start"] = time.monotonic() - started
        print(f"isolated deployment timings: {timings}")
        yield layout, server
    finally:
        deploy.stop([server])
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def _status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


@needs_root
def test_store_roots_are_owned_and_moded_per_the_grants(deployment):
    layout, _ = deployment
    for store, entry in layout.store_plan().items():
        st = os.lstat(entry["root"])
        assert pwd.getpwuid(st.st_uid).pw_name == entry["owner"], store
        assert oct(st.st_mode & 0o7777) == entry["mode"], store
    for sub in ("history", "schedules"):
        for path in (layout.dagster_home / sub).iterdir():
            assert path.stat().st_mode & 0o060 == 0o060, f"{path} is not group-writable"
    generator_groups = set(layout.groups_of("ad-generator"))
    assert layout.read_group("metadata_sensitive") not in generator_groups
    assert layout.read_group("metadata_released") in generator_groups


@needs_root
def test_generator_server_runs_as_the_generator_user(deployment):
    layout, server = deployment
    status = _status(server.pid)
    user = pwd.getpwnam(layout.user("generator"))
    assert status["Uid"] == [str(user.pw_uid)] * 4
    assert status["Gid"] == [str(user.pw_gid)] * 4
    groups = {int(g) for g in status["Groups"]}
    import grp

    assert 0 not in groups
    assert grp.getgrnam(layout.read_group("metadata_sensitive")).gr_gid not in groups
    assert grp.getgrnam(layout.read_group("metadata_released")).gr_gid in groups
    # No group write into any store; the generator writes open stores only, so others may read.
    assert status["Umask"] == ["0022"]
    assert layout.umask("scraper") == layout.umask("review") == 0o027
    assert status["NoNewPrivs"] == ["1"]
    assert "dagster" in Path(f"/proc/{server.pid}/cmdline").read_bytes().decode()


@needs_root
def test_generator_environment_names_no_raw_or_sensitive_store(deployment):
    layout, server = deployment
    raw = Path(f"/proc/{server.pid}/environ").read_bytes().decode()
    environ = dict(item.split("=", 1) for item in raw.split("\0") if item)
    for forbidden in ("raw", "metadata_sensitive", "admin"):
        root = str(layout.root(forbidden))
        assert not any(root in value for value in environ.values()), forbidden
        assert f"ARTIFICIAL_DATA_STORE_{forbidden.upper()}" not in environ
    assert "ARTIFICIAL_DATA_HOME" not in environ
    assert environ["ARTIFICIAL_DATA_STORE_METADATA_RELEASED"] == str(
        layout.root("metadata_released")
    )


@needs_root
def test_code_as_the_generator_user_gets_os_permission_errors(deployment):
    layout, _ = deployment
    raw_root, sensitive_root = layout.root("raw"), layout.root("metadata_sensitive")
    args = [
        str(raw_root),
        str(sensitive_root),
        str(raw_root / DS / YEAR / "part-0.parquet"),
        str(sensitive_root / DS / YEAR / "header.json"),
    ]
    env = [f"{k}={v}" for k, v in sorted(layout.location_env("generator").items())]
    python = str(layout.venv / "bin" / "python")
    user = layout.user("generator")
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "env", "-i", *env, python, "-c", PROBE, *args],
        cwd="/",
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(probe.stdout.strip().splitlines()[-1])
    for name in (
        "open_raw",
        "pyarrow_raw",
        "list_raw_root",
        "open_sensitive",
        "list_sensitive_root",
        "stores_raw",
        "stores_sensitive",
    ):
        # A plain PermissionError with EACCES: the kernel refused, not the project's checks
        # (ScopeViolation is a PermissionError too, but would show its own class name).
        assert out[name] == "PermissionError:13", (name, out[name])
    assert out["stores_raw_from_env"].startswith("StoreNotConfigured:"), out
    assert out["released"] == f"READ:{RELEASED_TEXT!r}", out
    assert RAW_CANARY not in probe.stdout and SENSITIVE_CANARY not in probe.stdout


@needs_root
def test_generator_server_answers_grpc(deployment):
    layout, _ = deployment
    port = str(layout.ports["generator"])
    bin_ = layout.venv / "bin"
    health = subprocess.run(
        [str(bin_ / "dagster"), "api", "grpc-health-check", "-p", port, "-h", layout.host],
        capture_output=True,
        text=True,
    )
    assert health.returncode == 0, health.stdout + health.stderr
    code = (
        "import sys; from dagster._grpc.client import DagsterGrpcClient\n"
        "c = DagsterGrpcClient(port=int(sys.argv[1]), host='127.0.0.1')\n"
        "print(c.ping('isolation')['echo']); print(c.list_repositories())\n"
    )
    listed = subprocess.run(
        [str(bin_ / "python"), "-c", code, port], capture_output=True, text=True, check=True
    )
    assert listed.stdout.startswith("isolation")
    assert "artificial_data.generator.definitions" in listed.stdout
