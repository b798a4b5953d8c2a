"""Patients first: chunks are filled exactly, and only with released episode counts."""

import numpy as np

from artificial_data.generator.engine.patients import EpisodesPerPatient, layout_patients


def test_every_patient_has_a_released_episode_count_and_rows_are_exact():
    # A heavy tail: 1, 2, 3 episodes, and a top-coded pool represented by 95 episodes.
    episodes = EpisodesPerPatient(
        counts=np.array([1, 2, 3, 95]), cum=np.array([0.6, 0.85, 0.97, 1.0])
    )
    for seed in range(40):
        rows = 500 + seed * 7
        layout = layout_patients(np.random.default_rng(seed), episodes, rows)
        sizes = np.bincount(layout.patient)
        assert sizes.sum() == rows
        assert set(np.unique(sizes)) <= {1, 2, 3, 95}


def test_a_chunk_smaller_than_every_released_count_is_cut_as_a_last_resort():
    episodes = EpisodesPerPatient(counts=np.array([5]), cum=np.array([1.0]))
    layout = layout_patients(np.random.default_rng(1), episodes, 12)
    assert list(np.bincount(layout.patient)) == [5, 5, 2]
