"""Issue 14, items 2 and 5: one Databricks credential per location, the generator's config names
no raw or sensitive schema, and the Unity Catalog grants come from the code's grant table."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import DagsterInvalidConfigError

from artificial_data.cli import main
from artificial_data.common.credentials import (
    CredentialsRefused,
    credential_env,
    databricks_credentials,
)
from artificial_data.common.settings import BACKEND_ENV, CATALOG_ENV, SCHEMA_PREFIX_ENV
from artificial_data.common.stores import (
    LOCATIONS,
    METADATA_SENSITIVE,
    RAW,
    STORE_NAMES,
    maximum_grants,
)

FORBIDDEN_FOR_GENERATOR = ("artificial_data_raw", "artificial_data_metadata_sensitive")

# ---------------------------------------------------------------------------------- grants

GRANT = re.compile(
    r"^GRANT (?P<priv>[A-Z ]+?) ON (?P<kind>CATALOG|SCHEMA|VOLUME) (?P<on>\S+) "
    r"TO `(?P<who>[^`]+)`;$"
)
PRINCIPALS = {"scraper": "sp-scraper-0001", "review": "sp-review-0002", "generator": "sp-gen-0003"}


def _grants(capsys, *extra: str) -> dict[str, set[tuple[str, str, str]]]:
    args = ["grants", "--catalog", "main", *extra]
    for location, principal in PRINCIPALS.items():
        args += ["--principal", f"{location}={principal}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    by_principal: dict[str, set[tuple[str, str, str]]] = {p: set() for p in PRINCIPALS.values()}
    for line in out.splitlines():
        if line.startswith("GRANT"):
            m = GRANT.match(line)
            assert m, line
            by_principal[m["who"]].add((m["priv"], m["kind"], m["on"].replace("`", "")))
        else:
            assert line == "" or line.startswith(("--", "CREATE SCHEMA", "CREATE VOLUME")), line
    return by_principal


def _expected(location: str, simulated_raw: bool) -> set[tuple[str, str, str]]:
    table = maximum_grants(location, simulated_raw)
    want = {("USE CATALOG", "CATALOG", "main")}
    for store in table.read:
        schema = f"main.artificial_data_{store}"
        want |= {("USE SCHEMA", "SCHEMA", schema), ("SELECT", "SCHEMA", schema)}
        want.add(("READ VOLUME", "VOLUME", f"{schema}.files"))
    for store in table.write:
        schema = f"main.artificial_data_{store}"
        want |= {("MODIFY", "SCHEMA", schema), ("CREATE TABLE", "SCHEMA", schema)}
        want.add(("WRITE VOLUME", "VOLUME", f"{schema}.files"))
    return want


@pytest.mark.parametrize("simulated_raw", [False, True])
def test_grant_statements_follow_the_grant_table_exactly(capsys, simulated_raw):
    extra = ("--simulated-raw",) if simulated_raw else ()
    printed = _grants(capsys, *extra)
    for location, principal in PRINCIPALS.items():
        got = printed[principal]
        assert got == _expected(location, simulated_raw), location
        table = maximum_grants(location, simulated_raw)
        schemas = {on for _, kind, on in got if kind == "SCHEMA"}
        # Every read grant gives SELECT on that schema, every write grant MODIFY, nothing else.
        assert {on for p, _, on in got if p == "SELECT"} == {
            f"main.artificial_data_{s}" for s in table.read
        }
        assert {on for p, _, on in got if p == "MODIFY"} == {
            f"main.artificial_data_{s}" for s in table.write
        }
        assert schemas == {f"main.artificial_data_{s}" for s in table.read | table.write}
        assert not any("ALL PRIVILEGES" in p or "MANAGE" in p for p, _, _ in got)
    generator = printed[PRINCIPALS["generator"]]
    assert not [g for g in generator if any(n in g[2] for n in FORBIDDEN_FOR_GENERATOR)]
    # Raw HES is only ever read, unless the workspace holds simulated raw data.
    scraper_raw = {p for p, _, on in printed[PRINCIPALS["scraper"]] if on.endswith("_raw")}
    assert ("MODIFY" in scraper_raw) is simulated_raw


def test_grants_command_creates_one_schema_and_volume_per_store(capsys):
    assert main(["grants", "--catalog", "hes", "--principal", "generator=sp-1"]) == 0
    out = capsys.readouterr().out
    for store in STORE_NAMES:
        assert f"CREATE SCHEMA IF NOT EXISTS `hes`.`artificial_data_{store}`;" in out
        assert f"CREATE VOLUME IF NOT EXISTS `hes`.`artificial_data_{store}`.`files`;" in out
    assert "sp-1" in out and "TO `sp-" in out


@pytest.mark.parametrize(
    "principal", ["nobody=sp", "generator", "generator=", "generator=a`; DROP", "generator=x y"]
)
def test_grants_command_refuses_bad_principals(principal):
    with pytest.raises(SystemExit):
        main(["grants", "--catalog", "main", "--principal", principal])


# ------------------------------------------------- the generator's config names no raw schema


def test_generator_definitions_name_no_raw_or_sensitive_schema(home, monkeypatch):
    from dagster._serdes import serialize_value

    monkeypatch.setenv(BACKEND_ENV, "catalog")
    monkeypatch.setenv(CATALOG_ENV, "main")
    from artificial_data.generator.definitions import build_definitions

    defs = build_definitions()
    seen = []
    for job in defs.resolve_all_job_defs():
        # The run config schema with its defaults, as the UI's Launchpad gets it.
        seen.append(serialize_value(job.get_job_snapshot()))
    for name, resource in defs.resources.items():
        seen.append(f"{name}: {resource!r}")
    scoped = defs.resources["stores"].stores()
    seen += [repr(scoped), json.dumps(scoped.tables.schemas), repr(scoped.roots)]
    assert set(scoped.tables.schemas) == {"metadata_released", "artificial", "published"}
    text = "\n".join(seen)
    for forbidden in (*FORBIDDEN_FOR_GENERATOR, str(home / RAW), str(home / METADATA_SENSITIVE)):
        assert forbidden not in text, forbidden


def test_config_naming_raw_or_sensitive_is_refused(home, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "catalog")
    from artificial_data.generator.definitions import build_definitions
    from artificial_data.orchestration.resources import GeneratorStores

    for store in (RAW, METADATA_SENSITIVE):
        with pytest.raises(
            Exception, match=f"may not be granted read access to.*'{store}'|{store}"
        ):
            GeneratorStores(read=["metadata_released", store])
    job = build_definitions().resolve_job_def("generate_hes_op")
    # Refused by Dagster's config system before any run exists (test_definitions.py).
    with pytest.raises(
        DagsterInvalidConfigError, match="not in enum type GeneratorMayRead got raw"
    ):
        job.execute_in_process(
            partition_key="2122",
            run_config={"resources": {"stores": {"config": {"read": ["raw"]}}}},
        )
    # A schema prefix cannot point a granted store at another scope's schema: a schema is
    # always <prefix><store>, and the prefix must be a plain identifier.
    monkeypatch.setenv(SCHEMA_PREFIX_ENV, "artificial_data_raw.x")
    with pytest.raises(ValueError, match="prefix"):
        GeneratorStores().stores()


# -------------------------------------------------------------- one credential per location


def _env(location: str, **fields: str) -> dict[str, str]:
    return {credential_env(location, k.upper()): v for k, v in fields.items()}


def test_each_location_reads_only_its_own_credential():
    env = _env("generator", host="https://adb-1.example", client_id="gen-id", client_secret="s3")
    creds = databricks_credentials("generator", env)
    assert (creds.host, creds.client_id, creds.kind) == (
        "https://adb-1.example",
        "gen-id",
        "service principal",
    )
    assert "s3" not in repr(creds)
    # The scraper's process has no credential of its own, and refuses the generator's.
    with pytest.raises(CredentialsRefused, match="ARTIFICIAL_DATA_SCRAPER_DATABRICKS_CLIENT_ID"):
        databricks_credentials("scraper", {credential_env("scraper", "HOST"): "h"})
    with pytest.raises(CredentialsRefused, match="ARTIFICIAL_DATA_GENERATOR_DATABRICKS_CLIENT_ID"):
        databricks_credentials("scraper", env)
    with pytest.raises(CredentialsRefused, match="has no Databricks host"):
        databricks_credentials("scraper", {})


@pytest.mark.parametrize("location", LOCATIONS)
def test_a_process_that_sees_another_locations_secret_refuses(location):
    for other in LOCATIONS:
        if other == location:
            continue
        env = _env(location, host="h", token="mine") | _env(other, token="theirs")
        with pytest.raises(CredentialsRefused) as refused:
            databricks_credentials(location, env)
        assert credential_env(other, "TOKEN") in str(refused.value)
        assert "theirs" not in str(refused.value) and "mine" not in str(refused.value)
    env = _env(location, host="h", token="mine") | {"DATABRICKS_TOKEN": "anyone"}
    with pytest.raises(CredentialsRefused, match="DATABRICKS_TOKEN"):
        databricks_credentials(location, env)
    with pytest.raises(CredentialsRefused, match="not both"):
        databricks_credentials(location, _env(location, host="h", token="t", client_id="c"))


def test_the_sdk_client_sends_the_locations_own_token():
    """A loopback server stands in for the workspace and records each request's credential."""
    seen: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Authorization", "")))
            body = json.dumps({"jobs": [], "has_more": False}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = f"http://127.0.0.1:{server.server_address[1]}"
        env = _env("generator", host=host, token="generator-token")
        client = databricks_credentials("generator", env).workspace_client()
        assert list(client.jobs.list()) == []
    finally:
        server.shutdown()
        server.server_close()
    assert seen and all(auth == "Bearer generator-token" for _, auth in seen)
    assert seen[0][0].startswith("/api/2.")
