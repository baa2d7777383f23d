import numpy as np
import torch
from torch import nn

from vidssl.backbones import create_backbone
from vidssl.config import DataConfig
from vidssl.data.base import ArrayVideoDataset
from vidssl.data.loading import EvalClips, eval_batch
from vidssl.eval.bn import recalibrate_bn


class _Probe(nn.Module):
    """A BatchNorm straight on the input: its statistics must become those of the clips fed."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm3d(3)
        self.feature_dim = 3

    def forward(self, x):
        return self.bn(x).mean((2, 3, 4))


def _data():
    rng = np.random.default_rng(0)
    ds = ArrayVideoDataset(rng.integers(0, 256, (10, 6, 12, 12, 3), dtype=np.uint8), {}, {})
    return ds, DataConfig(clip_frames=4, crop_size=8)


def test_statistics_are_those_of_unaugmented_train_clips():
    ds, data = _data()
    net = _Probe()
    net.bn.running_mean.fill_(5.0)  # stale statistics, e.g. from augmented pretraining views
    out, seen = recalibrate_bn(net, ds, data, batch_size=4)
    clips = eval_batch(torch.stack([EvalClips(ds, data, 1)[i][0] for i in range(len(ds))]), data, torch.device("cpu"))
    assert seen == 10  # batches of 4, 4 and 2 clips
    # the plain average over batches of the batch statistics (variance unbiased), not an exponential one
    batches = [clips[s : s + 4].transpose(0, 1).flatten(1) for s in (0, 4, 8)]
    assert torch.allclose(out.bn.running_mean, sum(b.mean(1) for b in batches) / 3, atol=1e-5)
    assert torch.allclose(out.bn.running_var, sum(b.var(1) for b in batches) / 3, atol=1e-4)
    assert not out.training and net.bn.running_mean[0] == 5.0  # a copy, in eval mode; the original untouched
    assert out.bn.momentum == net.bn.momentum


def test_random_init_features_change_and_weights_do_not():
    ds, data = _data()
    torch.manual_seed(0)
    bb = create_backbone("r3d10", width=0.0625)
    out, _ = recalibrate_bn(bb, ds, data, batch_size=5)
    for (k, a), b in zip(bb.state_dict().items(), out.state_dict().values()):
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(a, b), k
    x = eval_batch(EvalClips(ds, data, 1)[0], data, torch.device("cpu"))
    with torch.no_grad():
        assert not torch.allclose(bb.eval()(x), out(x))
