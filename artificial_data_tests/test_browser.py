"""The Dagster UI in a real browser: Playwright driving Debian's Chromium (never a downloaded
browser) against `dagster dev` on loopback, after one dataset-year went through all three code
locations the way `make demo` runs it.

`make test` installs Debian's `chromium` when it is missing and it runs as root (CI). Without the
browser or Playwright this test fails in CI (`CI=true`) and is skipped elsewhere. Screenshots go
to the test's temporary folder; with `ARTIFICIAL_DATA_UPDATE_SCREENSHOTS=1` the ones the guides
use are also copied to `docs/img/`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest

from artificial_data.orchestration.keys import (
    ARTIFICIAL_STAGE,
    PUBLISHED_STAGE,
    QA_STAGE,
    RAW_STAGE,
    REVIEW_PACK_STAGE,
    REVIEWED_STAGE,
    SIGN_OFF_STAGE,
    STAGES,
    SUPPRESSED_STAGE,
)
from artificial_data.review.sign_off_events import SIGN_OFF_JOB

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("ARTIFICIAL_DATA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
UPDATE_SCREENSHOTS_ENV = "ARTIFICIAL_DATA_UPDATE_SCREENSHOTS"
DOCS_IMG = REPO / "docs" / "img"
VIEWPORT = {"width": 1280, "height": 800}
DATASET = "hes_op"
YEAR = "2122"
LOCATIONS = {"scraper", "review", "generator"}
# The eight assets of one dataset, in lineage order (keys ``<dataset>/<stage>``), and the
# location each belongs to.
CHAIN = {
    f"{DATASET}/{stage}": location
    for stage, location in (
        (RAW_STAGE, "scraper"),
        (SUPPRESSED_STAGE, "scraper"),
        (REVIEW_PACK_STAGE, "review"),
        (SIGN_OFF_STAGE, "review"),
        (REVIEWED_STAGE, "review"),
        (ARTIFICIAL_STAGE, "generator"),
        (QA_STAGE, "generator"),
        (PUBLISHED_STAGE, "generator"),
    )
}
SERVER_TIMEOUT_S = 300
UI_TIMEOUT_MS = 60_000

pytestmark = pytest.mark.slow


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _require_browser() -> None:
    """Fail in CI, skip elsewhere, when the browser or Playwright is missing."""
    problems = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problems.append(
            f"no Chromium at {CHROMIUM}: `make test` installs Debian's package when run as root "
            "(`apt-get install -y --no-install-recommends chromium`); otherwise run that with sudo"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("Playwright for Python is not installed (`pip install -e '.[dev]'`)")
    if problems:
        message = "browser test cannot run: " + "; ".join(problems)
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        body = json.loads(response.read())
    if body.get("errors"):
        raise AssertionError(f"GraphQL errors: {body['errors']}")
    return body["data"]


LOCATION_STATUS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""

ASSET_NODES = """{ assetNodes { assetKey { path } groupName
  repository { location { name } } } }"""


def _wait_for_locations(base: str, server: subprocess.Popen, log: Path) -> None:
    """Poll the webserver's GraphQL until all three code locations are loaded (no sleeps
    standing in for readiness: each poll asks the workspace for its location statuses)."""
    deadline = time.monotonic() + SERVER_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dagster dev exited with {server.returncode}:\n{_tail(log)}")
        try:
            entries = _graphql(base, LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError) as exc:
            last = repr(exc)
        else:
            errors = {
                e["name"]: e["locationOrLoadError"]["message"]
                for e in entries
                if (e["locationOrLoadError"] or {}).get("__typename") == "PythonError"
            }
            if errors:
                pytest.fail(f"code locations failed to load: {errors}")
            loaded = {e["name"] for e in entries if e["loadStatus"] == "LOADED"}
            if loaded >= LOCATIONS and all(e["locationOrLoadError"] for e in entries):
                return
            last = f"loaded so far: {sorted(loaded)}"
        time.sleep(1)
    pytest.fail(f"dagster dev not ready after {SERVER_TIMEOUT_S}s ({last}):\n{_tail(log)}")


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(server: subprocess.Popen) -> None:
    """Stop dagster dev and everything it started (webserver, daemon, code servers)."""
    if server.poll() is not None:
        return
    try:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment `make demo` / `make dev` give: a fresh Dagster instance (telemetry off)
    and a fresh ARTIFICIAL_DATA_HOME, simulated raw data, the demo's allowed-signers list."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    home = tmp_path / "artificial_data_home"
    home.mkdir()
    # Nothing of the caller's deployment leaks in (store roots, backend, credentials).
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFICIAL_DATA_")}
    environment.update(
        DAGSTER_HOME=str(dagster_home),
        ARTIFICIAL_DATA_HOME=str(home),
        ARTIFICIAL_DATA_ENV="demo",
        ARTIFICIAL_DATA_ALLOWED_SIGNERS=str(home / "demo_signers" / "allowed_signers"),
        PYSPARK_PYTHON=sys.executable,
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
    )
    return environment


@contextmanager
def _dagster_dev(env: dict[str, str], log: Path) -> Iterator[str]:
    """`dagster dev -w workspace.yaml` on a free loopback port, in its own process group so
    that stopping it stops the webserver, the daemon and the three code servers with it."""
    port = _free_port()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_locations(base, server, log)
        # The "join the community" dialog would cover the page on loopback; mark it seen.
        _graphql(base, "mutation { setNuxSeen }")
        yield base
    finally:
        _stop(server)


def _run_demo_slice(env: dict[str, str]) -> float:
    """One dataset-year end to end through Dagster, exactly as `make demo` runs it (each
    location's own jobs and resources, DEMO sign-off in between), into the test's instance."""
    started = time.monotonic()
    command = [
        sys.executable, "-m", "artificial_data.cli", "demo",
        "--years", YEAR, "--dataset", DATASET, "--raw-rows", "5000", "--rows", "1000",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"demo failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "published (QA passed)" in result.stdout, result.stdout
    return time.monotonic() - started


class Shots:
    """Screenshots of one run; the guides' ones are copied to docs/img on request only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def take(self, page, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path))
        self.taken.append(path)
        return path

    def publish(self) -> None:
        if os.environ.get(UPDATE_SCREENSHOTS_ENV) != "1":
            return
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        for path in self.taken:
            shutil.copyfile(path, DOCS_IMG / path.name)


def _settle(page) -> None:
    page.wait_for_load_state("networkidle")


def _graph_nodes(page, name: str):
    """The asset nodes of the rendered graph (an SVG of foreignObjects) labelled ``name``."""
    return page.locator("foreignObject").get_by_text(name, exact=True)


def test_ui_shows_a_dataset_year_across_the_three_locations(env, tmp_path):
    _require_browser()
    from playwright.sync_api import expect, sync_playwright

    timings = {"demo_slice": _run_demo_slice(env)}
    timings["pending_slice"] = _stage_pending_year(env)
    shots = Shots(tmp_path / "screenshots")
    started = time.monotonic()
    with _dagster_dev(env, tmp_path / "dagster_dev.log") as base:
        timings["server_ready"] = time.monotonic() - started
        # Which location and group define each asset: the webserver's own answer.
        nodes = _graphql(base, ASSET_NODES)["assetNodes"]
        where = {
            "/".join(n["assetKey"]["path"]): n["repository"]["location"]["name"] for n in nodes
        }
        groups = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in nodes}
        assert {key: where.get(key) for key in CHAIN} == CHAIN
        started = time.monotonic()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(UI_TIMEOUT_MS)
                expect.set_options(timeout=UI_TIMEOUT_MS)
                _check_lineage(page, base, groups, shots)
                _check_review(page, base, shots)
                _check_review_pack_whole(page, base, shots)
                _check_published(page, base, shots)
                _check_qa(page, base, shots)
                _check_qa_report(page, base, shots)
                timings.update(_follow_sign_off_to_published(page, base, env, shots))
            finally:
                browser.close()
        timings["browser"] = time.monotonic() - started
        started = time.monotonic()
    timings["server_stop"] = time.monotonic() - started
    shots.publish()
    print("browser test timings (s):", {k: round(v, 1) for k, v in timings.items()})


PENDING_YEAR = "2223"
FOLLOW_TIMEOUT_S = 600
#: The assets a sign-off sets going, in order, each materialised for the year by its own run.
FOLLOWS = (SIGN_OFF_STAGE, REVIEWED_STAGE, ARTIFICIAL_STAGE, QA_STAGE, PUBLISHED_STAGE)


def _stage_pending_year(env: dict[str, str]) -> float:
    """A second year of the dataset, stopped where a real one waits for people: scraped,
    review pack built, its sign-off recorded as pending (`artificial-data demo
    --until-sign-off`)."""
    started = time.monotonic()
    command = [
        sys.executable, "-m", "artificial_data.cli", "demo", "--years", PENDING_YEAR,
        "--dataset", DATASET, "--raw-rows", "5000", "--until-sign-off",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"staging failed:\n{result.stdout[-3000:]}\n{result.stderr}"
    assert "waiting for sign-off" in result.stdout, result.stdout
    return time.monotonic() - started


def _materialised_partitions(base: str, stage: str) -> set[str]:
    query = (
        f'{{ assetOrError(assetKey: {{path: ["{DATASET}", "{stage}"]}}) {{ __typename '
        "... on Asset { assetMaterializations { partition } } } }"
    )
    asset = _graphql(base, query)["assetOrError"]
    return {m["partition"] for m in asset.get("assetMaterializations") or []}


def _sign_with_demo_keys(env: dict[str, str]) -> None:
    """Both DEMO statements submitted outside Dagster, as `artificial-data sign-off submit`
    records a person's: only the sign-off sensor can tell Dagster about them."""
    code = (
        "from artificial_data.common.settings import load_settings\n"
        "from artificial_data.common.stores import REVIEW, ScopedStores\n"
        "from artificial_data.review.demo_signers import demo_sign_off\n"
        "stores = ScopedStores.for_location(REVIEW, load_settings().store_roots)\n"
        f"print(demo_sign_off(stores, {DATASET!r}, {PENDING_YEAR!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]


def _follow_sign_off_to_published(page, base: str, env: dict[str, str], shots: Shots) -> dict:
    """Pending sign-off to published with nobody touching Dagster: the year shows as waiting
    for sign-off, its Launchpad link opens `sign_off_job` with the year's hashes, then two
    statements are submitted outside Dagster and the daemon (sensor, then each location's
    declarative automation) releases, generates, checks and publishes the year."""
    from playwright.sync_api import expect

    pack = json.loads(
        (Path(env["ARTIFICIAL_DATA_HOME"]) / "admin" / "review_packs" / DATASET / PENDING_YEAR
         / "pack.json").read_text()
    )  # fmt: skip
    assert PENDING_YEAR not in _materialised_partitions(base, SIGN_OFF_STAGE)
    # The year's latest event: the observation that it waits for sign-off, with its hashes.
    _open(page, f"{base}/assets/{DATASET}/{SIGN_OFF_STAGE}?view=events")
    expect(page.get_by_text(f"Partition {PENDING_YEAR} observed").first).to_be_visible()
    expect(page.get_by_text("waiting for sign-off", exact=True).first).to_be_visible()
    expect(page.get_by_text(pack["content_hash"], exact=True).first).to_be_visible()
    shots.take(page, "sign_off_pending")
    year = quote(f"Sign off {DATASET} {PENDING_YEAR}:", safe="")
    link = page.locator(f'a[href^="/locations/review/jobs/{SIGN_OFF_JOB}/"][href*="{year}"]')
    # The UI opens metadata links in a new tab; follow it in this one.
    _open(page, base + link.first.get_attribute("href"))
    editor = page.locator(".CodeMirror").first
    expect(editor).to_contain_text(f"Sign off {DATASET} {PENDING_YEAR}")
    expect(editor).to_contain_text(pack["review_pack_hash"])
    expect(editor).to_contain_text("record_signed_statement_op")
    shots.take(page, "sign_off_launchpad")

    started = time.monotonic()
    _sign_with_demo_keys(env)
    reached: dict[str, float] = {}
    deadline = started + FOLLOW_TIMEOUT_S
    while len(reached) < len(FOLLOWS) and time.monotonic() < deadline:
        for stage in FOLLOWS:
            if stage not in reached and PENDING_YEAR in _materialised_partitions(base, stage):
                reached[stage] = time.monotonic() - started
        time.sleep(3)
    assert set(reached) == set(FOLLOWS), (
        f"{DATASET} {PENDING_YEAR} after sign-off reached only {reached} in {FOLLOW_TIMEOUT_S}s"
    )
    assert [s for s in sorted(reached, key=reached.get)] == list(FOLLOWS)

    _open(
        page, f"{base}/assets/{DATASET}/{SIGN_OFF_STAGE}?view=partitions&partition={PENDING_YEAR}"
    )
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
    expect(page.get_by_text("sign_off_pair", exact=True).first).to_be_visible()
    shots.take(page, "sign_off_signed")
    _open(
        page, f"{base}/assets/{DATASET}/{PUBLISHED_STAGE}?view=partitions&partition={PENDING_YEAR}"
    )
    expect(page.get_by_text("Materialized (2)").first).to_be_visible()
    shots.take(page, "published_after_sign_off")
    return {f"follow_{stage}": round(t, 1) for stage, t in reached.items()}


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")


def _label(stage: str):
    """A node's label as the UI draws it: long names are truncated in the middle
    (``suppress…_metadata``), so those match by their first and last characters."""
    if len(stage) <= 10:
        return re.compile(f"^{re.escape(stage)}$")
    return re.compile(f"^{re.escape(stage[:4])}.*{re.escape(stage[-4:])}$")


def _check_lineage(page, base: str, groups: dict[str, str], shots: Shots) -> None:
    """Global asset lineage, every group expanded: one group per dataset, and each stage's node
    drawn once per dataset under its own readable name; the published asset's upstream
    lineage draws the dataset's eight stages, raw to published. Which location each node
    belongs to comes from the webserver's GraphQL (checked by the caller)."""
    from playwright.sync_api import expect

    expanded = ",".join(f"global@global:{g}" for g in sorted(set(groups.values())))
    lineage = f"{base}/asset-groups?expanded={quote(expanded)}"
    _open(page, lineage)
    # More room for the graph: the left navigation folds away (the UI remembers it).
    page.get_by_text("Hide navigation", exact=True).click()
    _open(page, lineage)
    graph = page.locator("foreignObject")
    datasets = sorted({key.split("/")[0] for key in groups})
    for group in sorted(set(groups.values())):
        expect(graph.get_by_text(group, exact=True).first).to_be_visible()
    for stage in STAGES:
        expect(graph.get_by_text(_label(stage))).to_have_count(len(datasets))
    shots.take(page, "lineage")
    # One dataset's chain on its own: the published asset's upstream lineage.
    upstream = "view=lineage&lineageScope=upstream&lineageDepth=10"
    _open(page, f"{base}/assets/{DATASET}/{PUBLISHED_STAGE}?{upstream}")
    graph = page.locator("foreignObject")
    for stage in STAGES:
        expect(graph.get_by_text(_label(stage))).to_have_count(1)
    shots.take(page, "lineage_one_dataset")


def _partition_page(page, base: str, key: str) -> None:
    from playwright.sync_api import expect

    _open(page, f"{base}/assets/{key}?view=partitions&partition={YEAR}")
    expect(page.get_by_text("Latest materialization").first).to_be_visible()
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()


def _check_review(page, base: str, shots: Shots) -> None:
    """What the reviewer reads: the review pack's facts and the pre-filled sign-off commands on
    the review pack, then the released metadata naming the DEMO sign-off."""
    from playwright.sync_api import expect

    _partition_page(page, base, f"{DATASET}/{REVIEW_PACK_STAGE}")
    for field in ("content_hash", "review_pack_hash", "blocking_findings", "sign_off_commands"):
        expect(page.get_by_text(field, exact=True).first).to_be_visible()
    # The commands (with the Launchpad link) are long Markdown: the UI shows them on request.
    commands = page.get_by_role("row", name=re.compile("^sign_off_commands"))
    commands.get_by_text("[Show Markdown]").click()
    expect(
        page.get_by_text(f"artificial-data sign-off show --dataset {DATASET}").first
    ).to_be_visible()
    page.keyboard.press("Escape")
    shots.take(page, "review_pack")
    _partition_page(page, base, f"{DATASET}/{REVIEWED_STAGE}")
    expect(page.get_by_text("sign_off", exact=True).first).to_be_visible()
    expect(page.get_by_text("DEMO").first).to_be_visible()
    shots.take(page, "released_metadata")


def _check_published(page, base: str, shots: Shots) -> None:
    """The published asset is materialised for the year, with its release name."""
    from playwright.sync_api import expect

    _partition_page(page, base, f"{DATASET}/{PUBLISHED_STAGE}")
    expect(page.get_by_text("Materialized (1)").first).to_be_visible()
    expect(page.get_by_text(YEAR, exact=True).filter(visible=True).first).to_be_visible()
    expect(page.get_by_text(f"artificial_{DATASET}_").first).to_be_visible()
    shots.take(page, "published_partition")


def _check_qa(page, base: str, shots: Shots) -> None:
    """The QA asset's checks: every check listed with a result; a blocking one passed for the
    year."""
    from playwright.sync_api import expect

    _open(page, f"{base}/assets/{DATASET}/{QA_STAGE}?view=checks&checkDetail=schema")
    expect(page.get_by_text("Checks (").first).to_be_visible()
    expect(page.get_by_text("Succeeded").first).to_be_visible()
    expect(page.get_by_text("This is a blocking asset check.").first).to_be_visible()
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    expect(page.get_by_text(YEAR, exact=True).filter(visible=True).first).to_be_visible()
    shots.take(page, "qa_checks")


LATEST_MARKDOWN = """{ assetOrError(assetKey: {path: ["%s", "%s"]}) { ... on Asset {
  assetMaterializations(partitions: ["%s"], limit: 1) { metadataEntries {
  label ... on MarkdownMetadataEntry { mdStr } } } } } }"""
CHART = "](data:image/svg+xml;base64,"


def _markdown_entry(base: str, stage: str, label: str) -> str:
    """A Markdown metadata entry of the year's latest materialisation: the webserver's answer."""
    query = LATEST_MARKDOWN % (DATASET, stage, YEAR)
    (event,) = _graphql(base, query)["assetOrError"]["assetMaterializations"]
    (entry,) = [e for e in event["metadataEntries"] if e["label"] == label]
    return entry["mdStr"]


def _open_markdown(page, label: str):
    """Open the ``[Show Markdown]`` dialog of the metadata entry ``label``; its dialog."""
    from playwright.sync_api import expect

    row = page.locator("tr").filter(has=page.get_by_text(label, exact=True))
    row.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def _check_review_pack_whole(page, base: str, shots: Shots) -> None:
    """The review pack in the UI is the whole public pack: where to read the values (the admin
    store and the `sign-off show` command), every section and a row for every field, the last
    one included; no path posing as a link."""
    from playwright.sync_api import expect

    pack = _markdown_entry(base, REVIEW_PACK_STAGE, "review_pack")
    fields = [
        line.split(" | ")[0][2:]
        for line in pack.split("## Fields\n", 1)[1].splitlines()
        if line.startswith("| ") and not line.startswith("| field |")
    ]
    assert len(fields) > 50, fields
    _partition_page(page, base, f"{DATASET}/{REVIEW_PACK_STAGE}")
    expect(page.get_by_text("values_in", exact=True).first).to_be_visible()
    dialog = _open_markdown(page, "review_pack")
    for heading in ("Where to read the values", "Automated checks", "Reviewer checklist"):
        expect(dialog.get_by_role("heading", name=heading)).to_be_visible()
    expect(
        dialog.get_by_text(f"artificial-data sign-off show --dataset {DATASET} --year {YEAR}")
    ).to_be_visible()
    table = dialog.locator("table").last
    expect(table.locator("tbody tr")).to_have_count(len(fields))
    last = table.locator("tbody tr").last.locator("td").first
    last.scroll_into_view_if_needed()
    expect(last).to_have_text(fields[-1])
    assert "more (see HTML)" not in dialog.inner_text()
    shots.take(page, "review_pack_whole")
    page.keyboard.press("Escape")


def _check_qa_report(page, base: str, shots: Shots) -> None:
    """The QA report in the UI is whole, with every chart of the HTML report drawn: each is a
    ``data:`` SVG image the UI's Markdown renders, decoded by the browser (natural width > 0)."""
    from playwright.sync_api import expect

    report = _markdown_entry(base, QA_STAGE, "report")
    charts = report.count(CHART)
    assert charts > 50, charts
    _partition_page(page, base, f"{DATASET}/{QA_STAGE}")
    dialog = _open_markdown(page, "report")
    images = dialog.locator('img[src^="data:image/svg+xml;base64,"]')
    expect(images).to_have_count(charts)
    drawn = """els => els.filter(i => i.complete && i.naturalWidth > 0).length"""
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    while images.evaluate_all(drawn) < charts and time.monotonic() < deadline:
        time.sleep(0.5)
    assert images.evaluate_all(drawn) == charts
    heading = dialog.get_by_role("heading", name="Top values: metadata vs artificial")
    heading.scroll_into_view_if_needed()
    shots.take(page, "qa_report_charts")
    page.keyboard.press("Escape")
