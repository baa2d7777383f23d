"""Exported encoders: the same features as the checkpoint's backbone, in plain PyTorch."""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from video_helpers import barcode_frames, write_video

import vidssl
from vidssl import api
from vidssl.cli import run
from vidssl.data.loading import EvalClips, eval_batch, open_dataset
from vidssl.errors import VidsslError
from vidssl.eval.features import extract_features
from vidssl.export import read_spec


@pytest.fixture(params=["rgb", "residual"])
def trained(request, tiny_pretrain):
    cfg = dataclasses.replace(tiny_pretrain, steps=3,
                              model=dataclasses.replace(tiny_pretrain.model, input=request.param))
    return api.pretrain(cfg).checkpoint


@pytest.mark.parametrize("fmt", ["safetensors", "torchscript"])
def test_exported_encoder_gives_the_checkpoints_features(trained, fmt, tmp_path, capsys):
    out = tmp_path / ("encoder.safetensors" if fmt == "safetensors" else "encoder.pt")
    assert run(["export", str(trained), "--out", str(out), "--format", fmt, "--no-progress"]) == 0
    assert "encoder.json" in capsys.readouterr().out
    model, pcfg, _ = api.load_pretrain_checkpoint(trained)
    spec = json.loads((tmp_path / "encoder.json").read_text())
    assert spec == read_spec(out)  # the description beside the file is the one inside it
    assert spec["architecture"] == {"backbone": "r3d18", "width": 0.0625, "input": pcfg.model.input,
                                    "feature_dim": model.backbone.feature_dim}
    assert (spec["input"]["frames"], spec["input"]["stride"], spec["input"]["crop_size"]) == (4, 1, 16)
    assert spec["input"]["kind"] == pcfg.model.input and spec["input"]["channel_order"] == "RGB"
    assert spec["input"]["short_side"] is None  # built-in data: frames as generated
    assert spec["pretraining"]["steps"] == 3 and spec["pretraining"]["config"]["method"] == "simclr"

    enc = vidssl.load_encoder(out)
    assert isinstance(enc, torch.nn.Module) and not enc.training
    if fmt == "torchscript":  # plain torch reads it, with vidssl blocked from importing
        assert isinstance(enc, torch.jit.ScriptModule)
        code = ("import sys; sys.modules['vidssl'] = None; import torch; "
                f"print(tuple(torch.jit.load({str(out)!r})(torch.zeros(2, 3, 4, 16, 16)).shape))")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        assert r.returncode == 0 and r.stdout.strip() == f"(2, {model.backbone.feature_dim})", r.stderr
    ref = model.backbone.eval()
    x = torch.randn(3, 3, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(enc(x), ref(x))

    # preprocess + encoder = what evaluation computes for a video (here 2 clips per video)
    _, test = open_dataset(pcfg.data)
    per_video, _ = extract_features(ref, test, pcfg.data, clips_per_video=2, progress=False)
    with torch.no_grad():
        mine = np.stack([enc(vidssl.preprocess(test.videos[i], out, clips=2)).mean(0).numpy() for i in range(4)])
    np.testing.assert_allclose(mine, per_video[:4], rtol=1e-5, atol=1e-6)


def test_onnx_encoder_gives_the_checkpoints_features(trained, tmp_path):
    """ONNX (extra vidssl[onnx]): onnxruntime's features equal the checkpoint backbone's to 1e-5 (abs) + 1e-4 (rel)."""
    ort = pytest.importorskip("onnxruntime", reason="ONNX export is the optional extra: pip install 'vidssl[onnx]'")
    pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript: pip install 'vidssl[onnx]'")
    out = tmp_path / "encoder.onnx"
    assert run(["export", str(trained), "--out", str(out), "--no-progress"]) == 0  # the format from the suffix
    spec = read_spec(out)
    assert spec == json.loads((tmp_path / "encoder.json").read_text()) and spec["file_format"] == "onnx"
    model, pcfg, _ = api.load_pretrain_checkpoint(trained)
    ref = model.backbone.eval()
    x = torch.randn(3, 3, 4, 16, 16)  # a batch size other than the one exported with
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # plain onnxruntime
    (got,) = session.run(None, {"clips": x.numpy()})
    with torch.no_grad():
        np.testing.assert_allclose(got, ref(x).numpy(), rtol=1e-4, atol=1e-5)
    _, test = open_dataset(pcfg.data)
    per_video, _ = extract_features(ref, test, pcfg.data, clips_per_video=2, progress=False)
    enc = vidssl.load_encoder(out)
    mine = np.stack([enc(vidssl.preprocess(test.videos[i], out, clips=2)).mean(0).numpy() for i in range(4)])
    np.testing.assert_allclose(mine, per_video[:4], rtol=1e-4, atol=1e-5)


def test_preprocess_of_a_file_matches_evaluation_clips(tmp_path):
    from vidssl.config import DataConfig
    from vidssl.data.videos import VideoList

    path = write_video(tmp_path / "v.mp4", barcode_frames(30, 48, 64))
    data = DataConfig(dataset="folder", clip_frames=4, stride=3, crop_size=16, cache_short_side=24)
    ref = eval_batch(EvalClips(VideoList([path], [0], ["a"], "one", short_side=24), data, 3)[0], data, torch.device("cpu"))
    spec = {"input": {"frames": 4, "stride": 3, "crop_size": 16, "short_side": 24}}
    got = vidssl.preprocess(path, spec, clips=3)
    assert got.shape == (3, 3, 4, 16, 16) and got.dtype == torch.float32
    assert torch.equal(got, ref)
    # the same frames as an array, decoded at that short side: equal too
    from vidssl.data import decode

    assert torch.equal(vidssl.preprocess(decode.read_all(path, 24), spec, clips=3), ref)


def test_preprocess_refuses_bad_input():
    with pytest.raises(VidsslError, match="frames and crop_size"):
        vidssl.preprocess(np.zeros((8, 16, 16, 3), np.uint8))
    with pytest.raises(VidsslError, match=r"\(T, H, W, 3\) uint8"):
        vidssl.preprocess(np.zeros((8, 16, 16, 3), np.float32), frames=4, crop_size=16)


def test_export_with_recalibrated_batchnorm(tiny_pretrain, tmp_path):
    from vidssl.eval.bn import recalibrate_bn
    from vidssl.export import export_encoder

    ck = api.pretrain(dataclasses.replace(tiny_pretrain, steps=2)).checkpoint
    out = export_encoder(ck, tmp_path / "e.safetensors", bn_recalibrate=True)
    model, pcfg, _ = api.load_pretrain_checkpoint(ck)
    train, _ = open_dataset(pcfg.data)
    want, n = recalibrate_bn(model.backbone, train, pcfg.data)
    assert read_spec(out)["batchnorm"].startswith(f"re-estimated on {n} ")
    got = vidssl.load_encoder(out).state_dict()
    assert all(torch.equal(got[k], v) for k, v in want.state_dict().items())


def test_loading_something_else_is_a_clear_error(tiny_pretrain, tmp_path):
    ck = api.pretrain(dataclasses.replace(tiny_pretrain, steps=1)).checkpoint
    with pytest.raises(VidsslError, match="neither a safetensors nor a TorchScript file"):
        vidssl.load_encoder(ck)  # a training checkpoint, not an exported encoder
    with pytest.raises(VidsslError, match="does not exist"):
        vidssl.load_encoder(tmp_path / "none.safetensors")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(VidsslError, match="not an encoder written by vidssl export"):
        vidssl.load_encoder(tmp_path / "foreign.safetensors")


def test_export_refuses_to_write_over_the_checkpoint_it_reads(tiny_pretrain, tmp_path, capsys):
    from vidssl.cli import main

    ck = api.pretrain(dataclasses.replace(tiny_pretrain, steps=1)).checkpoint
    before = ck.read_bytes()
    with pytest.raises(SystemExit) as e:
        main(["export", str(ck), "--out", str(ck)])
    assert e.value.code == 2 and "is the checkpoint being exported" in capsys.readouterr().err
    os.link(ck, tmp_path / "hardlink.pt")  # another name for the same file
    with pytest.raises(VidsslError, match="is the checkpoint being exported"):
        vidssl.export_encoder(ck, tmp_path / "hardlink.pt")
    assert ck.read_bytes() == before
