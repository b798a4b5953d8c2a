"""Plausible released metadata for the generator's tests and benchmark, made up from a spec.

No data is involved: values and weights are invented, shaped like the contract's encoding
(``common/metadata_contract.py``) for every scraped field of a spec, with the awkward cases
the generator must handle (nulls as values, HES null codes ``&``/``-``, placeholder dates,
infant age codes, a top-coded episodes-per-patient bucket, mixed patient patterns).
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec

#: Episodes per patient of the made-up metadata; the last row is the top-coded bucket.
EPISODES = [(1, 600.0), (2, 200.0), (3, 100.0), (4, 50.0)]
TOP_CODED = (5, 8, 50.0)  # smallest, representative, patients


def _row(spec: DatasetSpec, name: str, value_type: str, **values) -> dict:
    row = {c: None for c in mc.COLUMNS}
    row.update(TABLE_NAME=spec.dataset, FIELD_NAME=name, VALUE_TYPE=value_type)
    row["VALUE_NUMERIC"] = np.nan
    row.update(values)
    return row


def _code_values(f: FieldSpec, rng: np.random.Generator) -> list[str | None]:
    name = f.name
    if name.startswith(("DIAG", "CAUSE")):
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        codes = sorted({f"{letters[i % 26]}{i % 97:02d}{i % 10}" for i in range(60)})
        return [*codes, "R69X", "&", "-", None]
    if name.startswith(("OPERTN", "TREAT")):
        codes = sorted({f"{'ABCDEHKLMTWX'[i % 12]}{i % 89:02d}{i % 9}" for i in range(40)})
        return [*codes, "&", "-", None]
    if f.org_code:
        return [f"R{chr(65 + i)}{i}" for i in range(12)] + [None]
    return ["1", "2", "3", "4", "9", "99", None]


def plausible_metadata(
    spec: DatasetSpec, financial_year: str = "2122", seed: int = 7
) -> pd.DataFrame:
    """Made-up metadata for every scraped field of ``spec`` plus RELATIONSHIP rows."""
    rng = np.random.default_rng(seed)
    fy_start = date(2000 + int(financial_year[:2]), 4, 1)
    rows: list[dict] = []

    def weights(k: int) -> np.ndarray:
        # Rounded to 5 and at least 10, as after the HES publication rule.
        return np.maximum(10, np.round(rng.pareto(1.2, k) * 200 / 5) * 5)

    for f in spec.scraped_fields:
        if f.role == "patient_categorical":
            patterns = [
                (["1"], [1.0], 500),
                (["2"], [1.0], 520),
                (["1", "2"], [0.7, 0.3], 40),
                (["9"], [1.0], 15),
                ([None], [1.0], 10),
                (["2", "9"], [0.5, 0.5], 20),
            ]
            if f.name == "ETHNOS":
                patterns = [
                    (["A"], [1.0], 700),
                    (["B"], [1.0], 100),
                    (["Z"], [1.0], 60),
                    (["A", "Z"], [0.6, 0.4], 30),
                    (["99"], [1.0], 20),
                ]
            for values, shares, w in patterns:
                rows.append(
                    _row(
                        spec,
                        f.name,
                        mc.DEMOGRAPHIC_CATEGORICAL,
                        VALUE_STRING_ARRAY=values,
                        WEIGHT_ARRAY=shares,
                        WEIGHT=float(w),
                    )
                )
        elif f.role == "patient_date":
            years = np.arange(1925, 2022, 3)
            for i, year in enumerate(years):
                agreement = [1.0, 0.5, 0.67][i % 3]
                rows.append(
                    _row(
                        spec,
                        f.name,
                        mc.DEMOGRAPHIC_DATE,
                        VALUE_STRING=f"{i % 12 + 1:02d}{year}",
                        VALUE_NUMERIC=agreement,
                        WEIGHT=float(weights(1)[0]),
                    )
                )
            # Born in the financial year itself: infants (some after admission).
            rows.append(
                _row(
                    spec,
                    f.name,
                    mc.DEMOGRAPHIC_DATE,
                    VALUE_STRING=f"{fy_start.month:02d}{fy_start.year}",
                    VALUE_NUMERIC=1.0,
                    WEIGHT=200.0,
                )
            )
            rows.append(
                _row(
                    spec,
                    f.name,
                    mc.DEMOGRAPHIC_DATE,
                    VALUE_STRING=None,
                    VALUE_NUMERIC=1.0,
                    WEIGHT=20.0,
                )
            )
        elif f.role == "continuous":
            probs = [0.1, 0.25, 0.5, 0.75, 0.9]
            if f.time_of_day:
                values = [300.0, 600.0, 800.0, 1000.0, 1300.0]
            else:
                values = [0.0, 1.0, 3.0, 8.0, 20.0]
            rows.append(
                _row(
                    spec,
                    f.name,
                    mc.CONTINUOUS,
                    VALUE_NUMERIC=0.1,
                    VALUE_NUMERIC_ARRAY=values,
                    WEIGHT_ARRAY=probs,
                    WEIGHT=900.0,
                )
            )
        elif f.role == "date":
            days = sorted(rng.choice(400, size=40, replace=False) - 20)
            dates = [fy_start + timedelta(days=int(d)) for d in days]
            dates += [date(1800, 1, 1), date(1801, 1, 1), None]
            w = weights(len(dates))
            for d, wt in zip(dates, w, strict=True):
                if f.spark_type == "date":
                    rows.append(_row(spec, f.name, mc.DATE, VALUE_DATE=d, WEIGHT=float(wt)))
                else:
                    text = None if d is None else d.isoformat()
                    rows.append(_row(spec, f.name, mc.DATE, VALUE_STRING=text, WEIGHT=float(wt)))
        elif f.is_numeric:  # DISCRETE
            if f.name in ("APPTAGE", "ARRIVALAGE"):
                values = [*range(0, 100, 7), 120, *range(7001, 7008), 999, np.nan]
            elif f.spark_type.startswith("decimal"):
                values = [0.0, 0.123456789012345, 0.5, 1.0, np.nan]
            elif f.spark_type == "double":
                values = [0.0, 0.25, 0.5, 1.0, np.nan]
            elif f.name == "PARTYEAR":
                values = [float(2000 + int(financial_year[:2])) * 100 + m for m in (4, 9, 12)]
            else:
                values = [1.0, 2.0, 3.0, 5.0, 8.0, np.nan]
            for v, wt in zip(values, weights(len(values)), strict=True):
                rows.append(
                    _row(spec, f.name, mc.DISCRETE, VALUE_NUMERIC=float(v), WEIGHT=float(wt))
                )
        else:  # CATEGORICAL
            values = [financial_year] if f.name == "FYEAR" else _code_values(f, rng)
            for v, wt in zip(values, weights(len(values)), strict=True):
                rows.append(_row(spec, f.name, mc.CATEGORICAL, VALUE_STRING=v, WEIGHT=float(wt)))
    for count, w in EPISODES:
        rows.append(
            _row(spec, spec.patient_key, mc.RELATIONSHIP, VALUE_NUMERIC=float(count), WEIGHT=w)
        )
    smallest, representative, w = TOP_CODED
    rows.append(
        _row(
            spec,
            spec.patient_key,
            mc.RELATIONSHIP,
            VALUE_STRING=mc.TOP_CODED,
            VALUE_NUMERIC=float(smallest),
            VALUE_NUMERIC_ARRAY=[float(smallest), float(representative)],
            WEIGHT=w,
        )
    )
    return mc.normalise(pd.DataFrame(rows, columns=mc.COLUMNS))


__all__ = ["EPISODES", "TOP_CODED", "plausible_metadata"]
