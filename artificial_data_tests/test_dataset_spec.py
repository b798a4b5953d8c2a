"""Dataset specs: every HES field, in order, with type and role; clear errors on bad specs."""

import csv
from pathlib import Path

import pytest
import yaml

from artificial_data.common.dataset_spec import (
    SpecError,
    available_datasets,
    load_all_specs,
    load_spec,
    load_spec_file,
    parse_spec,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
EXPECTED_FIELDS = {"hes_apc": 193, "hes_op": 157, "hes_ae": 165}
KEYS = {"hes_apc": "EPIKEY", "hes_op": "ATTENDKEY", "hes_ae": "AEKEY"}


def test_bundled_datasets():
    assert available_datasets() == ["hes_ae", "hes_apc", "hes_op"]


@pytest.mark.parametrize("dataset", sorted(EXPECTED_FIELDS))
def test_spec_has_every_field_in_order(dataset):
    spec = load_spec(dataset)
    assert len(spec.fields) == EXPECTED_FIELDS[dataset]
    assert [f.position for f in spec.fields] == list(range(1, len(spec.fields) + 1))
    assert spec.primary_key == KEYS[dataset]
    assert spec.patient_key == "PSEUDO_HESID"
    assert ("MYDOB" in spec.field_names) == (dataset == "hes_apc")


@pytest.mark.parametrize("dataset", sorted(EXPECTED_FIELDS))
def test_spec_matches_reference_field_list(dataset):
    path = REFERENCE / f"{dataset}_fields.csv"
    if not path.exists():
        pytest.skip("shared/reference is not beside this checkout")
    with open(path, newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: int(r["position"]))
    spec = load_spec(dataset)
    # per_patient is the reviewed upgrade of categorical fields held once per patient.
    assert [
        (f.name, f.spark_type, "categorical" if f.name in spec.per_patient else f.role)
        for f in spec.fields
    ] == [(r["field"], r["spark_type"], r["role"]) for r in rows]
    assert all(spec.field(n).role == "patient_categorical" for n in spec.per_patient)


def test_derived_and_identifier_fields_are_declared():
    spec = load_spec("hes_apc")
    assert spec.field("DIAG_3_01").derivation.source == "DIAG_4_01"
    assert spec.field("DIAG_3_01").derivation.length == 3
    assert len(spec.field("DIAG_4_CONCAT").derivation.sources) == 20
    assert spec.field("OPERTN_COUNT").derivation.kind == "count"
    assert spec.field("PSEUDO_HESID").identifier.prefix == "TEST"
    assert spec.field("SUSRECID").identifier.length == 14
    assert spec.date_chains == (("ELECDATE", "ADMIDATE", "EPISTART", "EPIEND", "DISDATE"),)
    ae = load_spec("hes_ae")
    assert ae.field("DIAG2_01").derivation.source == "DIAG3_01"
    assert ae.field("ARRIVALTIME").time_of_day


def _bundled(dataset):
    from importlib import resources

    text = (resources.files("artificial_data.common") / "specs" / f"{dataset}.yaml").read_text()
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["fields"][5].update(role="weird"), "unknown role 'weird'"),
        (lambda d: d["fields"][5].update(type="varchar"), "unknown Spark type 'varchar'"),
        (lambda d: d["fields"].append(dict(d["fields"][0])), "duplicate field names ['FYEAR']"),
        (lambda d: d.update(primary_key="NOPE"), "unknown field 'NOPE'"),
        (lambda d: d.update(financial_years=["2123"]), "financial year '2123'"),
        (lambda d: d["fields"][0].update(role="derived"), "(FYEAR): a derived field needs"),
        (lambda d: d.update(surprise=1), "unknown key(s) ['surprise']"),
        (
            lambda d: d["fields"].append(
                {"name": "NEWNHSNO", "type": "string", "role": "categorical", "domain": "sex"}
            ),
            "forbidden identifiers ['NEWNHSNO']",
        ),
        # Value domains (issue 11): every scraped field declares one that fits it.
        (lambda d: d["fields"][0].pop("domain"), "(FYEAR): a scraped field must declare"),
        (lambda d: d["fields"][0].update(domain="nope"), "unknown domain 'nope'"),
        (lambda d: d["fields"][0].update(domain="age_years"), "does not fit a field"),
        (lambda d: d["fields"][0].update(domain={"pattern": "[0-9"}), "not a regular expression"),
        (lambda d: d["fields"][0].update(domain={"range": [5, 1]}), "range must be [minimum"),
        (
            lambda d: d["fields"][0].update(domain={"dates": ["2020-13-01", "2021-01-01"]}),
            "is not an ISO date",
        ),
        # The policy floor: a spec may only tighten the HES rule (issue 11).
        (
            lambda d: d.update(disclosure={"min_count": 1, "rounding_base": 1}),
            "dataset hes_op: the disclosure policy may only tighten the HES rule",
        ),
        (lambda d: d.update(disclosure={"min_count": 7}), "min_count 7 publishes raw counts"),
        (lambda d: d.update(disclosure={"rounding_base": 7}), "rounding_base 7 is not"),
    ],
)
def test_invalid_specs_fail_with_a_clear_error(mutate, message):
    document = _bundled("hes_op")
    mutate(document)
    with pytest.raises(SpecError) as err:
        parse_spec(document, "specs/hes_op.yaml")
    assert message in str(err.value)
    assert "hes_op" in str(err.value)


def test_spec_import_round_trip(tmp_path):
    path = REFERENCE / "hes_ae_fields.csv"
    if not path.exists():
        pytest.skip("shared/reference is not beside this checkout")
    from artificial_data.common.spec_import import spec_from_reference, write_spec

    out = tmp_path / "hes_ae.yaml"
    write_spec(spec_from_reference(path, "hes_ae", ["2122"]), out)
    spec = load_spec_file(out)
    assert spec.field_names == load_spec("hes_ae").field_names


def test_spec_import_drafts_a_loadable_spec_for_a_new_dataset(tmp_path):
    """An operator adding a dataset (docs/operator_guide.md) gets a spec that loads: the record
    key is drafted from the identifiers, not taken to be the first column."""
    path = REFERENCE / "hes_op_fields.csv"
    if not path.exists():
        pytest.skip("shared/reference is not beside this checkout")
    from artificial_data.cli import main

    out = tmp_path / "hes_op_local.yaml"
    assert (
        main(
            [
                "spec-import",
                "--csv",
                str(path),
                "--dataset",
                "hes_op_local",
                "--years",
                "2223",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    spec = load_spec_file(out)
    assert spec.primary_key == "ATTENDKEY"
    assert spec.dataset == "hes_op_local"


def test_committed_data_dictionary_is_up_to_date():
    from artificial_data.common.data_dictionary import render

    page = Path(__file__).resolve().parents[1] / "docs" / "data_dictionary.md"
    assert page.read_text() == render(), "run: python -m artificial_data.common.data_dictionary"


def test_a_stricter_policy_and_inline_or_local_domains_load():
    document = _bundled("hes_op")
    document["disclosure"] = {"name": "stricter", "min_count": 10, "rounding_base": 10}
    document["domains"] = {"years": {"pattern": "[0-9]{4}"}}
    document["fields"][0]["domain"] = "years"
    document["fields"][1]["domain"] = {"range": [190001, 210099], "integral": True}
    spec = parse_spec(document, "specs/hes_op.yaml")
    assert spec.disclosure.min_count == 10
    assert spec.fields[0].domain.name == "years"
    assert spec.fields[1].domain.allows_numbers([202223.0, 2.5]).tolist() == [True, False]


def test_every_scraped_field_of_the_bundled_specs_has_a_fitting_domain():
    for spec in load_all_specs():
        for f in spec.fields:
            assert (f.domain is not None) == f.is_scraped, f.name


def test_data_dictionary_shows_each_scraped_fields_declared_domain():
    from artificial_data.common.data_dictionary import render_dataset

    spec = load_spec("hes_apc")
    page = render_dataset(spec)
    rows = {line.split(" | ")[1]: line for line in page.splitlines() if line.startswith("| ")}
    assert rows["`DIAG_4_01`"].endswith("| `icd10_4` |")
    assert rows["`EPIKEY`"].endswith("|  |")  # identifiers have no domain
    assert "| `icd10_4` | text matching /[A-Z][0-9]{2}[0-9X]/ or one of ['&', '-'] |" in page
    # Alternation bars are escaped, so every table row keeps its number of cells.
    ethnos = next(line for line in page.splitlines() if line.startswith("| `ethnos` |"))
    assert "[A-Z]\\|[0-9]\\|99" in ethnos
    assert len(ethnos.replace("\\|", "").split("|")) == 5
    used = {f.domain.name for f in spec.scraped_fields}
    assert all(f"| `{name}` | " in page for name in used)
