import dataclasses
import subprocess
import sys

import pytest
import torch

from vidssl.backbones import BACKBONES, create_backbone
from vidssl.errors import VidsslError


@pytest.mark.parametrize("name", sorted(BACKBONES))
@pytest.mark.parametrize("input", ["rgb", "residual"])
def test_every_backbone_forward_backward(name, input):
    torch.manual_seed(0)
    bb = create_backbone(name, width=0.0625, input=input)
    x = torch.randn(2, 3, 4, 16, 16, requires_grad=True)
    f = bb(x)
    assert f.shape == (2, bb.feature_dim) and bb.feature_dim == 32 and torch.isfinite(f).all()
    f.square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in bb.parameters() if p.grad is not None)
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_r2d18_sees_each_frame_alone_and_averages_over_time():
    torch.manual_seed(0)
    bb = create_backbone("r2d18", width=0.0625).eval()
    x = torch.randn(2, 3, 5, 16, 16)
    with torch.no_grad():
        f = bb(x)
        one_by_one = torch.stack([bb(x[:, :, t : t + 1]) for t in range(5)]).mean(0)
        shuffled = bb(x[:, :, torch.tensor([3, 0, 4, 1, 2])])
    torch.testing.assert_close(f, one_by_one, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(f, shuffled, rtol=1e-5, atol=1e-6)  # no motion: frame order does not matter
    bb3 = create_backbone("r3d18", width=0.0625).eval()
    with torch.no_grad():  # a 3D network does see the order
        assert not torch.allclose(bb3(x), bb3(x[:, :, torch.tensor([3, 0, 4, 1, 2])]), atol=1e-4)
    assert create_backbone("r2d18", width=1.0).feature_dim == 512
    with pytest.raises(VidsslError, match="unknown backbone 'r2d50'"):
        create_backbone("r2d50")


def test_r2d18_pretrains_with_the_default_memory_layout(tiny_pretrain):
    from vidssl.engine import pretrain

    cfg = dataclasses.replace(tiny_pretrain, steps=2, model=dataclasses.replace(tiny_pretrain.model, backbone="r2d18"))
    assert cfg.channels_last
    res = pretrain(cfg)
    assert res.step == 2 and res.final_loss == res.final_loss  # not NaN


def test_r2d18_survives_channels_last_clips_at_one_thread():
    """torch 2.13's CPU Conv2d backward corrupts the heap (abort or segfault, most runs) on channels-last
    frames at one thread and width 0.0625; the 2D backbone hands its convolutions contiguous frames.
    In a child process, since a corrupted heap takes the whole process down."""
    code = (
        "import torch\n"
        "torch.set_num_threads(1)\n"
        "from vidssl.backbones import create_backbone\n"
        "bb = create_backbone('r2d18', width=0.0625)\n"
        "x = torch.randn(8, 3, 4, 16, 16).contiguous(memory_format=torch.channels_last_3d)\n"
        "for _ in range(20):\n"
        "    bb(x).sum().backward()\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-500:]
