import pytest
import torch

from vidssl.config import AugConfig, DataConfig, ModelConfig, PretrainConfig

torch.set_num_threads(2)


@pytest.fixture
def tiny_data(tmp_path_factory) -> DataConfig:
    """A few small generated clips, cached in a per-session folder."""
    cache = tmp_path_factory.getbasetemp() / "vidssl-cache"
    return DataConfig(clip_frames=4, crop_size=16, cache_dir=str(cache), synthetic_train_per_class=3,
                      synthetic_test_per_class=2, synthetic_frames=8, synthetic_size=20)


@pytest.fixture
def tiny_pretrain(tiny_data, tmp_path) -> PretrainConfig:
    return PretrainConfig(out_dir=str(tmp_path / "run"), data=tiny_data, aug=AugConfig(temporal_shift=2),
                          model=ModelConfig(width=0.0625, head_hidden=32, proj_dim=16), batch_size=8, steps=6,
                          warmup_steps=2, checkpoint_every=2, log_every=1, progress=False)
