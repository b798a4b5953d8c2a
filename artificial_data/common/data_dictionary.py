"""The data dictionary of every dataset, rendered from the specs (docs/data_dictionary.md).

Generated rather than hand-written so that it can never drift from what the pipeline does; a
test fails when the committed page is out of date; rewrite it with
`python -m artificial_data.common.data_dictionary`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from artificial_data.common.dataset_spec import (
    DatasetSpec,
    Derivation,
    FieldSpec,
    load_all_specs,
)
from artificial_data.common.value_domains import ValueDomain

ROLE_MEANING = {
    "categorical": "sampled from its own frequency table",
    "discrete": "sampled from its own frequency table",
    "continuous": "sampled uniformly within its percentile bins",
    "date": "sampled from its own frequency table, then ordered within the date chain",
    "patient_categorical": "sampled once per patient (pattern across episodes)",
    "patient_date": "sampled once per patient (modal value and agreement share)",
    "identifier": "random artificial identifier, never learnt from data",
    "derived": "derived from other artificial fields after sampling",
}


def _derivation_text(d: Derivation) -> str:
    if d.kind == "truncate":
        return f"first {d.length} characters of {d.source}"
    if d.kind == "concat":
        return f"non-empty codes of {d.sources[0]}..{d.sources[-1]} joined by commas"
    if d.kind == "count":
        return f"number of codes in {d.sources[0]}..{d.sources[-1]} other than '&' and '-'"
    if d.kind == "age_years":
        return f"whole years from {d.birth} to {d.at}; 7001-7007 under one year; cap {d.cap}"
    if d.kind == "age_fraction":
        return f"fractional years from {d.birth} to {d.at}"
    return f"fractional age from {d.source} (infant codes as fractions of a year)"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (patterns use '|' for alternation)."""
    return text.replace("|", "\\|")


def _domain_body(domain: ValueDomain) -> str:
    """What ``describe()`` says after the domain's name."""
    return domain.describe()[len(domain.name) + 2 :]


def _domain_cell(f: FieldSpec) -> str:
    if f.domain is None:
        return ""
    if f.domain.name.endswith("(inline)"):
        return _cell(_domain_body(f.domain))
    return f"`{f.domain.name}`"


def _domain_section(spec: DatasetSpec) -> list[str]:
    """The named domains the dataset's fields declare, each with its values and meaning."""
    used: dict[str, ValueDomain] = {}
    for f in spec.scraped_fields:
        if f.domain is not None and not f.domain.name.endswith("(inline)"):
            used.setdefault(f.domain.name, f.domain)
    if not used:
        return []
    lines = [
        "",
        f"Value domains of {spec.dataset} (any released value outside its field's domain is "
        "blocked at review, never simulated, and fails QA):",
        "",
        "| domain | values | meaning |",
        "|---|---|---|",
    ]
    for name in sorted(used):
        d = used[name]
        lines.append(f"| `{name}` | {_cell(_domain_body(d))} | {_cell(d.description)} |")
    return lines


def render_dataset(spec: DatasetSpec) -> str:
    lines = [
        f"## {spec.dataset}: {spec.title}",
        "",
        f"- Primary key `{spec.primary_key}`, patient key `{spec.patient_key}`; "
        f"{len(spec.fields)} fields; financial years {', '.join(spec.financial_years)}.",
        f"- Published table name: `{spec.published_table}`.",
    ]
    for chain in spec.date_chains:
        lines.append(f"- Date chain: {' <= '.join(chain)}.")
    for d in spec.durations:
        lines.append(f"- `{d.field}` = days from `{d.start}` to `{d.end}` where both exist.")
    lines += [
        "",
        "| # | field | type | role | how it is made | value domain |",
        "|---|---|---|---|---|---|",
    ]
    for f in spec.fields:
        how = ROLE_MEANING[f.role]
        if f.derivation:
            how = _derivation_text(f.derivation)
        if f.identifier:
            ident = f.identifier
            kind = "digits" if ident.format == "digits" else "letters and digits"
            prefix = f"'{ident.prefix}' + " if ident.prefix else ""
            how = (
                f"{prefix}{ident.length - len(ident.prefix)} random {kind}, unique per {ident.per}"
            )
        if f.time_of_day:
            how += " (HHMM text)"
        lines.append(
            f"| {f.position} | `{f.name}` | {f.spark_type} | {f.role} | {how} | {_domain_cell(f)} |"
        )
    lines += _domain_section(spec)
    return "\n".join(lines) + "\n"


def render() -> str:
    head = (
        "# Data dictionary\n\n"
        "Generated from the dataset specs in `artificial_data/common/specs/` by\n"
        "`python -m artificial_data.common.data_dictionary`; do not edit by hand.\n"
        "Every field of the artificial tables has the name, position and type of the real\n"
        "HES field. Values are artificial: each field follows the reviewed distribution of\n"
        "the real field, but **no relationship between fields is kept** apart from derived\n"
        "fields, date ordering, patient-level consistency and episodes per patient.\n"
        "Every sampled field declares its **value domain** (shared HES domains in\n"
        "`artificial_data/common/specs/domains/hes.yaml`): the values it may take at all. The\n"
        "same list drives the disclosure review, the simulator and QA. Null is always allowed;\n"
        "times of day are published as HHMM text but their domain is in minutes after midnight.\n\n"
    )
    return head + "\n".join(render_dataset(s) for s in load_all_specs())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else "docs/data_dictionary.md")
    out.write_text(render())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
