"""What changed between two versions of a dataset's metadata, in words a reviewer can act on."""

from __future__ import annotations

import json
from collections import defaultdict

import pandas as pd

from artificial_data.common import metadata_contract as contract

_VALUE_COLUMNS = contract.COLUMNS.index("WEIGHT")  # columns before WEIGHT identify a value


def _by_field(rows: pd.DataFrame) -> dict[str, dict[str, str]]:
    """field -> {value key -> weights} from canonical records."""
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for record in contract.canonical_records(rows):
        key = json.dumps(record[:_VALUE_COLUMNS])
        out[record[1]][key] = json.dumps(record[_VALUE_COLUMNS:])
    return out


def describe_changes(before: pd.DataFrame, after: pd.DataFrame, limit: int = 20) -> list[str]:
    """Lines such as ``DIAG_4_01: 3 values added, 1 removed, 12 weights changed``."""
    a, b = _by_field(before), _by_field(after)
    lines = [f"{name}: field added" for name in sorted(set(b) - set(a))]
    lines += [f"{name}: field removed" for name in sorted(set(a) - set(b))]
    for name in sorted(set(a) & set(b)):
        added = len(set(b[name]) - set(a[name]))
        removed = len(set(a[name]) - set(b[name]))
        changed = sum(a[name][k] != b[name][k] for k in set(a[name]) & set(b[name]))
        if added or removed or changed:
            lines.append(
                f"{name}: {added} values added, {removed} removed, {changed} weights changed"
            )
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more fields changed"]
    return lines
