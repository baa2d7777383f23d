"""Checkpoints: one file holding weights, optimiser state, step and the resolved config.

Written atomically (temporary file, fsync, rename), so a kill or a full disk never
leaves a half-written checkpoint where a good one was. The state holds tensors and plain
Python values only (the config as a dict), and is read with ``torch.load(...,
weights_only=True)``: a file that would need any other object to unpickle (the way a
doctored checkpoint runs code) is refused before any of it runs. This module is the
one place checkpoints are read: :func:`load` gives the raw state,
:func:`load_pretrain_checkpoint` the rebuilt method.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vidssl.config import PretrainConfig, from_dict
from vidssl.errors import VidsslError
from vidssl.io import atomic_write
from vidssl.methods import build_model

FORMAT = "vidssl-checkpoint-1"


def arch_of(cfg) -> dict[str, Any]:
    """What must match for weights to load: method, backbone, its width and its input."""
    return {"method": cfg.method, "backbone": cfg.model.backbone, "width": cfg.model.width, "input": cfg.model.input}


_ARCH_DEFAULTS = {"input": "rgb"}  # keys that checkpoints written before they existed lack


def save(path: str | Path, **state: Any) -> None:
    buf = io.BytesIO()  # serialised first: torch.save turns a failed write (full disk) into a RuntimeError
    torch.save({"format": FORMAT, **state, "digest": digest(state)}, buf)
    with atomic_write(path) as f:
        f.write(buf.getbuffer())


def digest(obj: Any) -> str:
    """SHA-256 of a state's content (every tensor's bytes, every value, in key order).

    torch.load does not check the archive's CRCs, so a flipped byte in a checkpoint loads
    as a different weight; the digest stored at saving makes :func:`load` refuse it.
    """
    h = hashlib.sha256()

    def feed(x: Any) -> None:
        if isinstance(x, torch.Tensor):
            t = x.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=repr):
                feed(k)
                feed(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                feed(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    feed(state_without_digest(obj))
    return h.hexdigest()


def state_without_digest(ckpt: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ckpt.items() if k not in ("format", "digest")}


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise VidsslError(f"checkpoint {path} does not exist; pass the path to a .pt file written by vidssl pretrain")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)  # never runs code from the file
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL (\S+)", str(e))  # torch names the object it would have had to import
        if found:
            raise VidsslError(
                f"checkpoint {path} asks to import {found.group(1)}, not just tensors and plain values; refused, "
                "since unpickling it could run code from the file (vidssl checkpoints never need it)"
            ) from e
        raise VidsslError(f"checkpoint {path} could not be read ({type(e).__name__}); it is damaged or not a vidssl checkpoint") from e
    except Exception as e:
        raise VidsslError(f"checkpoint {path} could not be read ({type(e).__name__}); it is damaged or not a vidssl checkpoint") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise VidsslError(f"{path} is not a vidssl checkpoint (expected format {FORMAT})")
    if "digest" in ckpt and ckpt["digest"] != digest(ckpt):  # checkpoints from before digests have none
        raise VidsslError(f"checkpoint {path} is damaged (its content does not match its SHA-256 digest); "
                          "delete it, or restore a copy, and run again")
    return ckpt


def load_pretrain_checkpoint(path: str | Path) -> tuple[nn.Module, PretrainConfig, dict[str, Any]]:
    """Rebuild the method from a checkpoint: (model with trained weights, its config, raw checkpoint)."""
    ck = load(path)
    cfg = from_dict(PretrainConfig, ck["config"])
    check_arch(ck, arch_of(cfg), path)
    model = build_model(cfg)
    load_weights(model, ck["model"], path)
    return model, cfg, ck


def check_arch(ckpt: dict[str, Any], expected: dict[str, Any], path: str | Path) -> None:
    got = {**_ARCH_DEFAULTS, **ckpt.get("arch", {})}
    if got != expected:
        diff = ", ".join(f"{k}: checkpoint {got.get(k)!r} vs config {expected.get(k)!r}" for k in expected if got.get(k) != expected.get(k))
        raise VidsslError(
            f"checkpoint {path} is for a different architecture ({diff}); "
            "use the same --method/--backbone/--width, or a fresh --out directory"
        )


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise VidsslError(f"weights in {path} do not fit this model ({first}); check --backbone and --width") from e


def fingerprint(ck: dict[str, Any]) -> dict[str, Any]:
    """What identifies a checkpoint's weights: its step and a SHA-256 of its model tensors.

    Results measured on a checkpoint (e.g. fine-tuning) are kept only while both match, so
    a resumed, longer or retrained run at the same path never inherits stale numbers.
    """
    h = hashlib.sha256()
    for name, t in sorted(ck["model"].items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return {"step": int(ck["step"]), "weights_sha256": h.hexdigest()}
