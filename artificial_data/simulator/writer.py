"""Write simulated raw HES into the ``raw`` store, atomically and labelled as simulated."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.common.stores import RAW, ScopedStores
from artificial_data.simulator.chunks import check_request, simulate_chunks

#: Marker file in every simulated partition folder (ignored by Spark: it starts with '_').
MARKER_FILE = "_SIMULATED"
PART_FILE = "part-{index:05d}.parquet"


@dataclass(frozen=True)
class RawPartitionInfo:
    """What one simulated raw partition holds (friendly to Dagster asset metadata)."""

    dataset: str
    financial_year: str
    rows: int
    patients: int
    seed: int
    path: Path | str
    files: tuple[str, ...]
    simulated: bool = True

    def as_metadata(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "financial_year": self.financial_year,
            "rows": self.rows,
            "patients": self.patients,
            "seed": self.seed,
            "path": str(self.path),
            "files": list(self.files),
            "simulated": self.simulated,
        }


def write_raw_partition(
    stores: ScopedStores,
    spec: DatasetSpec,
    financial_year: str,
    rows: int,
    seed: int,
    chunk_rows: int = 200_000,
) -> RawPartitionInfo:
    """(Re)write the raw partition ``spec.dataset/financial_year`` with simulated rows.

    Goes through ``stores.tables``, so the grant check happens before any work (a location
    without write access to ``raw`` gets a ``ScopeViolation``) and the partition is replaced
    atomically: readers see the old partition or the new one, never a half-written one. One
    Parquet file per chunk, each carrying the key-value metadata
    ``artificial_data.simulated=true``.
    """
    check_request(spec, financial_year, rows, chunk_rows)
    files: list[str] = []
    totals = {"rows": 0, "patients": 0}

    marker: dict[str, object] = {}

    def writer(folder: Path) -> None:
        folder.mkdir(parents=True)
        for index, table in enumerate(
            simulate_chunks(spec, financial_year, rows, seed, chunk_rows=chunk_rows)
        ):
            name = PART_FILE.format(index=index)
            pq.write_table(table, folder / name, compression="zstd", row_group_size=chunk_rows)
            files.append(name)
            totals["rows"] += table.num_rows
            # Patients never straddle chunks, so distinct ids per chunk add up.
            totals["patients"] += pc.count_distinct(table[spec.patient_key]).as_py()
        marker.update(
            {
                "simulated": True,
                "note": "Stand-in data from the artificial_data simulator. Not real patients.",
                "dataset": spec.dataset,
                "financial_year": financial_year,
                "rows": totals["rows"],
                "patients": totals["patients"],
                "seed": int(seed),
                "chunk_rows": int(chunk_rows),
                "files": files,
            }
        )

    def attachments() -> dict[str, str]:
        return {MARKER_FILE: json.dumps(marker, indent=2, sort_keys=True) + "\n"}

    # The table store checks the grant before any work; the folder backend swaps the folder
    # in, the catalog backend loads the files into the partition of its table.
    path = stores.tables.write(RAW, spec.dataset, financial_year, writer, attachments)
    return RawPartitionInfo(
        dataset=spec.dataset,
        financial_year=financial_year,
        rows=totals["rows"],
        patients=totals["patients"],
        seed=int(seed),
        path=path,
        files=tuple(files),
    )
