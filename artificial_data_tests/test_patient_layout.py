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


def test_a_released_share_of_patients_with_disagreeing_birth_months_is_kept():
    """MYDOB rows whose episodes disagree (agreement < 1) must land on patients with two or
    more episodes, each of which then shows two values: drawn regardless of the episode count
    they mostly fell on one-episode patients, and a 1M-row APC year had 0.03% of patients
    mixed against a released 0.09% (QA's patient_consistency check blocked it)."""
    import pyarrow as pa

    from artificial_data.generator.engine.patients import ModalValueSampler
    from artificial_data.generator.qa.patients import bernstein_margin, mixed_patients

    episodes = EpisodesPerPatient(  # about the simulated APC shape: 63% of patients one episode
        counts=np.array([1, 2, 3, 4, 8]), cum=np.array([0.63, 0.79, 0.86, 0.9, 1.0])
    )
    months = [f"{m:02d}19{y:02d}" for y in range(40, 90) for m in (1, 6)]
    n = len(months)
    agreement = np.r_[np.ones(n), [0.5, 0.67, 0.75, 0.95, 0.95]]
    weights = np.r_[np.full(n, 0.99 / n), np.full(5, 0.002)]  # 1% of patients mixed
    sampler = ModalValueSampler(
        domain=pa.array(months),
        modal=np.r_[np.arange(n), [0, 5, 9, 20, 33]],
        agreement=agreement,
        cum=np.cumsum(weights) / weights.sum(),
        value_cum=np.cumsum(np.full(n, 1.0 / n)),
    )
    rng = np.random.default_rng(16)
    layout = layout_patients(rng, episodes, 400_000)
    values = sampler.sample(rng, layout)
    patients, _multi, mixed = mixed_patients(layout.patient, pa.chunked_array([values]))
    released = float(weights[n:].sum() / weights.sum())
    assert abs(mixed / patients - released) <= bernstein_margin(released, patients, 1e-6)


def test_patterns_are_drawn_in_memory_that_does_not_grow_with_patients_times_patterns():
    """MYDOB releases thousands of (month, agreement) rows; comparing every patient of a chunk
    with every one of them at once took patients x patterns floats (RSS rose from 297 to
    2,041 MB in a 100,000-row APC chunk, in each Spark worker, which put a 10M-row release at
    6.7 GiB). numpy reports
    its arrays to tracemalloc, so the peak is measured, not timed."""
    import tracemalloc

    from artificial_data.generator.engine.patients import patterns_given_episodes

    rng = np.random.default_rng(16)
    patterns = 2_000
    lengths = np.where(np.arange(patterns) % 10 == 0, 2, 1)  # a tenth of them mixed
    weights = rng.random(patterns)
    sizes = rng.choice([1, 1, 1, 2, 3, 4, 8], 20_000)
    tracemalloc.start()
    try:
        picked = patterns_given_episodes(rng, np.cumsum(weights) / weights.sum(), lengths, sizes)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # 20,000 x 2,000 floats would be 320 MB
    assert (lengths[picked][sizes == 1] == 1).all()  # one-episode patients never mixed
    assert set(np.unique(lengths[picked])) == {1, 2}
