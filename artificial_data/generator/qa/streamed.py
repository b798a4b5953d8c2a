"""QA of a partition read in record batches: what QA observes, without the whole table.

``api.run_qa`` checks an Arrow table in memory; the ``<ds>/qa`` step instead reads the
partition's Parquet files (``common/table_rows``) and gets the same numbers from two passes
over record batches of :data:`QA_BATCH_ROWS` rows:

* **pass 1, every column**: each field's value counts (in order of first appearance) and its
  values outside the declared domain, its null count, the first unreadable times of day; a
  numeric tally (distinct value -> count, ``distances.NumberTally``) of every continuous field
  and of every date or continuous field of the independence check, which gives their exact
  quantiles (numpy's interpolation between the same order statistics), quantile tests and bin
  counts; the row rules (``rules.row_rules`` per batch, merged in order); the per-patient
  statistics run by run (``patient_runs``: episodes per patient, effective number of patients,
  mixed shares, each patient's modal birth month, the values of each patient's first row); and
  the primary key, bucketed by hash on disk (``key_spill``);
* **pass 2, only the paired fields**: the contingency table of every row-level pair of the
  independence check, coded by the categories pass 1 fixed (pooling from the merged counts,
  bin edges from the merged quantiles, dictionary in order of first appearance).

**Whole single columns** are read only as fallbacks, each exact: a numeric tally past
:data:`MAX_TALLIED_NUMBERS` distinct values (that field's column), a float NaN among an
independence field's categories (Arrow counts NaN as one value, a merge by Python value would
not), and a partition whose patient key is not contiguous or has a null (the patient key and
each patient-level field; the generator never writes one, ``patient_runs``).

So the peak memory is two batches of every column (the next one is read ahead) plus the
tallies (bounded by distinct values) plus 8 bytes a patient (the run hashes that prove the
patient key contiguous) plus one bucket of primary keys (~:data:`key_spill.KEY_BUCKET_ROWS`
keys); figures in ``docs/performance.md``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec
from artificial_data.common.table_rows import YearRows
from artificial_data.generator.qa import independence as indep
from artificial_data.generator.qa.consistency import RuleResult
from artificial_data.generator.qa.distances import NumberTally, numeric_values, tally_counts
from artificial_data.generator.qa.expected import Expectations
from artificial_data.generator.qa.fields import (
    UNREADABLE_EXAMPLES,
    declared_outliers,
    malformed_text,
    minute_outliers,
    modal_values,
    outlier_column,
    tally_outliers,
    unreadable_values,
    whole_patient_sizes,
)
from artificial_data.generator.qa.key_spill import KeySpill
from artificial_data.generator.qa.patient_runs import PatientRuns, PatientSizes
from artificial_data.generator.qa.patients import mixed_patients, value_codes
from artificial_data.generator.qa.rules import RowRules, row_rules

#: Rows per record batch of the streamed pass (a batch holds every column: ~1 KB a row for APC).
QA_BATCH_ROWS = 10_000
#: Whether the streamed pass reads ahead and runs the row rules on helper threads (see
#: :func:`observe`); off, it does all in the calling thread (``benchmarks/bench_qa.py``
#: compares the two). The report is the same either way (``test_qa_stream.py``).
QA_THREADS = True
#: Distinct values a numeric tally holds at most (continuous fields, binned dates): beyond it
#: the field's tally is dropped and its whole column read instead. HES durations, counts and
#: times of day have a few thousand distinct values; a free float column may not.
MAX_TALLIED_NUMBERS = 100_000
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

    @property
    def has_nan(self) -> bool:
        """Whether a float NaN was tallied (each batch's NaN is its own key: not merged)."""
        return any(isinstance(v, float) and v != v for v in self.counts)


class _Numbers:
    """A :class:`NumberTally` merged over batches, dropped (None) past
    :data:`MAX_TALLIED_NUMBERS` distinct values."""

    def __init__(self, read: Callable[[pa.Array], np.ndarray]):
        self.read = read
        self.tally: NumberTally | None = NumberTally.of(np.zeros(0))

    def add(self, column) -> None:
        if self.tally is None:
            return
        self.tally = self.tally.merge(NumberTally.of(self.read(column)))
        if len(self.tally.values) > MAX_TALLIED_NUMBERS:
            self.tally = None


class StreamedColumns:
    """``fields.FieldColumns`` of a partition read in batches: tallies from the streamed
    pass, whole columns read one at a time from the files (the patient key kept once read)."""

    def __init__(
        self,
        rows: YearRows,
        spec: DatasetSpec,
        exps: Expectations,
        binned: list[str],
        patient_pairs: list[tuple[str, str]],
        spill: Path | None = None,
    ):
        """``binned``: the fields of the independence check (their categories are tallied);
        ``patient_pairs``: its pairs of patient-level fields (tested on each first row);
        ``spill``: a folder (not yet existing) for the primary key's buckets."""
        self.rows = rows
        self.spec = spec
        self.num_rows = rows.num_rows
        self.column_names = list(rows.schema.names)
        self.schema = rows.schema
        self._decimal = {f.name: pa.types.is_decimal(f.type) for f in rows.schema}
        self._counts: dict[str, _Tally] = {}
        self._outliers: dict[str, _Tally] = {}
        self._minutes: dict[str, Counter] = {}
        self._numbers: dict[tuple[str, str], _Numbers] = {}
        self._nulls = dict.fromkeys(self.column_names, 0)
        self._unreadable: dict[str, list[str]] = {}
        self._read: dict[str, pa.ChunkedArray] = {}
        self._malformed: dict[str, _Tally] = {}
        mixed, modal = [], []
        for name, exp in exps.fields.items():
            if name not in self.column_names:
                continue
            if exp.value_type == contract.DEMOGRAPHIC_DATE:
                modal.append(name)
                if exp.field.domain is None:
                    self._malformed[name] = _Tally()
            demographic = (contract.DEMOGRAPHIC_CATEGORICAL, contract.DEMOGRAPHIC_DATE)
            if exp.mixed_share is not None and exp.value_type in demographic:
                mixed.append(name)
            if exp.value_type in _TALLIED:
                self._counts[name] = _Tally()
            if exp.value_type == contract.CONTINUOUS:
                f = exp.field
                self._numbers[(name, "values")] = _Numbers(
                    partial(numeric_values, time_of_day=f.time_of_day)
                )
                if f.time_of_day:
                    self._unreadable[name] = []
            if exp.field.domain is not None:
                if exp.field.time_of_day:
                    self._minutes[name] = Counter()
                else:
                    self._outliers[name] = _Tally()
        for name in binned:
            f = spec.field(name)
            if not indep.is_binned(f, rows.schema.field(name).type):
                self._counts.setdefault(name, _Tally())
            else:
                self._numbers[(name, "binned")] = _Numbers(partial(indep.field_values, f=f))
        self.keys: KeySpill | None = None
        if spec.primary_key in self.column_names:
            self.keys = KeySpill(spec.primary_key, self.num_rows, spill)
        self.runs: PatientRuns | None = None
        if spec.patient_key in self.column_names:
            firsts = list(dict.fromkeys(n for p in patient_pairs for n in p))
            self.runs = PatientRuns(spec.patient_key, mixed, modal, firsts)
            for a, b in patient_pairs:
                self.runs.track_pair(a, b)

    def add(self, batch: pa.RecordBatch) -> None:
        """Tally one record batch."""
        for name in self._nulls:
            self._nulls[name] += batch.column(name).null_count
        for name, tally in self._counts.items():
            tally.add(batch.column(name))
        for name, tally in self._outliers.items():
            tally.add(outlier_column(self.spec.field(name), batch.column(name)))
        for name, minutes in self._minutes.items():
            values = numeric_values(batch.column(name), True)
            distinct, numbers = np.unique(values[~np.isnan(values)], return_counts=True)
            minutes.update(dict(zip(distinct.tolist(), numbers.tolist(), strict=True)))
        for (name, _kind), numbers in self._numbers.items():
            numbers.add(batch.column(name))
        for name, tally in self._malformed.items():
            tally.add(malformed_text(batch.column(name)))
        if self.runs is not None:
            self.runs.add(batch)
        if self.keys is not None:
            self.keys.add(batch.column(self.spec.primary_key))
        for name, examples in self._unreadable.items():
            if len(examples) < UNREADABLE_EXAMPLES:
                more = unreadable_values(batch.column(name), UNREADABLE_EXAMPLES - len(examples))
                examples.extend(more)

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

    def numbers(self, spec_field: FieldSpec) -> NumberTally:
        tally = self._numbers.get((spec_field.name, "values"))
        if tally is not None and tally.tally is not None:
            return tally.tally
        column = self.column(spec_field.name)  # too many distinct values: the whole column
        return NumberTally.of(numeric_values(column, spec_field.time_of_day))

    def null_count(self, name: str) -> int:
        return self._nulls[name]

    def unreadable(self, spec_field: FieldSpec) -> list[str]:
        if spec_field.name in self._unreadable:
            return list(self._unreadable[spec_field.name])
        return unreadable_values(self.column(spec_field.name))

    def finish(self) -> None:
        """After the last batch: close the last patient."""
        if self.runs is not None:
            self.runs.finish()

    @property
    def by_runs(self) -> bool:
        """Whether per-patient statistics come from the runs (the patient key was contiguous)."""
        return self.runs is not None and self.runs.contiguous

    def patient_sizes(self) -> PatientSizes:
        if self.by_runs:
            return self.runs.sizes()
        return whole_patient_sizes(self.column(self.spec.patient_key))

    def modal_counts(self, name: str) -> pd.Series:
        if self.by_runs:
            return self.runs.modal(name)
        return modal_values(self.column(self.spec.patient_key), self.column(name))

    def malformed_months(self, name: str) -> dict[str, int]:
        tally = self._malformed[name]
        return tally_counts(tally.values(), tally.numbers(), False).to_dict()

    def mixed(self, name: str) -> tuple[int, int, int]:
        if self.by_runs:
            return self.runs.mixed(name)
        keys = value_codes(self.column(self.spec.patient_key))
        return mixed_patients(keys, self.column(name))

    def categories(self, name: str) -> indep.Categories | None:
        """The independence check's pooled categories of a field, from its tallies (its
        whole column if a numeric tally overflowed or a float NaN was tallied)."""
        f = self.spec.field(name)
        numbers = self._numbers.get((name, "binned"))
        if numbers is not None:
            if numbers.tally is not None:
                return indep.Categories.of_numbers(numbers.tally, f)
        elif not self._counts[name].has_nan:
            tally = self._counts[name]
            kind = self.schema.field(name).type
            return indep.Categories.of_values(tally.values(), tally.numbers(), kind, f)
        return indep.Categories.of(self.column(name), f)

    def field_tally(self, name: str) -> _Tally:
        """A field's distinct values in order of first appearance, with their counts."""
        return self._counts[name]

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
    primary_key: RuleResult | None  # None: the table has no primary-key column


def observe(
    rows: YearRows,
    spec: DatasetSpec,
    exps: Expectations,
    pairs: list[tuple[str, str]],
    batch_rows: int = QA_BATCH_ROWS,
    spill: Path | None = None,
) -> Observed:
    """Read ``rows`` in batches twice: once for the tallies and row rules (which fix the
    independence check's categories), once more (only the paired fields) for the contingency
    tables; and return what the checks need."""
    names = sorted({n for p in pairs for n in p}, key=spec.field_names.index)
    patient_level = indep.patient_level_fields(spec)
    patient_pairs = [p for p in pairs if p[0] in patient_level and p[1] in patient_level]
    columns = StreamedColumns(rows, spec, exps, names, patient_pairs, spill)
    rules = None
    offset = 0
    # Two helper threads (QA is otherwise one core of the machine's two): one reads and
    # decodes the next batch, one runs the row rules of the current batch while this thread
    # tallies it. Both are mostly Arrow work, which releases the GIL; the tallies and the
    # rules share nothing but the batch, and the results are merged here, in batch order.
    pool = ThreadPoolExecutor(2, thread_name_prefix="qa") if QA_THREADS else _AtOnce()
    with pool:
        for batch in _read_ahead(rows.batches(batch_rows), pool):
            table = pa.Table.from_batches([batch])
            seen = pool.submit(row_rules, table, spec, offset)
            columns.add(batch)
            rules = seen.result() if rules is None else rules.merge(seen.result())
            offset += batch.num_rows
        if rules is None:  # no rows: the rules of an empty table with these columns
            rules = row_rules(rows.schema.empty_table(), spec)
        columns.finish()
        key = columns.keys.result() if columns.keys is not None else None
        plan = _IndependencePlan(columns, spec, pairs, names)
        if plan.names:
            for batch in _read_ahead(rows.batches(batch_rows, plan.names), pool):
                plan.add(batch)
    return Observed(columns, rules, plan.outcome(), key)


class _AtOnce(Executor):
    """Runs each call at once in the calling thread (:data:`QA_THREADS` off)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # raised where the result is asked for, as a thread's
            future.set_exception(error)
        return future


_END = object()


def _read_ahead(batches: Iterator[pa.RecordBatch], pool: Executor) -> Iterator[pa.RecordBatch]:
    """The batches of ``batches`` in order, the next one read on ``pool`` while the caller
    works on the one just given (one batch more held; an error reading is raised here)."""
    pending = pool.submit(next, batches, _END)
    while True:
        batch = pending.result()
        if batch is _END:
            return
        pending = pool.submit(next, batches, _END)
        yield batch


class _IndependencePlan:
    """``independence.independence`` over batches: categories fixed by the tallies of pass 1,
    then one contingency table per row-level pair accumulated batch by batch."""

    def __init__(
        self,
        columns: StreamedColumns,
        spec: DatasetSpec,
        pairs: list[tuple[str, str]],
        names: list[str],
    ):
        self.spec = spec
        patient_level = indep.patient_level_fields(spec)
        self.categories = {name: columns.categories(name) for name in names}
        has_key = spec.patient_key in columns.column_names
        self.testable = [
            p
            for p in pairs
            if self.categories[p[0]] is not None
            and self.categories[p[1]] is not None
            and (has_key or not (p[0] in patient_level and p[1] in patient_level))
        ]
        self.by_patient = {
            p for p in self.testable if p[0] in patient_level and p[1] in patient_level
        }
        # Patient-level pairs: one row per patient (its first), from the runs if the patient
        # key is contiguous, else from the whole columns.
        self.patient_tables: dict[tuple[str, str], np.ndarray | None] = {}
        if self.by_patient and columns.by_runs:
            self.patient_tables = _first_row_tables(columns, sorted(self.by_patient))
        elif self.by_patient:
            first_rows = indep.first_patient_rows(columns, spec, pairs)
            codes: dict[str, np.ndarray | None] = {}
            for a, b in self.by_patient:
                for name in (a, b):
                    if name not in codes:
                        raw = indep.field_codes(columns, spec.field(name))[first_rows]
                        codes[name] = indep.pool_categories(raw, len(first_rows))
                ca, cb = codes[a], codes[b]
                self.patient_tables[(a, b)] = (
                    None
                    if ca is None or cb is None
                    else indep.crosstab(ca, cb, int(ca.max()) + 1, int(cb.max()) + 1)
                )
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
                table = self.patient_tables[(a, b)]
                if table is None:
                    continue
                results.append(indep.table_test(table, (a, b), len(self.testable), "patients"))
            else:
                results.append(indep.table_test(self.tables[(a, b)], (a, b), len(self.testable)))
        skipped = [name for name, c in self.categories.items() if c is None]
        return indep.IndependenceOutcome(results, skipped)


def _first_row_tables(
    columns: StreamedColumns, pairs: list[tuple[str, str]]
) -> dict[tuple[str, str], np.ndarray | None]:
    """The patients' contingency table of each pair of patient-level fields from the values of
    each patient's first row (None: a field has one category among patients), coded as
    ``independence`` codes them: the dictionary of the whole column (first appearance), pooled
    over the patients."""
    runs = columns.runs
    patients = runs.sizes().patients
    code_of: dict[str, dict] = {}
    mapping: dict[str, np.ndarray | None] = {}
    for name in dict.fromkeys(n for p in pairs for n in p):
        code_of[name] = {v: i for i, v in enumerate(columns.field_tally(name).values())}
        firsts = runs.first_values(name)
        codes = np.asarray([code_of[name][v] for v in firsts], dtype=np.int64)
        counts = np.bincount(codes, weights=list(firsts.values()), minlength=0).astype(np.int64)
        mapping[name] = indep.pool_counts(counts, patients)
    tables: dict[tuple[str, str], np.ndarray | None] = {}
    for a, b in pairs:
        ma, mb = mapping[a], mapping[b]
        if ma is None or mb is None:
            tables[(a, b)] = None
            continue
        table = np.zeros((int(ma.max()) + 1, int(mb.max()) + 1), dtype=np.int64)
        for (va, vb), count in runs.first_pairs(a, b).items():
            table[ma[code_of[a][va]], mb[code_of[b][vb]]] += count
        tables[(a, b)] = table
    return tables
