"""Take the encoder out: a checkpoint's backbone as a file that plain PyTorch code loads.

Three formats, each with the same description (:func:`encoder_spec`, format
``vidssl-encoder-1``) inside the file and in a JSON file beside it (``encoder.json`` for
``encoder.safetensors``):

- ``safetensors`` (default): the backbone's weights only, no code and no pickle; loading
  rebuilds the backbone from the description (:func:`load_encoder`, needs vidssl).
- ``torchscript``: the backbone compiled with TorchScript, weights and code in one file
  that ``torch.jit.load`` reads without vidssl (the description is its extra file
  ``vidssl.json``).
- ``onnx`` (optional extra ``vidssl[onnx]``): the backbone as an ONNX graph with a dynamic
  batch size, for onnxruntime and other ONNX runtimes (the description is the model's
  metadata entry ``vidssl``).

The description says what the encoder expects: clips of ``frames`` RGB frames taken
every ``stride`` frames, the centre square of each frame resized to ``crop_size``, values
``uint8 / 255`` standardised with ``mean`` and ``std``, as a float ``(B, 3, T, S, S)``
tensor; with ``input: residual`` the network differences consecutive frames itself, so
it is fed RGB clips too. :func:`preprocess` makes that tensor from a video file or a
``(T, H, W, 3)`` uint8 array, exactly as evaluation does.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidssl import checkpoint
from vidssl.backbones import create_backbone
from vidssl.config import PretrainConfig, to_dict
from vidssl.errors import VidsslError
from vidssl.io import atomic_write, write_json
from vidssl.transforms.spatial import MEAN, STD, centre_square, eval_input
from vidssl.transforms.temporal import uniform_clips

FORMAT = "vidssl-encoder-1"
FORMATS = ("safetensors", "torchscript", "onnx")
_META_KEY = "vidssl"  # safetensors metadata key / TorchScript extra file (vidssl.json) holding the description
_UNSET: Any = object()


def encoder_spec(pcfg: PretrainConfig, ck: dict[str, Any], feature_dim: int, *, source: str,
                 batchnorm: str) -> dict[str, Any]:
    """The JSON description of an exported backbone (see the module docstring)."""
    from vidssl import __version__

    d = pcfg.data
    return {
        "format": FORMAT,
        "architecture": {"backbone": pcfg.model.backbone, "width": pcfg.model.width, "input": pcfg.model.input,
                         "feature_dim": feature_dim},
        "input": {
            "tensor": "float32 (B, 3, T, S, S): batch, channels, frames, height, width",
            "kind": pcfg.model.input,
            "kind_note": ("RGB clips; the network takes differences of consecutive frames itself"
                          if pcfg.model.input == "residual" else "RGB clips"),
            "frames": d.clip_frames, "stride": d.stride, "crop_size": d.crop_size,
            "short_side": None if d.dataset == "synthetic" else d.cache_short_side,
            "channel_order": "RGB",
            "view": "centre square of each frame, resized (bilinear, antialiased) to crop_size x crop_size",
            "normalisation": "x = uint8 / 255, then (x - mean) / std per channel",
            "mean": list(MEAN), "std": list(STD),
        },
        "output": {"features": feature_dim, "what": "global-average-pooled features of the last stage, (B, D)"},
        "batchnorm": batchnorm,
        "pretraining": {
            "method": pcfg.method, "steps": int(ck["step"]), "seed": pcfg.seed, "dataset": d.dataset,
            "checkpoint": source, "checkpoint_fingerprint": checkpoint.fingerprint(ck), "config": to_dict(pcfg),
        },
        "software": {"vidssl": __version__, "torch": torch.__version__},
    }


def export_encoder(checkpoint_path: str | Path, out: str | Path, *, format: str = "safetensors",
                   bn_recalibrate: bool = False, progress: bool = False) -> Path:
    """Write the backbone of ``checkpoint_path`` to ``out`` and its description beside it; returns ``out``.

    ``bn_recalibrate`` re-estimates BatchNorm statistics on one unaugmented centre clip of
    every video of the checkpoint's train split first, as ``vidssl eval`` does by default
    (the description records which statistics the file holds).
    """
    if format not in FORMATS:
        raise VidsslError(f"unknown export format {format!r}; choose {' or '.join(FORMATS)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise VidsslError(f"cannot write {out}: folder {out.parent} does not exist")
    if out.exists() and Path(checkpoint_path).exists() and os.path.samefile(out, checkpoint_path):
        raise VidsslError(f"--out {out} is the checkpoint being exported; it would be replaced (optimiser state and "
                          "all): choose another file, e.g. encoder.safetensors")
    model, pcfg, ck = checkpoint.load_pretrain_checkpoint(checkpoint_path)
    backbone = model.backbone
    batchnorm = "pretraining's running statistics"
    if bn_recalibrate:
        from vidssl.data.loading import open_dataset
        from vidssl.eval.bn import recalibrate_bn

        train, _ = open_dataset(pcfg.data, progress=progress)
        backbone, n = recalibrate_bn(backbone, train, pcfg.data, progress=progress)
        batchnorm = f"re-estimated on {n} unaugmented centre clips of {train.name} (one per video)"
    backbone = copy.deepcopy(backbone).eval()
    spec = encoder_spec(pcfg, ck, int(backbone.feature_dim), source=str(checkpoint_path), batchnorm=batchnorm)
    spec["file_format"] = format
    text = json.dumps(spec)
    if format == "safetensors":
        from safetensors.torch import save

        state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
        blob = save(state, metadata={_META_KEY: text})
        with atomic_write(out) as f:
            f.write(blob)
    elif format == "onnx":
        model = _to_onnx(backbone, pcfg.data)
        import onnx

        onnx.helper.set_model_props(model, {_META_KEY: text})
        with atomic_write(out) as f:
            f.write(model.SerializeToString())
    else:
        with warnings.catch_warnings():  # TorchScript is deprecated upstream, but still what plain torch loads
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.script(backbone)
            with atomic_write(out) as f:
                torch.jit.save(scripted, f, _extra_files={f"{_META_KEY}.json": text})
    write_json(sidecar_path(out), spec)
    return out


def _to_onnx(backbone: nn.Module, data):
    """The backbone as an ``onnx.ModelProto`` (torch's dynamo exporter), batch size left dynamic."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise VidsslError(f"--format onnx needs the onnx extra ({e}); pip install 'vidssl[onnx]'") from e
    import logging

    x = torch.zeros(2, 3, data.clip_frames, data.crop_size, data.crop_size)
    quiet = logging.getLogger("torch.onnx")  # one line per torchvision operator it does not find
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(backbone, (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},),
                                        input_names=["clips"], output_names=["features"], verbose=False)
    finally:
        quiet.setLevel(level)
    return program.model_proto


class _OnnxEncoder(nn.Module):
    """An ONNX encoder run by onnxruntime on the CPU, as a module: ``(B, 3, T, S, S) -> (B, D)``."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        try:
            import onnxruntime
        except ImportError as e:
            raise VidsslError(f"{path} is ONNX: reading it needs onnxruntime ({e}); pip install 'vidssl[onnx]'") from e
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (y,) = self.session.run(None, {"clips": x.detach().cpu().float().numpy()})
        return torch.from_numpy(y)


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json") if path.suffix != ".json" else path.with_name(path.name + ".meta.json")


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.split("/", 2)[1:2] == ["code"] for n in z.namelist())  # <archive>/code/... holds the program


def read_spec(path: str | Path) -> dict[str, Any]:
    """The description stored inside an exported encoder file."""
    return _read(Path(path))[0]


def _read(path: Path) -> tuple[dict[str, Any], nn.Module | None]:
    """(description, the TorchScript module or None for a safetensors file)."""
    if not path.is_file():
        raise VidsslError(f"encoder file {path} does not exist; write one with vidssl export CKPT --out {path.name}")
    module = None
    if path.suffix == ".onnx":
        try:
            import onnx
        except ImportError as e:
            raise VidsslError(f"{path} is ONNX: reading its description needs onnx ({e}); "
                              "pip install 'vidssl[onnx]'") from e
        try:
            meta = onnx.load(str(path), load_external_data=False).metadata_props
        except Exception as e:  # onnx raises DecodeError and others for a file that is not ONNX
            raise VidsslError(f"{path} is not an ONNX file ({e}); pass a file written by vidssl export") from e
        text = next((p.value for p in meta if p.key == _META_KEY), "")
    elif _is_torchscript(path):
        extra = {f"{_META_KEY}.json": ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        text = extra[f"{_META_KEY}.json"]
    else:
        text = _safetensors_meta(path).get(_META_KEY, "")
    try:
        spec = json.loads(text)
    except ValueError:
        spec = None
    if not isinstance(spec, dict) or spec.get("format") != FORMAT:
        raise VidsslError(f"{path} is not an encoder written by vidssl export (no {FORMAT} description)")
    return spec, module


def _safetensors_meta(path: Path) -> dict[str, str]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as f:
            return f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise VidsslError(f"{path} is neither a safetensors nor a TorchScript file ({e}); "
                          "pass a file written by vidssl export") from e


def load_encoder(path: str | Path) -> nn.Module:
    """An exported encoder as a plain ``nn.Module`` in eval mode: ``(B, 3, T, S, S) -> (B, D)`` features.

    A safetensors file is rebuilt from its description and loaded without unpickling
    anything; a TorchScript file is read with ``torch.jit.load``; an ``.onnx`` file is run
    by onnxruntime on the CPU (extra ``vidssl[onnx]``).
    """
    path = Path(path)
    spec, scripted = _read(path)
    if path.suffix == ".onnx":
        return _OnnxEncoder(path)
    if scripted is not None:
        return scripted.eval()
    from safetensors.torch import load_file

    arch = spec["architecture"]
    backbone = create_backbone(arch["backbone"], width=arch["width"], input=arch["input"])
    checkpoint.load_weights(backbone, load_file(str(path)), path)
    return backbone.eval()


def preprocess(video: str | Path | np.ndarray, encoder: str | Path | dict[str, Any] | None = None, *,
               clips: int = 1, frames: int | None = None, stride: int | None = None, crop_size: int | None = None,
               short_side: int | None = _UNSET) -> torch.Tensor:
    """The input an encoder expects, from a video file or a ``(T, H, W, 3)`` uint8 RGB array.

    Returns ``(clips, 3, frames, crop_size, crop_size)`` float32: ``clips`` uniformly spaced
    clips, each the centre square resized to ``crop_size``, normalised, as ``vidssl eval``
    feeds them (the features of a video are the mean over its clips). ``encoder`` (an
    exported file or its description) gives the defaults; the keywords override them.
    A file is decoded with ``short_side`` as in training (``None``: as stored); an array is
    taken as decoded frames and, when ``short_side`` is set, resized with area averaging.
    """
    spec = read_spec(encoder)["input"] if isinstance(encoder, (str, Path)) else (encoder or {}).get("input", {})
    frames = frames if frames is not None else spec.get("frames")
    stride = stride if stride is not None else spec.get("stride", 1)
    crop_size = crop_size if crop_size is not None else spec.get("crop_size")
    short_side = spec.get("short_side") if short_side is _UNSET else short_side
    if frames is None or crop_size is None:
        raise VidsslError("preprocess needs frames and crop_size: pass an exported encoder (or its description) "
                          "or give them as keywords")
    if clips < 1:
        raise VidsslError(f"clips must be >= 1, got {clips}")
    if isinstance(video, (str, Path)):
        from vidssl.data import decode

        picked = uniform_clips(decode.probe(video).frames, frames, stride, clips)
        clip_frames = np.split(decode.read_frames(video, np.concatenate(picked), short_side), clips)
    else:
        arr = np.asarray(video)
        if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
            raise VidsslError(f"a video array must be (T, H, W, 3) uint8 RGB, got {arr.shape} {arr.dtype}")
        if short_side is not None and min(arr.shape[1:3]) != short_side:
            arr = _resize_short_side(arr, short_side)
        clip_frames = [arr[c] for c in uniform_clips(len(arr), frames, stride, clips)]
    return eval_input(torch.stack([centre_square(f) for f in clip_frames]), crop_size)  # as evaluation's device side


def _resize_short_side(frames: np.ndarray, short_side: int) -> np.ndarray:
    """(T, H, W, 3) uint8 resized with area averaging so that min(H, W) == short_side."""
    from vidssl.data.decode import output_size

    w, h = output_size(frames.shape[2], frames.shape[1], short_side)
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(h, w), mode="area")
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
