"""The data dictionary of every dataset, rendered from the specs (docs/data_dictionary.md).

Generated rather than hand-written so that it can never drift from what the pipeline does; a
test fails when the committed page is out of date; rewrite it with
`python -m artificial_data.common.data_dictionary`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from artificial_data.common.dataset_spec import DatasetSpec, Derivation, load_all_specs

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
    lines += ["", "| # | field | type | role | how it is made |", "|---|---|---|---|---|"]
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
        lines.append(f"| {f.position} | `{f.name}` | {f.spark_type} | {f.role} | {how} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    head = (
        "# Data dictionary\n\n"
        "Generated from the dataset specs in `artificial_data/common/specs/` by\n"
        "`python -m artificial_data.common.data_dictionary`; do not edit by hand.\n"
        "Every field of the artificial tables has the name, position and type of the real\n"
        "HES field. Values are artificial: each field follows the reviewed distribution of\n"
        "the real field, but **no relationship between fields is kept** apart from derived\n"
        "fields, date ordering, patient-level consistency and episodes per patient.\n\n"
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
