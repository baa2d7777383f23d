import numpy as np
import pytest
import torch

from vidssl.backbones import create_backbone
from vidssl.config import AugConfig
from vidssl.data.base import ArrayVideoDataset
from vidssl.transforms.motion import mix_frame, residual_frames
from vidssl.transforms.views import make_views


def test_residual_of_a_static_video_is_zero():
    frame = torch.rand(3, 1, 6, 5)
    assert torch.equal(residual_frames(frame.expand(3, 7, 6, 5)), torch.zeros(3, 6, 6, 5))


def test_residual_is_the_difference_of_consecutive_frames():
    v = torch.rand(2, 3, 5, 4, 4)  # batched (B, C, T, H, W) works too
    r = residual_frames(v)
    assert r.shape == (2, 3, 4, 4, 4)
    for t in range(4):
        assert torch.equal(r[:, :, t], v[:, :, t + 1] - v[:, :, t])
    with pytest.raises(ValueError, match="at least 2 frames"):
        residual_frames(torch.rand(3, 1, 4, 4))


def test_a_mixed_view_keeps_the_clip_motion_scaled():
    clip, other = torch.rand(3, 6, 8, 8), torch.rand(3, 8, 8)
    mixed = mix_frame(clip, other, 0.3)
    assert torch.allclose(mixed[:, 2], 0.7 * clip[:, 2] + 0.3 * other)
    assert torch.allclose(residual_frames(mixed), 0.7 * residual_frames(clip), atol=1e-6)
    assert torch.equal(mix_frame(clip, other, 0.0), clip)
    small = mix_frame(clip, torch.rand(3, 4, 4), 0.5)  # another size is resized to the clip's
    assert small.shape == clip.shape
    with pytest.raises(ValueError):
        mix_frame(clip, other, 1.5)


def test_residual_backbone_ignores_a_constant_offset():
    torch.manual_seed(0)
    bb = create_backbone("r3d10", width=0.0625, input="residual").eval()
    x = torch.rand(2, 3, 4, 16, 16)
    assert torch.allclose(bb(x), bb(x + torch.rand(2, 3, 1, 16, 16)), atol=1e-5)  # static content cancels
    rgb = create_backbone("r3d10", width=0.0625).eval()
    assert not torch.allclose(rgb(x), rgb(x + 0.5), atol=1e-3)
    with pytest.raises(ValueError, match="unknown input"):
        create_backbone("r3d10", input="flow")


def _dataset():
    rng = np.random.default_rng(0)
    return ArrayVideoDataset(rng.integers(0, 256, (3, 8, 12, 12, 3), dtype=np.uint8), {}, {})


def test_background_mixing_changes_views_only_when_asked():
    ds = _dataset()
    kw = {"clip_frames": 4, "stride": 1, "crop_size": 8, "num_views": 2}
    plain = make_views(ds, 0, aug=AugConfig(jitter_p=0, gray_p=0), rng=np.random.default_rng(1), **kw)
    off = make_views(ds, 0, aug=AugConfig(jitter_p=0, gray_p=0, bg_mix_p=0.0), rng=np.random.default_rng(1), **kw)
    assert torch.equal(plain, off)  # p = 0 draws nothing: the default pipeline is unchanged
    mixed = make_views(ds, 0, aug=AugConfig(jitter_p=0, gray_p=0, bg_mix_p=1.0), rng=np.random.default_rng(1), **kw)
    assert mixed.shape == plain.shape and not torch.allclose(mixed, plain)
