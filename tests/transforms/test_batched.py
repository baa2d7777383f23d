import numpy as np
import pytest
import torch

from vidssl.config import AugConfig
from vidssl.transforms import spatial
from vidssl.transforms.batched import colour_batch, pack

STRONG = AugConfig(jitter_p=0.8, gray_p=0.3, blur_p=0.5, blur_sigma=(0.1, 2.0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batched_colour_equals_per_clip_path(seed):
    g = torch.Generator().manual_seed(seed)
    clips = torch.rand(12, 3, 4, 16, 16, generator=g)
    rng = np.random.default_rng(seed)
    params = [spatial.sample_spatial(16, 16, STRONG, rng) for _ in range(12)]
    # the per-clip path with the crop fixed to the whole frame (colour part only)
    ref = torch.stack([spatial.apply_spatial(c, p.__class__(**{**p.__dict__, "box": (0, 0, 16, 16), "flip": False}), 16)
                       for c, p in zip(clips, params)])
    got = colour_batch(clips, torch.stack([pack(p) for p in params]))
    assert got.shape == clips.shape
    assert torch.allclose(got, ref, atol=2e-5), (got - ref).abs().max()
    assert any(p.blur_sigma > 0 for p in params) and any(p.gray for p in params)


def test_identity_parameters_leave_the_batch_unchanged():
    clips = torch.rand(3, 3, 2, 8, 8)
    p = spatial.SpatialParams((0, 0, 8, 8))
    assert torch.equal(colour_batch(clips, torch.stack([pack(p)] * 3)), clips)


def test_training_with_on_device_augmentation_matches_the_worker_path(tiny_pretrain, tmp_path):
    import dataclasses
    import json

    from vidssl.engine import pretrain

    strong = dataclasses.replace(tiny_pretrain.aug, jitter_p=1.0, gray_p=0.3, blur_p=0.5)
    runs = []
    for on_device in (False, True):
        cfg = dataclasses.replace(tiny_pretrain, out_dir=str(tmp_path / str(on_device)), steps=2, deterministic=True,
                                  aug=dataclasses.replace(strong, on_device=on_device))
        res = pretrain(cfg)
        runs.append([json.loads(x)["loss"] for x in (res.out_dir / "train_log.jsonl").read_text().splitlines()])
    assert runs[0] == pytest.approx(runs[1], abs=1e-4)
