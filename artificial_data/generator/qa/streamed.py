"""QA of a partition read in record batches: what QA observes, without the whole table.

``api.run_qa`` checks an Arrow table in memory; the ``<ds>/qa`` step instead reads the
partition's Parquet files (``common/table_rows``) and gets the same numbers from:

* **one pass over record batches** of :data:`QA_BATCH_ROWS` rows (every column): each field's
  value counts and its values outside the declared domain (tallies merged by value, exact), the
  row rules (``rules.row_rules`` per batch, merged in order), and the contingency table of every
  row-level pair of the independence check (counts of pooled codes, which add up);
* **whole single columns** (a projection: one column, or the patient key and one field, at a
  time) where a statistic does not merge: the category pooling and bin edges of each field of
  the independence check (exact quantiles, order of first appearance), the continuous fields
  (their quantile tests), each patient's modal birth month and the mixed shares of patient-level
  fields, the episodes per patient, and the uniqueness of the primary key.

So the peak memory is that of one batch of every column plus one or two whole columns, instead
of the whole table; it still grows with the rows through those columns (linearly, at about 1%
of the table's width for APC).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec
from artificial_data.common.table_rows import YearRows
from artificial_data.generator.qa import independence as indep
from artificial_data.generator.qa.distances import numeric_values, tally_counts
from artificial_data.generator.qa.expected import Expectations
from artificial_data.generator.qa.fields import (
    declared_outliers,
    minute_outliers,
    outlier_column,
    tally_outliers,
)
from artificial_data.generator.qa.rules import RowRules, row_rules

#: Rows per record batch of the streamed pass (a batch holds every column: ~1 KB a row for APC).
QA_BATCH_ROWS = 10_000
#: Value types whose counts are tallied batch by batch (the others are read as whole columns).
_TALLIED = (
    contract.CATEGORICAL,
    contract.DISCRETE,
    contract.DATE,
    contract.DEMOGRAPHIC_CATEGORICAL,
)


class _Tally:
    """Counts of distinct values in order of first appearance, merged over batches: the
    ``value_counts`` of the whole column."""

    def __init__(self) -> None:
        self.counts: dict = {}

    def add(self, column) -> None:
        tally = column.value_counts()
        values = tally.field("values").to_pylist()
        numbers = tally.field("counts").to_numpy(zero_copy_only=False)
        for value, number in zip(values, numbers, strict=True):
            self.counts[value] = self.counts.get(value, 0) + int(number)

    def values(self) -> list:
        return list(self.counts)

    def numbers(self) -> np.ndarray:
        return np.asarray(list(self.counts.values()), dtype=np.int64)


class StreamedColumns:
    """``fields.FieldColumns`` of a partition read in batches: tallies from the streamed
    pass, whole columns read one at a time from the files (the patient key kept once read)."""

    def __init__(self, rows: YearRows, spec: DatasetSpec, exps: Expectations):
        self.rows = rows
        self.spec = spec
        self.num_rows = rows.num_rows
        self.column_names = list(rows.schema.names)
        self.schema = rows.schema
        self._decimal = {f.name: pa.types.is_decimal(f.type) for f in rows.schema}
        self._counts: dict[str, _Tally] = {}
        self._outliers: dict[str, _Tally] = {}
        self._minutes: dict[str, Counter] = {}
        self._read: dict[str, pa.ChunkedArray] = {}
        for name, exp in exps.fields.items():
            if name not in self.column_names or exp.value_type not in _TALLIED:
                continue
            self._counts[name] = _Tally()
            if exp.field.domain is not None:
                if exp.field.time_of_day:
                    self._minutes[name] = Counter()
                else:
                    self._outliers[name] = _Tally()

    def add(self, batch: pa.RecordBatch) -> None:
        """Tally one record batch."""
        for name, tally in self._counts.items():
            tally.add(batch.column(name))
        for name, tally in self._outliers.items():
            tally.add(outlier_column(self.spec.field(name), batch.column(name)))
        for name, minutes in self._minutes.items():
            values = numeric_values(batch.column(name), True)
            distinct, numbers = np.unique(values[~np.isnan(values)], return_counts=True)
            minutes.update(dict(zip(distinct.tolist(), numbers.tolist(), strict=True)))

    def column(self, name: str) -> pa.ChunkedArray:
        """One whole column (only it is read); the last one and the patient key stay read."""
        if name not in self._read:
            keep = {k: v for k, v in self._read.items() if k == self.spec.patient_key}
            keep[name] = self.rows.read([name]).column(name)
            self._read = keep
        return self._read[name]

    def counts(self, name: str) -> pd.Series:
        tally = self._counts[name]
        return tally_counts(tally.values(), tally.numbers(), self._decimal[name])

    def outliers(self, spec_field: FieldSpec) -> dict[str, int]:
        name = spec_field.name
        if spec_field.domain is None:
            return {}
        if name in self._minutes:
            items = sorted(self._minutes[name].items())
            values = np.asarray([v for v, _ in items], dtype=float)
            return minute_outliers(spec_field, values, np.asarray([c for _, c in items]))
        if name in self._outliers:
            tally = self._outliers[name]
            return tally_outliers(spec_field, tally.values(), tally.numbers())
        return declared_outliers(spec_field, self.column(name))  # read whole anyway


@dataclass(frozen=True)
class Observed:
    """What the streamed pass saw: field tallies (in ``columns``), row rules, independence."""

    columns: StreamedColumns
    rules: RowRules
    independence: indep.IndependenceOutcome


def observe(
    rows: YearRows,
    spec: DatasetSpec,
    exps: Expectations,
    pairs: list[tuple[str, str]],
    batch_rows: int = QA_BATCH_ROWS,
) -> Observed:
    """Read ``rows`` once in batches (after one column at a time for the independence
    categories) and return what the checks need."""
    columns = StreamedColumns(rows, spec, exps)
    plan = _IndependencePlan(columns, spec, pairs)
    rules = None
    offset = 0
    for batch in rows.batches(batch_rows):
        columns.add(batch)
        table = pa.Table.from_batches([batch])
        seen = row_rules(table, spec, offset)
        rules = seen if rules is None else rules.merge(seen)
        plan.add(batch)
        offset += batch.num_rows
    if rules is None:  # no rows: the rules of an empty table with these columns
        rules = row_rules(rows.schema.empty_table(), spec)
    return Observed(columns, rules, plan.outcome())


class _IndependencePlan:
    """``independence.independence`` over batches: categories fixed on whole columns first,
    then one contingency table per row-level pair accumulated batch by batch."""

    def __init__(self, columns: StreamedColumns, spec: DatasetSpec, pairs: list[tuple[str, str]]):
        self.spec = spec
        patient_level = indep.patient_level_fields(spec)
        names = sorted({n for p in pairs for n in p}, key=spec.field_names.index)
        self.categories = {
            name: indep.Categories.of(columns.column(name), spec.field(name)) for name in names
        }
        first_rows = indep.first_patient_rows(columns, spec, pairs)
        self.testable = [
            p
            for p in pairs
            if self.categories[p[0]] is not None
            and self.categories[p[1]] is not None
            and (first_rows is not None or not (p[0] in patient_level and p[1] in patient_level))
        ]
        self.by_patient = {
            p for p in self.testable if p[0] in patient_level and p[1] in patient_level
        }
        # Patient-level pairs: one row per patient, each field's column read whole.
        self.patient_codes: dict[str, np.ndarray | None] = {}
        for a, b in self.testable:
            if (a, b) not in self.by_patient:
                continue
            for name in (a, b):
                if name not in self.patient_codes:
                    raw = indep.field_codes(columns, spec.field(name))[first_rows]
                    self.patient_codes[name] = indep.pool_categories(raw, len(first_rows))
        self.tables = {
            p: np.zeros((self.categories[p[0]].size, self.categories[p[1]].size), dtype=np.int64)
            for p in self.testable
            if p not in self.by_patient
        }
        self.names = sorted({n for p in self.tables for n in p}, key=spec.field_names.index)

    def add(self, batch: pa.RecordBatch) -> None:
        codes = {n: self.categories[n].codes(batch.column(n)) for n in self.names}
        for (a, b), table in self.tables.items():
            table += indep.crosstab(codes[a], codes[b], *table.shape)

    def outcome(self) -> indep.IndependenceOutcome:
        results = []
        for a, b in self.testable:
            if (a, b) in self.by_patient:
                ca, cb = self.patient_codes[a], self.patient_codes[b]
                if ca is None or cb is None:
                    continue
                results.append(indep.pair_test(ca, cb, (a, b), len(self.testable), "patients"))
            else:
                results.append(indep.table_test(self.tables[(a, b)], (a, b), len(self.testable)))
        skipped = [name for name, c in self.categories.items() if c is None]
        return indep.IndependenceOutcome(results, skipped)
