"""--device and --threads: one meaning in every command; batches go where the network is."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from vidssl import api, runtime
from vidssl.cli import _pick, parse, run
from vidssl.config import EvalConfig, FinetuneConfig
from vidssl.data.loading import open_dataset
from vidssl.errors import VidsslError
from vidssl.eval.bn import recalibrate_bn
from vidssl.eval.features import extract_features
from vidssl.eval.finetune import finetune
from vidssl.eval.supervised import train_supervised


class Spy(nn.Module):
    """Wraps a backbone; records the device and dtype of every batch it is given."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.feature_dim, self.seen = inner, inner.feature_dim, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((x.device, x.dtype))
        return self.inner(x)


def test_resolve_device_and_set_threads(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runtime.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(VidsslError, match="no CUDA GPU is visible"):
        runtime.resolve_device("cuda")
    with pytest.raises(VidsslError, match="unknown device 'tpu'"):
        runtime.resolve_device("tpu")
    before = torch.get_num_threads()
    runtime.set_threads(1)
    assert torch.get_num_threads() == 1
    runtime.set_threads(0)  # 0 leaves it alone
    assert torch.get_num_threads() == 1
    torch.set_num_threads(before)
    with pytest.raises(VidsslError, match="--threads must be >= 0"):
        runtime.set_threads(-1)
    assert runtime.module_device(nn.Linear(2, 2)) == torch.device("cpu")


def test_every_command_takes_device_and_threads(monkeypatch, tmp_path):
    where = ["--device", "cpu", "--threads", "1"]
    ns = parse(["eval", "x.pt", *where])
    assert (_pick(EvalConfig, ns).device, _pick(EvalConfig, ns).threads) == ("cpu", 1)
    ns = parse(["finetune", "runs/x", *where])
    assert (_pick(FinetuneConfig, ns).device, _pick(FinetuneConfig, ns).threads) == ("cpu", 1)
    for cmd in (["embed", "x.pt", "--out", "e.npz"], ["retrieve", "v.mp4", "--embeddings", "e.npz"]):
        ns = parse([*cmd, *where])
        assert (ns.device, ns.threads) == ("cpu", 1)
    # compare hands them to pretraining, evaluation and fine-tuning alike
    import sys

    got = {}
    monkeypatch.setattr(sys.modules["vidssl.compare"], "compare", lambda cfg: got.setdefault("cfg", cfg) and {"summary": []})
    assert run(["compare", "--out", str(tmp_path / "c"), "--finetune-steps", "5", *where]) == 0
    c = got["cfg"]
    assert {(x.device, x.threads) for x in (c.pretrain, c.eval, c.finetune)} == {("cpu", 1)}


def test_evaluation_protocols_run_where_the_backbone_is(tiny_pretrain):
    from vidssl.engine import build_model

    data = tiny_pretrain.data
    train, test = open_dataset(data)
    spy = Spy(build_model(tiny_pretrain).backbone)
    feats, _ = extract_features(spy, test, data, clips_per_video=2, progress=False)
    recal, n = recalibrate_bn(spy, train, data, batch_size=8)
    assert n == len(train) and feats.dtype == np.float32
    ft = finetune(spy, train, test, data, tiny_pretrain.aug,
                  FinetuneConfig(steps=2, batch_size=4, clips_per_video=1, progress=False, device="cpu"), "motion")
    seen = spy.seen + recal.seen + ft.model.backbone.seen
    assert len(seen) > 3 and set(seen) == {(runtime.module_device(spy), torch.float32)}


def test_asking_for_a_missing_gpu_is_one_clear_error_in_every_command(tiny_pretrain, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ck = api.pretrain(dataclasses.replace(tiny_pretrain, steps=1)).checkpoint
    train, test = open_dataset(tiny_pretrain.data)
    calls = [
        lambda: api.evaluate(ck, EvalConfig(out_dir=str(tmp_path / "e"), device="cuda", progress=False)),
        lambda: api.embed(ck, tmp_path / "e.npz", device="cuda", progress=False),
        lambda: finetune(api.load_pretrain_checkpoint(ck)[0].backbone, train, test, tiny_pretrain.data,
                         tiny_pretrain.aug, FinetuneConfig(steps=1, device="cuda", progress=False), "motion"),
        lambda: train_supervised(dataclasses.replace(tiny_pretrain, device="cuda"), train, "motion"),
    ]
    for call in calls:
        with pytest.raises(VidsslError, match="--device cuda was asked for but no CUDA GPU is visible"):
            call()


def test_eval_records_its_device_and_uses_its_threads(tiny_pretrain, tmp_path):
    ck = api.pretrain(dataclasses.replace(tiny_pretrain, steps=1)).checkpoint
    torch.set_num_threads(2)
    rep = api.evaluate(ck, EvalConfig(out_dir=str(tmp_path / "e"), knn_k=3, recall_ks=(1,), progress=False,
                                      device="cpu", threads=1))
    assert rep["protocol"]["device"] == "cpu" and rep["protocol"]["software"]["torch_threads"] == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_features_on_the_gpu_match_the_cpu(tiny_pretrain, tmp_path):
    ck = api.pretrain(dataclasses.replace(tiny_pretrain, steps=2)).checkpoint
    emb = {d: np.load(api.embed(ck, tmp_path / f"{d}.npz", split="test", device=d, progress=False))["features"]
           for d in ("cpu", "cuda")}
    np.testing.assert_allclose(emb["cuda"], emb["cpu"], rtol=1e-3, atol=1e-3)
    rep = api.evaluate(ck, EvalConfig(out_dir=str(tmp_path / "e"), knn_k=3, recall_ks=(1,), progress=False,
                                      device="cuda"))
    assert rep["protocol"]["device"].startswith("cuda")
