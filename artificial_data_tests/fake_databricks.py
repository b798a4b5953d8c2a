"""A fake Databricks workspace on loopback, for testing the Pipes engine without a workspace.

It answers the REST calls that ``databricks-sdk`` 0.60 makes for ``PipesDatabricksClient``
(dagster-databricks 0.29.27), found in that client's source and checked against the request log
of the tests:

- ``POST /api/2.2/jobs/runs/submit``, ``GET /api/2.2/jobs/runs/get``,
  ``POST /api/2.2/jobs/runs/cancel``, ``GET /api/2.2/jobs/runs/get-output``;
- ``POST /api/2.0/dbfs/mkdirs``, ``put``, ``delete`` and ``GET /api/2.0/dbfs/get-status``,
  ``read``, ``list`` (the context injector writes ``context.json`` with ``put``; the message
  reader polls ``get-status`` and ``read``s ``<n>.json`` chunks; both ``delete`` their temporary
  folders), plus ``create``/``add-block``/``close`` and ``GET /api/2.1/clusters/get``, which
  the client can use.

A submitted ``python_wheel_task`` runs *here*, in a subprocess of this interpreter: its entry
point is looked up in the installed package metadata, its parameters are its arguments, and its
environment is a bare one (PATH, the interpreter's PYTHONPATH, Java) plus the new cluster's
``spark_env_vars``, as Pipes set them. Nothing of the test process's ``ARTIFICIAL_DATA_*`` or
``DATABRICKS_*`` environment reaches it. DBFS is a temporary folder, which the task sees as its
``/dbfs`` mount (``ARTIFICIAL_DATA_DBFS_MOUNT``).

Every request is recorded with the bearer token it carried, so a test can say which location's
credential made each call. ``hold_runs`` keeps submitted runs PENDING (a cluster that is still
starting) until they are cancelled.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

#: Environment a task inherits from this machine (what a cluster node would have of its own).
_BASE_ENV = ("PATH", "HOME", "LANG", "JAVA_HOME", "TMPDIR", "SPARK_HOME")


@dataclass
class Request:
    method: str
    path: str
    token: str | None
    query: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeRun:
    run_id: int
    task_run_id: int
    task: dict[str, Any]
    life_cycle: str = "PENDING"
    result: str | None = None
    message: str = ""
    process: subprocess.Popen | None = None
    stderr: str = ""
    cancelled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Missing(Exception):
    pass


class FakeWorkspace:
    def __init__(self, dbfs_root: Path, hold_runs: bool = False) -> None:
        self.dbfs_root = dbfs_root
        self.hold_runs = hold_runs
        self.requests: list[Request] = []
        self.runs: dict[int, FakeRun] = {}
        self.dbfs_writes: dict[str, bytes] = {}
        self._next_id = 1000
        self._handles: dict[int, tuple[str, bytearray]] = {}
        self._lock = threading.Lock()
        self.submitted = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeWorkspace:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for run in self.runs.values():
            if run.process and run.process.poll() is None:
                run.process.kill()
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------------------ queries

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]

    def endpoints(self) -> set[tuple[str, str]]:
        return {(r.method, r.path) for r in self.requests}

    # ------------------------------------------------------------------------------ DBFS

    def _local(self, dbfs_path: str) -> Path:
        path = dbfs_path.removeprefix("dbfs:")
        local = (self.dbfs_root / path.lstrip("/")).resolve()
        if not local.is_relative_to(self.dbfs_root.resolve()):
            raise ValueError(f"path outside DBFS: {dbfs_path}")
        return local

    def _status(self, path: str, local: Path) -> dict[str, Any]:
        if not local.exists():
            raise _Missing(path)
        stat = local.stat()
        return {
            "path": path,
            "is_dir": local.is_dir(),
            "file_size": 0 if local.is_dir() else stat.st_size,
            "modification_time": int(stat.st_mtime * 1000),
        }

    def dbfs(self, method: str, op: str, query: dict, body: dict) -> dict[str, Any]:
        if op == "mkdirs":
            self._local(body["path"]).mkdir(parents=True, exist_ok=True)
            return {}
        if op == "put":
            local = self._local(body["path"])
            if local.exists() and not body.get("overwrite"):
                raise FileExistsError(body["path"])
            data = base64.b64decode(body.get("contents") or "")
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(data)
            self.dbfs_writes[body["path"]] = data
            return {}
        if op == "create":
            with self._lock:
                self._next_id += 1
                self._handles[self._next_id] = (body["path"], bytearray())
                return {"handle": self._next_id}
        if op == "add-block":
            self._handles[int(body["handle"])][1].extend(base64.b64decode(body["data"]))
            return {}
        if op == "close":
            path, data = self._handles.pop(int(body["handle"]))
            local = self._local(path)
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(bytes(data))
            self.dbfs_writes[path] = bytes(data)
            return {}
        if op == "get-status":
            return self._status(query["path"], self._local(query["path"]))
        if op == "read":
            local = self._local(query["path"])
            if not local.is_file():
                raise _Missing(query["path"])
            data = local.read_bytes()
            offset = int(query.get("offset", 0))
            length = int(query.get("length", len(data)))
            chunk = data[offset : offset + length]
            return {"bytes_read": len(chunk), "data": base64.b64encode(chunk).decode()}
        if op == "list":
            local = self._local(query["path"])
            if not local.is_dir():
                raise _Missing(query["path"])
            prefix = query["path"].rstrip("/")
            return {"files": [self._status(f"{prefix}/{c.name}", c) for c in local.iterdir()]}
        if op == "delete":
            local = self._local(body["path"])
            if local.is_dir():
                if not body.get("recursive") and any(local.iterdir()):
                    raise FileExistsError(body["path"])
                import shutil

                shutil.rmtree(local)
            elif local.exists():
                local.unlink()
            return {}
        raise _Missing(op)

    # ------------------------------------------------------------------------------ jobs

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        (task,) = body["tasks"]
        with self._lock:
            self._next_id += 2
            run = FakeRun(run_id=self._next_id - 1, task_run_id=self._next_id, task=task)
            self.runs[run.run_id] = run
        if not self.hold_runs:
            threading.Thread(target=self._execute, args=(run,), daemon=True).start()
        self.submitted.set()
        return {"run_id": run.run_id}

    def task_command(self, task: dict[str, Any]) -> list[str]:
        wheel = task["python_wheel_task"]
        (point,) = entry_points(group="console_scripts", name=wheel["entry_point"])
        module, _, function = point.value.partition(":")
        code = (
            f"import sys; from {module} import {function} as main; "
            f"sys.argv[0] = {wheel['entry_point']!r}; raise SystemExit(main(sys.argv[1:]))"
        )
        return [sys.executable, "-c", code, *wheel.get("parameters", [])]

    def task_env(self, task: dict[str, Any]) -> dict[str, str]:
        env = {k: os.environ[k] for k in _BASE_ENV if k in os.environ}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env["PYSPARK_PYTHON"] = sys.executable
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
        env.update((task.get("new_cluster") or {}).get("spark_env_vars") or {})
        env["ARTIFICIAL_DATA_DBFS_MOUNT"] = str(self.dbfs_root)
        return env

    def _execute(self, run: FakeRun) -> None:
        with run.lock:
            if run.cancelled:
                return
            run.life_cycle = "RUNNING"
            run.process = subprocess.Popen(
                self.task_command(run.task),
                env=self.task_env(run.task),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        _, err = run.process.communicate()
        with run.lock:
            run.stderr = err
            if run.cancelled:
                return
            run.life_cycle = "TERMINATED"
            if run.process.returncode == 0:
                run.result, run.message = "SUCCESS", ""
            else:
                run.result = "FAILED"
                run.message = "Workload failed, see run output for details"

    def cancel(self, run_id: int) -> None:
        run = self.runs[run_id]
        with run.lock:
            run.cancelled = True
            if run.process and run.process.poll() is None:
                run.process.kill()
            run.life_cycle, run.result = "TERMINATED", "CANCELED"
            run.message = "Run cancelled."

    def get_run(self, run_id: int) -> dict[str, Any]:
        run = self.runs.get(run_id) or _raise_missing(run_id)
        state = {"life_cycle_state": run.life_cycle, "state_message": run.message}
        if run.result:
            state["result_state"] = run.result
        return {
            "run_id": run.run_id,
            "state": state,
            "run_page_url": f"{self.url}/#job/runs/{run.run_id}",
            "tasks": [
                {"run_id": run.task_run_id, "task_key": run.task.get("task_key"), "state": state}
            ],
        }

    def get_output(self, task_run_id: int) -> dict[str, Any]:
        run = next((r for r in self.runs.values() if r.task_run_id == task_run_id), None)
        if run is None:
            raise _Missing(str(task_run_id))
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        output: dict[str, Any] = {"metadata": self.get_run(run.run_id)}
        if run.result == "FAILED":
            output["error"] = lines[-1] if lines else "task failed"
            output["error_trace"] = "\n".join(lines[-40:])
        return output

    # ------------------------------------------------------------------------------ HTTP

    def route(self, method: str, path: str, query: dict, body: dict) -> dict[str, Any]:
        if path.startswith("/api/2.0/dbfs/"):
            return self.dbfs(method, path.removeprefix("/api/2.0/dbfs/"), query, body)
        if (method, path) == ("POST", "/api/2.2/jobs/runs/submit"):
            return self.submit(body)
        if (method, path) == ("GET", "/api/2.2/jobs/runs/get"):
            return self.get_run(int(query["run_id"]))
        if (method, path) == ("POST", "/api/2.2/jobs/runs/cancel"):
            self.cancel(int(body["run_id"]))
            return {}
        if (method, path) == ("GET", "/api/2.2/jobs/runs/get-output"):
            return self.get_output(int(query["run_id"]))
        if (method, path) == ("GET", "/api/2.1/clusters/get"):
            return {"cluster_id": query.get("cluster_id"), "state": "RUNNING"}
        raise _Missing(path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        workspace = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else {}
                auth = self.headers.get("Authorization") or ""
                token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
                workspace.requests.append(Request(method, url.path, token, query, body))
                try:
                    status, answer = 200, workspace.route(method, url.path, query, body)
                except _Missing as exc:
                    status = 404
                    answer = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{exc}"}
                except FileExistsError as exc:
                    status = 400
                    answer = {"error_code": "RESOURCE_ALREADY_EXISTS", "message": f"{exc}"}
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        return Handler


def _raise_missing(run_id: int) -> Any:
    raise _Missing(f"run {run_id}")


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.05)
