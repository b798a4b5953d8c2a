"""The QA report, in HTML (inline SVG charts) and in Markdown (the same charts as ``data:``
images): the Markdown is what the Dagster UI shows, whole.

Charts: the top values of each field in the metadata against the artificial output, null rates
of every field that has nulls, and episodes per patient. Tables: every check (and what it
checks, against which threshold), every field, the patient-level mixed shares and the field
pairs closest to their independence limit. QA sees artificial data and released metadata only
(open scope), so all of it may be shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from artificial_data.generator.qa.charts import grouped_bars, markdown_image
from artificial_data.generator.qa.expected import display_key
from artificial_data.generator.qa.fields import FieldOutcome
from artificial_data.generator.qa.independence import IndependenceOutcome
from artificial_data.generator.qa.patients import MixedShare
from artificial_data.generator.qa.result import CHECK_DESCRIPTIONS, QACheck

SERIES = ("metadata", "artificial")


def _status(check: QACheck) -> str:
    """As the Dagster UI labels the check (Passed / Failed), and whether a failure blocks."""
    if check.passed:
        return "pass"
    return "FAIL" if check.blocking else "failed (informational: does not block)"


def _verdict(checks: list[QACheck]) -> str:
    blocking = [c.name for c in checks if c.blocking and not c.passed]
    if blocking:
        return f"**Not publishable**: blocking checks failed: {', '.join(blocking)}."
    return "**Publishable**: every blocking check passed."


def _expected_null(o: FieldOutcome) -> str:
    if o.expected_null_low is None:
        return f"{o.expected_null:.3f}"
    return f"{o.expected_null_low:.3f}-{o.expected_null:.3f}"


def _field_rows(outcomes: list[FieldOutcome]) -> list[list[str]]:
    rows = []
    for o in outcomes:
        d = o.distance
        state = "FAIL" if (o.blocking and d.failed) else ("warn" if not d.within_noise else "ok")
        coverage = f"{o.categories_present}/{o.categories}" if o.categories else ""
        rows.append(
            [
                o.name,
                o.value_type,
                d.statistic,
                f"{d.value:.4f}",
                f"{d.threshold:.4f}",
                f"{d.limit:.4f}",
                state if o.blocking else f"{state} (info)",
                _expected_null(o),
                f"{o.observed_null:.3f}",
                coverage,
                o.note,
            ]
        )
    return rows


_FIELD_HEADER = [
    "field",
    "type",
    "statistic",
    "value",
    "noise threshold",
    "limit",
    "state",
    "null (metadata)",
    "null (artificial)",
    "categories",
    "note",
]


_PATIENT_HEADER = [
    "field",
    "patients",
    "mixed (artificial)",
    "mixed (metadata)",
    "mixed among multi-episode patients",
    "noise threshold",
    "limit",
    "state",
]
_PAIR_HEADER = ["pair", "level", "n", "table", "Cramér's V", "noise threshold", "limit", "state"]


def _state(failed: bool, within_noise: bool) -> str:
    return "FAIL" if failed else ("ok" if within_noise else "warn")


def _patient_rows(shares: list[MixedShare]) -> list[list[str]]:
    return [
        [
            m.field,
            f"{m.patients:,}",
            f"{100 * m.observed:.2f}%",
            f"{100 * m.expected:.2f}%",
            f"{100 * m.mixed_among_multi:.1f}%",
            f"±{100 * m.threshold:.2f}",
            f"±{100 * m.limit:.2f}",
            _state(m.failed, m.within_noise),
        ]
        for m in shares
    ]


def _pair_rows(outcome: IndependenceOutcome | None) -> list[list[str]]:
    if outcome is None:
        return []
    shown = outcome.failed[:20] + [p for p in outcome.strongest(10) if not p.failed]
    return [
        [
            p.name,
            p.level,
            f"{p.n:,}",
            f"{p.shape[0]}x{p.shape[1]}",
            f"{p.cramers_v:.4f}",
            f"{p.threshold:.4f}",
            f"{p.limit:.4f}",
            _state(p.failed, p.within_noise),
        ]
        for p in shown
    ]


@dataclass(frozen=True)
class Chart:
    """One chart of the report, drawn once for both renderings."""

    title: str
    svg: str


def episodes_chart(episodes: FieldOutcome | None) -> Chart | None:
    if episodes is None:
        return None
    eps = _sorted_episodes(episodes)
    title = "Share of patients by number of episodes"
    return Chart(
        title,
        grouped_bars(
            title,
            [display_key(k) for k, _, _ in eps],
            {SERIES[0]: [e for _, e, _ in eps], SERIES[1]: [o for _, _, o in eps]},
        ),
    )


def null_rate_chart(outcomes: list[FieldOutcome]) -> Chart | None:
    nulls = [o for o in outcomes if o.expected_null > 0 or o.observed_null > 0]
    if not nulls:
        return None
    title = "Share of nulls per field"
    return Chart(
        title,
        grouped_bars(
            title,
            [o.name for o in nulls],
            {
                SERIES[0]: [o.expected_null for o in nulls],
                SERIES[1]: [o.observed_null for o in nulls],
            },
        ),
    )


def top_value_charts(outcomes: list[FieldOutcome]) -> list[Chart]:
    """One chart per field with frequencies: its top values, metadata against artificial."""
    return [
        Chart(
            f"{o.name}: top values",
            grouped_bars(
                f"{o.name}: top values",
                [display_key(k) for k, _, _ in o.top],
                {SERIES[0]: [e for _, e, _ in o.top], SERIES[1]: [v for _, _, v in o.top]},
            ),
        )
        for o in outcomes
        if o.top
    ]


def _md_image(chart: Chart) -> str:
    return markdown_image(chart.title, chart.svg)


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    def cell(v: str) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def render_markdown(
    title: str,
    rows: int,
    checks: list[QACheck],
    outcomes: list[FieldOutcome],
    episodes: FieldOutcome | None,
    shares: list[MixedShare] | None = None,
    independent: IndependenceOutcome | None = None,
) -> str:
    """The whole report in Markdown, charts included as ``data:`` images (every chart of the
    HTML report), for the Dagster UI."""
    lines = [f"# {title}", "", f"{rows:,} rows. {_verdict(checks)}", "", "## Checks", ""]
    lines += _md_table(
        ["check", "blocking", "result", "details"],
        [[c.name, "yes" if c.blocking else "no", _status(c), c.details] for c in checks],
    )
    lines += ["", "### What each check means", ""]
    lines += [
        f"- `{c.name}` ({'blocking' if c.blocking else 'informational'}): "
        f"{CHECK_DESCRIPTIONS[c.name]}"
        for c in checks
    ]
    if (chart := episodes_chart(episodes)) is not None:
        lines += ["", "## Episodes per patient", "", _md_image(chart), ""]
        lines += _md_table(
            ["episodes", "metadata", "artificial"],
            [[display_key(k), f"{e:.4f}", f"{o:.4f}"] for k, e, o in _sorted_episodes(episodes)],
        )
    if (chart := null_rate_chart(outcomes)) is not None:
        lines += ["", "## Null rates", "", _md_image(chart)]
    lines += ["", "## Fields", "", *_md_table(_FIELD_HEADER, _field_rows(outcomes))]
    if shares:
        lines += ["", "## Patient-level consistency", ""]
        lines += ["Share of patients whose episodes hold more than one value.", ""]
        lines += _md_table(_PATIENT_HEADER, _patient_rows(shares))
    if independent is not None:
        lines += [
            "",
            "## Independence of field pairs",
            "",
            f"{len(independent.pairs)} pairs tested; failed pairs and the 10 closest to "
            "their limit:",
            "",
            *_md_table(_PAIR_HEADER, _pair_rows(independent)),
        ]
    if charts := top_value_charts(outcomes):
        lines += ["", "## Top values: metadata vs artificial", ""]
        lines += [_md_image(c) for c in charts]
    return "\n".join(lines) + "\n"


def _sorted_episodes(episodes: FieldOutcome) -> list[tuple[str, float, float]]:
    def order(item):
        key = item[0].rstrip("+")
        return int(key) if key.isdigit() else 10**9

    return sorted(episodes.top, key=order)


def _html_table(header: list[str], rows: list[list[str]], status_col: int | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cls = ""
        if status_col is not None:
            state = str(row[status_col])
            cls = (
                ' class="fail"'
                if state.startswith("FAIL")
                else (' class="warn"' if state.startswith(("warn", "failed")) else "")
            )
        body.append(f"<tr{cls}>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_STYLE = """
body{font-family:Arial,sans-serif;margin:2em;color:#212b32}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #d8dde0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f4f5} tr.fail td{background:#fde8e6} tr.warn td{background:#fff6dc}
.charts{display:flex;flex-wrap:wrap;gap:1em}
"""


def render_html(
    title: str,
    rows: int,
    checks: list[QACheck],
    outcomes: list[FieldOutcome],
    episodes: FieldOutcome | None,
    shares: list[MixedShare] | None = None,
    independent: IndependenceOutcome | None = None,
) -> str:
    verdict = _verdict(checks).replace("**", "")
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1><p>{rows:,} rows. {escape(verdict)}</p>",
        "<h2>Checks</h2>",
        _html_table(
            ["check", "blocking", "result", "details"],
            [[c.name, "yes" if c.blocking else "no", _status(c), c.details] for c in checks],
            status_col=2,
        ),
    ]
    if (chart := episodes_chart(episodes)) is not None:
        parts += ["<h2>Episodes per patient</h2>", chart.svg]
    if (chart := null_rate_chart(outcomes)) is not None:
        parts += ["<h2>Null rates</h2>", chart.svg]
    parts += ["<h2>Fields</h2>", _html_table(_FIELD_HEADER, _field_rows(outcomes), status_col=6)]
    if shares:
        parts += [
            "<h2>Patient-level consistency</h2>",
            "<p>Share of patients whose episodes hold more than one value.</p>",
            _html_table(_PATIENT_HEADER, _patient_rows(shares), status_col=7),
        ]
    if independent is not None:
        parts += [
            "<h2>Independence of field pairs</h2>",
            f"<p>{len(independent.pairs)} pairs tested; failed pairs and the 10 closest to "
            "their limit.</p>",
            _html_table(_PAIR_HEADER, _pair_rows(independent), status_col=7),
        ]
    if charts := top_value_charts(outcomes):
        parts += [
            "<h2>Top values: metadata vs artificial</h2>",
            f"<div class='charts'>{''.join(c.svg for c in charts)}</div>",
        ]
    parts.append("</body></html>")
    return "".join(parts)
