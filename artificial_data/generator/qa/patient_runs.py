"""Per-patient statistics of a partition read in record batches, patient by patient.

The generator writes each patient's episodes as consecutive rows of one chunk (a patient never
straddles chunks: ``engine.patients``), so a patient is a *run* of equal keys. Reading the
batches in order, with the last (perhaps unfinished) run of a batch carried over to the next,
gives every per-patient statistic QA needs exactly, in memory bounded by a batch plus the one
open patient: the episodes per patient, the effective number of patients (sum of squared run
lengths), each patient-level field's mixed patients, each patient's modal birth month, and the
values of each patient's first row (the patient-level pairs of the independence check).

That holds only if the key is contiguous: a patient seen again after its run closed would be
counted twice. So every run's key is hashed (8 bytes a patient, the one thing that still grows
with the rows) and the partition's runs are proved distinct at the end; a repeated hash (a
scattered patient, or a hash collision) or a null key makes :attr:`PatientRuns.contiguous`
false, and QA then reads the whole columns instead (exact either way).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.generator.qa.expected import NULL_KEY


@dataclass(frozen=True)
class PatientSizes:
    """Episodes per patient: how many patients, the sum of their squared episode counts (Kish's
    effective sample size) and how many patients have each number of episodes."""

    patients: int
    sum_of_squares: int
    by_size: dict[int, int]

    @classmethod
    def of(cls, sizes: np.ndarray) -> PatientSizes:
        distinct, counts = np.unique(sizes, return_counts=True)
        return cls(
            len(sizes),
            int((sizes.astype(np.int64) ** 2).sum()),
            dict(zip(distinct.tolist(), counts.tolist(), strict=True)),
        )


def modal_counts(modal: dict) -> pd.Series:
    """``fields.modal_values`` from each modal value's patients and smallest patient key: the
    values in the order the whole-table path meets them (patients sorted by key), counted."""
    order = sorted(modal, key=lambda v: modal[v][1])
    counts = pd.Series(
        [modal[v][0] for v in order], index=pd.Index(order, dtype=object, name="v"), name="count"
    )
    return counts.sort_values(ascending=False).astype(float)


def _codes(column) -> np.ndarray:
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    return np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)


class PatientRuns:
    """Per-patient tallies accumulated over record batches read in order (see the module)."""

    def __init__(self, key: str, mixed: list[str], modal: list[str], firsts: list[str]):
        """``mixed``: fields whose mixed patients are counted; ``modal``: fields whose modal
        value per patient is tallied; ``firsts``: fields whose first-row values are tallied."""
        self.key = key
        self.mixed_fields, self.modal_fields, self.first_fields = mixed, modal, firsts
        self.columns = list(dict.fromkeys([key, *mixed, *modal, *firsts]))
        self.null_key = False
        #: Whether each patient's rows were consecutive (no null key, no run key seen twice):
        #: known once :meth:`finish` has run.
        self.contiguous = False
        self._pending: pa.Table | None = None
        self._hashes: list[np.ndarray] = []
        self._sizes: list[PatientSizes] = []
        self._multi = 0
        self._mixed = dict.fromkeys(mixed, 0)
        self._modal: dict[str, dict] = {name: {} for name in modal}  # value: [patients, min key]
        self._firsts: dict[str, Counter] = {name: Counter() for name in firsts}
        self._first_pairs: dict[tuple[str, str], Counter] = {}

    def add(self, batch: pa.RecordBatch) -> None:
        """The complete patients of one batch (its last patient waits for the next batch)."""
        if self.null_key:
            return
        table = pa.Table.from_batches([batch]).select(self.columns)
        if self._pending is not None:
            table = pa.concat_tables([self._pending, table])
        if table.column(self.key).null_count:
            self.null_key = True
            return
        keys = table.column(self.key).to_numpy()
        if not len(keys):
            return
        starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
        last = int(starts[-1])
        self._runs(table.slice(0, last), keys[:last], starts[:-1])
        self._pending = table.slice(last)

    def finish(self) -> None:
        """Close the last patient and prove the runs distinct (:attr:`contiguous`)."""
        if self._pending is not None and not self.null_key and self._pending.num_rows:
            self._runs(self._pending, self._pending.column(self.key).to_numpy(), np.asarray([0]))
        self._pending = None
        hashes = np.sort(np.concatenate([np.zeros(0, np.uint64), *self._hashes]))
        self._hashes = []
        self.contiguous = not self.null_key and not bool(np.any(hashes[1:] == hashes[:-1]))

    def _runs(self, table: pa.Table, keys: np.ndarray, starts: np.ndarray) -> None:
        if not len(starts):
            return
        sizes = np.diff(np.concatenate([starts, [len(keys)]]))
        run_keys = keys[starts]
        self._hashes.append(pd.util.hash_array(np.asarray(run_keys, dtype=object)))
        self._sizes.append(PatientSizes.of(sizes))
        self._multi += int((sizes >= 2).sum())
        run = np.repeat(np.arange(len(starts)), sizes)
        for name in self.mixed_fields:
            codes = _codes(table.column(name).combine_chunks())
            width = int(codes.max()) + 1
            distinct = np.bincount(np.unique(run * width + codes) // width, minlength=len(starts))
            self._mixed[name] += int((distinct >= 2).sum())
        for name in self.modal_fields:
            self._modal_runs(name, table.column(name), run, run_keys)
        firsts = {n: table.column(n).take(pa.array(starts)).to_pylist() for n in self.first_fields}
        for name, values in firsts.items():
            self._firsts[name].update(values)
        for (a, b), counter in self._first_pairs.items():
            counter.update(zip(firsts[a], firsts[b], strict=True))

    def _modal_runs(self, name: str, column, run: np.ndarray, run_keys: np.ndarray) -> None:
        text = pc.fill_null(pc.cast(column, pa.string()), NULL_KEY)
        frame = pd.DataFrame({"p": run, "v": text.to_numpy(zero_copy_only=False)})
        sizes = frame.groupby(["p", "v"], sort=False).size().reset_index(name="n")
        sizes = sizes.sort_values(["p", "n", "v"], ascending=[True, False, True])
        modal = sizes.drop_duplicates("p")
        tally = self._modal[name]
        for value, key in zip(modal["v"], run_keys[modal["p"].to_numpy()], strict=True):
            seen = tally.get(value)
            if seen is None:
                tally[value] = [1, key]
            else:
                seen[0] += 1
                seen[1] = min(seen[1], key)

    def track_pair(self, a: str, b: str) -> None:
        """Also tally the first-row values of ``a`` and ``b`` together (before any batch)."""
        self._first_pairs[(a, b)] = Counter()

    # ---------------------------------------------------------------- what QA reads

    def sizes(self) -> PatientSizes:
        by_size: Counter = Counter()
        for part in self._sizes:
            by_size.update(part.by_size)
        return PatientSizes(
            sum(p.patients for p in self._sizes),
            sum(p.sum_of_squares for p in self._sizes),
            dict(by_size),
        )

    def mixed(self, name: str) -> tuple[int, int, int]:
        """``patients.mixed_patients``: (patients, with 2+ episodes, with 2+ distinct values)."""
        return self.sizes().patients, self._multi, self._mixed[name]

    def modal(self, name: str) -> pd.Series:
        return modal_counts(self._modal[name])

    def first_values(self, name: str) -> Counter:
        """How many patients have each value of ``name`` on their first row."""
        return self._firsts[name]

    def first_pairs(self, a: str, b: str) -> Counter:
        """How many patients have each pair of values of ``a`` and ``b`` on their first row."""
        return self._first_pairs[(a, b)]
