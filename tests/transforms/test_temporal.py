import numpy as np
import pytest

from vidssl.transforms import temporal


def rng(seed=0):
    return np.random.default_rng(seed)


def test_clip_indices_consecutive_strided_and_looping():
    assert temporal.clip_indices(20, 3, 4, 2).tolist() == [3, 5, 7, 9]
    # a video shorter than the clip is played again from its start
    assert temporal.clip_indices(3, 0, 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError):
        temporal.clip_indices(0, 0, 4)
    with pytest.raises(ValueError):
        temporal.clip_indices(10, 0, 0)


def test_random_clip_stays_inside_and_covers_all_starts():
    starts = set()
    r = rng()
    for _ in range(500):
        idx = temporal.random_clip(12, 4, 2, r)
        assert idx.min() >= 0 and idx.max() < 12
        assert np.all(np.diff(idx) == 2)
        starts.add(int(idx[0]))
    assert starts == set(range(12 - 8 + 1))


def test_shift_is_bounded_by_s_and_reaches_both_ends():
    r = rng(1)
    shifts = {temporal.shifted_start(10, 3, 100, 8, r) - 10 for _ in range(400)}
    assert shifts == set(range(-3, 4))
    assert {temporal.shifted_start(10, 0, 100, 8, r) for _ in range(10)} == {10}
    # clamped so the clip still fits in the video
    assert all(0 <= temporal.shifted_start(0, 5, 20, 16, r) <= 4 for _ in range(50))


def test_frame_drop_keeps_m_ordered_frames_from_2m_window():
    r = rng(2)
    for _ in range(100):
        idx = temporal.frame_drop(64, 5, 8, 1, r)
        assert len(idx) == 8
        assert np.all(np.diff(idx) > 0)
        assert idx.min() >= 5 and idx.max() < 5 + 16


def test_reverse_twice_is_identity_and_shuffle_is_a_permutation():
    idx = np.arange(3, 11)
    assert temporal.reverse(idx).tolist() == idx[::-1].tolist()
    assert np.array_equal(temporal.reverse(temporal.reverse(idx)), idx)
    sh = temporal.shuffle(idx, rng(3))
    assert sorted(sh.tolist()) == idx.tolist() and not np.array_equal(sh, idx)


def test_uniform_clips_evenly_spaced_and_deterministic():
    clips = temporal.uniform_clips(100, 8, 1, 5)
    assert [c[0] for c in clips] == [0, 23, 46, 69, 92]
    assert [c[0] for c in temporal.uniform_clips(100, 8, 1, 1)] == [46]
