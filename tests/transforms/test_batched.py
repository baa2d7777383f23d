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


class _Sizes:
    """Videos of different frame sizes (so background frames get resized), random uint8 pixels."""

    def __init__(self, sizes=((20, 24), (24, 30), (16, 20))) -> None:
        rng = np.random.default_rng(0)
        self.frames = [rng.integers(0, 256, (10, h, w, 3), dtype=np.uint8) for h, w in sizes]

    def __len__(self):
        return len(self.frames)

    def num_frames(self, i):
        return len(self.frames[i])

    def read_frames(self, i, idx):
        return self.frames[i][idx]


def _float_hand_over(dataset, i, *, aug, clip_frames, stride, crop_size, num_views, rng):
    """The on-device path before uint8 hand-over (commit 2ec8a99): float crops + colour parameters."""
    from vidssl.transforms.motion import mix_frame
    from vidssl.transforms.views import view_indices

    idx = view_indices(dataset.num_frames(i), clip_frames, stride, aug, num_views, rng)
    wanted, inverse = np.unique(np.concatenate(idx), return_inverse=True)
    frames = dataset.read_frames(i, wanted)
    views, params = [], []
    for v in range(num_views):
        clip = spatial.to_float(frames[inverse[v * clip_frames : (v + 1) * clip_frames]])
        if aug.bg_mix_p > 0 and len(dataset) > 1 and rng.random() < aug.bg_mix_p:
            j = int(rng.integers(len(dataset) - 1))
            j += j >= i
            k = int(rng.integers(dataset.num_frames(j)))
            frame = spatial.to_float(dataset.read_frames(j, np.array([k])))[:, 0]
            clip = mix_frame(clip, frame, float(rng.uniform(0, aug.bg_mix_max)))
        p = spatial.sample_spatial(clip.shape[2], clip.shape[3], aug, rng)
        views.append(spatial.apply_spatial(clip, spatial.SpatialParams(p.box, p.flip), crop_size))
        params.append(pack(p))
    return torch.stack(views), torch.stack(params)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_uint8_crops_finished_on_the_device_equal_the_float_hand_over(seed):
    """Workers hand over uint8 crops; the device's float work gives bitwise the views of the float
    hand-over (on the CPU), and the views of the all-in-worker path to float rounding."""
    import dataclasses

    from vidssl.transforms.views import RawViews, collate_raw, finish_on_device, make_views

    ds = _Sizes()
    aug = dataclasses.replace(STRONG, crop_scale=(0.3, 1.0), hflip_p=0.5, bg_mix_p=0.6, on_device=True)
    kw = {"clip_frames": 4, "stride": 2, "crop_size": 12, "num_views": 2}
    keys = [(i, s) for i in range(3) for s in range(2)]  # 6 clips x 2 views, every video's size
    raw = [make_views(ds, i, aug=aug, rng=np.random.default_rng([seed, i, s]), **kw) for i, s in keys]
    assert all(isinstance(r, RawViews) and all(c.dtype == torch.uint8 for c in r.crops) for r in raw)
    got = finish_on_device(collate_raw(raw), 12)

    old = [_float_hand_over(ds, i, aug=aug, rng=np.random.default_rng([seed, i, s]), **kw) for i, s in keys]
    clips, params = torch.stack([c for c, _ in old]), torch.stack([p for _, p in old])
    want = spatial.normalize(colour_batch(clips.flatten(0, 1), params.flatten(0, 1))).view(got.shape)
    assert got.shape == (6, 2, 3, 4, 12, 12) and torch.equal(got, want)
    assert sum(m is not None for r in raw for m in r.mix) > 0 and any(f for r in raw for f in r.flip)

    worker = dataclasses.replace(aug, on_device=False)
    ref = torch.stack([make_views(ds, i, aug=worker, rng=np.random.default_rng([seed, i, s]), **kw) for i, s in keys])
    assert torch.allclose(got, ref, atol=1e-4), (got - ref).abs().max()  # 2e-5 before normalising, as above
