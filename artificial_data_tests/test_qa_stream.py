"""QA streamed (issue 16): a partition checked in record batches and single columns gives the
very report of the whole-table QA (``run_qa`` on the table in memory, kept as the reference),
clean or with defects whose first offending rows lie in different batches."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from artificial_data.common.dataset_spec import load_spec
from artificial_data.common.stores import ARTIFICIAL, ScopedStores
from artificial_data.common.table_rows import BATCH_ROWS, ParquetRows, TableRows
from artificial_data.common.tables import STAGING_FOLDER, TABLES_FOLDER
from artificial_data.generator.engine import generate_chunk, generation_seed
from artificial_data.generator.qa import independence as indep
from artificial_data.generator.qa import key_spill, run_qa, run_qa_rows, streamed
from artificial_data.generator.qa.api import _rules_check
from artificial_data.generator.qa.consistency import RuleResult
from artificial_data.generator.qa.distances import (
    NumberTally,
    continuous_distance,
    continuous_tally_distance,
    quantile_bracket_distance,
    quantile_bracket_tally_distance,
)
from artificial_data.generator.qa.expected import ContinuousExpectation, build_expectations
from artificial_data_tests.generator_metadata import plausible_metadata
from artificial_data_tests.qa_tables import clean_table, hand_made_metadata, mini_spec
from artificial_data_tests.qa_tables import replace_column as replace

YEAR = "2122"


def as_partition(table: pa.Table, folder: Path, group: int = 97) -> list[Path]:
    """``table`` as an artificial partition may hold it: two files, many small row groups."""
    folder.mkdir(parents=True)
    cut = table.num_rows // 3
    pq.write_table(table.slice(0, cut), folder / "part-00000.parquet", row_group_size=group)
    pq.write_table(table.slice(cut), folder / "part-00001.parquet", row_group_size=group + 13)
    return sorted(folder.glob("*.parquet"))


def report(result) -> list:
    return [(c.name, c.passed, c.blocking, c.details, c.metrics) for c in result.checks]


def assert_same(reference, streamed) -> None:
    assert report(streamed) == report(reference)
    assert streamed.markdown == reference.markdown
    assert streamed.html == reference.html


@pytest.fixture(scope="module")
def mini():
    spec = mini_spec()
    metadata = hand_made_metadata(spec)
    return spec, metadata, clean_table(spec, metadata, 600, seed=3)


def test_streamed_qa_of_a_clean_table_is_the_whole_table_qa(mini, tmp_path, monkeypatch):
    spec, metadata, table = mini
    reference = run_qa(table, metadata, spec, YEAR, 700)
    assert reference.passed
    files = as_partition(table, tmp_path / "p")
    for batch_rows in (64, 250, 10_000):
        assert_same(
            reference, run_qa_rows(ParquetRows(files), metadata, spec, YEAR, 700, batch_rows)
        )
    assert_same(reference, run_qa_rows(TableRows(table), metadata, spec, YEAR, 700, 100))
    monkeypatch.setattr(streamed, "QA_THREADS", False)  # all in one thread: the same report
    assert_same(reference, run_qa_rows(ParquetRows(files), metadata, spec, YEAR, 700, 64))


def test_streamed_qa_of_defects_is_the_whole_table_qa(mini, tmp_path):
    """Defects of every kind of statistic, with offending rows in several batches."""
    spec, metadata, table = mini
    keys = table.column("EPIKEY").to_pylist()
    keys[300] = keys[4]
    admimeth = table.column("ADMIMETH").to_pylist()
    admimeth[7], admimeth[410] = "99", "98"
    sex = table.column("SEX").to_pylist()
    sex[::3] = ["9"] * len(sex[::3])  # mixed patients, a value outside the domain
    speldur = [
        None if v is None else v + (i % 70 == 1)
        for i, v in enumerate(table.column("SPELDUR").to_pylist())
    ]
    ident = table.column("PSEUDO_HESID").to_pylist()
    ident[555] = "NOT-AN-ID"
    arrival = table.column("ARRIVALTIME").to_pylist()
    for i, text in zip(
        range(20, 580, 80), ["2599", "ab", "9", "2599", "x1", "1260", "0"], strict=True
    ):
        arrival[i] = text  # seven unreadable times in seven batches: the first five are shown
    broken = table
    for name, values in [
        ("ARRIVALTIME", arrival),
        ("EPIKEY", keys),
        ("ADMIMETH", admimeth),
        ("SEX", sex),
        ("SPELDUR", speldur),
        ("PSEUDO_HESID", ident),
    ]:
        broken = replace(broken, name, values)
    reference = run_qa(broken, metadata, spec, YEAR, 700)
    failing = {c.name for c in reference.checks if not c.passed}
    assert {"primary_key", "identifiers", "value_domain", "durations"} <= failing
    durations = reference.check("durations")
    assert durations.metrics["SPELDUR"]["failures"] >= 3  # rows 1, 71, 141...: three batches
    shown = reference.check("value_domain").metrics["ARRIVALTIME"]["values"]
    assert shown[:5] == ["2599", "ab", "9", "2599", "x1"]
    files = as_partition(broken, tmp_path / "p", group=50)
    assert_same(reference, run_qa_rows(ParquetRows(files), metadata, spec, YEAR, 700, 64))


def test_a_repeated_key_is_found_across_spilled_buckets(mini, tmp_path, monkeypatch):
    """Keys bucketed on disk by hash (buckets of ~50 keys here) give the whole column's
    primary-key check: the same counts, the first repeated keys in row order as examples."""
    spec, metadata, table = mini
    keys = table.column("EPIKEY").to_pylist()
    keys[300], keys[599], keys[450], keys[20] = keys[4], keys[4], keys[7], None
    keys[500:510] = keys[100:110]  # repeats whose first rows come after the first ones
    broken = replace(table, "EPIKEY", keys)
    reference = run_qa(broken, metadata, spec, YEAR, 700)
    check = reference.check("primary_key")
    assert check.metrics["failures"] == 1 + 2 + 1 + 10 and "null" in check.details
    monkeypatch.setattr(key_spill, "KEY_BUCKET_ROWS", 50)
    written = []
    real_open = key_spill.pa.OSFile
    monkeypatch.setattr(
        key_spill.pa, "OSFile", lambda path, mode: written.append(path) or real_open(path, mode)
    )
    files = as_partition(broken, tmp_path / "p")
    spill = tmp_path / "staging" / "_qa_keys"
    streamed_result = run_qa_rows(ParquetRows(files), metadata, spec, YEAR, 700, 64, spill)
    assert_same(reference, streamed_result)
    assert len(written) == 12 and all(Path(p).parent == spill for p in written)
    assert not spill.exists()  # removed once checked


def test_streamed_qa_of_a_generated_apc_year_is_the_whole_table_qa(tmp_path):
    """The real APC spec (193 columns, every HES type) from the generator's own sampler."""
    spec = load_spec("hes_apc")
    metadata = plausible_metadata(spec, YEAR)
    seed = generation_seed("qa-stream-test", spec.dataset, YEAR)
    table = pa.concat_tables(
        generate_chunk(metadata, spec, YEAR, i, 1_500, seed, 1_500 * i) for i in range(2)
    )
    reference = run_qa(table, metadata, spec, YEAR)
    assert reference.check("field_independence").metrics["pairs_checked"] > 100
    files = as_partition(table, tmp_path / "p", group=400)
    assert observed(files, spec, metadata, 700).columns.by_runs  # the generator's layout
    assert_same(reference, run_qa_rows(ParquetRows(files), metadata, spec, YEAR, None, 700))


def test_a_numeric_tally_gives_numpys_quantiles_and_the_distances_of_the_values():
    """The continuous tests and the independence bins read a tally merged over batches: the
    very numbers of the whole array (quantiles interpolated by numpy, bin counts, brackets)."""
    rng = np.random.default_rng(7)
    steps = np.linspace(0, 1, 6)[1:-1]
    expected = ContinuousExpectation(
        np.array([0.0, 1.0, 3.0, 8.0, 20.0]), np.array([0.1, 0.3, 0.6, 0.9, 0.97]), 0.05, 1000.0
    )
    for trial in range(300):
        n = int(rng.integers(1, 300))
        if trial % 3 == 0:
            values = rng.integers(0, int(rng.integers(1, 40)), n).astype(float)
        elif trial % 3 == 1:
            values = rng.normal(5, 4, n)
        else:
            values = np.round(rng.exponential(4, n), 2)
        values[rng.random(n) < 0.1] = np.nan
        cut = int(rng.integers(0, n + 1))
        tally = NumberTally.of(values[:cut]).merge(NumberTally.of(values[cut:]))
        assert tally.n == n and tally.nulls == int(np.isnan(values).sum())
        assert continuous_tally_distance(expected, tally) == continuous_distance(expected, values)
        assert quantile_bracket_tally_distance(expected, tally) == quantile_bracket_distance(
            expected, values
        )
        present = values[~np.isnan(values)]
        if len(present):
            assert np.array_equal(tally.quantiles(steps), np.quantile(present, steps))


def test_independence_categories_from_tallies_are_those_of_the_whole_column(mini):
    spec, _metadata, table = mini
    for name in ("SPELDUR", "ALCFRAC", "ARRIVALTIME", "ADMIDATE"):  # binned
        f = spec.field(name)
        column = table.column(name)
        values = indep.field_values(column, f)
        cut = 250
        tally = NumberTally.of(values[:cut]).merge(NumberTally.of(values[cut:]))
        assert_same_categories(
            indep.Categories.of(column, f), indep.Categories.of_numbers(tally, f)
        )
    for name in ("ADMIMETH", "EPIORDER", "SEX", "MYDOB"):  # dictionary, nulls included
        f = spec.field(name)
        whole = table.column(name).combine_chunks()
        column = pa.chunked_array([pa.nulls(2, whole.type), whole])
        counts = column.value_counts()
        tallied = indep.Categories.of_values(
            counts.field("values").to_pylist(), counts.field("counts").to_numpy(), column.type, f
        )
        assert_same_categories(indep.Categories.of(column, f), tallied)
        assert np.array_equal(tallied.codes(column), indep.Categories.of(column, f).codes(column))


def assert_same_categories(whole, tallied) -> None:
    assert (whole is None) == (tallied is None)
    if whole is not None:
        assert np.array_equal(whole.mapping, tallied.mapping)
        assert (whole.edges is None) == (tallied.edges is None)
        if whole.edges is not None:
            assert np.array_equal(whole.edges, tallied.edges)
        else:
            assert whole.dictionary.equals(tallied.dictionary)


def test_past_its_bound_a_numeric_tally_gives_way_to_the_whole_column(mini, tmp_path, monkeypatch):
    """A field with more distinct numbers than the bound is read whole: the same report."""
    spec, metadata, table = mini
    reference = run_qa(table, metadata, spec, YEAR, 700)
    monkeypatch.setattr(streamed, "MAX_TALLIED_NUMBERS", 20)
    files = as_partition(table, tmp_path / "p")
    exps = build_expectations(metadata, spec)
    present = [f.name for f in spec.scraped_fields]
    pairs = indep.checked_pairs(spec, present, indep.release_seed(spec, YEAR, metadata))
    seen = streamed.observe(ParquetRows(files), spec, exps, pairs, 64)
    dropped = {k for k, v in seen.columns._numbers.items() if v.tally is None}
    assert ("ALCFRAC", "values") in dropped and ("DISDATE", "binned") in dropped
    assert ("SPELDUR", "values") not in dropped
    assert_same(reference, run_qa_rows(ParquetRows(files), metadata, spec, YEAR, 700, 64))


def observed(table_or_files, spec, metadata, batch_rows):
    rows = TableRows(table_or_files) if isinstance(table_or_files, pa.Table) else None
    rows = rows or ParquetRows(table_or_files)
    exps = build_expectations(metadata, spec)
    present = [f.name for f in spec.scraped_fields if f.name in rows.schema.names]
    pairs = indep.checked_pairs(spec, present, indep.release_seed(spec, YEAR, metadata))
    return streamed.observe(rows, spec, exps, pairs, batch_rows)


def test_contiguous_patients_are_tallied_run_by_run_across_batches(mini, tmp_path):
    """The generator writes a patient's episodes together: per-patient statistics come from
    runs of equal keys, a patient carried over batch boundaries (batches of 5 rows: patients of
    up to 6 episodes span two or three), with the whole-table report."""
    spec, metadata, table = mini
    keys = table.column("PSEUDO_HESID").to_pylist()
    assert any(keys[i - 1] == keys[i] for i in range(5, len(keys), 5))  # spans a boundary
    reference = run_qa(table, metadata, spec, YEAR, 700)
    files = as_partition(table, tmp_path / "p")
    for batch_rows in (5, 64):
        seen = observed(files, spec, metadata, batch_rows)
        assert seen.columns.by_runs
        by_patient = [p for p in seen.independence.pairs if p.level == "patients"]
        assert [p.name for p in by_patient] == ["SEX x MYDOB"]
        assert_same(
            reference, run_qa_rows(ParquetRows(files), metadata, spec, YEAR, 700, batch_rows)
        )


def test_scattered_or_null_patient_keys_fall_back_to_whole_columns(mini, tmp_path):
    """A table whose patients are not contiguous (rows shuffled, a key seen again after its
    run closed) or has a null patient key is checked on whole columns: the same report."""
    spec, metadata, table = mini
    order = np.random.default_rng(5).permutation(table.num_rows)
    shuffled = table.take(pa.array(order))
    keys = table.column("PSEUDO_HESID").to_pylist()
    keys[100] = None
    nulled = replace(table, "PSEUDO_HESID", keys)
    for i, broken in enumerate((shuffled, nulled)):
        reference = run_qa(broken, metadata, spec, YEAR, 700)
        assert not observed(broken, spec, metadata, 64).columns.by_runs
        files = as_partition(broken, tmp_path / f"p{i}")
        assert_same(reference, run_qa_rows(ParquetRows(files), metadata, spec, YEAR, 700, 64))


def test_a_patient_seen_again_after_its_run_closed_is_caught():
    from artificial_data.generator.qa.patient_runs import PatientRuns

    def runs_of(keys: list[str], batch: int) -> PatientRuns:
        runs = PatientRuns("P", [], [], [])
        table = pa.table({"P": keys})
        for part in TableRows(table).batches(batch):
            runs.add(part)
        runs.finish()
        return runs

    together = runs_of(["a", "a", "b", "b", "b", "c"], 2)
    assert together.contiguous and together.sizes().by_size == {1: 1, 2: 1, 3: 1}
    assert not runs_of(["a", "a", "b", "a", "c"], 2).contiguous  # in another batch
    assert not runs_of(["a", "b", "a"], 10).contiguous  # in the same batch


def test_row_rule_examples_are_the_first_offending_rows_of_all_batches():
    a = RuleResult("r", "X", 10, 2, ["row 3: X=1", "row 8: X=2"])
    b = RuleResult("r", "X", 10, 5, ["row 10: X=3", "row 11: X=4", "row 12: X=5"])
    from artificial_data.generator.qa.consistency import merge_results

    merged = merge_results(a, b)
    assert (merged.checked, merged.failures) == (20, 7)
    assert merged.examples == ["row 3: X=1", "row 8: X=2", "row 10: X=3"]
    assert not _rules_check("date_chains", [merged], "date chains").passed
    with pytest.raises(ValueError):
        merge_results(a, RuleResult("r", "Y", 1, 0))


class _FailingRows(TableRows):
    """Rows whose ``fail_pass``-th read (1: the tallies, 2: the contingency tables) breaks
    after its first batch, as a file cut short on disk would."""

    def __init__(self, table: pa.Table, fail_pass: int):
        super().__init__(table)
        self.fail_pass, self.reads = fail_pass, 0

    def batches(self, rows=BATCH_ROWS, columns=None):
        self.reads += 1
        for index, batch in enumerate(super().batches(rows, columns)):
            if index == 1 and self.reads == self.fail_pass:
                raise OSError(f"read {self.reads} cut short")
            yield batch


@pytest.mark.parametrize("threads", [True, False], ids=["threads", "one thread"])
@pytest.mark.parametrize("fail_pass", [1, 2])
def test_a_read_that_breaks_in_either_pass_fails_qa_with_its_error(
    mini, fail_pass, threads, monkeypatch
):
    """The next batch is read on a helper thread while the current one is checked: an error
    there is QA's error, raised in its own thread, never a verdict on half the rows."""
    monkeypatch.setattr(streamed, "QA_THREADS", threads)
    spec, metadata, table = mini
    rows = _FailingRows(table, fail_pass)
    with pytest.raises(OSError, match=f"read {fail_pass} cut short"):
        run_qa_rows(rows, metadata, spec, YEAR, 700, batch_rows=100)
    assert rows.reads == fail_pass


def test_a_folder_partition_is_read_in_bounded_projected_batches(mini, tmp_path):
    spec, _metadata, table = mini
    scoped = ScopedStores.for_location("generator", tmp_path / "home", catalog=None)
    scoped.tables.write(ARTIFICIAL, spec.dataset, YEAR, lambda folder: as_partition(table, folder))
    partition = scoped.tables.read(ARTIFICIAL, spec.dataset, YEAR)
    batches = list(partition.batches(["EPIKEY", "SEX"], batch_rows=64))
    assert max(b.num_rows for b in batches) <= 64 and len(batches) >= 600 // 64
    assert all(b.schema.names == ["EPIKEY", "SEX"] for b in batches)
    assert pa.Table.from_batches(batches).equals(table.select(["EPIKEY", "SEX"]))
    whole = pa.Table.from_batches(list(partition.batches()))
    assert whole.equals(partition.arrow())


def test_a_catalog_partition_is_read_in_batches_through_a_staged_copy(home, spark):
    from artificial_data.common.settings import CatalogSettings

    scoped = ScopedStores.for_location("generator", home, catalog=CatalogSettings())
    frame = spark.createDataFrame(
        [(f"k{i}", i, i % 3) for i in range(500)], "CODE string, N bigint, M int"
    )
    scoped.tables.write(ARTIFICIAL, "stream_table", YEAR, frame)
    partition = scoped.tables.read(ARTIFICIAL, "stream_table", YEAR)
    batches = list(partition.batches(["N", "CODE"], batch_rows=120))
    assert max(b.num_rows for b in batches) <= 120
    rows = pa.Table.from_batches(batches)
    assert rows.column_names == ["N", "CODE"]
    assert sorted(rows.column("N").to_pylist()) == list(range(500))
    assert sorted(rows.to_pylist(), key=lambda r: r["N"]) == sorted(
        partition.arrow().select(["N", "CODE"]).to_pylist(), key=lambda r: r["N"]
    )
    # The copy was staged in the store's own staging folder, which Spark's executors can
    # write (never the driver's temporary folder), and is gone once the batches are read.
    root = scoped.roots[ARTIFICIAL]
    with partition.staged() as staging:
        assert staging.parent == root / TABLES_FOLDER / STAGING_FOLDER and not staging.exists()
    assert not list((root / TABLES_FOLDER / STAGING_FOLDER).iterdir())
    assert not list(Path(tempfile.gettempdir()).glob(f"stream_table-{YEAR}-*"))


def test_on_databricks_a_partition_is_staged_in_its_own_stores_volume(home):
    """A cluster's executors cannot write the driver's disk, and a staging folder shared with
    another scope (the simulator stages raw Parquet in ARTIFICIAL_DATA_CATALOG_STAGING) could
    show one scope's rows to another: an exported partition is staged in its own store's root
    (a volume on Databricks), and a link planted there is refused."""
    from artificial_data.common.settings import CatalogSettings
    from artificial_data.common.stores import ScopeViolation
    from artificial_data.common.tables import CatalogTables

    scoped = ScopedStores.for_location("generator", home, catalog=None)
    shared = home / "shared_staging"
    settings = CatalogSettings(table_format="delta", staging=shared)
    tables = CatalogTables(scoped, settings, lambda: None)
    root = scoped.roots[ARTIFICIAL]
    with tables._staged_export(ARTIFICIAL, "hes_op") as staging:
        assert staging.parent == root / TABLES_FOLDER / STAGING_FOLDER
        staging.mkdir()
    assert not staging.exists() and not shared.exists()

    (root / TABLES_FOLDER / STAGING_FOLDER).rmdir()
    (home / "elsewhere").mkdir()
    (root / TABLES_FOLDER / STAGING_FOLDER).symlink_to(home / "elsewhere")
    with (
        pytest.raises(ScopeViolation, match="symbolic link"),
        tables._staged_export(ARTIFICIAL, "hes_op"),
    ):
        pass
