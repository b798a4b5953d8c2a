"""What changed between two versions of a dataset's metadata, in words a reviewer can act on."""

from __future__ import annotations

import pandas as pd

from artificial_data.common import metadata_contract as contract

_KEY = ["FIELD_NAME", "VALUE_TYPE", "VALUE_STRING", "VALUE_NUMERIC", "VALUE_DATE"]


def _keyed(rows: pd.DataFrame) -> pd.DataFrame:
    rows = contract.normalise(rows)
    keyed = rows[_KEY].astype(str).agg("|".join, axis=1)
    return pd.DataFrame({"FIELD_NAME": rows["FIELD_NAME"], "KEY": keyed, "ROW": rows.index})


def describe_changes(before: pd.DataFrame, after: pd.DataFrame, limit: int = 20) -> list[str]:
    """Lines such as ``DIAG_4_01: 3 values added, 1 removed, 12 weights changed``."""
    a, b = _keyed(before), _keyed(after)
    lines: list[str] = []
    fields_before, fields_after = set(a["FIELD_NAME"]), set(b["FIELD_NAME"])
    for name in sorted(fields_after - fields_before):
        lines.append(f"{name}: field added")
    for name in sorted(fields_before - fields_after):
        lines.append(f"{name}: field removed")
    before_norm, after_norm = contract.normalise(before), contract.normalise(after)
    for name in sorted(fields_before & fields_after):
        ka = a[a["FIELD_NAME"] == name].set_index("KEY")["ROW"]
        kb = b[b["FIELD_NAME"] == name].set_index("KEY")["ROW"]
        added = len(set(kb.index) - set(ka.index))
        removed = len(set(ka.index) - set(kb.index))
        common = sorted(set(ka.index) & set(kb.index))
        changed = sum(
            contract.canonical_records(before_norm.loc[[ka[k]]])
            != contract.canonical_records(after_norm.loc[[kb[k]]])
            for k in common
        )
        if added or removed or changed:
            lines.append(
                f"{name}: {added} values added, {removed} removed, {changed} weights changed"
            )
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more fields changed"]
    return lines
