import dataclasses

import pytest
import torch

from vidssl.config import AugConfig
from vidssl.data.loading import open_dataset
from vidssl.engine import build_model
from vidssl.errors import VidsslError
from vidssl.eval.supervised import train_supervised

# no random crop, colour or temporal shift: every step sees the same 24 clips (in another order)
FIXED = AugConfig(temporal_shift=0, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter_p=0.0, gray_p=0.0)


def test_supervised_starts_from_build_model_weights_and_fits_a_fixed_batch(tiny_pretrain):
    cfg = dataclasses.replace(tiny_pretrain, aug=FIXED, batch_size=24, steps=12, warmup_steps=2, lr=5e-3, threads=1)
    threads = torch.get_num_threads()
    train, _ = open_dataset(cfg.data)
    assert len(train) == cfg.batch_size  # 8 classes x 3
    start = build_model(cfg).backbone.state_dict()
    losses = []
    try:
        bb = train_supervised(cfg, train, "motion", on_step=lambda step, loss: losses.append(loss))
    finally:
        torch.set_num_threads(threads)
    assert len(losses) == cfg.steps and all(torch.isfinite(torch.tensor(losses)))
    assert not bb.training
    after = bb.state_dict()
    assert after.keys() == start.keys()
    assert any(not torch.equal(start[k], after[k]) for k in start if after[k].is_floating_point())
    assert sum(losses[-3:]) / 3 < 0.8 * losses[0]


def test_unknown_label_set_is_a_clear_error(tiny_pretrain):
    train, _ = open_dataset(tiny_pretrain.data)
    with pytest.raises(VidsslError, match="no label set 'class'"):
        train_supervised(tiny_pretrain, train)


def test_labelled_views_of_an_on_device_config_are_the_worker_views():
    """Fine-tuning and the supervised baseline take one view per clip from the workers, --on-device or not."""
    import dataclasses

    import numpy as np
    import torch

    from vidssl.config import AugConfig, DataConfig
    from vidssl.data.base import ArrayVideoDataset
    from vidssl.data.loading import ViewDataset
    from vidssl.eval.classifier import LabelledViews

    ds = ArrayVideoDataset(np.random.default_rng(0).integers(0, 256, (4, 8, 16, 16, 3), dtype=np.uint8), {}, {})
    data = DataConfig(clip_frames=4, crop_size=8)
    got = {on: LabelledViews(ViewDataset(ds, dataclasses.replace(AugConfig(), on_device=on), data, 1, 0), np.arange(4))
           for on in (False, True)}
    (x, y), (x2, y2) = got[False][(1, 3, 0)], got[True][(1, 3, 0)]
    assert x.shape == (3, 4, 8, 8) and torch.equal(x, x2) and y == y2 == 1
