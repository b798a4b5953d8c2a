"""Hand-made metadata for tests that must not depend on the scraper."""

from datetime import date

import pandas as pd

from artificial_data.common import metadata_contract as contract
from artificial_data.common.dataset_spec import DatasetSpec, FieldSpec


def row(table, field, value_type, **values):
    base = {
        "TABLE_NAME": table,
        "FIELD_NAME": field,
        "VALUE_TYPE": value_type,
        "VALUE_STRING": None,
        "VALUE_NUMERIC": None,
        "VALUE_DATE": None,
        "VALUE_STRING_ARRAY": None,
        "VALUE_NUMERIC_ARRAY": None,
        "WEIGHT": 10.0,
        "WEIGHT_ARRAY": None,
    }
    base.update(values)
    return base


def small_metadata(spec: DatasetSpec, weight: float = 20.0) -> pd.DataFrame:
    """A plausible, policy-compliant metadata table covering every scraped field of ``spec``,
    with values drawn from each field's declared domain."""
    t = spec.dataset
    rows = []
    for f in spec.scraped_fields:
        a, b = _two_examples(f)
        if f.role == "continuous":
            rows.append(
                row(
                    t,
                    f.name,
                    contract.CONTINUOUS,
                    VALUE_NUMERIC=0.1,
                    WEIGHT=weight * 9,
                    VALUE_NUMERIC_ARRAY=[0.0, 5.0, 30.0],
                    WEIGHT_ARRAY=[0.1, 0.5, 0.9],
                )
            )
        elif f.role == "date":
            if f.spark_type == "date":
                rows += [
                    row(t, f.name, contract.DATE, VALUE_DATE=date(2022, 5, d), WEIGHT=weight)
                    for d in (1, 2)
                ]
            else:
                rows.append(row(t, f.name, contract.DATE, VALUE_STRING=a, WEIGHT=weight))
        elif f.role == "patient_categorical":
            rows += [
                row(
                    t,
                    f.name,
                    contract.DEMOGRAPHIC_CATEGORICAL,
                    VALUE_STRING_ARRAY=[a],
                    WEIGHT_ARRAY=[1.0],
                    WEIGHT=weight,
                ),
                row(
                    t,
                    f.name,
                    contract.DEMOGRAPHIC_CATEGORICAL,
                    VALUE_STRING_ARRAY=sorted([a, b]),
                    WEIGHT_ARRAY=[0.5, 0.5],
                    WEIGHT=weight,
                ),
            ]
        elif f.role == "patient_date":
            rows.append(
                row(
                    t,
                    f.name,
                    contract.DEMOGRAPHIC_DATE,
                    VALUE_STRING=a,
                    VALUE_NUMERIC=1.0,
                    WEIGHT=weight,
                )
            )
        elif f.is_numeric:
            rows += [
                row(t, f.name, contract.DISCRETE, VALUE_NUMERIC=v, WEIGHT=weight) for v in (a, b)
            ]
        else:
            rows += [
                row(t, f.name, contract.CATEGORICAL, VALUE_STRING=v, WEIGHT=weight)
                for v in (a, b, None)
            ]
    rows += [
        row(t, spec.patient_key, contract.RELATIONSHIP, VALUE_NUMERIC=k, WEIGHT=w)
        for k, w in ((1, weight * 5), (2, weight))
    ]
    return contract.normalise(pd.DataFrame(rows))


def _two_examples(f: FieldSpec) -> tuple:
    """Two different in-domain values (the first two of the domain's examples that differ)."""
    examples = list(dict.fromkeys(f.domain.examples(12)))
    return examples[0], examples[1 % len(examples)]


def header(spec: DatasetSpec, year: str = "2122", rows: int = 1000) -> contract.MetadataHeader:
    return contract.MetadataHeader(
        dataset=spec.dataset,
        table_name=spec.dataset,
        financial_year=year,
        spec_version=spec.spec_version,
        policy=spec.disclosure.as_dict(),
        source_rows_rounded=rows,
        simulated_source=True,
    )
