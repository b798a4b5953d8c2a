"""The simulator draws inside every field's declared value domain (DESIGN §6: one list, not
three). No Spark: the raw partition is written with pyarrow and read back with pyarrow."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import FieldSpec, load_spec, parse_spec
from artificial_data.common.patterns import (
    PatternError,
    distinct_matches,
    parse_pattern,
    random_match,
)
from artificial_data.common.stores import ScopedStores
from artificial_data.common.value_domains import named_domains, parse_domain
from artificial_data.simulator import simulate_chunks, write_raw_partition
from artificial_data.simulator.domains import (
    HES_UNKNOWN_CODES,
    catalogue,
    domain_for,
    generic_domain,
)

DATASETS = ("hes_apc", "hes_op", "hes_ae")
YEAR = "2122"
ROWS = 3_000
CHUNK = 250  # 12 chunks: chunk i plants every field's i-th rare value, so most are planted
_HHMM = re.compile(r"([01][0-9]|2[0-3])([0-5][0-9])")


def _minutes(text):
    """HHMM text as minutes after midnight (how the scraper publishes a time of day)."""
    if text is None:
        return None
    m = _HHMM.fullmatch(text)
    return int(m[1]) * 60 + int(m[2]) if m else float("inf")


def outside(field: FieldSpec, values: list) -> list:
    """The distinct values of ``field`` that its declared domain refuses."""
    domain = field.domain
    if field.domain_kind == "number":
        if field.time_of_day:
            checked = [_minutes(v) for v in values]
        else:
            checked = [float(v) if isinstance(v, Decimal) else v for v in values]
        ok = domain.allows_numbers(checked)
    elif field.domain_kind == "date":
        ok = domain.allows_dates(values)
    else:
        ok = domain.allows_text(values)
    return sorted({repr(v) for v, good in zip(values, ok, strict=True) if not good})


@pytest.fixture(scope="module")
def raw_tables(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("raw_domains")
    stores = ScopedStores.for_location("scraper", root, simulated_raw=True)
    tables = {}
    for dataset in DATASETS:
        info = write_raw_partition(
            stores, load_spec(dataset), YEAR, rows=ROWS, seed=11, chunk_rows=CHUNK
        )
        tables[dataset] = pq.read_table(info.path)
    return tables


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_simulated_value_of_every_scraped_field_is_inside_its_domain(raw_tables, dataset):
    spec = load_spec(dataset)
    table = raw_tables[dataset]
    assert table.num_rows == ROWS
    bad = {
        f.name: outside(f, table[f.name].to_pylist())[:5]
        for f in spec.scraped_fields
        if outside(f, table[f.name].to_pylist())
    }
    assert bad == {}


def test_the_domain_check_of_these_tests_does_catch_outsiders():
    apc, ae = load_spec("hes_apc"), load_spec("hes_ae")
    assert outside(apc.field("DIAG_4_01"), ["I10X", "&", None, "John Smith"]) == ["'John Smith'"]
    assert outside(ae.field("ARRIVALTIME"), ["0930", "2359", "2400"]) == ["'2400'"]
    assert outside(apc.field("ALCNRWFRAC"), [Decimal("0.5"), Decimal("1.5")]) == ["Decimal('1.5')"]


@pytest.mark.parametrize("dataset", DATASETS)
def test_planted_rare_values_were_written_and_are_inside_their_domains(raw_tables, dataset):
    spec = load_spec(dataset)
    table = raw_tables[dataset]
    planted = 0
    for f in spec.scraped_fields:
        if f.role in ("date", "patient_date", "continuous"):
            continue
        dom = domain_for(f)
        column = set(table[f.name].to_pylist())
        written = [v for v in dom.rare[: ROWS // CHUNK] if v in column]
        planted += len(written)
        assert outside(f, list(dom.rare)) == [], f.name
    assert planted >= 30


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_simulator_domain_of_a_scraped_field_lies_inside_the_declared_one(dataset):
    """The specific HES catalogue lists and the generic fallbacks alike (values and rare)."""
    cat = catalogue()
    used = set()
    for f in load_spec(dataset).scraped_fields:
        if f.role in ("date", "patient_date", "continuous"):
            continue
        for dom in {id(d): d for d in (domain_for(f), generic_domain(f))}.values():
            assert outside(f, [*dom.values, *dom.rare]) == [], f.name
        used |= {name for name, d in cat.items() if d is domain_for(f)}
    assert used  # the catalogue is really exercised


def test_the_models_code_books_lie_inside_the_domains_of_the_fields_they_fill():
    """Code lists the dataset models draw from directly (not through ``domain_for``)."""
    from artificial_data.simulator import codes as C
    from artificial_data.simulator.domains import REGIONS, providers
    from artificial_data.simulator.models import _ae_codes

    apc, ae = load_spec("hes_apc"), load_spec("hes_ae")
    trusts = list(providers()[0])
    books = {
        apc.field("DIAG_4_01"): list(C.icd10().codes),
        apc.field("OPERTN_4_01"): list(C.opcs4().codes),
        apc.field("ALCDIAG_4"): [c for c, _ in C.ALCOHOL_CODES],
        apc.field("CAUSE_4"): list(C.EXTERNAL_CAUSES),
        apc.field("CAUSE_3"): [c[:3] for c in C.EXTERNAL_CAUSES],
        apc.field("PROCODE3"): trusts,
        apc.field("SITETRET"): [f"{t}{s:02d}" for t in trusts for s in range(1, 9)],
        apc.field("GORTREAT"): list(REGIONS),
        ae.field("DIAG3_01"): list(_ae_codes("diag").values),
        ae.field("TREAT3_01"): list(_ae_codes("treat").values),
        ae.field("INVEST2_01"): list(_ae_codes("invest").values),
        ae.field("DIAGA_01"): list(_ae_codes("area").values),
        ae.field("DIAGS_01"): list(_ae_codes("side").values),
    }
    bad = {f.name: outside(f, values)[:5] for f, values in books.items()}
    assert {name: found for name, found in bad.items() if found} == {}


def test_sex_and_ethnicity_codes_are_inside_the_library_domains():
    from artificial_data.simulator.patients import ETHNOS_CODES, SEX_CODES

    lib = named_domains()
    assert lib["sex"].allows_text(SEX_CODES).all()
    assert lib["ethnos"].allows_text(ETHNOS_CODES).all()


# ------------------------------------------------------------------------------ generic domains


def _field(name: str, spark_type: str, declared: dict) -> FieldSpec:
    f = FieldSpec(name=name, position=1, spark_type=spark_type, role="categorical")
    return replace(f, domain=parse_domain(name.lower(), declared, "test"))


def test_a_closed_code_list_is_drawn_from_with_unknown_codes_rarest():
    f = _field("XCODES", "string", {"codes": ["01", "02", "03", "04", "05", "06", "99", "&"]})
    dom = generic_domain(f)
    assert set(dom.values) | set(dom.rare) == set(f.domain.codes)
    assert dom.rare and not set(dom.rare) & HES_UNKNOWN_CODES
    weights = dict(zip(dom.values, dom.weights, strict=True))
    real = [w for v, w in weights.items() if v not in HES_UNKNOWN_CODES]
    assert max(weights["99"], weights["&"]) < min(real)
    draws = dom.sample(np.random.default_rng(1), 5_000).to_pylist()
    assert set(draws) - {None} <= set(dom.values)


def test_a_range_gives_small_whole_numbers_inside_it_and_its_extra_codes():
    f = _field("XAGE", "int", {"range": [0, 120], "integral": True, "codes": [7001, 7002]})
    dom = generic_domain(f)
    assert dom.kind == "int"
    assert f.domain.allows_numbers([*dom.values, *dom.rare]).all()
    assert {7001, 7002} <= set(dom.values)
    common = [v for v in dom.values if v < 7000]
    assert common == list(range(len(common))) and dom.weights[0] == max(dom.weights)
    narrow = generic_domain(_field("XFLAG", "int", {"range": [0, 1], "integral": True}))
    assert set(narrow.values) == {0, 1} and narrow.rare == ()


def test_a_fractional_range_on_a_decimal_field_gives_decimals_inside_it():
    f = _field("XFRAC", "decimal(16,15)", {"range": [0, 1]})
    dom = generic_domain(f)
    assert dom.kind == "float" and len(dom.rare) == 2
    assert f.domain.allows_numbers([*dom.values, *dom.rare]).all()
    assert any(not float(v).is_integer() for v in dom.values)


def test_a_pattern_gives_matching_codes_plus_the_declared_extra_codes():
    f = _field("XDIAG", "string", {"pattern": "[A-Z][0-9]{2}[0-9X]", "codes": ["&", "-"]})
    dom = generic_domain(f)
    codes = [v for v in dom.values if v not in ("&", "-")]
    assert codes and all(re.fullmatch("[A-Z][0-9]{2}[0-9X]", c) for c in [*codes, *dom.rare])
    assert {"&", "-"} <= set(dom.values) and not {"&", "-"} & set(dom.rare)


def test_generic_domains_are_deterministic_per_field_name():
    f = _field("XDET", "string", {"pattern": "[A-Z0-9]{3}([0-9]{2})?", "codes": ["&"]})
    first = generic_domain(f)
    generic_domain.cache_clear()
    again = generic_domain(f)
    assert again == first and again is not first
    other = generic_domain(replace(f, name="XDET2"))
    assert other.values != first.values


def test_a_new_dataset_without_specific_domains_is_simulated_inside_its_declared_ones():
    """A spec the simulator has no model or catalogue entry for: every field goes through
    ``generic_domain``, and every value (planted rare values included) is inside its domain."""
    ident = {"format": "digits", "length": 12}
    fields = [
        {"name": "XKEY", "type": "long", "role": "identifier", "identifier": ident},
        {
            "name": "XPATIENT",
            "type": "string",
            "role": "identifier",
            "identifier": {"format": "alphanumeric", "length": 20, "per": "patient"},
        },
        {"name": "XDIAG", "type": "string", "role": "categorical", "domain": "icd10_4"},
        {"name": "XORG", "type": "string", "role": "categorical", "domain": "referring_org"},
        {"name": "XMETH", "type": "string", "role": "categorical", "domain": "admimeth"},
        {"name": "XAGE", "type": "int", "role": "discrete", "domain": "age_years"},
        {"name": "XFRAC", "type": "decimal(16,15)", "role": "categorical", "domain": "fraction"},
        {"name": "XYEAR", "type": "int", "role": "categorical", "domain": "partition_year"},
        {"name": "XSHORT", "type": "string", "role": "patient_categorical", "domain": "short_code"},
        {
            "name": "XLOCAL",
            "type": "string",
            "role": "categorical",
            "domain": {"pattern": "Q[0-9]{2}|(AB|CD)[0-9]?", "codes": ["&"]},
        },
        {"name": "XCOUNT", "type": "long", "role": "categorical", "domain": {"codes": [1, 2, 5]}},
        {"name": "XWAIT", "type": "int", "role": "continuous", "domain": "wait_days"},
        {
            "name": "XTIME",
            "type": "string",
            "role": "continuous",
            "time_of_day": True,
            "domain": "time_of_day",
        },
        {"name": "XDATE", "type": "date", "role": "date", "domain": "hes_date"},
        {"name": "XDATETEXT", "type": "string", "role": "date", "domain": "hes_date_text"},
    ]
    spec = parse_spec(
        {
            "dataset": "hes_new",
            "spec_version": 1,
            "financial_years": [YEAR],
            "primary_key": "XKEY",
            "patient_key": "XPATIENT",
            "source_table": "hes.new_{fyear}",
            "published_table": "artificial_hes_new_{fyear}",
            "forbidden_identifiers": ["NHS_NUMBER"],
            "fields": fields,
        }
    )
    table = pa.concat_tables(simulate_chunks(spec, YEAR, 2_000, seed=4, chunk_rows=400))
    bad = {f.name: outside(f, table[f.name].to_pylist()) for f in spec.scraped_fields}
    assert {name: found for name, found in bad.items() if found} == {}
    for name in ("XDIAG", "XORG", "XMETH", "XAGE", "XLOCAL"):
        assert any(v in table[name].to_pylist() for v in generic_domain(spec.field(name)).rare)


def test_a_field_without_a_declared_domain_still_gets_a_generic_one():
    f = FieldSpec(name="XNONE", position=1, spark_type="string", role="categorical")
    assert len(generic_domain(f).values) >= 3


# ------------------------------------------------------------------------------ pattern generator


_PATTERNS = (
    "[0-9]{1,2}",
    "[A-Z0-9]{3}",
    "[A-Z][0-9]{2}[0-9X]",
    "[A-Z][0-9]{4,5}|[A-Z0-9]{3}[0-9]{2}",
    "[A-Z0-9]{3}([0-9]{2})?",
    "(0[1-9]|1[0-2])(18|19|20)[0-9]{2}",
    "[A-Z]|[0-9]|99",
    "(?:ab|c)+d*",
    r"\d{2}-[A\-]",
    "N[0-9]{2}",
)


@pytest.mark.parametrize("pattern", _PATTERNS)
def test_every_generated_code_fullmatches_its_pattern(pattern):
    rng = np.random.default_rng(5)
    codes = [random_match(pattern, rng) for _ in range(300)]
    assert all(re.fullmatch(pattern, c) for c in codes), pattern
    assert len(set(codes)) > 1


def test_every_pattern_of_the_library_and_the_specs_can_be_generated():
    patterns = {d.pattern for d in named_domains().values() if d.pattern}
    for dataset in DATASETS:
        patterns |= {
            f.domain.pattern for f in load_spec(dataset).scraped_fields if f.domain.pattern
        }
    rng = np.random.default_rng(9)
    for pattern in sorted(patterns):
        codes = distinct_matches(pattern, rng, 40)
        assert codes and all(re.fullmatch(pattern, c) for c in codes), pattern


def test_distinct_matches_stop_at_what_the_pattern_allows():
    rng = np.random.default_rng(2)
    assert sorted(distinct_matches("[AB]", rng, 10)) == ["A", "B"]
    assert distinct_matches("[0-9]", rng, 10, exclude=frozenset("0123456789")) == []


@pytest.mark.parametrize("pattern", ["^A$", "[^A]", "(?=A)A", r"(A)\1", "A{3,1}", "(A", "A)"])
def test_unsupported_syntax_is_refused(pattern):
    with pytest.raises(PatternError):
        parse_pattern(pattern)
