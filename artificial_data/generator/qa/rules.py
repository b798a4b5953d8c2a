"""The row rules of QA on one table or record batch, and their merge across batches.

Every rule here (identifier formats, derivations, date chains, durations, birth months not
after the age date) looks at one row at a time, so its result over a table is the merge of its
results over the table's record batches in order (``consistency.merge_results``): counts add up
and the examples are the first offending rows. The primary key is not a row rule (uniqueness
needs the whole column) and is checked apart.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import pyarrow as pa

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.generator.qa import consistency, patients
from artificial_data.generator.qa.consistency import RuleResult


@dataclass(frozen=True)
class RowRules:
    """The results of every row rule of the spec whose columns the table has."""

    identifiers: list[RuleResult]
    derived: list[RuleResult]
    #: Derived fields not checked (a column of the derivation is missing).
    skipped_derived: list[str]
    date_chains: list[RuleResult]
    durations: list[RuleResult]
    births_after: list[RuleResult]

    def merge(self, later: RowRules) -> RowRules:
        """These results followed by those of the next rows (same columns)."""
        if self.skipped_derived != later.skipped_derived:
            raise ValueError("row rules of tables with different columns")
        merged = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(later, f.name)
            if f.name == "skipped_derived":
                merged[f.name] = mine
                continue
            if len(mine) != len(theirs):
                raise ValueError("row rules of tables with different columns")
            merged[f.name] = [
                consistency.merge_results(a, b) for a, b in zip(mine, theirs, strict=True)
            ]
        return RowRules(**merged)


def _missing(table: pa.Table, names) -> list[str]:
    return [n for n in names if n not in table.column_names]


def row_rules(table: pa.Table, spec: DatasetSpec, offset: int = 0) -> RowRules:
    """Every row rule on ``table``; ``offset``: the row number of its first row."""
    idents = [
        consistency.identifier_format(
            table, f, required=f.name in (spec.primary_key, spec.patient_key), offset=offset
        )
        for f in spec.fields_with_role("identifier")
        if f.name in table.column_names
    ]
    derived, skipped = [], []
    for f in spec.fields_with_role("derived"):
        if _missing(table, [f.name, *f.derivation.inputs()]):
            skipped.append(f.name)
            continue
        derived.append(consistency.derived_field(table, f, offset))
    chains = [
        consistency.date_chain(table, c, offset) for c in spec.date_chains if not _missing(table, c)
    ]
    durations = [
        consistency.duration(table, d.field, d.start, d.end, offset)
        for d in spec.durations
        if not _missing(table, [d.field, d.start, d.end])
    ]
    births = patients.births_after(table, spec, offset)
    return RowRules(idents, derived, skipped, chains, durations, births)
