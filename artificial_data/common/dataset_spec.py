"""Declarative dataset specifications (DESIGN §3).

One YAML file per dataset drives every stage: which fields exist, in which order, with which
Spark type and role; which fields identify records or patients; how derived fields are derived;
which dates must be ordered; and the disclosure policy. Adding a dataset means adding a spec
file, not code. Specs are validated on load so that a typo fails loudly with the file and the
field at fault, instead of producing a silently wrong artificial table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from artificial_data.common.value_domains import (
    DomainError,
    ValueDomain,
    parse_domain,
    resolve_domain,
)

ROLES = (
    "categorical",
    "discrete",
    "continuous",
    "date",
    "patient_categorical",
    "patient_date",
    "identifier",
    "derived",
)
#: Roles whose values are summarised by the scraper and sampled by the generator.
SCRAPED_ROLES = frozenset(ROLES) - {"identifier", "derived"}

_SIMPLE_TYPES = ("string", "int", "long", "double", "date", "boolean")
_DECIMAL_TYPE = re.compile(r"^decimal\((\d+),(\d+)\)$")
_FIELD_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_FINANCIAL_YEAR = re.compile(r"^\d{4}$")
_DATASET_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

DERIVATION_KINDS = (
    "truncate",  # first `length` characters of `source`
    "concat",  # comma-joined non-empty codes of `sources`
    "count",  # number of `sources` holding a real code (not null, '&' or '-')
    "age_years",  # whole years between `birth` (MMYYYY) and `at`, HES infant codes, capped
    "age_fraction",  # fractional years between `birth` and `at`
    "age_fraction_from_code",  # fractional age from an age field that uses HES infant codes
)
IDENTIFIER_FORMATS = ("digits", "alphanumeric")


class SpecError(ValueError):
    """A dataset spec is malformed. The message names the spec file and the part at fault."""


@dataclass(frozen=True)
class Derivation:
    """How a derived field is computed from other fields after sampling."""

    kind: str
    source: str | None = None
    sources: tuple[str, ...] = ()
    length: int | None = None
    birth: str | None = None
    at: str | None = None
    cap: int | None = None

    def inputs(self) -> tuple[str, ...]:
        """Every field this derivation reads."""
        names = [self.source, self.birth, self.at, *self.sources]
        return tuple(n for n in names if n)


@dataclass(frozen=True)
class IdentifierFormat:
    """The shape of artificial identifier values (never learnt from data)."""

    format: str
    length: int
    prefix: str = ""
    per: str = "record"  # "record" (unique per row) or "patient" (one per patient)


@dataclass(frozen=True)
class FieldSpec:
    """One column of a HES table."""

    name: str
    position: int
    spark_type: str
    role: str
    derivation: Derivation | None = None
    identifier: IdentifierFormat | None = None
    org_code: bool = False
    time_of_day: bool = False
    domain: ValueDomain | None = None

    @property
    def is_scraped(self) -> bool:
        return self.role in SCRAPED_ROLES

    @property
    def is_numeric(self) -> bool:
        return self.spark_type in ("int", "long", "double") or self.spark_type.startswith("decimal")

    @property
    def domain_kind(self) -> str:
        """What kind of values the scraper publishes for this field: ``number`` (numeric
        categoricals, discrete and continuous fields; times of day as minutes after midnight),
        ``date`` (date-typed date fields) or ``text`` (everything else)."""
        if self.role == "continuous" or (
            self.role in ("categorical", "discrete") and self.is_numeric
        ):
            return "number"
        if self.role == "date" and self.spark_type == "date":
            return "date"
        return "text"


@dataclass(frozen=True)
class Duration:
    """A duration field that must equal the days between two dates where both exist."""

    field: str
    start: str
    end: str


#: The HES publication rule is the floor: a spec may only tighten it (DESIGN §6).
HES_MIN_COUNT = 8
HES_ROUNDING_BASE = 5


@dataclass(frozen=True)
class DisclosurePolicy:
    """Small-number suppression and rounding (DESIGN §6).

    A value is published only if its *raw* count is at least ``min_count``; published counts
    are rounded half-up to the nearest ``rounding_base``.
    """

    min_count: int = 8
    rounding_base: int = 5
    name: str = "hes-publication-rule"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "min_count": self.min_count, "rounding_base": self.rounding_base}

    def floor_breaches(self) -> list[str]:
        """How this policy is looser than the HES rule (empty when it is at least as strict).

        Stricter means a higher threshold and rounding to a multiple of 5 (10, 15, ...): rounding
        to 7 is not comparable with rounding to 5, so it is refused too.
        """
        breaches = []
        if self.min_count < HES_MIN_COUNT:
            breaches.append(
                f"min_count {self.min_count} publishes raw counts below {HES_MIN_COUNT}"
            )
        if self.rounding_base < HES_ROUNDING_BASE or self.rounding_base % HES_ROUNDING_BASE:
            breaches.append(
                f"rounding_base {self.rounding_base} is not a multiple of {HES_ROUNDING_BASE}"
            )
        return breaches


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the pipeline knows about one dataset."""

    dataset: str
    title: str
    spec_version: int
    financial_years: tuple[str, ...]
    primary_key: str
    patient_key: str
    fields: tuple[FieldSpec, ...]
    source_table: str
    published_table: str
    forbidden_identifiers: tuple[str, ...]
    excluded_source_columns: tuple[str, ...] = ()
    date_chains: tuple[tuple[str, ...], ...] = ()
    durations: tuple[Duration, ...] = ()
    disclosure: DisclosurePolicy = field(default_factory=DisclosurePolicy)
    path: str = ""
    #: Durations in minutes between two times of day (AE: INITDUR from ARRIVALTIME to
    #: INITTIME, ...): the end time is the start time plus the duration, modulo a day.
    clock_durations: tuple[Duration, ...] = ()
    #: Positional code groups (DIAG_4_01..20, ...): each filled in position order, so a row
    #: never has an empty position before a filled one. Declared by prefix in the spec.
    code_groups: tuple[tuple[str, ...], ...] = ()
    #: Categorical fields HES records once per patient for a year (residence), declared by
    #: name: each is released as patient patterns and sampled per patient, with the released
    #: share of patients whose episodes disagree (their role becomes ``patient_categorical``).
    per_patient: tuple[str, ...] = ()

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.dataset}: no field {name!r} in the spec")

    def fields_with_role(self, *roles: str) -> list[FieldSpec]:
        return [f for f in self.fields if f.role in roles]

    @property
    def scraped_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.is_scraped]

    def source_table_for(self, financial_year: str) -> str:
        return self.source_table.format(fyear=financial_year)

    def published_table_for(self, financial_year: str) -> str:
        return self.published_table.format(fyear=financial_year)


# --------------------------------------------------------------------------------------------
# Loading and validation
# --------------------------------------------------------------------------------------------


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise SpecError(f"{where}: missing required key {key!r}")
    return mapping[key]


def _check_keys(mapping: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - allowed)
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def valid_spark_type(spark_type: str) -> bool:
    return spark_type in _SIMPLE_TYPES or bool(_DECIMAL_TYPE.match(spark_type))


def _parse_field(
    raw: dict[str, Any], position: int, where: str, domains: dict[str, ValueDomain]
) -> FieldSpec:
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: each field must be a mapping, got {raw!r}")
    _check_keys(
        raw,
        {"name", "type", "role", "derivation", "identifier", "org_code", "time_of_day", "domain"},
        where,
    )
    name = str(_require(raw, "name", where))
    where = f"{where} ({name})"
    if not _FIELD_NAME.match(name):
        raise SpecError(f"{where}: field name must be upper-case letters, digits and '_'")
    spark_type = str(_require(raw, "type", where))
    if not valid_spark_type(spark_type):
        raise SpecError(f"{where}: unknown Spark type {spark_type!r}")
    role = str(_require(raw, "role", where))
    if role not in ROLES:
        raise SpecError(f"{where}: unknown role {role!r}; expected one of {list(ROLES)}")

    derivation = None
    if "derivation" in raw:
        d = raw["derivation"]
        _check_keys(d, {"kind", "source", "sources", "length", "birth", "at", "cap"}, where)
        kind = str(_require(d, "kind", f"{where} derivation"))
        if kind not in DERIVATION_KINDS:
            raise SpecError(f"{where}: unknown derivation kind {kind!r}")
        derivation = Derivation(
            kind=kind,
            source=d.get("source"),
            sources=tuple(d.get("sources") or ()),
            length=d.get("length"),
            birth=d.get("birth"),
            at=d.get("at"),
            cap=d.get("cap"),
        )
    if role == "derived" and derivation is None:
        raise SpecError(f"{where}: a derived field needs a 'derivation'")
    if role != "derived" and derivation is not None:
        raise SpecError(f"{where}: only derived fields may have a 'derivation' (role is {role})")

    identifier = None
    if "identifier" in raw:
        i = raw["identifier"]
        _check_keys(i, {"format", "length", "prefix", "per"}, where)
        fmt = str(_require(i, "format", f"{where} identifier"))
        if fmt not in IDENTIFIER_FORMATS:
            raise SpecError(f"{where}: unknown identifier format {fmt!r}")
        per = str(i.get("per", "record"))
        if per not in ("record", "patient"):
            raise SpecError(f"{where}: identifier 'per' must be 'record' or 'patient'")
        identifier = IdentifierFormat(
            format=fmt,
            length=int(_require(i, "length", where)),
            prefix=str(i.get("prefix", "")),
            per=per,
        )
    if role == "identifier" and identifier is None:
        raise SpecError(f"{where}: an identifier field needs an 'identifier' format")

    spec_field = FieldSpec(
        name=name,
        position=position,
        spark_type=spark_type,
        role=role,
        derivation=derivation,
        identifier=identifier,
        org_code=bool(raw.get("org_code", False)),
        time_of_day=bool(raw.get("time_of_day", False)),
    )
    return _with_domain(spec_field, raw.get("domain"), domains, where)


def _with_domain(
    spec_field: FieldSpec, declared: Any, domains: dict[str, ValueDomain], where: str
) -> FieldSpec:
    """Attach the field's declared value domain; every scraped field must declare one whose
    kind fits the values the scraper publishes for it."""
    if declared is None:
        if spec_field.is_scraped:
            raise SpecError(
                f"{where}: a scraped field must declare its value 'domain' (a named domain or "
                "codes, a pattern, a range or dates)"
            )
        return spec_field
    if not spec_field.is_scraped:
        raise SpecError(f"{where}: only scraped fields have a domain (role is {spec_field.role})")
    try:
        domain = resolve_domain(declared, domains, spec_field.name, where)
    except DomainError as exc:
        raise SpecError(str(exc)) from exc
    fits = {"number": domain.is_numeric, "date": domain.is_date, "text": domain.is_text}
    if not fits[spec_field.domain_kind]:
        raise SpecError(
            f"{where}: domain {domain.name!r} ({domain.kind}) does not fit a field whose "
            f"published values are {spec_field.domain_kind}s"
        )
    return replace(spec_field, domain=domain)


_TOP_LEVEL_KEYS = {
    "dataset",
    "title",
    "spec_version",
    "financial_years",
    "primary_key",
    "patient_key",
    "source_table",
    "published_table",
    "forbidden_identifiers",
    "excluded_source_columns",
    "date_chains",
    "durations",
    "code_groups",
    "clock_durations",
    "per_patient",
    "disclosure",
    "domains",
    "fields",
}


def parse_spec(document: dict[str, Any], path: str = "<spec>") -> DatasetSpec:
    """Build and cross-check a :class:`DatasetSpec` from a parsed YAML document."""
    if not isinstance(document, dict):
        raise SpecError(f"{path}: a spec must be a mapping at top level")
    _check_keys(document, _TOP_LEVEL_KEYS, path)
    dataset = str(_require(document, "dataset", path))
    if not _DATASET_NAME.match(dataset):
        raise SpecError(f"{path}: dataset name {dataset!r} must be lower-case snake_case")
    where = f"{path} [{dataset}]"

    years = tuple(str(y) for y in _require(document, "financial_years", where))
    for y in years:
        if not _FINANCIAL_YEAR.match(y) or (int(y[:2]) + 1) % 100 != int(y[2:]):
            raise SpecError(f"{where}: financial year {y!r} is not HES-coded like '2122'")
    if not years:
        raise SpecError(f"{where}: financial_years is empty")

    local_domains = document.get("domains") or {}
    if not isinstance(local_domains, dict):
        raise SpecError(f"{where}: 'domains' must map names to domain declarations")
    try:
        domains = {
            str(n): parse_domain(str(n), d, f"{where} domains.{n}")
            for n, d in local_domains.items()
        }
    except DomainError as exc:
        raise SpecError(str(exc)) from exc
    raw_fields = _require(document, "fields", where)
    fields = tuple(
        _parse_field(f, i + 1, f"{where} field #{i + 1}", domains) for i, f in enumerate(raw_fields)
    )
    names = [f.name for f in fields]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"{where}: duplicate field names {duplicates}")
    per_patient = tuple(str(n) for n in document.get("per_patient") or ())
    unknown = sorted(set(per_patient) - set(names))
    if unknown:
        raise SpecError(f"{where}: per_patient refers to unknown fields {unknown}")
    wrong = sorted(f.name for f in fields if f.name in per_patient and f.role != "categorical")
    if wrong:
        raise SpecError(f"{where}: per_patient fields {wrong} must have role 'categorical'")
    # A categorical field HES holds once per patient (residence): sampled per patient like SEX.
    fields = tuple(
        replace(f, role="patient_categorical") if f.name in per_patient else f for f in fields
    )
    by_name = {f.name: f for f in fields}

    def known(name: str, what: str) -> str:
        if name not in by_name:
            raise SpecError(f"{where}: {what} refers to unknown field {name!r}")
        return name

    primary_key = known(str(_require(document, "primary_key", where)), "primary_key")
    patient_key = known(str(_require(document, "patient_key", where)), "patient_key")
    for key in (primary_key, patient_key):
        if by_name[key].role != "identifier":
            raise SpecError(f"{where}: key field {key} must have role 'identifier'")
    if by_name[patient_key].identifier and by_name[patient_key].identifier.per != "patient":
        raise SpecError(f"{where}: patient key {patient_key} must be an identifier per patient")

    for f in fields:
        if f.derivation:
            for src in f.derivation.inputs():
                known(src, f"derivation of {f.name}")

    chains = tuple(
        tuple(known(str(n), "date_chains") for n in chain)
        for chain in document.get("date_chains") or ()
    )
    for chain in chains:
        for n in chain:
            if by_name[n].role != "date":
                raise SpecError(f"{where}: date chain member {n} must have role 'date'")

    durations = []
    for d in document.get("durations") or ():
        _check_keys(d, {"field", "start", "end"}, f"{where} durations")
        durations.append(
            Duration(
                field=known(str(d["field"]), "durations"),
                start=known(str(d["start"]), "durations"),
                end=known(str(d["end"]), "durations"),
            )
        )

    clock = []
    for d in document.get("clock_durations") or ():
        _check_keys(d, {"field", "start", "end"}, f"{where} clock_durations")
        entry = Duration(
            field=known(str(d["field"]), "clock_durations"),
            start=known(str(d["start"]), "clock_durations"),
            end=known(str(d["end"]), "clock_durations"),
        )
        if not (by_name[entry.start].time_of_day and by_name[entry.end].time_of_day):
            raise SpecError(f"{where}: clock duration {entry.field} needs two time_of_day fields")
        if by_name[entry.field].role != "continuous" or by_name[entry.field].time_of_day:
            raise SpecError(f"{where}: clock duration {entry.field} must be a continuous count")
        clock.append(entry)

    groups = []
    for prefix in document.get("code_groups") or ():
        pattern = re.compile(re.escape(str(prefix)) + r"\d{2}")
        members = tuple(n for n in names if pattern.fullmatch(n))
        if len(members) < 2:
            raise SpecError(f"{where}: code group {prefix!r} needs at least two fields NN")
        numbers = [int(n[len(str(prefix)) :]) for n in members]
        if numbers != list(range(1, len(members) + 1)):
            raise SpecError(f"{where}: code group {prefix!r} must number its fields 01, 02, ...")
        for n in members:
            if by_name[n].role != "categorical":
                raise SpecError(f"{where}: code group member {n} must have role 'categorical'")
        groups.append(members)

    policy_doc = document.get("disclosure") or {}
    _check_keys(policy_doc, {"name", "min_count", "rounding_base"}, f"{where} disclosure")
    policy = DisclosurePolicy(**policy_doc)
    breaches = policy.floor_breaches()
    if breaches:
        raise SpecError(
            f"{where}: dataset {dataset}: the disclosure policy may only tighten the HES rule "
            f"(raw counts 1-{HES_MIN_COUNT - 1} dropped, counts rounded to "
            f"{HES_ROUNDING_BASE}): " + "; ".join(breaches)
        )

    forbidden = tuple(str(n).upper() for n in _require(document, "forbidden_identifiers", where))
    clash = sorted(set(forbidden) & set(names))
    if clash:
        raise SpecError(f"{where}: forbidden identifiers {clash} may not be fields of the spec")

    return DatasetSpec(
        dataset=dataset,
        title=str(document.get("title", dataset)),
        spec_version=int(_require(document, "spec_version", where)),
        financial_years=years,
        primary_key=primary_key,
        patient_key=patient_key,
        fields=fields,
        source_table=str(_require(document, "source_table", where)),
        published_table=str(_require(document, "published_table", where)),
        forbidden_identifiers=forbidden,
        excluded_source_columns=tuple(
            str(n).upper() for n in document.get("excluded_source_columns") or ()
        ),
        date_chains=chains,
        durations=tuple(durations),
        code_groups=tuple(groups),
        clock_durations=tuple(clock),
        per_patient=per_patient,
        disclosure=policy,
        path=path,
    )


def load_spec_file(path: str | Path) -> DatasetSpec:
    """Load and validate one spec file."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    return parse_spec(document, str(path))


def _bundled_spec_files() -> dict[str, Any]:
    folder = resources.files("artificial_data.common") / "specs"
    return {p.name[: -len(".yaml")]: p for p in folder.iterdir() if p.name.endswith(".yaml")}


def available_datasets() -> list[str]:
    """The datasets that have a bundled spec, sorted."""
    return sorted(_bundled_spec_files())


@cache
def load_spec(dataset: str) -> DatasetSpec:
    """Load the bundled spec of ``dataset`` (cached: specs are immutable)."""
    files = _bundled_spec_files()
    if dataset not in files:
        raise SpecError(f"no spec for dataset {dataset!r}; available: {sorted(files)}")
    spec_path = files[dataset]
    document = yaml.safe_load(spec_path.read_text())
    spec = parse_spec(document, f"specs/{dataset}.yaml")
    if spec.dataset != dataset:
        raise SpecError(f"specs/{dataset}.yaml declares dataset {spec.dataset!r}")
    return spec


def load_all_specs() -> list[DatasetSpec]:
    return [load_spec(d) for d in available_datasets()]
