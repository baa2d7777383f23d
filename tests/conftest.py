import os

import pytest
import torch

from vidssl.config import AugConfig, DataConfig, ModelConfig, PretrainConfig

# 2 threads, as on the CI machine; bench/mutation.py sets 1 (its test processes are forked, and a forked
# child of a process whose OpenMP pool has started can hang in its first parallel op)
torch.set_num_threads(int(os.environ.get("VIDSSL_TEST_THREADS", "2")))


@pytest.fixture(autouse=True)
def _cpu_and_torch_state(monkeypatch, request):
    """Tests run on the CPU whatever the machine has (device="auto" resolves to cpu), and a
    test that changes torch's thread count or deterministic mode (e.g. through a config's
    ``threads`` / ``deterministic``) cannot leak it into the tests after it."""
    from vidssl import engine, runtime

    if "gpu" not in request.node.name:  # subprocesses (the CLI run as a user would) on the CPU too
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    real = runtime.resolve_device
    for module in (runtime, engine):  # engine holds its own reference to the function
        monkeypatch.setattr(module, "resolve_device", lambda name: real("cpu" if name == "auto" else name))
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


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
