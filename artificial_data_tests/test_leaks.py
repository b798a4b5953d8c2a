"""The project's own leak test (issue 11, item 7): plant canaries in raw data, run the pipeline
through each code location's Dagster jobs exactly as ``make demo`` does, then search every byte
that leaves the sensitive side for them.

The test is the attacker. It knows what it planted and where the open side lives (the
``metadata_released``, ``artificial`` and ``published`` stores, and the Dagster instance that
the UI reads: run and event storage, compute logs, local artefacts). It does not know how the
checks work; it only looks at what comes out.

One module-scoped pipeline (``leaks``) runs the stages once, in a fresh
``ARTIFICIAL_DATA_HOME`` and a persistent (sqlite, on disk) Dagster instance:

a. a good first release and publication of hes_apc 2223;
b. rare (suppressed) canaries: the pipeline must run through and they must vanish;
c. all blocking canaries together: the release must be refused, the previous release stay
   intact and nothing from the canary metadata reach the generator or the instance;
d. fail-closed sources (an unknown column; a forbidden one), each in its own run;
e. each blocking canary class alone (c cannot tell which canary blocked the release).

Each property is then its own test, so a failure names exactly what leaked and where.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from artificial_data.common.settings import ENVIRONMENT_ENV, HOME_ENV
from artificial_data.orchestration.keys import artificial_key, raw_key, step_config
from artificial_data_tests.canaries import (
    BLOCKING_CANARIES,
    DATASET,
    FAIL_CLOSED_CANARIES,
    SUPPRESSED_CANARIES,
    Canary,
    needles_of,
    plant,
)
from artificial_data_tests.leak_scan import ScanReport, scan

pytestmark = pytest.mark.spark

YEAR = "2223"
#: Stages that publish (a, b) need QA to pass: the demo's size (smaller sources leave too few
#: birth months after suppression). Stages that must be refused (c, d, e) use a small source,
#: where a planted field of threshold-count values dominates its field (see docs/security.md,
#: identifier-likeness: what it cannot catch).
RAW_ROWS = 20_000
REFUSED_RAW_ROWS = 3_000
ARTIFICIAL_ROWS = 1_000
SEED = 20260401
ALL = BLOCKING_CANARIES + SUPPRESSED_CANARIES + FAIL_CLOSED_CANARIES


@dataclass
class Outcome:
    """What one step (a Dagster run, or the demo sign-off) did, as the operator would see it."""

    name: str
    success: bool
    errors: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)  # check name -> passed

    @property
    def text(self) -> str:
        return "\n".join(self.errors)


@dataclass
class Stage:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    sensitive_before: str | None = None  # the suppressed metadata before this stage's scrape
    sensitive_hash: str | None = None
    released_hash: str | None = None
    generated_from: str | None = None  # the metadata hash the artificial table was made from
    published: list[str] = field(default_factory=list)
    scans: dict[str, ScanReport] = field(default_factory=dict)


class Pipeline:
    """The jobs of the three code locations, run as ``artificial_data.demo`` runs them."""

    def __init__(self, home: Path, dagster_home: Path, instance):
        from artificial_data.common.dataset_spec import load_spec
        from artificial_data.generator.definitions import defs as generator_defs
        from artificial_data.review.definitions import defs as review_defs
        from artificial_data.scraper.definitions import defs as scraper_defs

        self.home, self.dagster_home, self.instance = home, dagster_home, instance
        self.spec = load_spec(DATASET)
        self.scraper, self.review, self.generator = scraper_defs, review_defs, generator_defs

    # ------------------------------------------------------------------------------ running

    def _job(self, defs, job: str, name: str, run_config=None, assets=None) -> Outcome:
        started = time.monotonic()
        try:
            return self._job_inner(defs, job, name, run_config, assets)
        finally:
            print(f"[leaks] {name}: {time.monotonic() - started:.1f}s", file=sys.stderr)

    def _job_inner(self, defs, job: str, name: str, run_config=None, assets=None) -> Outcome:
        config = {
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            **(run_config or {}),
        }
        try:
            result = defs.resolve_job_def(job).execute_in_process(
                partition_key=YEAR,
                instance=self.instance,
                run_config=config,
                raise_on_error=False,
                asset_selection=assets,
            )
        except Exception as exc:  # e.g. invalid config: still an outcome, not a test crash
            return Outcome(name, False, [f"{type(exc).__name__}: {exc}"])
        errors = []
        for event in result.all_events:
            if event.is_step_failure:
                errors.append(event.step_failure_data.error.to_string())
            elif event.is_failure:
                errors.append(event.message or "")
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        return Outcome(name, result.success, errors, checks)

    def simulate_raw(self, rows: int = RAW_ROWS) -> Outcome:
        """A fresh simulated raw partition (the raw asset only)."""
        from artificial_data.orchestration.keys import raw_key

        config = step_config(raw_key(DATASET), rows=rows, seed=SEED)
        return self._job(
            self.scraper, f"scrape_{DATASET}", "simulate", config, assets=[raw_key(DATASET)]
        )

    def scrape(self, stage: Stage, assets_only_suppressed: bool = True) -> Outcome:
        """The scrape job; after planting, only the suppressed asset and its checks (re-running
        the raw asset would re-simulate and wipe the canaries)."""
        stage.sensitive_before = self.metadata_hash("metadata_sensitive")
        from artificial_data.orchestration.keys import suppressed_key

        if assets_only_suppressed:
            return self._job(
                self.scraper, f"scrape_{DATASET}", "scrape", assets=[suppressed_key(DATASET)]
            )
        config = step_config(raw_key(DATASET), rows=RAW_ROWS, seed=SEED)
        return self._job(self.scraper, f"scrape_{DATASET}", "scrape", config)

    def review_pack(self) -> Outcome:
        return self._job(self.review, f"review_pack_{DATASET}", "review_pack")

    def sign_off(self) -> Outcome:
        from artificial_data.demo import demo_sign_off

        try:
            demo_sign_off(self.spec, YEAR)
        except Exception as exc:
            return Outcome("sign_off", False, ["".join(traceback.format_exception(exc))])
        return Outcome("sign_off", True)

    def release(self) -> Outcome:
        return self._job(self.review, f"release_{DATASET}", "release")

    def generate(self) -> Outcome:
        config = step_config(artificial_key(DATASET), rows=ARTIFICIAL_ROWS)
        return self._job(self.generator, f"generate_{DATASET}", "generate", config)

    def review_to_publication(self, stage: Stage, generate: bool = True) -> None:
        for step in (self.review_pack, self.sign_off, self.release):
            stage.outcomes[step.__name__] = step()
        if generate:
            stage.outcomes["generate"] = self.generate()

    # ----------------------------------------------------------------------------- looking

    def store(self, name: str) -> Path:
        return self.home / name

    @property
    def open_roots(self) -> dict[str, Path]:
        return {
            "metadata_released": self.store("metadata_released"),
            "artificial": self.store("artificial"),
            "published": self.store("published"),
            "dagster_instance": self.dagster_home,
        }

    def metadata_hash(self, store: str) -> str | None:
        header = self.store(store) / DATASET / YEAR / "header.json"
        return json.loads(header.read_text())["content_hash"] if header.exists() else None

    def record(self, stage: Stage) -> None:
        stage.sensitive_hash = self.metadata_hash("metadata_sensitive")
        stage.released_hash = self.metadata_hash("metadata_released")
        provenance = self.store("artificial") / DATASET / YEAR / "_generation.json"
        if provenance.exists():
            stage.generated_from = json.loads(provenance.read_text())["metadata_content_hash"]
        published = self.store("published") / DATASET
        stage.published = sorted(
            str(p.relative_to(published))
            for p in published.glob("*/**/*.zip")
            if not any(part.startswith(".") for part in p.relative_to(published).parts)
        )

    def scan(self, stage: Stage, canaries, roots: dict[str, Path]) -> None:
        needles = list(needles_of(canaries))
        for label, root in roots.items():
            started = time.monotonic()
            stage.scans[label] = scan([root], needles)
            print(
                f"[leaks] scan {label}: {time.monotonic() - started:.1f}s "
                f"{stage.scans[label].bytes / 1e6:.1f} MB",
                file=sys.stderr,
            )


def _names(report: ScanReport, canaries) -> dict[str, list[str]]:
    """canary name -> where its needles were found."""
    owner = needles_of(canaries)
    found: dict[str, set[str]] = {}
    for hit in report.hits:
        if hit.needle in owner:
            found.setdefault(owner[hit.needle], set()).add(f"{hit.location} [{hit.how}]")
    return {k: sorted(v)[:5] for k, v in sorted(found.items())}


def _short(location: str) -> str:
    """A hit's location without the temporary folder and the store's version folder names."""
    for marker in ("/artificial_data_home/", "/dagster_home/"):
        if marker in location:
            location = location.split(marker, 1)[1]
            if marker == "/dagster_home/":
                location = "DAGSTER_HOME/" + location
    parts = location.split("/")
    return "/".join(p if not p.startswith(("2223-", "part-")) else p[:8] + "…" for p in parts)


def leaked(stage: Stage, canaries, where: list[str] | None = None) -> str:
    """A readable list of every canary found in the given scans ("" when none)."""
    owner = needles_of(canaries)
    lines = []
    for label, report in stage.scans.items():
        if where is not None and label not in where:
            continue
        per_canary: dict[str, list] = {}
        for hit in report.hits:
            if hit.needle in owner:
                per_canary.setdefault(owner[hit.needle], []).append(hit)
        for name, hits in sorted(per_canary.items()):
            files = sorted({_short(h.location) for h in hits})
            # The most telling context first: a decoded cell rather than compressed bytes.
            example = min(hits, key=lambda h: ("sqlite", "parquet", "raw").index(h.how))
            lines.append(
                f"{name} in {label}: {len(files)} place(s), e.g. {', '.join(files[:3])}; "
                f"context: ...{example.context[:200]}..."
            )
    return "\n".join(lines)


def _canary(canary: Canary) -> str:
    shown = (
        canary.value
        if len(canary.values) == 1
        else f"{canary.value!r} and {len(canary.values) - 1} more"
    )
    return f"{canary.name} ({canary.field} = {shown!r} x{canary.count})"


@dataclass
class LeakRun:
    pipeline: Pipeline
    a: Stage
    b: Stage
    c: Stage
    d: dict[str, Stage]
    e: dict[str, Stage]


def _require(outcome: Outcome) -> None:
    if not outcome.success:
        raise RuntimeError(f"precondition: {outcome.name} failed:\n{outcome.text}")


@pytest.fixture(scope="module")
def leaks(spark, tmp_path_factory) -> LeakRun:
    from dagster import DagsterInstance

    from artificial_data.common.signing import ALLOWED_SIGNERS_ENV
    from artificial_data.review.demo_signers import demo_allowed_signers_path

    root = tmp_path_factory.mktemp("leaks")
    home, dagster_home = root / "artificial_data_home", root / "dagster_home"
    home.mkdir()
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOME_ENV, str(home))
        mp.setenv(ENVIRONMENT_ENV, "test")
        mp.setenv("DAGSTER_HOME", str(dagster_home))
        # Releases verify the demo's signatures against the demo's own allowed signers.
        mp.setenv(ALLOWED_SIGNERS_ENV, str(demo_allowed_signers_path(home)))
        instance = DagsterInstance.get()
        try:
            yield _run_stages(Pipeline(home, dagster_home, instance))
        finally:
            instance.dispose()


def _run_stages(p: Pipeline) -> LeakRun:
    everything = {
        **{s: p.store(s) for s in ("raw", "metadata_sensitive", "admin")},
        **p.open_roots,
    }

    # a. A first good release, as `make demo` does it.
    a = Stage()
    a.outcomes["scrape"] = p.scrape(a, assets_only_suppressed=False)
    p.review_to_publication(a)
    for outcome in a.outcomes.values():
        _require(outcome)
    p.record(a)
    p.scan(a, ALL, everything)  # nothing planted yet: every needle must be distinctive

    # b. Rare canaries: suppression alone must remove them; the pipeline runs through.
    b = Stage()
    _require(p.simulate_raw())
    plant(p.home, SUPPRESSED_CANARIES, YEAR)
    b.outcomes["scrape"] = p.scrape(b)
    p.review_to_publication(b)
    p.record(b)
    p.scan(b, SUPPRESSED_CANARIES, everything)

    # c. All blocking canaries together.
    c = Stage()
    _require(p.simulate_raw(REFUSED_RAW_ROWS))
    plant(p.home, BLOCKING_CANARIES, YEAR)
    c.outcomes["scrape"] = p.scrape(c)
    p.review_to_publication(c)
    p.record(c)
    p.scan(c, BLOCKING_CANARIES, everything)

    # d. Fail-closed sources, each in its own run.
    d = {}
    for canary in FAIL_CLOSED_CANARIES:
        stage = Stage()
        _require(p.simulate_raw(REFUSED_RAW_ROWS))
        plant(p.home, [canary], YEAR)
        stage.outcomes["scrape"] = p.scrape(stage)
        p.record(stage)
        p.scan(
            stage, [canary], {**p.open_roots, "metadata_sensitive": p.store("metadata_sensitive")}
        )
        d[canary.name] = stage

    # e. Each blocking canary class alone, up to the release (the generator only runs if the
    #    release went through, to show where the canary ends up).
    e = {}
    for canary in BLOCKING_CANARIES:
        stage = Stage()
        _require(p.simulate_raw(REFUSED_RAW_ROWS))
        plant(p.home, [canary], YEAR)
        stage.outcomes["scrape"] = p.scrape(stage)
        p.review_to_publication(stage, generate=False)
        if stage.outcomes["release"].success:
            stage.outcomes["generate"] = p.generate()
        p.record(stage)
        p.scan(stage, [canary], {k: v for k, v in p.open_roots.items() if k != "dagster_instance"})
        e[canary.name] = stage
    run = LeakRun(p, a, b, c, d, e)
    print(_summary(run), file=sys.stderr)
    return run


def _summary(run: LeakRun) -> str:
    """One line per stage: what each step did (shown with ``pytest -s``)."""
    stages = {"a": run.a, "b": run.b, "c": run.c, **run.d, **run.e}
    lines = ["[leaks] summary"]
    for name, stage in stages.items():
        steps = " ".join(
            f"{k}={'ok' if o.success else 'FAILED'}" for k, o in stage.outcomes.items()
        )
        failed = sorted(
            k for k, v in stage.outcomes.get("scrape", Outcome("", True)).checks.items() if not v
        )
        lines.append(f"[leaks]   {name:20s} {steps}  failed checks: {failed or 'none'}")
    return "\n".join(lines)


# ===================================================================================== a


def test_a_baseline_needles_are_distinctive(leaks):
    """Before anything is planted no needle occurs anywhere (so a later hit is the canary)."""
    found = leaked(leaks.a, ALL)
    assert not found, f"needles found before planting (not distinctive):\n{found}"
    assert leaks.a.released_hash and leaks.a.published
    assert leaks.a.generated_from == leaks.a.released_hash


def test_scanner_read_everything(leaks):
    stages = [leaks.a, leaks.b, leaks.c, *leaks.d.values(), *leaks.e.values()]
    for stage in stages:
        for label, report in stage.scans.items():
            assert not report.errors, f"{label}: {report.errors[:5]}"
            assert not report.skipped, f"{label}: symlinks leave the store: {report.skipped[:5]}"
            assert report.files > 0, label


# ===================================================================================== b


def test_b_suppressed_canaries_do_not_stop_the_pipeline(leaks):
    failed = {k: o.text[-3000:] for k, o in leaks.b.outcomes.items() if not o.success}
    assert not failed
    assert leaks.b.released_hash == leaks.b.sensitive_hash != leaks.a.released_hash
    assert leaks.b.generated_from == leaks.b.released_hash


def test_b_suppressed_canaries_were_planted(leaks):
    """Proves the planting and the scanner: the rare canaries are in the raw store."""
    assert set(_names(leaks.b.scans["raw"], SUPPRESSED_CANARIES)) == {
        c.name for c in SUPPRESSED_CANARIES
    }


@pytest.mark.parametrize(
    "where",
    [
        "metadata_sensitive",
        "admin",
        "metadata_released",
        "artificial",
        "published",
        "dagster_instance",
    ],
)
def test_b_suppressed_canaries_vanish(leaks, where):
    found = leaked(leaks.b, SUPPRESSED_CANARIES, [where])
    assert not found, f"rare values survived small-number suppression:\n{found}"


# ===================================================================================== c


def test_c_blocking_canaries_fail_the_scrape(leaks):
    scrape = leaks.c.outcomes["scrape"]
    assert not scrape.success
    failed_checks = [name for name, passed in scrape.checks.items() if not passed]
    # Either a blocking check failed, or the scrape refused the source outright.
    assert failed_checks or scrape.errors


def test_c_release_refused(leaks):
    if leaks.c.sensitive_hash != leaks.c.sensitive_before:  # the scrape wrote new metadata
        assert not leaks.c.outcomes["release"].success
    assert leaks.c.released_hash == leaks.b.released_hash


def test_c_previous_release_and_publication_intact(leaks):
    assert leaks.c.released_hash == leaks.b.released_hash
    assert leaks.c.generated_from == leaks.b.released_hash
    assert leaks.c.published == leaks.b.published


@pytest.mark.parametrize("where", ["metadata_released", "artificial", "published"])
def test_c_no_blocking_canary_on_the_open_side(leaks, where):
    found = leaked(leaks.c, BLOCKING_CANARIES, [where])
    assert not found, f"blocking canaries on the open side:\n{found}"


def test_c_no_blocking_canary_in_the_dagster_instance(leaks):
    found = leaked(leaks.c, BLOCKING_CANARIES, ["dagster_instance"])
    assert not found, f"blocking canaries in the Dagster instance's storage:\n{found}"


def test_c_scanner_finds_canaries_in_the_review_pack(leaks):
    """The reviewer must see the canaries; finding them proves the scanner reads this layout."""
    in_admin = _names(leaks.c.scans["admin"], BLOCKING_CANARIES)
    assert any("review_packs" in where for hits in in_admin.values() for where in hits)
    assert set(_names(leaks.c.scans["raw"], BLOCKING_CANARIES)) == {
        c.name for c in BLOCKING_CANARIES
    }


# ===================================================================================== d


@pytest.mark.parametrize("canary", FAIL_CLOSED_CANARIES, ids=lambda c: c.name)
def test_d_fail_closed_scrape_names_the_column_not_the_values(leaks, canary: Canary):
    stage = leaks.d[canary.name]
    scrape = stage.outcomes["scrape"]
    assert not scrape.success
    assert canary.field in scrape.text
    assert not [n for n in canary.needles if n.decode() in scrape.text]
    assert stage.sensitive_hash == stage.sensitive_before  # nothing was written


@pytest.mark.parametrize("canary", FAIL_CLOSED_CANARIES, ids=lambda c: c.name)
def test_d_fail_closed_values_reach_no_store_nor_the_instance(leaks, canary: Canary):
    found = leaked(leaks.d[canary.name], [canary])
    assert not found, f"values of a refused column were written:\n{found}"


# ===================================================================================== e


@pytest.mark.parametrize("canary", BLOCKING_CANARIES, ids=lambda c: c.name)
def test_e_each_blocking_canary_alone_is_refused(leaks, canary: Canary):
    stage = leaks.e[canary.name]
    new_metadata = stage.sensitive_hash != stage.sensitive_before
    released = new_metadata and stage.outcomes["release"].success
    checks = stage.outcomes["scrape"].checks
    assert not released, (
        f"{_canary(canary)} alone was released (disclosure checks {checks}):\n"
        f"{leaked(stage, [canary])}"
    )


@pytest.mark.parametrize("canary", BLOCKING_CANARIES, ids=lambda c: c.name)
def test_e_each_blocking_canary_alone_stays_off_the_open_side(leaks, canary: Canary):
    found = leaked(leaks.e[canary.name], [canary])
    assert not found, f"{_canary(canary)} reached the open side:\n{found}"
