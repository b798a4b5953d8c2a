"""The review pack: what a human disclosure reviewer reads before signing off (DESIGN §7).

One pack per dataset and financial year, in Markdown and in HTML (every value, for reading), in
the admin store. Its hash goes into the sign-off, binding the decision to the exact pack that
was read. The Dagster UI gets ``public_markdown``: every section and every field of the pack,
whole, with each field's facts that are not values (type, released rows, declared domain, null
share, number of categories, suppressed share, findings by reference), and where to read the
values.
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
    values) and ``public_markdown``: the same facts, checks, changes and checklist, every
    finding by reference only, and every field with its facts that are not values, for the
    Dagster UI, whose run history every location and user can read (DESIGN §6)."""

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


SHOW_COMMAND = "artificial-data sign-off show --dataset {dataset} --year {year}"

PUBLIC_FIELD_HEADER = (
    "| field | type | released rows | declared domain | null share | categories "
    "| suppressed share | findings |"
)


def where_to_read_values(dataset: str, year: str) -> list[str]:
    """The UI copy's pointer to the values: the pack in the admin store (the folder of this
    exact version is the ``values_in`` entry of the materialisation), and the command that
    prints its facts, findings by reference and that folder (admin scope both)."""
    return [
        "",
        "## Where to read the values",
        "",
        "This copy shows no value: Dagster's run history is readable outside the admin scope. "
        "Every value, and each finding's value by its reference, is in the review pack in the "
        "admin store (admin scope only):",
        "",
        f"- `admin/review_packs/{dataset}/{year}/review_pack.html` (and `review_pack.md`); "
        "the folder of this version is `values_in` below",
        f"- `{SHOW_COMMAND.format(dataset=dataset, year=year)}` prints the facts, the findings "
        "by reference and that folder",
    ]


def _is_null(row: pd.Series, vt: str) -> bool:
    column = {
        contract.CATEGORICAL: "VALUE_STRING",
        contract.DISCRETE: "VALUE_NUMERIC",
    }.get(vt)
    if column is not None:
        return _missing(row[column])
    if vt == contract.DATE:
        return _missing(row["VALUE_DATE"]) and _missing(row["VALUE_STRING"])
    return False


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, (list, tuple, str)) and bool(pd.isna(value)))


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.3f}" if whole > 0 else "-"


def field_facts(
    group: pd.DataFrame, source_rows: int, patients: float
) -> tuple[str, str, str, str]:
    """``(released rows, null share, categories, suppressed share)`` of one field's rows:
    counts and shares of its released weights, never a value. The suppressed share is the
    part of the source's rows (patients, for patient-level fields) no released row holds."""
    vt = group["VALUE_TYPE"].iloc[0]
    weight = float(group["WEIGHT"].sum())
    rows = str(len(group))
    if vt in (contract.CATEGORICAL, contract.DISCRETE, contract.DATE):
        nulls = group.apply(lambda r: _is_null(r, vt), axis=1)
        null_weight = float(group.loc[nulls, "WEIGHT"].sum())
        suppressed = max(0.0, source_rows - weight)
        return (
            rows,
            _share(null_weight, weight),
            str(int((~nulls).sum())),
            _share(suppressed, source_rows),
        )
    if vt == contract.CONTINUOUS:
        first = group.iloc[0]
        quantiles = len(first["VALUE_NUMERIC_ARRAY"] or [])
        return rows, f"{float(first['VALUE_NUMERIC']):.3f}", f"{quantiles} quantiles", "-"
    if vt == contract.IDENTIFIER_NULLS:
        nulls = float(group["VALUE_NUMERIC"].sum())
        return rows, _share(nulls, nulls + weight), "-", "-"
    if vt in (contract.DEMOGRAPHIC_CATEGORICAL, contract.DEMOGRAPHIC_DATE):
        label = "patterns" if vt == contract.DEMOGRAPHIC_CATEGORICAL else "values"
        suppressed = _share(max(0.0, patients - weight), patients) if patients else "-"
        return rows, "-", f"{len(group)} {label}", suppressed
    if vt == contract.RELATIONSHIP:
        return rows, "-", f"{len(group)} bands", "-"
    return rows, "-", "-", "-"


#: A field's findings of one check listed by reference up to this many (all of them are listed
#: by reference under "Automated checks").
REFERENCES_PER_CELL = 5


def _findings_by_field(findings: dict[str, list[Finding]]) -> dict[str, str]:
    """Per field, its findings by check: the references, or their number when there are many."""
    cells: dict[str, list[str]] = {}
    for check, found in findings.items():
        per_field: dict[str, list[str]] = {}
        for f in found:
            per_field.setdefault(f.field, []).append(f.reference)
        for name, refs in per_field.items():
            shown = (
                " ".join(refs)
                if len(refs) <= REFERENCES_PER_CELL
                else f"{len(refs)} (listed above)"
            )
            cells.setdefault(name, []).append(f"{check}: {shown}")
    return {name: "; ".join(parts) for name, parts in cells.items()}


def _public_fields(
    spec: DatasetSpec, current: StoredMetadata, findings: dict[str, list[Finding]]
) -> list[str]:
    """The Fields section of the UI copy: one row per field of the metadata, and one per field
    suppression removed entirely, each with its facts and its findings by reference."""
    rows = current.rows
    relationship = rows[rows["VALUE_TYPE"] == contract.RELATIONSHIP]
    patients = float(relationship["WEIGHT"].sum())
    source_rows = int(current.header.source_rows_rounded)
    by_field = _findings_by_field(findings)
    lines = [
        "",
        "## Fields",
        "",
        "Every field of the metadata with its facts; values are in the admin store (above). "
        "Shares are of the released weights (null share) and of the source's "
        f"{source_rows:,} rounded rows or {patients:,.0f} patients (suppressed share).",
        "",
        PUBLIC_FIELD_HEADER,
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, group in rows.groupby("FIELD_NAME", sort=True):
        vt = group["VALUE_TYPE"].iloc[0]
        declared = spec.field(name).domain if name in spec.field_names else None
        released, null_share, categories, suppressed = field_facts(group, source_rows, patients)
        refs = by_field.get(name, "-")
        lines.append(
            f"| {name} | {vt} | {released} | {declared.name if declared else '-'} | "
            f"{null_share} | {categories} | {suppressed} | {refs} |"
        )
    for name in current.header.suppressed_fields:
        if name in set(rows["FIELD_NAME"]):
            continue
        declared = spec.field(name).domain if name in spec.field_names else None
        lines.append(
            f"| {name} | fully suppressed | 0 | {declared.name if declared else '-'} | - | - | "
            f"1.000 | {by_field.get(name, '-')} |"
        )
    return lines


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
    public = md[:-3] + where_to_read_values(spec.dataset, financial_year) + md[-3:]
    for name, found in findings.items():
        line = f"- `{name}`: {'PASS' if not found else f'{len(found)} finding(s)'}"
        md.append(line)
        public.append(line)
        md += [f"  - {f.reference} {f.field} = `{f.value}`: {f.reason}" for f in found[:20]]
        public += [f"  - {f.reference} {f.field}: {f.reason}" for f in found]
    tail = ["", "## Changes since the last release", ""]
    tail += (
        ["- first release of this partition"]
        if changes is None
        else ([f"- {c}" for c in changes] or ["- no changes"])
    )
    tail += ["", "## Reviewer checklist", ""] + [f"- [ ] {item}" for item in REVIEWER_CHECKLIST]
    md += tail
    public += tail
    public += _public_fields(spec, current, findings)
    md += ["", "## Fields", ""]
    html_fields = []
    for name, group in rows.groupby("FIELD_NAME", sort=True):
        vt = group["VALUE_TYPE"].iloc[0]
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
