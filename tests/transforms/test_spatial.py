import numpy as np
import pytest
import torch

from vidssl.config import AugConfig
from vidssl.transforms import spatial


def video(t=6, h=20, w=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, t, h, w, generator=g)


STRONG = AugConfig(crop_scale=(0.2, 0.9), hflip_p=0.5, jitter_p=1.0, gray_p=0.3, blur_p=0.5)


def test_clip_consistent_same_transform_on_every_frame():
    # a clip whose frames are all identical must stay identical frame to frame
    base = video(t=1).expand(3, 5, 20, 24).contiguous()
    for seed in range(20):
        out = spatial.augment_clip(base, STRONG, 16, np.random.default_rng(seed))
        assert out.shape == (3, 5, 16, 16)
        assert torch.allclose(out, out[:, :1].expand_as(out), atol=1e-6)


def test_clip_consistent_equals_per_frame_application_of_one_draw():
    v = video()
    p = spatial.sample_spatial(20, 24, STRONG, np.random.default_rng(4))
    whole = spatial.apply_spatial(v, p, 16)
    # contrast uses one mean over the clip, so compare the geometric part frame by frame
    geo = spatial.SpatialParams(p.box, p.flip)
    for t in range(v.shape[1]):
        assert torch.allclose(spatial.apply_spatial(v, geo, 16)[:, t], spatial.apply_spatial(v[:, t : t + 1], geo, 16)[:, 0], atol=1e-6)
    assert whole.shape == (3, 6, 16, 16)


def test_framewise_mode_differs_across_frames():
    base = video(t=1).expand(3, 5, 20, 24).contiguous()
    out = spatial.augment_clip(base, AugConfig(crop_scale=(0.2, 0.5), framewise=True), 16, np.random.default_rng(0))
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_crop_box_respects_scale_ratio_and_bounds():
    r = np.random.default_rng(0)
    for _ in range(300):
        top, left, h, w = spatial.sample_crop_box(40, 60, (0.3, 0.7), (0.75, 1.333), r)
        assert 0 <= top and top + h <= 40 and 0 <= left and left + w <= 60
        assert 0.25 <= h * w / 2400 <= 0.75


def test_flip_twice_is_identity_and_full_box_crop_is_identity():
    v = video()
    assert torch.equal(spatial.hflip(spatial.hflip(v)), v)
    sq = video(h=16, w=16)
    assert torch.allclose(spatial.resized_crop(sq, (0, 0, 16, 16), 16), sq, atol=1e-6)


def test_colour_ops_against_definitions():
    v = video()
    assert torch.allclose(spatial.adjust_brightness(v, 0.5), v * 0.5)
    g = spatial.grayscale(v)
    assert torch.allclose(g[0], g[1]) and torch.allclose(g[1], g[2])
    assert torch.allclose(g[0], 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2])
    assert torch.allclose(spatial.adjust_saturation(v, 0.0), g, atol=1e-6)
    assert torch.allclose(spatial.adjust_saturation(v, 1.0), v, atol=1e-6)
    assert torch.allclose(spatial.adjust_hue(v, 0.0), v, atol=1e-5)
    c = spatial.adjust_contrast(v, 0.0)  # contrast 0: every pixel at the clip's mean grey
    assert torch.allclose(c, torch.full_like(v, float(spatial._gray(v).mean())), atol=1e-6)


def test_hue_rotation_preserves_luma_and_full_turn_is_identity():
    v = video() * 0.1 + 0.45  # near grey, so no channel is clamped
    h = spatial.adjust_hue(v, 0.2)
    assert torch.allclose(spatial._gray(h), spatial._gray(v), atol=1e-4)
    assert torch.allclose(spatial.adjust_hue(v, 0.5).clamp(0, 1), spatial.adjust_hue(v, -0.5).clamp(0, 1), atol=1e-5)


def test_blur_preserves_constant_and_mean_and_smooths():
    const = torch.full((3, 2, 10, 10), 0.3)
    assert torch.allclose(spatial.gaussian_blur(const, 1.0), const, atol=1e-6)
    v = video()
    b = spatial.gaussian_blur(v, 1.0)
    assert b.shape == v.shape
    assert b.std() < v.std()
    assert spatial.gaussian_blur(v, 0.0) is v


def test_to_float_layout_and_normalize():
    frames = np.zeros((4, 5, 6, 3), np.uint8)
    frames[..., 1] = 255
    t = spatial.to_float(frames)
    assert t.shape == (3, 4, 5, 6) and t[1].min() == 1.0 and t[0].max() == 0.0
    n = spatial.normalize(torch.full((3, 1, 1, 1), 0.45))
    assert torch.allclose(n, torch.zeros(3, 1, 1, 1), atol=1e-6)


@pytest.mark.parametrize("size", [8, 32])
def test_eval_view_is_deterministic_centre_square(size):
    v = video(h=20, w=30)
    a, b = spatial.eval_view(v, size), spatial.eval_view(v, size)
    assert a.shape == (3, 6, size, size) and torch.equal(a, b)


def test_flip_once_mirrors_an_asymmetric_clip():
    v = video(w=7)
    f = spatial.hflip(v)
    assert not torch.equal(f, v)
    for x in range(7):  # column x comes from column w-1-x, on every channel and frame
        assert torch.equal(f[..., x], v[..., 6 - x])


def _yiq_hue_reference(rgb, turns):
    """Hue rotation written out from the YIQ definition (rotate the I, Q chroma plane), one pixel."""
    import math

    yiq = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    y, i, q = yiq @ np.asarray(rgb, float)
    a = 2 * math.pi * turns
    i, q = i * math.cos(a) - q * math.sin(a), i * math.sin(a) + q * math.cos(a)
    return np.clip(np.linalg.solve(yiq, [y, i, q]), 0, 1)


@pytest.mark.parametrize("turns", [1 / 3, -1 / 3, 0.1, 0.5])
def test_hue_shift_moves_pure_red_where_the_definition_says(turns):
    red = torch.zeros(3, 2, 2, 2)
    red[0] = 1
    out = spatial.adjust_hue(red, turns)
    want = torch.tensor(_yiq_hue_reference([1, 0, 0], turns), dtype=torch.float32).view(3, 1, 1, 1).expand_as(red)
    assert torch.allclose(out, want, atol=1e-4)
    assert not torch.allclose(out, red, atol=0.1)  # a hue shift that does nothing fails here
    if turns == 1 / 3:
        assert torch.allclose(out[:, 0, 0, 0], torch.tensor([0.0945, 0.1645, 1.0]), atol=1e-3)  # red turns blue
    assert torch.equal(spatial.adjust_hue(red, 0.0).round(decimals=5), red)


def test_three_thirds_of_a_turn_return_and_one_third_does_not():
    v = video() * 0.1 + 0.45  # near grey, so no channel is clamped
    third = spatial.adjust_hue(v, 1 / 3)
    assert not torch.allclose(third, v, atol=1e-3)
    assert torch.allclose(spatial.adjust_hue(spatial.adjust_hue(third, 1 / 3), 1 / 3), v, atol=1e-5)


@pytest.mark.parametrize(("h", "w"), [(20, 30), (30, 20)])
def test_eval_view_takes_the_centre_square(h, w):
    v = torch.zeros(3, 2, h, w)
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    v[:, :, top : top + side, left : left + side] = torch.rand(3, 2, side, side, generator=torch.Generator().manual_seed(1))
    same = spatial.eval_view(v, side)  # no resizing: exactly the centre square
    assert torch.allclose(same, v[:, :, top : top + side, left : left + side], atol=1e-6)
    v[:, :, top : top + side, left : left + side] = 1.0
    assert torch.allclose(spatial.eval_view(v, 8), torch.ones(3, 2, 8, 8), atol=1e-6)  # nothing from the margins


@pytest.mark.parametrize(("t", "h", "w", "size"), [(4, 24, 32, 16), (3, 40, 30, 17), (4, 32, 32, 32), (8, 64, 85, 56)])
def test_uint8_centre_squares_made_float_later_equal_the_float_eval_view(t, h, w, size):
    """Evaluation hands over uint8 squares and converts on the device: bitwise today's float path."""
    frames = np.random.default_rng(t + h).integers(0, 256, (5, t, h, w, 3), dtype=np.uint8)  # 5 clips
    want = torch.stack([spatial.normalize(spatial.eval_view(spatial.to_float(f), size)) for f in frames])
    squares = torch.stack([spatial.centre_square(f) for f in frames])
    assert squares.dtype == torch.uint8 and squares.shape == (5, 3, t, min(h, w), min(h, w))
    assert torch.equal(spatial.eval_input(squares, size), want)
    assert torch.equal(spatial.eval_input(squares.view(1, 5, *squares.shape[1:]), size)[0], want)  # any leading dims
