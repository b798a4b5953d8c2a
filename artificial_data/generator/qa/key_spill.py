"""Uniqueness of the primary key over record batches, exact, one hash bucket in memory.

Whether a key repeats needs every key: no tally smaller than the keys decides it. So each
batch's non-null keys (with their row numbers) are split by a hash of the key into buckets of
about :data:`KEY_BUCKET_ROWS` rows, appended to one Arrow IPC file per bucket in a spill folder
(the partition's own staging folder in the ``<ds>/qa`` step); equal keys share a bucket, so
each bucket read back alone gives its distinct keys and its repeated ones, and the buckets add
up to ``consistency.primary_key`` of the whole column: the same counts and the same examples
(the first repeated keys in row order). Memory: one batch and one bucket, whatever the rows;
a partition of at most one bucket's rows keeps its keys in memory and writes nothing.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from artificial_data.generator.qa.consistency import RuleResult

#: Keys per spill bucket (about): the most keys QA holds at once.
KEY_BUCKET_ROWS = 100_000
#: Most buckets (open files) of one spill: past ``KEY_BUCKET_ROWS * MAX_BUCKETS`` rows (25.6
#: million) the buckets, and so the memory, grow with the rows again.
MAX_BUCKETS = 256
#: Repeated keys shown as examples.
EXAMPLES = 3


class KeySpill:
    """``consistency.primary_key`` of a key column fed batch by batch (see the module)."""

    def __init__(self, name: str, num_rows: int, folder: Path | None):
        """``folder``: where the buckets are written (must not exist; None: a temporary
        folder). Nothing is written if the rows fit one bucket."""
        self.name = name
        self.rows = 0
        self.nulls = 0
        self.buckets = min(MAX_BUCKETS, max(1, math.ceil(num_rows / KEY_BUCKET_ROWS)))
        self._stack = contextlib.ExitStack()
        self._kept: list[pa.Table] = []
        self._writers: list[pa.ipc.RecordBatchStreamWriter] = []
        self._files: list[Path] = []
        if self.buckets > 1:
            if folder is None:
                folder = Path(self._stack.enter_context(tempfile.TemporaryDirectory())) / "keys"
            folder.mkdir(parents=True)
            self._stack.callback(shutil.rmtree, folder, True)
            self._files = [folder / f"bucket-{i:05d}.arrow" for i in range(self.buckets)]

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        """The keys of the next batch (rows in order)."""
        first = self.rows
        self.rows += len(column)
        self.nulls += column.null_count
        present = pc.is_valid(column)
        keys = pc.filter(column, present)
        rows = pc.filter(pa.array(np.arange(first, self.rows, dtype=np.int64)), present)
        part = pa.table({"key": keys, "row": rows})
        if self.buckets == 1:
            self._kept.append(part)
            return
        values = np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)
        bucket = pd.util.hash_array(values) % np.uint64(self.buckets)
        if not self._writers:
            for path in self._files:
                sink = self._stack.enter_context(pa.OSFile(str(path), "wb"))
                self._writers.append(
                    self._stack.enter_context(pa.ipc.new_stream(sink, part.schema))
                )
        order = np.argsort(bucket, kind="stable")
        bounds = np.searchsorted(bucket[order], np.arange(self.buckets + 1))
        for i in range(self.buckets):
            if bounds[i + 1] > bounds[i]:
                take = pa.array(order[bounds[i] : bounds[i + 1]])
                self._writers[i].write_table(part.take(take))

    def result(self) -> RuleResult:
        """The primary-key rule over every batch added; the spill folder is removed."""
        distinct, repeated = 0, []
        try:
            for part in self._parts():
                d, r = _bucket(part)
                distinct += d
                repeated.extend(r)
        finally:
            self._stack.close()
        repeated.sort()
        examples = [f"{self.name}={v!r} repeated" for _, v in repeated[:EXAMPLES]]
        if self.nulls:
            examples.insert(0, f"{self.nulls} null {self.name}")
        duplicates = self.rows - self.nulls - distinct
        return RuleResult(
            "unique non-null key", self.name, self.rows, self.nulls + duplicates, examples
        )

    def _parts(self):
        if self.buckets == 1:
            if self._kept:
                yield pa.concat_tables(self._kept)
            return
        for writer in self._writers:
            writer.close()
        for path in self._files if self._writers else []:
            with pa.memory_map(str(path)) as source:
                yield pa.ipc.open_stream(source).read_all()


def _bucket(part: pa.Table) -> tuple[int, list[tuple[int, object]]]:
    """(distinct keys, the first :data:`EXAMPLES` repeated keys as (first row, key))."""
    if not part.num_rows:
        return 0, []
    grouped = part.group_by("key").aggregate([("row", "count"), ("row", "min")])
    counts = grouped.column("row_count").to_numpy()
    repeated = np.flatnonzero(counts > 1)
    firsts = grouped.column("row_min").to_numpy()[repeated]
    keep = repeated[np.argsort(firsts, kind="stable")[:EXAMPLES]]
    keys = grouped.column("key").take(pa.array(keep)).to_pylist()
    rows = grouped.column("row_min").take(pa.array(keep)).to_pylist()
    return grouped.num_rows, list(zip(rows, keys, strict=True))
