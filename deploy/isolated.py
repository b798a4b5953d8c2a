#!/usr/bin/env python3
"""The isolated deployment: separation by the operating system (DESIGN §2, issue 12).

Each code location runs as its own gRPC code server under its own Unix user, with only its own
scope's settings in its environment; each store has its own root, owned and moded so that only
the users of the locations granted it can enter it. The grants come from the same table as the
code's checks (``artificial_data/common/stores.py``), so the two walls cannot drift apart.

    python3 deploy/isolated.py setup      users, groups, store roots, Dagster instance, venv
    python3 deploy/isolated.py up         setup, then start the three code servers, the
                                          webserver and the daemon (foreground; Ctrl-C stops)
    python3 deploy/isolated.py plan       print who owns what (users, groups, modes, env)
    python3 deploy/isolated.py env LOC    print the environment LOC's processes get
    python3 deploy/isolated.py run-as LOC -- CMD ...
                                          run CMD (e.g. ``artificial-data simulate``) as LOC's
                                          user with LOC's environment
    python3 deploy/isolated.py users-script
                                          print the groupadd/useradd commands, for an operator
                                          who creates the users instead of this script

Everything here needs root (``make isolated`` uses sudo when it is not run as root). Users and
groups are created only when missing and ``--no-create-users`` is not given; store roots,
instance folders and the venv are (re)created idempotently.

Only the standard library is used: this script builds the venv the servers run from.
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SOURCE))

from artificial_data.common.credentials import (  # noqa: E402
    FIELDS as CREDENTIAL_FIELDS,
)
from artificial_data.common.credentials import (  # noqa: E402
    credential_env,
    is_credential_env,
)
from artificial_data.common.settings import (  # noqa: E402
    BACKEND_ENV,
    CATALOG_ENV,
    CATALOG_FORMAT_ENV,
    ENVIRONMENT_ENV,
    SCHEMA_PREFIX_ENV,
    SPARK_MASTER_ENV,
    store_root_env,
)
from artificial_data.common.signing import ALLOWED_SIGNERS_ENV  # noqa: E402
from artificial_data.common.stores import (  # noqa: E402
    ARTIFICIAL,
    GENERATOR,
    LOCATIONS,
    PUBLISHED,
    REVIEW,
    STORE_NAMES,
    maximum_grants,
)

#: Locations that verify sign-off signatures (review at release, the generator before use).
SIGNER_READERS = frozenset({REVIEW, GENERATOR})
#: Stores whose content is open: anyone on the machine may read them.
OPEN_STORES = frozenset({ARTIFICIAL, PUBLISHED})
#: The umask of the code servers (and so of their runs): stores never get group write, and
#: what a location writes is readable by others only where all it writes is open.
LOCATION_UMASK = 0o027
OPEN_LOCATION_UMASK = 0o022
#: The umask of the webserver and daemon: the instance's SQLite files stay group-writable.
INSTANCE_UMASK = 0o007
DEFAULT_PORTS = {"scraper": 4100, "review": 4101, "generator": 4102}
INSTANCE_DIRS = ("history", "schedules", "storage", "logs")
INSTANCE_USER = "dagster"
#: Platform settings (not secrets) the operator's environment may pass to every location:
#: the store backend and the compute engine. Store roots and credentials are set per location.
PLATFORM_SETTINGS = (
    BACKEND_ENV,
    CATALOG_ENV,
    CATALOG_FORMAT_ENV,
    SCHEMA_PREFIX_ENV,
    "ARTIFICIAL_DATA_ENGINE",
    "ARTIFICIAL_DATA_DATABRICKS_CLUSTER",
    "ARTIFICIAL_DATA_DATABRICKS_WHEEL",
    "ARTIFICIAL_DATA_DATABRICKS_POLL_SECONDS",
)
#: Credential fields whose values are secrets (masked by ``plan`` and ``env``).
SECRET_FIELDS = ("CLIENT_SECRET", "TOKEN")


class CredentialFileRefused(SystemExit):
    """A location's credential file is unsafe or holds a variable that is not its own."""


def read_credential_file(path: Path, location: str) -> dict[str, str]:
    """``location``'s Databricks credential from its own file (``KEY=VALUE`` lines).

    The file must be a regular file (not a link) owned by root (or the user running this
    script) with no group or other access, and may only name ``location``'s own credential
    variables: a scraper secret in the generator's file is refused, naming the variable and
    never its value. A missing file means no Databricks credential (local Spark)."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return {}
    if not stat.S_ISREG(st.st_mode):
        raise CredentialFileRefused(f"{path}: credential file must be a regular file, not a link")
    if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o077:
        raise CredentialFileRefused(
            f"{path}: credential file must be owned by root and mode 0600 "
            f"(is uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o})"
        )
    own = {credential_env(location, f) for f in CREDENTIAL_FIELDS}
    found: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep or name not in own:
            whose = "another location's credential" if is_credential_env(name) else "not allowed"
            raise CredentialFileRefused(
                f"{path}:{number}: {name or '(no name)'} is {whose}; "
                f"only {', '.join(sorted(own))} may be set for {location}"
            )
        found[name] = value.strip()
    return found


def masked(env: dict[str, str]) -> dict[str, str]:
    """``env`` with credential secrets replaced by ``***`` (for printing)."""
    return {
        k: ("***" if is_credential_env(k) and k.endswith(SECRET_FIELDS) else v)
        for k, v in env.items()
    }


@dataclass
class Layout:
    """Where everything lives and who runs it."""

    stores: Path = Path("/srv/artificial_data")
    state: Path = Path("/var/lib/artificial_data")
    venv: Path = Path("/opt/artificial_data/venv")
    python: str = "/usr/bin/python3.11"
    prefix: str = "ad-"
    environment: str = "demo"
    spark_master: str = ""
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    webserver_port: int = 3000
    #: The operator's list of sign-off keys (identity, role namespace, public key). Owned by
    #: root and not writable by any location's user: the review location verifies sign-offs
    #: against it and the generator re-verifies released metadata against it.
    allowed_signers: Path = Path("/etc/artificial_data/allowed_signers")
    #: One file per location, ``<location>.env``, holding only that location's Databricks
    #: credential (root-owned, 0600): read by this script as root and put into that location's
    #: environment only, so no location's process ever holds another's identity.
    credentials: Path = Path("/etc/artificial_data/credentials")
    #: Platform settings (backend, engine) passed to every location; see PLATFORM_SETTINGS.
    platform: dict[str, str] = field(default_factory=dict)

    # -------------------------------------------------------------------------------- names

    def user(self, location: str) -> str:
        return f"{self.prefix}{location}"

    @property
    def instance_user(self) -> str:
        return f"{self.prefix}{INSTANCE_USER}"

    @property
    def instance_group(self) -> str:
        return f"{self.prefix}instance"

    def read_group(self, store: str) -> str:
        return f"{self.prefix}read-{store}"

    def root(self, store: str) -> Path:
        return self.stores / store

    def home(self, user: str) -> Path:
        return self.state / "home" / user

    @property
    def dagster_home(self) -> Path:
        return self.state / "dagster_home"

    @property
    def workspace(self) -> Path:
        return self.state / "workspace-isolated.yaml"

    @property
    def simulated(self) -> bool:
        return self.environment in ("local", "demo", "test")

    # ------------------------------------------------------------------------------- grants

    def granted(self, location: str) -> list[str]:
        """Every store ``location`` may touch: the only roots its process is told."""
        grants = maximum_grants(location, self.simulated)
        return [s for s in STORE_NAMES if s in grants.read | grants.write]

    def store_plan(self) -> dict[str, dict]:
        """Owner, group and mode of every store root, from the grant table.

        The owner is the one location that may write the store (or its only reader); the other
        locations that may read it form the store's read group; the root is setgid so that
        everything created below it belongs to that group.
        """
        plan = {}
        for store in STORE_NAMES:
            grants = {loc: maximum_grants(loc, simulated_raw=True) for loc in LOCATIONS}
            writers = [loc for loc in LOCATIONS if store in grants[loc].write]
            readers = [loc for loc in LOCATIONS if store in grants[loc].read]
            if len(writers) > 1:
                raise SystemExit(f"store {store} has more than one writer: {writers}")
            owner = writers[0] if writers else readers[0]
            others = sorted(set(readers) - {owner})
            group = self.read_group(store) if others else self.user(owner)
            mode = 0o2750 if others else 0o2700
            if store in OPEN_STORES:
                mode = 0o2755
            plan[store] = {
                "root": str(self.root(store)),
                "owner": self.user(owner),
                "group": group,
                "readers": [self.user(r) for r in others],
                "mode": oct(mode),
            }
        return plan

    def groups_of(self, user: str) -> list[str]:
        """The supplementary groups of ``user``: the instance group and the read groups of the
        stores its location may read but does not own."""
        groups = [self.instance_group]
        for store, entry in self.store_plan().items():
            if user in entry["readers"]:
                groups.append(self.read_group(store))
        return groups

    # -------------------------------------------------------------------------- environments

    def base_env(self, user: str) -> dict[str, str]:
        env = {
            "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home(user)),
            "LANG": "C.UTF-8",
            "DAGSTER_HOME": str(self.dagster_home),
        }
        java = shutil.which("java")
        if java:
            env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
        return env

    def location_env(self, location: str) -> dict[str, str]:
        """The whole environment of ``location``'s processes: its own store roots only."""
        env = self.base_env(self.user(location))
        env["PYSPARK_PYTHON"] = str(self.venv / "bin" / "python")
        env[ENVIRONMENT_ENV] = self.environment
        if self.spark_master:
            env[SPARK_MASTER_ENV] = self.spark_master
        for store in self.granted(location):
            env[store_root_env(store)] = str(self.root(store))
        if location in SIGNER_READERS:
            env[ALLOWED_SIGNERS_ENV] = str(self.allowed_signers)
        env.update({k: v for k, v in self.platform.items() if k in PLATFORM_SETTINGS and v})
        env.update(read_credential_file(self.credentials / f"{location}.env", location))
        return env

    def umask(self, location: str) -> int:
        writes = maximum_grants(location, self.simulated).write
        return OPEN_LOCATION_UMASK if writes <= OPEN_STORES else LOCATION_UMASK

    def instance_env(self) -> dict[str, str]:
        """The webserver's and daemon's environment: no store at all."""
        return self.base_env(self.instance_user)

    def workspace_yaml(self) -> str:
        lines = [
            "# The isolated deployment (deploy/isolated.py): the UI talks to three code servers,",
            "# each running as its own Unix user with only its own scope's settings.",
            "load_from:",
        ]
        for location in LOCATIONS:
            lines += [
                "  - grpc_server:",
                f"      host: {self.host}",
                f"      port: {self.ports[location]}",
                f"      location_name: {location}",
            ]
        return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- setup


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=True, **kw)


def _say(message: str) -> None:
    print(f"[isolated] {message}", flush=True)


def _exists(kind: str, name: str) -> bool:
    try:
        (grp.getgrnam if kind == "group" else pwd.getpwnam)(name)
    except KeyError:
        return False
    return True


def users_script(layout: Layout) -> list[list[str]]:
    """The commands that create the users and groups (what an operator runs by hand)."""
    commands = []
    read_groups = {layout.read_group(s) for s, e in layout.store_plan().items() if e["readers"]}
    groups = [layout.instance_group, *sorted(read_groups)]
    for group in groups:
        commands.append(["groupadd", "--system", group])
    for user in [*(layout.user(loc) for loc in LOCATIONS), layout.instance_user]:
        commands.append(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                str(layout.home(user)),
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                user,
            ]
        )
        commands.append(["usermod", "--groups", ",".join(layout.groups_of(user)), user])
    return commands


def ensure_users(layout: Layout, create: bool) -> None:
    missing = []
    for command in users_script(layout):
        kind = {"groupadd": "group", "useradd": "user"}.get(command[0])
        if kind and not _exists(kind, command[-1]):
            missing.append(command)
        elif command[0] == "usermod":
            user, wanted = command[-1], set(command[2].split(","))
            current = {g.gr_name for g in grp.getgrall() if user in g.gr_mem}
            if current != wanted:
                missing.append(command)
    if missing and not create:
        shown = "\n".join("  " + " ".join(c) for c in missing)
        raise SystemExit(f"users or groups are missing or differ; an operator runs:\n{shown}")
    for command in missing:
        _say(" ".join(command))
        _run(*command)


def _own(path: Path, user: str, group: str, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if path.is_symlink():
        raise SystemExit(f"{path} is a symbolic link; a store root must be a real folder")
    os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(path, mode)


#: The instance settings shared with ``make dev`` (telemetry, the ``spark`` concurrency pool).
INSTANCE_SETTINGS = SOURCE / "deploy" / "dagster.yaml"


def instance_config(history: Path) -> str:
    """This deployment's ``dagster.yaml``: the shared settings plus its event log storage."""
    return (
        "# Written by deploy/isolated.py. SQLite with a shared group is for this single-machine\n"
        "# deployment; production uses dagster-postgres (see docs/operator_guide.md).\n"
        + INSTANCE_SETTINGS.read_text()
        + "event_log_storage:\n"
        "  module: dagster._core.storage.event_log\n"
        "  class: ConsolidatedSqliteEventLogStorage\n"
        f"  config:\n    base_dir: {history}\n"
    )


def ensure_folders(layout: Layout) -> None:
    for parent in (layout.stores, layout.state, layout.state / "home"):
        parent.mkdir(parents=True, exist_ok=True)
        os.chmod(parent, 0o755)
    for entry in layout.store_plan().values():
        _own(Path(entry["root"]), entry["owner"], entry["group"], int(entry["mode"], 8))
    for user in [*(layout.user(loc) for loc in LOCATIONS), layout.instance_user]:
        _own(layout.home(user), user, user, 0o700)
    # The instance: every location's user writes run events into it (its runs execute as that
    # user). Sticky at the top so no location can replace dagster.yaml; setgid throughout.
    _own(layout.dagster_home, layout.instance_user, layout.instance_group, 0o3770)
    for sub in INSTANCE_DIRS:
        _own(layout.dagster_home / sub, layout.instance_user, layout.instance_group, 0o2770)
    history = layout.dagster_home / "history"
    config = instance_config(history)
    (layout.dagster_home / "dagster.yaml").write_text(config)
    os.chmod(layout.dagster_home / "dagster.yaml", 0o644)
    layout.workspace.write_text(layout.workspace_yaml())
    os.chmod(layout.workspace, 0o644)


def _source_digest() -> tuple[str, str]:
    """(digest of the dependencies, digest of the whole installable source)."""
    deps = hashlib.sha256((SOURCE / "pyproject.toml").read_bytes()).hexdigest()
    source = hashlib.sha256(deps.encode())
    for path in sorted((SOURCE / "artificial_data").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            source.update(str(path.relative_to(SOURCE)).encode() + b"\0" + path.read_bytes())
    return deps, source.hexdigest()


def ensure_system_python(python: str) -> None:
    """Debian's interpreter with venv support (runs for every user, unlike one under /root)."""
    has_venv = [python, "-c", "import ensurepip, venv"]
    if Path(python).exists() and subprocess.run(has_venv, capture_output=True).returncode == 0:
        return
    name = Path(python).name
    if not shutil.which("apt-get") or not name.startswith("python3"):
        raise SystemExit(f"{python} with venv support is needed (Debian: {name} {name}-venv)")
    _say(f"installing {name} and {name}-venv with apt-get")
    _run("apt-get", "update", "-qq")
    _run(
        "apt-get",
        "install",
        "-y",
        "-qq",
        name,
        f"{name}-venv",
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    _run(*has_venv)


def ensure_venv(layout: Layout) -> None:
    """A venv every user can execute, with this project installed (not linked: the checkout
    may sit where other users cannot go). Reused when it already holds this exact source."""
    stamp = layout.venv / ".artificial_data-install.json"
    deps, source = _source_digest()
    recorded = json.loads(stamp.read_text()) if stamp.exists() else {}
    if recorded.get("source") == source and (layout.venv / "bin" / "dagster").exists():
        _say(f"venv {layout.venv} already holds this source; reused")
        return
    layout.venv.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.venv.parent, 0o755)
    python = layout.venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-qq", "--disable-pip-version-check"]
    started = time.monotonic()
    if recorded.get("deps") == deps and python.exists():
        _say("dependencies unchanged: reinstalling the project only")
        _run(*pip, "--no-deps", "--force-reinstall", str(SOURCE))
    else:
        _say(f"creating venv {layout.venv} with {layout.python} and installing the project")
        ensure_system_python(layout.python)
        shutil.rmtree(layout.venv, ignore_errors=True)
        _run(layout.python, "-m", "venv", str(layout.venv))
        _run(*pip, str(SOURCE))
    # Build leftovers of pip in the checkout would be root's; the venv must be readable by all.
    shutil.rmtree(SOURCE / "build", ignore_errors=True)
    _run("chmod", "-R", "a+rX,go-w", str(layout.venv))
    stamp.write_text(json.dumps({"deps": deps, "source": source}))
    _say(f"venv ready in {time.monotonic() - started:.0f} s")


def init_instance(layout: Layout) -> None:
    """Create the instance's SQLite files as the instance user (group-writable, umask 007)
    before any code server starts, so that none of them ends up owned by one location."""
    code = (
        "from dagster import DagsterInstance\n"
        "i = DagsterInstance.get()\n"
        "i.get_runs(limit=1); i.event_log_storage; i.all_instigator_state()\n"
    )
    python = str(layout.venv / "bin" / "python")
    cmd = as_user(layout.instance_user, layout.instance_env(), [python, "-c", code])
    subprocess.run(cmd, check=True, umask=INSTANCE_UMASK, cwd="/")
    # SQLite creates its files 0644 whatever the umask, and gives a database's -wal and -shm
    # files the database's mode: make every one group-writable, or the first location to open
    # one would lock the others out.
    for sub in INSTANCE_DIRS:
        for path in (layout.dagster_home / sub).iterdir():
            if path.is_file() and not path.is_symlink():
                os.chmod(path, 0o660)


def ensure_allowed_signers(layout: Layout) -> None:
    """An operator-owned allowed-signers list: root's, mode 0644, in a root-owned folder. It
    starts empty (no sign-off verifies until the operator adds the reviewers' and approvers'
    keys, see docs/reviewer_guide.md); an existing list is never touched."""
    path = layout.allowed_signers
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chown(path.parent, 0, 0)
    path.parent.chmod(0o755)
    if not path.exists():
        path.write_text(
            '# identity namespaces="artificial-data-signoff-<role>" ssh-ed25519 AAAA...\n'
            "# One line per person and role; see docs/reviewer_guide.md (Signing off).\n"
        )
    os.chown(path, 0, 0)
    path.chmod(0o644)


def setup(layout: Layout, create_users: bool = True) -> None:
    require_root()
    ensure_users(layout, create_users)
    ensure_folders(layout)
    ensure_allowed_signers(layout)
    ensure_venv(layout)
    init_instance(layout)
    _say(f"store roots under {layout.stores}; instance {layout.dagster_home}")


# --------------------------------------------------------------------------------- processes


def require_root() -> None:
    if os.geteuid() != 0:
        raise SystemExit(
            "the isolated deployment needs root to start processes as other users: run it with "
            "sudo (an operator may create the users first: deploy/isolated.py users-script)"
        )


def as_user(user: str, env: dict[str, str], argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` (its own groups only, no privilege regained through setuid
    binaries) with exactly ``env``. setpriv and env both exec: the pid is the program's."""
    return [
        "setpriv",
        f"--reuid={user}",
        f"--regid={user}",
        "--init-groups",
        "--no-new-privs",
        "--",
        "env",
        "-i",
        *(f"{k}={v}" for k, v in sorted(env.items())),
        *argv,
    ]


def code_server_command(layout: Layout, location: str) -> list[str]:
    argv = [
        str(layout.venv / "bin" / "dagster"),
        "api",
        "grpc",
        "-m",
        f"artificial_data.{location}.definitions",
        "-h",
        layout.host,
        "-p",
        str(layout.ports[location]),
    ]
    return as_user(layout.user(location), layout.location_env(location), argv)


def start_code_server(layout: Layout, location: str, log) -> subprocess.Popen:
    return subprocess.Popen(
        code_server_command(layout, location),
        umask=layout.umask(location),
        cwd=layout.home(layout.user(location)),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_healthy(layout: Layout, port: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    check = [str(layout.venv / "bin" / "dagster"), "api", "grpc-health-check", "-p", str(port)]
    check += ["-h", layout.host]
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {proc.returncode}")
        ok = subprocess.run(check, capture_output=True, env={"PATH": "/usr/bin:/bin"})
        if ok.returncode == 0:
            return
        time.sleep(1)
    raise TimeoutError(f"no healthy gRPC server on port {port} after {timeout:.0f} s")


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def up(layout: Layout, create_users: bool) -> None:
    setup(layout, create_users)
    logs = layout.state / "logs"
    logs.mkdir(exist_ok=True)
    os.chmod(logs, 0o750)
    procs: list[subprocess.Popen] = []
    rows = []

    def shutdown(*_):
        _say("stopping")
        stop(procs)
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        for location in LOCATIONS:
            log = open(logs / f"{location}.log", "ab")  # noqa: SIM115 - lives with the server
            proc = start_code_server(layout, location, log)
            procs.append(proc)
            port = layout.ports[location]
            rows.append((location, layout.user(location), f"gRPC {layout.host}:{port}", proc))
        for (_, _, _, proc), location in zip(rows, LOCATIONS, strict=True):
            wait_healthy(layout, layout.ports[location], proc)
        bin_ = layout.venv / "bin"
        for name, argv in (
            (
                "webserver",
                [
                    str(bin_ / "dagster-webserver"),
                    *("-w", str(layout.workspace), "-h", layout.host),
                    *("-p", str(layout.webserver_port)),
                ],
            ),
            ("daemon", [str(bin_ / "dagster-daemon"), "run", "-w", str(layout.workspace)]),
        ):
            log = open(logs / f"{name}.log", "ab")  # noqa: SIM115
            proc = subprocess.Popen(
                as_user(layout.instance_user, layout.instance_env(), argv),
                umask=INSTANCE_UMASK,
                cwd=layout.home(layout.instance_user),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            procs.append(proc)
            where = f"http://{layout.host}:{layout.webserver_port}" if name == "webserver" else ""
            rows.append((name, layout.instance_user, where, proc))
    except BaseException:
        stop(procs)
        raise
    _say("running (Ctrl-C stops everything); logs in " + str(logs))
    for what, user, where, proc in rows:
        print(f"  {what:<10} user {user:<14} pid {proc.pid:<8} {where}", flush=True)
    while True:
        for what, _, _, proc in rows:
            if proc.poll() is not None:
                _say(f"{what} exited with {proc.returncode}; stopping the rest")
                stop(procs)
                sys.exit(1)
        time.sleep(2)


def run_as(layout: Layout, location: str, argv: list[str]) -> None:
    require_root()
    if not argv:
        raise SystemExit("run-as needs a command after --")
    local = layout.venv / "bin" / argv[0]
    if "/" not in argv[0] and local.exists():
        argv = [str(local), *argv[1:]]
    os.umask(layout.umask(location))
    os.chdir(layout.home(layout.user(location)))
    cmd = as_user(layout.user(location), layout.location_env(location), argv)
    os.execvp(cmd[0], cmd)


# -------------------------------------------------------------------------------------- main


def parse(argv: list[str]) -> tuple[argparse.Namespace, Layout]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["setup", "up", "plan", "env", "run-as", "users-script"])
    parser.add_argument("location", nargs="?", help="for env and run-as")
    defaults = Layout()
    parser.add_argument("--stores", type=Path, default=defaults.stores)
    parser.add_argument("--state", type=Path, default=defaults.state)
    parser.add_argument("--venv", type=Path, default=defaults.venv)
    parser.add_argument("--python", default=defaults.python)
    parser.add_argument("--environment", default=os.environ.get(ENVIRONMENT_ENV, "demo"))
    parser.add_argument("--spark-master", default=os.environ.get(SPARK_MASTER_ENV, ""))
    parser.add_argument("--webserver-port", type=int, default=defaults.webserver_port)
    parser.add_argument("--no-create-users", action="store_true")
    parser.add_argument("--allowed-signers", type=Path, default=defaults.allowed_signers)
    parser.add_argument("--credentials", type=Path, default=defaults.credentials)
    command = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.rest = command
    layout = Layout(
        stores=args.stores,
        state=args.state,
        venv=args.venv,
        python=args.python,
        environment=args.environment,
        spark_master=args.spark_master,
        webserver_port=args.webserver_port,
        allowed_signers=args.allowed_signers,
        credentials=args.credentials,
        platform={k: os.environ[k] for k in PLATFORM_SETTINGS if os.environ.get(k)},
    )
    return args, layout


def main(argv: list[str] | None = None) -> None:
    args, layout = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "setup":
        setup(layout, not args.no_create_users)
    elif args.command == "up":
        up(layout, not args.no_create_users)
    elif args.command == "plan":
        plan = {
            "stores": layout.store_plan(),
            "users": {
                layout.user(loc): {"groups": layout.groups_of(layout.user(loc)), "runs": loc}
                for loc in LOCATIONS
            },
            "env": {loc: masked(layout.location_env(loc)) for loc in LOCATIONS},
        }
        print(json.dumps(plan, indent=2))
    elif args.command == "env":
        if args.location not in LOCATIONS:
            raise SystemExit(f"env needs a location: one of {', '.join(LOCATIONS)}")
        for key, value in sorted(masked(layout.location_env(args.location)).items()):
            print(f"{key}={value}")
    elif args.command == "run-as":
        if args.location not in LOCATIONS:
            raise SystemExit(f"run-as needs a location: one of {', '.join(LOCATIONS)}")
        run_as(layout, args.location, args.rest)
    elif args.command == "users-script":
        for command in users_script(layout):
            print(" ".join(command))


if __name__ == "__main__":
    main()
