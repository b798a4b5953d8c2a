"""Draft a dataset spec from a HES field list (``position,field,spark_type,role`` CSV).

Why: NHS Digital publishes field lists, not our spec format. This turns such a list into a
first spec, filling in what HES naming conventions make certain (code truncations, CONCAT and
COUNT fields, age derivations, identifier formats, org-code fields). The output is meant to be
reviewed and committed; the pipeline only ever reads the committed spec.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FORBIDDEN_IDENTIFIERS = [
    "NHS_NUMBER",
    "NEWNHSNO",
    "NEWNHSNO_CHECK",
    "HESID",
    "TOKEN_PERSON_ID",
    "MPSID",
    "LOPATID",
    "PATPATHID",
    "BOOKREFNO",
    "CDSUNIQUEID",
    "POSTCODE",
    "HOMEADD",
    "DOB",
]

#: Artificial identifier formats (DESIGN §8). Values are never learnt from data.
IDENTIFIER_FORMATS: dict[str, dict[str, Any]] = {
    "PSEUDO_HESID": {"format": "alphanumeric", "length": 32, "prefix": "TEST", "per": "patient"},
    "EPIKEY": {"format": "digits", "length": 12},
    "ATTENDKEY": {"format": "digits", "length": 12},
    "AEKEY": {"format": "digits", "length": 12},
    "SUSRECID": {"format": "digits", "length": 14},
    "ATTENDID": {"format": "alphanumeric", "length": 12},
    "PREFERER": {"format": "alphanumeric", "length": 16},
}

#: Fields holding organisation or geography codes, whose values may legitimately look like
#: postcodes to the automated disclosure scans.
_ORG_CODE_PATTERN = re.compile(
    r"^(PROCODE\w*|SITETRET|GPPRAC|REFERORG|PURCODE|PCTCODE_HIS|PCTORIG_HIS|PCTTREAT|"
    r"RESPCT_HIS|RESSTHA_HIS|STHATRET|CCG_\w+|CR_\w+|NER_\w+|AT_\w+|LSOA\d\d|MSOA\d\d|"
    r"RESLADST\w*|RESCTY\w*|PCON\w*|RESGOR\w*|GORTREAT)$"
)

KNOWN_DATE_CHAINS = {
    "hes_apc": [["ELECDATE", "ADMIDATE", "EPISTART", "EPIEND", "DISDATE"]],
    "hes_op": [["REQDATE", "APPTDATE"]],
    "hes_ae": [],
}
KNOWN_DURATIONS = {
    "hes_apc": [
        {"field": "EPIDUR", "start": "EPISTART", "end": "EPIEND"},
        {"field": "SPELDUR", "start": "ADMIDATE", "end": "DISDATE"},
        {"field": "SPELDUR_CALC", "start": "ADMIDATE", "end": "DISDATE"},
        {"field": "ELECDUR", "start": "ELECDATE", "end": "ADMIDATE"},
        {"field": "ELECDUR_CALC", "start": "ELECDATE", "end": "ADMIDATE"},
    ],
    "hes_op": [{"field": "WAITING", "start": "REQDATE", "end": "APPTDATE"}],
    "hes_ae": [],
}
KNOWN_KEYS = {"hes_apc": "EPIKEY", "hes_op": "ATTENDKEY", "hes_ae": "AEKEY"}
TITLES = {
    "hes_apc": "Hospital Episode Statistics: Admitted Patient Care",
    "hes_op": "Hospital Episode Statistics: Outpatients",
    "hes_ae": "Hospital Episode Statistics: Accident and Emergency",
}

_NUMBERED = re.compile(r"^(?P<stem>.+?)_(?P<n>\d\d)$")


def _derivation(name: str, names: list[str]) -> dict[str, Any]:
    """Infer how a HES derived field is computed, from naming conventions."""
    numbered = _NUMBERED.match(name)
    truncations = {"DIAG_3": "DIAG_4", "OPERTN_3": "OPERTN_4", "DIAG2": "DIAG3", "TREAT2": "TREAT3"}
    if numbered and numbered["stem"] in truncations:
        return {
            "kind": "truncate",
            "source": f"{truncations[numbered['stem']]}_{numbered['n']}",
            "length": 3 if numbered["stem"] in ("DIAG_3", "OPERTN_3") else 2,
        }
    if name.endswith("_CONCAT"):
        stem = name[: -len("_CONCAT")]
        return {"kind": "concat", "sources": [n for n in names if re.match(rf"^{stem}_\d\d$", n)]}
    if name.endswith("_COUNT"):
        stem = name[: -len("_COUNT")]
        return {"kind": "count", "sources": [n for n in names if re.match(rf"^{stem}_4_\d\d$", n)]}
    if name == "STARTAGE":
        return {"kind": "age_years", "birth": "MYDOB", "at": "ADMIDATE", "cap": 120}
    if name == "STARTAGE_CALC":
        return {"kind": "age_fraction", "birth": "MYDOB", "at": "ADMIDATE", "cap": 120}
    if name.endswith("AGE_CALC"):
        return {"kind": "age_fraction_from_code", "source": name[: -len("_CALC")]}
    raise ValueError(f"cannot infer the derivation of {name}: write it into the spec by hand")


#: Field-name rules for drafting value domains (first match wins); names refer to the shared
#: library ``specs/domains/hes.yaml``. A field whose lower-case name is itself a library domain
#: (ADMIMETH -> admimeth) gets that closed code list.
_DOMAIN_RULES: tuple[tuple[str, str], ...] = (
    (r"^FYEAR$", "financial_year"),
    (r"^PARTYEAR$", "partition_year"),
    (r"^(DIAG_4_\d\d|ALCDIAG_4|ALC(NRW|BRD)DIAG)$", "icd10_4"),
    (r"^CAUSE_3$", "icd10_cause_3"),
    (r"^CAUSE_4$", "icd10_cause_4"),
    (r"^OPERTN_4_\d\d$", "opcs4_4"),
    (r"^(SUSHRG|HRG40)$", "hrg4"),
    (r"^HRGLATE35$", "hrg35"),
    (r"^DIAG3_\d\d$", "ae_diagnosis_3"),
    (r"^TREAT3_\d\d$", "ae_treatment_3"),
    (r"^(DIAGA_\d\d|INVEST2_\d\d)$", "ae_two_digit_code"),
    (r"^(MAINSPEF|TRETSPEF)$", "specialty"),
    (r"^GPPRAC$", "gp_practice"),
    (r"^REFERORG$", "referring_org"),
    (r"^(PROCODE5|SITETRET)$", "org_code_5"),
    (r"^PURCODE$", "org_code_3_or_5"),
    (r"^LSOA\d\d$", "lsoa"),
    (r"^MSOA\d\d$", "msoa"),
    (r"_ONS$", "ons_code_9"),
    (r"^(RESGOR|GORTREAT)$", "region_letter"),
    (r"^RESLADST$", "local_authority"),
    (r"^RESCTY$", "county"),
    (r"^PCON$", "constituency"),
    (r"^CANNET$", "cancer_network"),
    (r"^CANREG$", "cancer_registry"),
    (r"^(SITEDIST|PROVDIST)$", "distance_miles"),
    (r"^SEX$", "sex"),
    (r"^ETHNOS$", "ethnos"),
    (r"^MYDOB$", "month_year_of_birth"),
    (r"^(APPTAGE|ARRIVALAGE|STARTAGE)$", "age_years"),
    (r"^RANK_ORDER$", "rank_order"),
    (r"^WAITLIST$", "wait_days"),
    (r"^(CONCLDUR|DEPDUR|INITDUR|TRETDUR)$", "duration_minutes"),
    (r"^(FAE|FCE|FDE|FAE_EMERGENCY|ATTENDANCE|AEATTEND_EXC_PLANNED)$", "flag_0_1"),
)


def suggest_domain(
    name: str, spark_type: str, role: str, org_code: bool = False, time_of_day: bool = False
) -> str | None:
    """A draft value domain for one field (a name from the shared library), or None for
    fields that are not scraped. Drafts follow HES conventions; review them like any spec."""
    from artificial_data.common.value_domains import named_domains

    if role in ("identifier", "derived"):
        return None
    library = named_domains()
    numeric = spark_type in ("int", "long", "double") or spark_type.startswith("decimal")
    for pattern, domain in _DOMAIN_RULES:
        if re.search(pattern, name):
            return domain
    if name.lower() in library:
        return name.lower()
    if role == "date":
        return "hes_date" if spark_type == "date" else "hes_date_text"
    if role == "continuous":
        return "time_of_day" if time_of_day else "duration_days"
    if numeric:
        if name.endswith("_FLAG"):
            return "flag_0_1"
        return (
            "fraction"
            if spark_type in ("double",) or spark_type.startswith("decimal")
            else ("small_count")
        )
    if name.endswith("_FLAG"):
        return "flag_y_n"
    if org_code:
        return "org_code_3"
    return "short_code"


def draft_missing_domains(fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Spec field entries with a drafted ``domain`` where a scraped field has none."""
    out = []
    for entry in fields:
        domain = suggest_domain(
            entry["name"],
            entry["type"],
            entry["role"],
            bool(entry.get("org_code")),
            bool(entry.get("time_of_day")),
        )
        out.append(entry if "domain" in entry or domain is None else {**entry, "domain": domain})
    return out


def _draft_primary_key(fields: list[dict[str, Any]]) -> str:
    """The record key of a dataset this module does not know: the first identifier that is not
    the patient key, preferring a ``...KEY`` field (HES names its record keys EPIKEY, ATTENDKEY,
    AEKEY). A reviewer confirms it; the spec does not load if it is not an identifier."""
    identifiers = [f["name"] for f in fields if f["role"] == "identifier"]
    candidates = [n for n in identifiers if n != "PSEUDO_HESID"]
    keyed = [n for n in candidates if n.endswith("KEY")]
    if keyed or candidates:
        return (keyed or candidates)[0]
    return fields[0]["name"]  # no identifier at all: the spec check names the problem


def spec_from_reference(
    csv_path: str | Path, dataset: str, financial_years: list[str]
) -> dict[str, Any]:
    """Return a spec document (a dict ready for YAML) for ``dataset`` from its field list."""
    with open(csv_path, newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: int(r["position"]))
    names = [r["field"] for r in rows]
    fields = []
    for r in rows:
        entry: dict[str, Any] = {"name": r["field"], "type": r["spark_type"], "role": r["role"]}
        if r["role"] == "derived":
            entry["derivation"] = _derivation(r["field"], names)
        if r["role"] == "identifier":
            entry["identifier"] = IDENTIFIER_FORMATS.get(
                r["field"], {"format": "digits", "length": 12}
            )
        if _ORG_CODE_PATTERN.match(r["field"]):
            entry["org_code"] = True
        if r["field"].endswith("TIME") and r["spark_type"] == "string":
            entry["time_of_day"] = True
        fields.append(entry)
    fields = draft_missing_domains(fields)
    short = dataset.removeprefix("hes_")
    return {
        "dataset": dataset,
        "title": TITLES.get(dataset, dataset),
        "spec_version": 1,
        "financial_years": financial_years,
        "primary_key": KNOWN_KEYS.get(dataset) or _draft_primary_key(fields),
        "patient_key": "PSEUDO_HESID",
        "source_table": f"hes.hes_{short}_{{fyear}}",
        "published_table": f"artificial_hes_{short}_{{fyear}}",
        "forbidden_identifiers": DEFAULT_FORBIDDEN_IDENTIFIERS,
        "excluded_source_columns": [],
        "date_chains": KNOWN_DATE_CHAINS.get(dataset, []),
        "durations": KNOWN_DURATIONS.get(dataset, []),
        "disclosure": {"name": "hes-publication-rule", "min_count": 8, "rounding_base": 5},
        "fields": fields,
    }


def write_spec(document: dict[str, Any], out_path: str | Path) -> None:
    header = (
        f"# Dataset spec for {document['dataset']} (DESIGN §3). Drafted from the HES field list\n"
        "# with `artificial-data spec import`, then reviewed. Every stage reads this file.\n"
    )
    body = yaml.safe_dump(document, sort_keys=False, width=100, default_flow_style=None)
    Path(out_path).write_text(header + body)
