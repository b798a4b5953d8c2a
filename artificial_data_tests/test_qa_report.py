"""What the Dagster UI shows of QA: the whole report with its charts as images the UI's Markdown
renders, check descriptions that name their thresholds, and informational checks that are
"Passed" in Dagster when they passed (a failed blocking one still stops publication)."""

from __future__ import annotations

import base64
import json
import re

import pyarrow.parquet as pq
import pytest

from artificial_data.generator.qa import CHECK_NAMES, run_qa
from artificial_data.generator.qa.charts import grouped_bars, markdown_image, svg_data_uri
from artificial_data.generator.qa.consistency import AGE_FRACTION_TOLERANCE
from artificial_data.generator.qa.distances import FALSE_FAILURE_RATE, NOISE_FACTOR, Distance
from artificial_data.generator.qa.fields import (
    COVERAGE_MIN_EXPECTED,
    NULL_RATE_Z,
    FieldOutcome,
    null_share_range,
)
from artificial_data.generator.qa.independence import MAX_CATEGORIES, RANDOM_PAIRS, WARNING_RATE
from artificial_data.generator.qa.patients import WARNING_Z
from artificial_data.generator.qa.result import CHECK_DESCRIPTIONS, power_of_ten
from artificial_data_tests.qa_tables import clean_table, hand_made_metadata, mini_spec

IMAGE = re.compile(r"!\[([^\]]*)\]\((data:image/svg\+xml;base64,[A-Za-z0-9+/=]+)\)")
YEAR = "2122"


@pytest.fixture(scope="module")
def spec():
    return mini_spec()


@pytest.fixture(scope="module")
def metadata(spec):
    return hand_made_metadata(spec)


@pytest.fixture(scope="module")
def result(spec, metadata):
    return run_qa(clean_table(spec, metadata, 600, seed=3), metadata, spec, YEAR)


# ------------------------------------------------------------------------------ the report


def test_the_markdown_report_holds_every_chart_of_the_html_report_as_an_image(result):
    images = IMAGE.findall(result.markdown)
    assert len(images) == result.html.count("<svg") >= 3
    svgs = [base64.b64decode(uri.split(",", 1)[1]).decode() for _, uri in images]
    # The same charts, byte for byte, in both renderings.
    assert all(svg in result.html for svg in svgs)
    titles = [alt for alt, _ in images]
    assert "Share of patients by number of episodes" in titles
    assert "Share of nulls per field" in titles
    assert "ADMIMETH: top values" in titles
    # No raw HTML in the Markdown: the UI would show it as text.
    assert "<svg" not in result.markdown


def test_the_markdown_report_says_what_each_check_checks(result):
    for name in CHECK_NAMES:
        assert f"`{name}` (" in result.markdown
        assert CHECK_DESCRIPTIONS[name] in result.markdown


def test_a_data_uri_survives_markdown_link_syntax():
    svg = grouped_bars(
        "A (b) [c]", ["x)", "y"], {"metadata": [0.5, 0.25], "artificial": [0.4, 0.3]}
    )
    uri = svg_data_uri(svg)
    assert uri.startswith("data:image/svg+xml;base64,")
    assert set(uri.split(",", 1)[1]) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
    )
    (alt, found) = IMAGE.fullmatch(markdown_image("A (b) [c]", svg)).groups()
    assert found == uri and "[" not in alt
    assert base64.b64decode(found.split(",", 1)[1]).decode() == svg


def test_a_failed_informational_check_reads_as_dagster_labels_it(spec, metadata, result):
    """The report's word for a check agrees with the UI's: Passed or Failed, and whether a
    failure blocks."""
    assert "| null_rates | no | pass |" in result.markdown
    table = clean_table(spec, metadata, 600, seed=3)
    column = table.schema.get_field_index("ADMIMETH")
    values = [None] * 300 + table.column("ADMIMETH").to_pylist()[300:]
    nulled = table.set_column(column, table.schema.field(column), pq_array(values, table, column))
    check = run_qa(nulled, metadata, spec, YEAR).check("null_rates")
    assert not check.passed and not check.blocking
    report = run_qa(nulled, metadata, spec, YEAR).markdown
    assert "| null_rates | no | failed (informational: does not block) |" in report


def pq_array(values, table, column):
    import pyarrow as pa

    return pa.array(values, table.schema.field(column).type)


# ------------------------------------------------------------------- descriptions, thresholds


def test_every_description_names_its_threshold_from_the_qa_code():
    alpha = power_of_ten(FALSE_FAILURE_RATE)
    assert alpha == "10⁻⁶"
    distance = (f"{NOISE_FACTOR:g}·E[TVD]", f"α = {alpha}")
    expected = {
        "schema": ("0 differences",),
        "primary_key": ("0 rows",),
        "identifiers": ("0 rows",),
        "value_domain": ("0 rows",),
        "derived_fields": ("0 rows", f"±{AGE_FRACTION_TOLERANCE:g}"),
        "date_chains": ("0 rows",),
        "durations": ("0 rows",),
        "field_distributions": distance,
        "date_distributions": (*distance, "Bernstein"),
        "patient_consistency": (f"{WARNING_Z:g} standard errors", f"α = {alpha}", "0 rows"),
        "field_independence": (
            f"{power_of_ten(WARNING_RATE)} / pairs",
            f"α = {alpha}",
            f"at most {MAX_CATEGORIES} categories",
            f"{RANDOM_PAIRS} random",
        ),
        "episodes_per_patient": distance,
        "null_rates": (f"{NULL_RATE_Z:g} binomial standard errors",),
        "category_coverage": (f"expected {COVERAGE_MIN_EXPECTED:g} or more",),
    }
    assert set(expected) == set(CHECK_DESCRIPTIONS) == set(CHECK_NAMES)
    for name, thresholds in expected.items():
        for threshold in thresholds:
            assert threshold in CHECK_DESCRIPTIONS[name], (name, threshold)
        kind = "Informational" if not CHECK_NAMES[name] else None
        assert kind is None or CHECK_DESCRIPTIONS[name].startswith(kind)


def test_powers_of_ten_read_as_the_design_writes_them():
    assert power_of_ten(1e-2) == "10⁻²"
    assert power_of_ten(1e3) == "10³"
    assert power_of_ten(0.05) == "0.05"


# -------------------------------------------------------------- null rates of placed dates


def _outcome(expected, observed, n, low=None) -> FieldOutcome:
    return FieldOutcome(
        name="ELECDATE",
        value_type="DATE",
        distance=Distance("tvd", 0.0, 1.0, 1.0, n),
        blocking=True,
        expected_null=expected,
        observed_null=observed,
        n=n,
        expected_null_low=low,
    )


def test_a_placed_date_may_have_its_sources_null_share():
    """Suppression thins a date's released days, not its nulls: a placed date drawn at the
    source's null share (0.734 x (1 - 0.309) = 0.507) is not a null-rate failure (the demo's
    hes_apc 2122 failed `null_rates` on ELECDATE: 0.532 null against 0.734 released)."""
    low = 0.734 * (1 - 0.309)
    assert not _outcome(0.734, 0.532, 1000, low).null_rate_flagged
    assert _outcome(0.734, 0.532, 1000).null_rate_flagged  # the old, single-share reading
    assert _outcome(0.734, 0.40, 1000, low).null_rate_flagged  # well below the range
    assert _outcome(0.734, 0.85, 1000, low).null_rate_flagged  # above it


def test_the_null_share_range_comes_from_the_suppressed_share(spec, metadata):
    from artificial_data.generator.qa.expected import build_expectations

    expectations = build_expectations(metadata, spec)
    member = next(
        e.frequency
        for e in expectations.fields.values()
        if e.frequency is not None and e.frequency.null_share > 0
    )
    assert null_share_range(member, None) is None
    assert null_share_range(member, int(member.weight)) is None  # nothing suppressed
    low = null_share_range(member, int(member.weight * 2))
    assert low == pytest.approx(member.null_share * 0.5, rel=1e-3)


# ------------------------------------------------------------------------- through Dagster


def _release_and_artificial(home, signers, spec, table, metadata):
    """A signed release of the mini metadata and one artificial partition of it."""
    from artificial_data.common import metadata_contract as contract
    from artificial_data.common.metadata_store import write_metadata
    from artificial_data.common.released import statement_files
    from artificial_data.common.stores import ARTIFICIAL, METADATA_RELEASED, ScopedStores
    from artificial_data.generator.assets import GENERATION_FILE
    from artificial_data_tests.metadata_factory import header

    hdr = header(spec, YEAR)
    rows = contract.validate(metadata, table_name=hdr.table_name)
    digest = contract.content_hash(rows, hdr)
    sign = dict(dataset=spec.dataset, year=YEAR, content_hash=digest, review_pack_hash="c" * 64)
    reviewer = signers.sign("reviewer", "ada@example.org", **sign)
    approver = signers.sign("approver", "grace@example.org", **sign)
    review = ScopedStores.for_location("review", home)
    write_metadata(
        review,
        METADATA_RELEASED,
        spec.dataset,
        YEAR,
        rows,
        hdr,
        extra_files=statement_files(reviewer, approver),
    )
    provenance = {
        "dataset": spec.dataset,
        "rows": table.num_rows,
        "seed": 3,
        "size": "sample",
        "metadata_content_hash": digest,
        "sign_off": {"demo": False, "pair_digest": "p" * 64},
    }

    def write(folder):
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-00000.parquet")
        (folder / GENERATION_FILE).write_text(json.dumps(provenance))

    ScopedStores.for_location("generator", home).write_partition(
        ARTIFICIAL, spec.dataset, YEAR, write
    )


def _qa_then_publish(spec, instance):
    from dagster import materialize

    from artificial_data.generator.publication import build_published_asset
    from artificial_data.generator.qa_assets import build_qa_asset
    from artificial_data.orchestration.resources import GeneratorStores, spark_resource

    return materialize(
        [build_qa_asset(spec), build_published_asset(spec)],
        partition_key=YEAR,
        instance=instance,
        resources={"stores": GeneratorStores(), "spark": spark_resource("unused")},
        raise_on_error=False,
    )


def _latest(instance, spec, check):
    from dagster import AssetCheckKey

    from artificial_data.orchestration.keys import qa_key

    return instance.get_latest_asset_check_evaluation_record(
        AssetCheckKey(qa_key(spec.dataset), check)
    )


def test_in_dagster_a_passed_informational_check_is_passed_and_a_failed_blocking_one_blocks(
    home, signers, spec, metadata
):
    from dagster import DagsterInstance

    from artificial_data.orchestration.keys import published_key, qa_key

    instance = DagsterInstance.ephemeral()
    clean = clean_table(spec, metadata, 600, seed=3)
    _release_and_artificial(home, signers, spec, clean, metadata)
    result = _qa_then_publish(spec, instance)
    for check in CHECK_NAMES:
        latest = _latest(instance, spec, check)
        assert latest.status.value == "SUCCEEDED", check
        assert latest.event.dagster_event.event_specific_data.passed
    assert result.success
    assert _materialised(result, published_key(spec.dataset))
    (shown,) = _materialised(result, qa_key(spec.dataset))
    report = shown["report"].value
    assert IMAGE.search(report) and report.endswith("\n")  # whole, not cut
    assert shown["report_bytes"].value == len(report.encode())
    assert "html" not in shown  # no server path posing as a link

    # A blocking failure (values outside the domain, nulls kept) still stops publication in
    # the run, and leaves the informational checks that passed passed.
    column = clean.schema.get_field_index("ADMIMETH")
    values = [None if v is None else "99" for v in clean.column("ADMIMETH").to_pylist()]
    broken = clean.set_column(column, clean.schema.field(column), pq_array(values, clean, column))
    _release_and_artificial(home, signers, spec, broken, metadata)
    failed = _qa_then_publish(spec, instance)
    assert not failed.success
    latest = _latest(instance, spec, "value_domain")
    assert latest.status.value == "FAILED"
    assert _latest(instance, spec, "null_rates").status.value == "SUCCEEDED"
    assert _materialised(failed, published_key(spec.dataset)) == []


def _materialised(result, key) -> list:
    return [
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key == key
    ]


def test_the_reviewer_guides_check_fragment_is_up_to_date():
    """docs/reviewer_guide_checks.md is written from the descriptions Dagster shows (run
    `python -m artificial_data.reviewer_checks_doc` after changing one)."""
    from artificial_data.reviewer_checks_doc import DOC, disclosure_descriptions, render

    text = render()
    assert DOC.read_text() == text
    for description in [*CHECK_DESCRIPTIONS.values(), *disclosure_descriptions().values()]:
        assert description.replace("|", "\\|") in text
