import numpy as np
import pytest

from vidssl.data.synthetic import MOTIONS, SyntheticSpec, generate, load_synthetic
from vidssl.errors import VidsslError

SPEC = SyntheticSpec(train_per_class=2, test_per_class=1, frames=6, size=20, seed=3)


def test_deterministic_from_seed_and_seed_matters():
    a, b = generate(SPEC), generate(SPEC)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    c = generate(SyntheticSpec(2, 1, 6, 20, seed=4))
    assert not np.array_equal(a["train_videos"], c["train_videos"])


def test_shapes_labels_and_balance():
    a = generate(SPEC)
    assert a["train_videos"].shape == (16, 6, 20, 20, 3) and a["train_videos"].dtype == np.uint8
    assert a["test_videos"].shape == (8, 6, 20, 20, 3)
    assert np.bincount(a["train_motion"]).tolist() == [2] * len(MOTIONS)
    assert set(a["train_digit"]) <= set(range(10))


def test_train_and_test_disjoint():
    a = generate(SyntheticSpec(3, 3, 6, 20, 0))
    tr = {v.tobytes() for v in a["train_videos"]}
    assert not any(v.tobytes() in tr for v in a["test_videos"])


def _sprite_centroid(v):
    # the sprite is brighter than the background (colours 0.55-1 vs 0-0.5): weight by excess brightness
    lum = v.astype(float).mean(-1)
    w = np.clip(lum - np.median(lum, axis=(1, 2), keepdims=True), 0, None)
    ys, xs = np.mgrid[: v.shape[1], : v.shape[2]]
    return (w * xs).sum((1, 2)) / w.sum((1, 2)), (w * ys).sum((1, 2)) / w.sum((1, 2))


def test_motion_classes_move_as_named():
    a = generate(SyntheticSpec(4, 1, 12, 32, 1))
    direction = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}
    for v, m in zip(a["train_videos"], a["train_motion"]):
        if MOTIONS[m] not in direction:
            continue
        x, y = _sprite_centroid(v)
        dx, dy = x[-1] - x[0], y[-1] - y[0]
        ex, ey = direction[MOTIONS[m]]
        along, across = dx * ex + dy * ey, abs(dx * ey) + abs(dy * ex)
        assert along > 1.5 and along > 2 * across, (MOTIONS[m], dx, dy)


def test_cache_is_reused_and_damaged_cache_regenerates(tmp_path):
    tr, te = load_synthetic(SPEC, tmp_path)
    files = list(tmp_path.glob("synthetic-*.npz"))
    assert len(files) == 1 and len(tr) == 16 and len(te) == 8
    files[0].write_bytes(b"garbage")
    tr2, _ = load_synthetic(SPEC, tmp_path)
    assert np.array_equal(tr.videos, tr2.videos)
    assert tr.read_frames(0, np.array([1, 3])).shape == (2, 20, 20, 3)


def test_impossible_sizes_are_clear_errors():
    with pytest.raises(VidsslError, match="frames must be >= 1"):
        SyntheticSpec(frames=0).validate()
    with pytest.raises(VidsslError, match="at least 1 clip"):
        SyntheticSpec(train_per_class=0).validate()


def test_background_variants():
    corner = {bg: generate(SyntheticSpec(1, 1, 6, 20, 5, bg))["train_videos"][:, :, :2, :2].astype(int)
              for bg in ("drift", "plain", "texture")}
    # drift: the background colour changes between the first and last frame; plain/texture: constant in time
    assert np.abs(corner["drift"][:, 0] - corner["drift"][:, -1]).mean() > 5
    assert np.array_equal(corner["plain"][:, 0], corner["plain"][:, -1])
    tex = generate(SyntheticSpec(1, 1, 6, 20, 5, "texture"))["train_videos"][:, 0].astype(int)
    plain = generate(SyntheticSpec(1, 1, 6, 20, 5, "plain"))["train_videos"][:, 0].astype(int)
    assert tex[:, :4, :4].std(axis=(1, 2)).mean() > plain[:, :4, :4].std(axis=(1, 2)).mean()
    with pytest.raises(VidsslError, match="unknown synthetic background 'stripes'"):
        SyntheticSpec(background="stripes").validate()


def test_train_and_test_sprites_are_different_handwritten_digits(monkeypatch):
    # README: "test clips drawn from different handwritten digits than train"
    from vidssl.data import synthetic

    pools, real = {}, synthetic._render_split

    def recording(n_per_class, digit_imgs, digit_lbl, spec, rng):
        pools["test" if "train" in pools else "train"] = digit_imgs
        return real(n_per_class, digit_imgs, digit_lbl, spec, rng)

    monkeypatch.setattr(synthetic, "_render_split", recording)
    generate(SyntheticSpec(2, 2, 6, 20, 0))
    train, test = ({img.tobytes() for img in pools[s]} for s in ("train", "test"))
    all_imgs, _ = synthetic._digits()
    assert train and test and not train & test
    assert len(train) + len(test) >= 0.99 * len(all_imgs)  # each side draws from about half of the 1,797 digits
    assert min(len(train), len(test)) > 0.45 * len(all_imgs)
