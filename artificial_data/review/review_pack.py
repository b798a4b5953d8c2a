"""The review pack: what a human disclosure reviewer reads before signing off (DESIGN §7).

One pack per dataset and financial year, in Markdown (for the Dagster UI and for diffs) and in
HTML (every value, for reading). Its hash goes into the sign-off, binding the decision to the
exact pack that was read.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass

import pandas as pd

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.disclosure_checks import CHECKLIST_VERSION, Finding
from artificial_data.common.metadata_store import StoredMetadata

MARKDOWN_VALUES_PER_FIELD = 15

REVIEWER_CHECKLIST = (
    "Every published count meets the threshold and is rounded (automated: weights).",
    "No direct identifier, and identifier fields appear only as the episodes-per-patient "
    "distribution (automated: fields).",
    "Every value lies inside its field's declared domain, so no name, free text or "
    "identifier can pass as a code (automated: domains).",
    "No NHS number, e-mail address, postcode outside org-code fields or phone number in any "
    "value of any type (automated: value_scans).",
    "No field whose released values mostly sit just above the threshold (automated: "
    "identifier_like).",
    "The values of rare categories (e.g. rare diagnoses in small areas) are acceptable to "
    "publish as separate marginal distributions (human judgement).",
    "The changes since the last release are expected (human judgement).",
)


@dataclass(frozen=True)
class ReviewPack:
    """The pack in the admin store (``markdown``, ``html``: every value, findings with their
    values) and ``public_markdown``: the same facts, checks and per-field row counts with
    findings named only by reference, for the Dagster UI, whose run history every location
    and user can read (DESIGN §6)."""

    markdown: str
    html: str
    review_pack_hash: str
    summary: dict[str, object]
    public_markdown: str = ""

    def files(self) -> dict[str, str | dict]:
        return {
            "review_pack.md": self.markdown,
            "review_pack.html": self.html,
            "pack.json": {**self.summary, "review_pack_hash": self.review_pack_hash},
        }


def _value_label(row: pd.Series) -> str:
    vt = row["VALUE_TYPE"]
    if vt == contract.CONTINUOUS:
        grid = row["VALUE_NUMERIC_ARRAY"] or []
        return f"{len(grid)} quantiles; null share {row['VALUE_NUMERIC']:.3f}"
    if vt == contract.DEMOGRAPHIC_CATEGORICAL:
        shares = row["WEIGHT_ARRAY"] or []
        values = row["VALUE_STRING_ARRAY"] or []
        return ", ".join(f"{v}:{s:g}" for v, s in zip(values, shares, strict=False))
    if vt == contract.DEMOGRAPHIC_DATE:
        return f"{row['VALUE_STRING']} (agreement {row['VALUE_NUMERIC']:g})"
    if vt == contract.IDENTIFIER_NULLS:
        return f"{row['VALUE_NUMERIC']:g} null records (no values)"
    if vt == contract.RELATIONSHIP:
        top = " (top-coded)" if row["VALUE_STRING"] == contract.TOP_CODED else ""
        return f"{row['VALUE_NUMERIC']:g} episodes{top}"
    for col in ("VALUE_STRING", "VALUE_DATE", "VALUE_NUMERIC"):
        value = row[col]
        if value is not None and not (isinstance(value, float) and pd.isna(value)):
            return str(value)
    return "(null)"


def build_review_pack(
    spec: DatasetSpec,
    financial_year: str,
    current: StoredMetadata,
    findings: dict[str, list[Finding]],
    changes: list[str] | None,
) -> ReviewPack:
    """Render the pack. ``changes`` is None for a first release."""
    header = current.header
    rows = current.rows.sort_values(["FIELD_NAME", "WEIGHT"], ascending=[True, False])
    n_findings = sum(len(v) for v in findings.values())
    title = f"Review pack: {spec.dataset} {financial_year}"
    facts = [
        ("Dataset", f"{spec.title} ({spec.dataset})"),
        ("Financial year", financial_year),
        ("Metadata content hash", current.content_hash),
        ("Scraped at", header.scraped_at),
        ("Source rows (rounded)", f"{header.source_rows_rounded:,}"),
        ("Source", "SIMULATED stand-in data" if header.simulated_source else "raw HES extract"),
        ("Disclosure policy", json.dumps(header.policy, sort_keys=True)),
        ("Checklist version", CHECKLIST_VERSION),
        ("Automated findings", str(n_findings)),
    ]

    md = [f"# {title}", ""]
    md += [f"- **{k}**: {v}" for k, v in facts]
    md += ["", "## Automated checks", ""]
    public = list(md)
    for name, found in findings.items():
        line = f"- `{name}`: {'PASS' if not found else f'{len(found)} finding(s)'}"
        md.append(line)
        public.append(line)
        md += [f"  - {f.reference} {f.field} = `{f.value}`: {f.reason}" for f in found[:20]]
        public += [f"  - {f.reference} {f.field}: {f.reason}" for f in found[:20]]
    tail = ["", "## Changes since the last release", ""]
    tail += (
        ["- first release of this partition"]
        if changes is None
        else ([f"- {c}" for c in changes] or ["- no changes"])
    )
    tail += ["", "## Reviewer checklist", ""] + [f"- [ ] {item}" for item in REVIEWER_CHECKLIST]
    md += tail
    public += tail
    public += [
        "",
        "## Fields",
        "",
        "Values are not shown here: Dagster's run history is readable outside the admin scope. "
        "Read them in the review pack in the admin store (HTML and Markdown); each finding's "
        "reference above is listed there with its value.",
        "",
        "| field | type | rows | declared domain |",
        "|---|---|---|---|",
    ]
    md += ["", "## Fields", ""]
    html_fields = []
    for name, group in rows.groupby("FIELD_NAME", sort=True):
        vt = group["VALUE_TYPE"].iloc[0]
        declared = spec.field(name).domain if name in spec.field_names else None
        public.append(f"| {name} | {vt} | {len(group)} | {declared.name if declared else '-'} |")
        md.append(f"### {name} ({vt}, {len(group)} rows)")
        md.append("")
        md.append("| value | weight |")
        md.append("|---|---|")
        for _, r in group.head(MARKDOWN_VALUES_PER_FIELD).iterrows():
            md.append(f"| {_value_label(r)} | {r['WEIGHT']:g} |")
        if len(group) > MARKDOWN_VALUES_PER_FIELD:
            md.append(f"| ... {len(group) - MARKDOWN_VALUES_PER_FIELD} more (see HTML) | |")
        md.append("")
        body = "".join(
            f"<tr><td>{html.escape(_value_label(r))}</td><td>{r['WEIGHT']:g}</td></tr>"
            for _, r in group.iterrows()
        )
        html_fields.append(
            f"<details><summary>{html.escape(name)} ({vt}, {len(group)} rows)</summary>"
            f"<table><tr><th>value</th><th>weight</th></tr>{body}</table></details>"
        )
    markdown = "\n".join(md) + "\n"

    finding_rows = "".join(
        f"<tr><td>{html.escape(n)}</td><td>{html.escape(f.reference)}</td>"
        f"<td>{html.escape(f.field)}</td>"
        f"<td>{html.escape(f.value)}</td><td>{html.escape(f.reason)}</td></tr>"
        for n, found in findings.items()
        for f in found
    )
    change_items = "".join(
        f"<li>{html.escape(c)}</li>"
        for c in (["first release of this partition"] if changes is None else changes or ["none"])
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>"
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in facts)
        + "</table><h2>Automated findings</h2>"
        + (
            "<table><tr><th>check</th><th>reference</th><th>field</th><th>value</th>"
            f"<th>why</th></tr>"
            f"{finding_rows}</table>"
            if finding_rows
            else "<p>None.</p>"
        )
        + f"<h2>Changes since the last release</h2><ul>{change_items}</ul>"
        + "<h2>Reviewer checklist</h2><ul>"
        + "".join(f"<li>{html.escape(i)}</li>" for i in REVIEWER_CHECKLIST)
        + "</ul><h2>Fields</h2>"
        + "".join(html_fields)
        + "</body></html>"
    )
    digest = hashlib.sha256((markdown + page).encode()).hexdigest()
    summary = {
        "dataset": spec.dataset,
        "financial_year": financial_year,
        "content_hash": current.content_hash,
        "checklist_version": CHECKLIST_VERSION,
        "findings": {k: [f.as_dict() for f in v] for k, v in findings.items()},
        "changes": changes,
    }
    return ReviewPack(
        markdown=markdown,
        html=page,
        review_pack_hash=digest,
        summary=summary,
        public_markdown="\n".join(public) + "\n",
    )
