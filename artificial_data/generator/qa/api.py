"""Run QA on one artificial table-year against its released metadata (DESIGN §9).

QA reads only the released metadata and the artificial table (never real data). Blocking checks
are the ones whose failure means the table must not be published: schema, keys and identifier
formats, values outside the reviewed domain, derived fields, date chains and durations (all
100%), distributions beyond their noise-aware limits (other fields; dates and durations),
patient-level consistency (mixed shares, births after admission), independence of field pairs
and the episodes per patient. Null rates and category coverage are informational.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.schema import schema_differences
from artificial_data.common.table_rows import YearRows
from artificial_data.generator.qa import consistency, independence, patients, streamed
from artificial_data.generator.qa.expected import Expectations, build_expectations, display_key
from artificial_data.generator.qa.fields import (
    FieldColumns,
    FieldOutcome,
    TableColumns,
    analyse_fields,
    date_and_duration_fields,
    episodes_outcome,
)
from artificial_data.generator.qa.report import render_html, render_markdown
from artificial_data.generator.qa.result import CHECK_NAMES, QACheck, QAResult
from artificial_data.generator.qa.rules import RowRules, row_rules


def _check(name: str, passed: bool, details: str, metrics: dict | None = None) -> QACheck:
    return QACheck(name, bool(passed), CHECK_NAMES[name], details, metrics or {})


def _rules_check(name: str, results: list[consistency.RuleResult], what: str) -> QACheck:
    failed = [r for r in results if not r.passed]
    if not results:
        details = f"no {what} in the spec"
    elif failed:
        details = "; ".join(r.describe() for r in failed[:10])
    else:
        details = f"{len(results)} {what} hold on every row"
    metrics = {r.subject: {"checked": r.checked, "failures": r.failures} for r in results}
    return _check(name, not failed, details, metrics)


def _consistency_checks(
    key: consistency.RuleResult | None, rules: RowRules, spec: DatasetSpec
) -> list[QACheck]:
    checks = []
    if key is not None:
        checks.append(
            _check(
                "primary_key",
                key.passed,
                key.describe()
                if not key.passed
                else f"{spec.primary_key} is unique and never null",
                {"rows": key.checked, "failures": key.failures},
            )
        )
    else:
        checks.append(_check("primary_key", False, f"{spec.dataset}: no {spec.primary_key}"))
    checks.append(_rules_check("identifiers", rules.identifiers, "identifier formats"))
    check = _rules_check("derived_fields", rules.derived, "derivations")
    if rules.skipped_derived:
        check = _check(
            "derived_fields",
            False,
            f"{spec.dataset}: cannot check {rules.skipped_derived} (columns missing); "
            + check.details,
            check.metrics,
        )
    checks.append(check)
    checks.append(_rules_check("date_chains", rules.date_chains, "date chains"))
    checks.append(_rules_check("durations", rules.durations, "durations"))
    return checks


def _domain_check(spec: DatasetSpec, outcomes: list[FieldOutcome]) -> QACheck:
    """Every artificial value was released by the review *and* lies inside its field's declared
    value domain (the spec's ``domain``: the allowlist the review and the simulator use too)."""
    bad = [o for o in outcomes if o.out_of_domain_rows]

    def explain(o: FieldOutcome) -> str:
        text = (
            f"{spec.dataset}.{o.name}: {o.out_of_domain_rows} rows hold values outside the "
            f"reviewed domain, e.g. {[display_key(k) for k in o.out_of_domain]}"
        )
        if o.undeclared:
            declared = spec.field(o.name).domain
            text += f" ({o.undeclared} outside the declared domain {declared.describe()})"
        return text

    details = "; ".join(explain(o) for o in bad[:10]) or (
        f"every value of {len(outcomes)} fields was released and lies in its declared domain"
    )
    return _check(
        "value_domain",
        not bad,
        details,
        {
            o.name: {
                "rows": o.out_of_domain_rows,
                "values": o.out_of_domain,
                "outside_declared_domain": o.undeclared,
            }
            for o in bad
        },
    )


def _distribution_check(
    spec: DatasetSpec,
    outcomes: list[FieldOutcome],
    missing_metadata: list[str],
    name: str = "field_distributions",
    extra: list[str] | None = None,
) -> QACheck:
    failed = [o for o in outcomes if o.blocking and o.distance.failed]
    warned = [o for o in outcomes if o.blocking and not o.distance.within_noise and o not in failed]
    parts = [
        f"{spec.dataset}.{o.name}: {o.distance.statistic} {o.distance.value:.4f} beyond the "
        f"limit {o.distance.limit:.4f} (noise threshold {o.distance.threshold:.4f})"
        for o in failed[:10]
    ]
    if warned:
        parts.append(
            f"above the noise threshold but within the limit: {[o.name for o in warned[:20]]}"
        )
    if missing_metadata:
        parts.append(f"no metadata for {missing_metadata}")
    if not parts:
        parts.append(f"{len(outcomes)} fields within their sampling-noise thresholds")
    parts += extra or []
    metrics = {
        "fields_checked": len(outcomes),
        "failed": [o.name for o in failed],
        "above_noise_threshold": [o.name for o in warned],
        "no_metadata": list(missing_metadata),
        "fields": {o.name: {**o.distance.as_dict(), "blocking": o.blocking} for o in outcomes},
    }
    return _check(name, not failed, "; ".join(parts), metrics)


def _zero_days(
    table: pa.Table | FieldColumns, spec: DatasetSpec, expectations: Expectations
) -> list[str]:
    """Per duration field: share of 0-day values against the bracket the released grid allows
    (P(value <= 0) lies between the largest probability whose quantile is <= 0 and the
    smallest whose quantile is > 0)."""
    if isinstance(table, pa.Table):
        table = TableColumns(table)
    lines = []
    for d in dict.fromkeys(d.field for d in spec.durations):
        exp = expectations.fields.get(d)
        if exp is None or exp.continuous is None or d not in table.column_names:
            continue
        tally = table.numbers(exp.field)
        if not tally.present:
            continue
        q, c = exp.continuous.quantiles, exp.continuous.probabilities
        low = float(c[q <= 0].max(initial=0.0))
        high = float(c[q > 0].min(initial=1.0))
        share = float(tally.at_most(np.asarray([0.0]))[0] / tally.present)
        noise = patients.bernstein_margin(0.25, tally.present)
        if not low - noise <= share <= high + noise:
            lines.append(
                f"{spec.dataset}.{d}: {100 * share:.1f}% of durations are 0 days, released "
                f"{100 * low:.0f}-{100 * high:.0f}%"
            )
    return lines


def _patient_check(
    spec: DatasetSpec, shares: list[patients.MixedShare], births: list[consistency.RuleResult]
) -> QACheck:
    failed = [m for m in shares if m.failed]
    broken = [r for r in births if not r.passed]
    parts = [f"{spec.dataset}.{m.describe()}" for m in failed]
    parts += [f"{spec.dataset}.{r.describe()}" for r in broken]
    warned = [m.field for m in shares if not m.failed and not m.within_noise]
    if warned:
        parts.append(f"above the noise threshold but within the limit: {warned}")
    if not shares and not births:
        parts.append(f"{spec.dataset}: no patient-level metadata to compare")
    elif not failed and not broken:
        parts.insert(
            0,
            "; ".join(
                [
                    f"{m.field} {100 * m.observed:.2f}% mixed (released {100 * m.expected:.2f}%)"
                    for m in shares
                ]
                + [f"{r.subject} on every row" for r in births]
            ),
        )
    metrics = {
        "mixed_shares": {m.field: m.as_dict() for m in shares},
        "failed": [m.field for m in failed] + [r.subject for r in broken],
        "births_after": {r.subject: {"checked": r.checked, "failures": r.failures} for r in births},
    }
    return _check("patient_consistency", not failed and not broken, "; ".join(parts), metrics)


def _independence_check(spec: DatasetSpec, outcome: independence.IndependenceOutcome) -> QACheck:
    failed = outcome.failed
    parts = [f"{spec.dataset}.{p.describe()}" for p in failed[:10]]
    if len(failed) > 10:
        parts.append(f"and {len(failed) - 10} more pairs")
    if outcome.warned:
        parts.append(
            "above the noise threshold but within the limit: "
            f"{[p.name for p in outcome.warned[:10]]}"
        )
    if not failed:
        strongest = outcome.strongest(1)
        parts.insert(
            0,
            f"{len(outcome.pairs)} pairs of fields independent"
            + (
                f" (closest to its limit: {strongest[0].name}, V {strongest[0].cramers_v:.3f} "
                f"of {strongest[0].limit:.3f})"
                if strongest
                else ""
            ),
        )
    metrics = {
        "pairs_checked": len(outcome.pairs),
        "failed": {p.name: p.as_dict() for p in failed},
        "strongest": {p.name: p.as_dict() for p in outcome.strongest(10)},
        "single_category_fields": outcome.skipped,
    }
    return _check("field_independence", not failed, "; ".join(parts), metrics)


def _episodes_check(spec: DatasetSpec, outcome: FieldOutcome | None) -> QACheck:
    if outcome is None:
        return _check(
            "episodes_per_patient",
            False,
            f"{spec.dataset}: no RELATIONSHIP metadata or no {spec.patient_key}",
        )
    d = outcome.distance
    extra = [display_key(k) for k in outcome.out_of_domain]
    passed = not d.failed and not extra
    details = (
        f"{d.n} patients; TVD {d.value:.4f} (noise threshold {d.threshold:.4f}, "
        f"limit {d.limit:.4f})"
    )
    if extra:
        details += f"; episode counts not in the metadata: {extra}"
    return _check("episodes_per_patient", passed, details, d.as_dict())


def _null_rate_check(spec: DatasetSpec, outcomes: list[FieldOutcome]) -> QACheck:
    # A date-chain member placed by a duration takes its nulls from the duration: its expected
    # share is a range when suppression thinned its released days (fields.null_share_range).
    flagged = [o for o in outcomes if o.null_rate_flagged]

    def expected(o: FieldOutcome) -> str:
        low = o.expected_null_low
        return f"{o.expected_null:.3f}" if low is None else f"{low:.3f}-{o.expected_null:.3f}"

    details = (
        "; ".join(
            f"{o.name}: {o.observed_null:.3f} null, metadata {expected(o)}" for o in flagged[:10]
        )
        or f"null rates of {len(outcomes)} fields agree with the metadata"
    )
    metrics = {
        o.name: {"expected": round(o.expected_null, 6), "observed": round(o.observed_null, 6)}
        for o in outcomes
    }
    return _check("null_rates", not flagged, details, metrics)


def _coverage_check(outcomes: list[FieldOutcome]) -> QACheck:
    freq = [o for o in outcomes if o.categories]
    gaps = [o for o in freq if o.missing_expected]
    total = sum(o.categories for o in freq)
    present = sum(o.categories_present for o in freq)
    share = present / total if total else 1.0
    details = f"{present} of {total} metadata categories present ({100 * share:.1f}%)"
    if gaps:
        details += "; common categories missing: " + "; ".join(
            f"{o.name} {[display_key(k) for k in o.missing_expected]}" for o in gaps[:10]
        )
    metrics = {
        "share_present": round(share, 6),
        "fields": {o.name: [o.categories_present, o.categories] for o in freq},
    }
    return _check("category_coverage", not gaps, details, metrics)


def run_qa(
    table: pa.Table,
    metadata: pd.DataFrame,
    spec: DatasetSpec,
    financial_year: str,
    source_rows: int | None = None,
) -> QAResult:
    """Check one artificial table-year held in memory against its released metadata and render
    the report (the Dagster-free API; the step reads the partition in batches, :func:`run_qa_rows`,
    with the same results).

    ``source_rows`` is the header's rounded source row count: it tells QA how much of each
    date field suppression removed (see ``distances.placed_distance``)."""
    expectations = build_expectations(metadata, spec)
    present = [f.name for f in spec.scraped_fields if f.name in table.column_names]
    pairs = independence.checked_pairs(
        spec, present, independence.release_seed(spec, financial_year, metadata)
    )
    key = consistency.primary_key(table, spec) if spec.primary_key in table.column_names else None
    rules = row_rules(table, spec)
    return _result(
        spec,
        financial_year,
        table.schema,
        table.num_rows,
        expectations,
        analyse_fields(table, spec, expectations, source_rows),
        episodes_outcome(table, spec, expectations),
        _consistency_checks(key, rules, spec),
        patients.mixed_shares(table, spec, expectations),
        rules.births_after,
        independence.independence(table, spec, pairs),
        _zero_days(table, spec, expectations),
    )


def run_qa_rows(
    rows: YearRows,
    metadata: pd.DataFrame,
    spec: DatasetSpec,
    financial_year: str,
    source_rows: int | None = None,
    batch_rows: int = streamed.QA_BATCH_ROWS,
    spill: Path | None = None,
) -> QAResult:
    """:func:`run_qa` of a table read in record batches (the ``<ds>/qa`` step): the same
    checks, numbers and report, without ever holding the whole table (``streamed``).

    ``spill``: a folder (not yet existing, removed after) where the primary key is bucketed
    to be checked for repeats (``key_spill``; the step passes the partition's staging folder);
    None: a temporary folder."""
    expectations = build_expectations(metadata, spec)
    names = rows.schema.names
    present = [f.name for f in spec.scraped_fields if f.name in names]
    pairs = independence.checked_pairs(
        spec, present, independence.release_seed(spec, financial_year, metadata)
    )
    seen = streamed.observe(rows, spec, expectations, pairs, batch_rows, spill)
    columns = seen.columns
    key = seen.primary_key
    return _result(
        spec,
        financial_year,
        rows.schema,
        rows.num_rows,
        expectations,
        analyse_fields(columns, spec, expectations, source_rows),
        episodes_outcome(columns, spec, expectations),
        _consistency_checks(key, seen.rules, spec),
        patients.mixed_shares(columns, spec, expectations),
        seen.rules.births_after,
        seen.independence,
        _zero_days(columns, spec, expectations),
    )


def _result(
    spec: DatasetSpec,
    financial_year: str,
    schema: pa.Schema,
    num_rows: int,
    expectations: Expectations,
    outcomes: list[FieldOutcome],
    episodes: FieldOutcome | None,
    consistency_checks: list[QACheck],
    shares: list[patients.MixedShare],
    births: list[consistency.RuleResult],
    independent: independence.IndependenceOutcome,
    zero_days: list[str],
) -> QAResult:
    """The checks and the report from what QA observed of the table."""
    differences = schema_differences(spec, schema)
    schema_check = _check(
        "schema",
        not differences,
        "; ".join(differences)
        or f"{len(spec.fields)} fields in schema order with the spec's types",
        {"differences": differences},
    )
    by_name = {c.name: c for c in consistency_checks}
    timed = set(date_and_duration_fields(spec))
    field_outcomes = [o for o in outcomes if o.name not in timed]
    timed_outcomes = [o for o in outcomes if o.name in timed]
    checks = [
        schema_check,
        by_name["primary_key"],
        by_name["identifiers"],
        _domain_check(spec, outcomes),
        by_name["derived_fields"],
        by_name["date_chains"],
        by_name["durations"],
        _distribution_check(
            spec, field_outcomes, [m for m in expectations.missing if m not in timed]
        ),
        _distribution_check(
            spec,
            timed_outcomes,
            [m for m in expectations.missing if m in timed],
            "date_distributions",
            zero_days,
        ),
        _patient_check(spec, shares, births),
        _independence_check(spec, independent),
        _episodes_check(spec, episodes),
        _null_rate_check(spec, outcomes),
        _coverage_check(outcomes),
    ]
    assert [c.name for c in checks] == list(CHECK_NAMES)
    title = f"QA of artificial {spec.dataset} {financial_year}"
    return QAResult(
        dataset=spec.dataset,
        financial_year=financial_year,
        checks=checks,
        html=render_html(title, num_rows, checks, outcomes, episodes, shares, independent),
        markdown=render_markdown(title, num_rows, checks, outcomes, episodes, shares, independent),
    )
