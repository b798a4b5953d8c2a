"""Scraper logic that needs no Spark: suppression, top-coding, percentile grids, column checks."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from artificial_data.common import metadata_contract as mc
from artificial_data.common.dataset_spec import DisclosurePolicy, parse_spec
from artificial_data.common.spec_import import draft_missing_domains
from artificial_data.scraper.scrape import ScrapeInputError
from artificial_data.scraper.scrape.checks import check_columns
from artificial_data.scraper.scrape.continuous import (
    choose_grid,
    choose_tails,
    coarsen,
    grid_probabilities,
    with_tails,
)
from artificial_data.scraper.scrape.suppression import rounded_count, suppress, top_code_episodes
from artificial_data_tests.toy_specs import patient_key, record_key

POLICY = DisclosurePolicy()


def small_spec(**overrides):
    document = {
        "dataset": "toy",
        "spec_version": 1,
        "financial_years": ["2122"],
        "primary_key": "KEY",
        "patient_key": "PID",
        "source_table": "toy_{fyear}",
        "published_table": "artificial_toy_{fyear}",
        "forbidden_identifiers": ["NHS_NUMBER", "HESID"],
        "fields": [
            record_key(),
            patient_key(),
            {"name": "CODE", "type": "string", "role": "categorical"},
        ],
    }
    document.update(overrides)
    document["fields"] = draft_missing_domains(document["fields"])
    return parse_spec(document)


@pytest.mark.parametrize(
    ("raw", "published"), [(1, 0), (7, 0), (8, 10), (10, 10), (12, 10), (13, 15), (17, 15)]
)
def test_rounded_count_filters_on_the_raw_count(raw, published):
    assert rounded_count(raw, POLICY) == published


def test_suppress_drops_below_threshold_and_rounds_the_rest():
    frame = pd.DataFrame({"VALUE_STRING": ["a", "b", "c", "d", None], "COUNT": [7, 8, 12, 13, 3]})
    kept, dropped = suppress(frame, POLICY)
    assert kept["VALUE_STRING"].tolist() == ["b", "c", "d"]
    assert kept["WEIGHT"].tolist() == [10.0, 10.0, 15.0]
    assert "COUNT" not in kept.columns
    assert dropped == 2


def episodes(counts: dict[int, int]) -> pd.DataFrame:
    return pd.DataFrame({"NUMBER": list(counts), "COUNT": list(counts.values())})


def rows_of(kept: pd.DataFrame) -> list[tuple]:
    return [
        (r.VALUE_NUMERIC, r.VALUE_STRING, r.VALUE_NUMERIC_ARRAY, r.WEIGHT)
        for r in kept.itertuples(index=False)
    ]


def test_top_coding_pools_the_rare_tail_until_it_meets_the_threshold():
    kept, report = top_code_episodes(episodes({1: 1000, 2: 300, 3: 50, 4: 3}), POLICY)
    # {4} alone has 3 patients: it absorbs 3 -> pool of 53 patients, mean 3.06 -> 3.
    assert rows_of(kept) == [
        (1.0, None, None, 1000.0),
        (2.0, None, None, 300.0),
        (3.0, mc.TOP_CODED, [3.0, 3.0], 55.0),
    ]
    assert report == {
        "values_kept": 2,
        "values_banded": 0,
        "values_pooled": 2,
        "values_dropped": 0,
        "top_coded_from": 3,
    }


def test_top_coding_absorbs_through_a_gap_and_uses_the_rounded_mean():
    kept, _ = top_code_episodes(episodes({1: 20, 2: 9, 5: 3, 9: 2, 40: 1}), POLICY)
    # tail {5, 9, 40} = 6 patients < 8 -> absorbs 2: 15 patients, mean 91/15 = 6.07 -> 6.
    assert rows_of(kept) == [(1.0, None, None, 20.0), (2.0, mc.TOP_CODED, [2.0, 6.0], 15.0)]


def test_a_rare_value_too_few_to_band_joins_the_nearest_published_value():
    kept, report = top_code_episodes(episodes({1: 1, 3: 333}), POLICY)
    assert rows_of(kept) == [(3.0, None, None, 335.0)]  # 333 + 1 patients, rounded
    assert report["values_dropped"] == 0 and report["top_coded_from"] is None


def test_rare_counts_below_the_top_pool_are_banded_at_their_mean_not_dropped():
    counts = {1: 5000, 2: 900, 10: 3, 11: 2, 12: 4, 13: 50, 20: 3, 22: 4, 25: 2, 30: 40}
    counts |= {60: 2, 61: 1, 75: 3, 90: 2, 200: 1}
    kept, report = top_code_episodes(episodes(counts), POLICY)
    # 10, 11, 12: 9 patients (would round up to 10) -> the band goes on to 20: 12 patients, mean
    # 160 / 12 = 13.3 -> 13, joining the common 13; 22, 25 (6 patients, mean 22.7) never close
    # a band and join the nearest published value, 30. Above 30 (the last common value): 9
    # patients pooled, mean 786 / 9 = 87.3 -> 87.
    assert rows_of(kept) == [
        (1.0, None, None, 5000.0),
        (2.0, None, None, 900.0),
        (13.0, None, None, 60.0),
        (30.0, None, None, 45.0),
        (60.0, mc.TOP_CODED, [60.0, 87.0], 10.0),
    ]
    assert report["values_banded"] == 6 and report["values_dropped"] == 0
    # Every patient is still there: the episodes they hold are kept too.
    raw_episodes = sum(k * v for k, v in counts.items())
    released = sum(n * w for n, _, arr, w in rows_of(kept) for n in [arr[1] if arr else n])
    assert abs(released - raw_episodes) / raw_episodes < 0.05


def test_pool_below_threshold_is_dropped():
    kept, report = top_code_episodes(episodes({1: 3, 2: 2}), POLICY)
    assert kept.empty
    assert report["values_dropped"] == 2


@pytest.mark.parametrize(
    ("non_null", "grid"),
    [
        (800, 99),
        (799, 19),
        (160, 19),
        (159, 9),
        (80, 9),
        (79, 3),
        (32, 3),
        (31, 1),
        (16, 1),
        (15, None),
        (0, None),
    ],
)
def test_grid_is_coarsened_until_every_bin_has_min_count_records(non_null, grid):
    assert choose_grid(non_null, POLICY) == grid


def test_grids_are_subsets_of_the_percentiles():
    assert grid_probabilities(3) == (0.25, 0.5, 0.75)
    assert grid_probabilities(1) == (0.5,)
    assert len(grid_probabilities(99)) == 99 and grid_probabilities(99)[6] == 0.07
    values, probs = coarsen(tuple(float(i) for i in range(1, 100)), 9)
    assert values == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0]
    assert probs == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


@pytest.mark.parametrize(
    ("non_null", "outermost"),
    [
        (799, None),
        (1_600, 0.005),
        (3_999, 0.005),
        (4_000, 0.002),
        (8_000, 0.001),
        (16_000, 0.0005),
        (39_999, 0.0005),
        (40_000, 0.0002),
        (80_000, 0.0001),
        (10_000_000, 0.0001),
    ],
)
def test_tail_points_go_out_only_while_every_bin_rests_on_min_count_records(non_null, outermost):
    tails = choose_tails(non_null, POLICY)
    low = [p for p in tails if p < 0.5]
    assert (min(low) if low else None) == outermost
    assert [round(1 - p, 6) for p in tails if p > 0.5] == low[::-1]
    edges = [0.0, *low, 0.01] if low else []
    assert all(
        round(non_null * (b - a), 6) >= POLICY.min_count for a, b in itertools.pairwise(edges)
    )


def test_tail_points_extend_the_finest_grid_on_both_sides():
    values, probs = with_tails(
        [1.0, 2.0],
        [0.01, 0.99],
        ((0.005, 0.5), (0.002, 0.2), (0.995, 3.0), (0.998, 4.0)),
        (0.005, 0.995),
    )
    assert (values, probs) == ([0.5, 1.0, 2.0, 3.0], [0.005, 0.01, 0.99, 0.995])


def test_check_columns_accepts_the_spec_columns_in_any_case():
    check_columns(small_spec(), ["key", "PID", "Code"], "2122")


def test_schema_drift_is_refused_unless_excluded():
    with pytest.raises(ScrapeInputError, match=r"toy 2122: schema drift.*\['NEWCOL'\]"):
        check_columns(small_spec(), ["KEY", "PID", "CODE", "NEWCOL"], "2122")
    check_columns(
        small_spec(excluded_source_columns=["NEWCOL"]), ["KEY", "PID", "CODE", "NEWCOL"], "2122"
    )


def test_forbidden_identifier_is_refused_even_when_excluded():
    spec = small_spec(excluded_source_columns=["NHS_NUMBER"])
    with pytest.raises(ScrapeInputError, match=r"toy 2122: .*forbidden identifier.*NHS_NUMBER"):
        check_columns(spec, ["KEY", "PID", "CODE", "nhs_number"], "2122")


def test_missing_spec_field_is_refused():
    with pytest.raises(ScrapeInputError, match=r"toy 2122: spec field\(s\) \['CODE'\] missing"):
        check_columns(small_spec(), ["KEY", "PID"], "2122")
