"""The state of one chunk under construction, shared by the dataset models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa

from artificial_data.common.dataset_spec import DatasetSpec
from artificial_data.simulator.patients import Patients

_EPOCH = date(1970, 1, 1)


def financial_year_bounds(financial_year: str) -> tuple[int, int]:
    """(1 April, 31 March) of a HES financial year like ``2122``, as days since 1970."""
    yy = int(financial_year[:2])
    start_year = (2000 if yy < 50 else 1900) + yy
    start = date(start_year, 4, 1)
    end = date(start_year + 1, 3, 31)
    return (start - _EPOCH).days, (end - _EPOCH).days


@dataclass
class Chunk:
    """One chunk: its random stream, its patients and the columns built so far."""

    spec: DatasetSpec
    financial_year: str
    index: int
    rows: int
    chunk_rows: int
    seed: int
    rng: np.random.Generator
    patients: Patients
    fy_start: int
    fy_end: int
    cols: dict[str, pa.Array] = field(default_factory=dict)
    #: Fields drawn from a plain domain: safe places to plant rare values.
    plantable: dict[str, object] = field(default_factory=dict)
    #: Null masks for identifiers that only some rows carry (links to other tables).
    identifier_nulls: dict[str, np.ndarray] = field(default_factory=dict)
    #: Derived fields a model has already set more precisely than the generic derivation.
    keep_derived: set[str] = field(default_factory=set)
    # Per-row facts that models share with the common steps.
    event_date: np.ndarray | None = None  # the row's main date (admission, appointment, arrival)
    age_years: np.ndarray | None = None  # exact age at the event

    @property
    def n(self) -> int:
        return self.rows

    def has(self, name: str) -> bool:
        return name in self.spec.field_names

    def wants(self, name: str) -> bool:
        """The spec has this field and no step has filled it yet."""
        return name in self.spec.field_names and name not in self.cols

    @property
    def female(self) -> np.ndarray:
        return self.patients.sex == 1

    @property
    def male(self) -> np.ndarray:
        return self.patients.sex == 0
