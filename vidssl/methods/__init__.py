"""Method registry: ``create(name, backbone, **kwargs)`` builds a pretraining method.

A method is an ``nn.Module`` with a ``backbone`` attribute (the encoder that is
evaluated), a ``num_views`` class attribute (how many augmented clips of each video
``forward`` takes) and ``forward(views: list[Tensor (N, C, T, H, W)]) -> loss``. A method
with momentum (EMA) encoders also defines ``after_step(step, total_steps)``, which the
engine calls after every optimiser step.

A config leaves ``temperature``, ``ema_momentum`` and ``model.proj_dim`` at None to mean
"the method's own default": the default of that keyword in the method's constructor
(:func:`method_defaults`), which :func:`resolve_defaults` writes into the config before
training, so that ``config.json`` and the checkpoint record every value that ran.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from vidssl.backbones import create_backbone
from vidssl.config import CLIP_CHECKS, PretrainConfig
from vidssl.errors import VidsslError
from vidssl.methods.arrow_of_time import ArrowOfTime
from vidssl.methods.audio_visual import AudioVisual
from vidssl.methods.byol import VideoBYOL
from vidssl.methods.clip_order import ClipOrder
from vidssl.methods.colorization import Colorization
from vidssl.methods.dpc import DensePredictiveCoding
from vidssl.methods.future_prediction import FuturePrediction
from vidssl.methods.masked_video import MaskedVideoModel
from vidssl.methods.moco import VideoMoCo, VideoMoCoV1
from vidssl.methods.odd_one_out import OddOneOut
from vidssl.methods.order_verification import OrderVerification
from vidssl.methods.rotnet import RotNet3d
from vidssl.methods.simclr import VideoSimCLR

METHODS: dict[str, Callable[..., nn.Module]] = {
    "simclr": VideoSimCLR,
    "moco_v1": VideoMoCoV1,
    "moco_v2": VideoMoCo,
    "byol": VideoBYOL,
    "rotnet": RotNet3d,
    "clip_order": ClipOrder,
    "arrow_of_time": ArrowOfTime,
    "masked_video": MaskedVideoModel,
    "order_verification": OrderVerification,
    "odd_one_out": OddOneOut,
    "future_prediction": FuturePrediction,
    "colorization": Colorization,
    "dpc": DensePredictiveCoding,
    "audio_visual": AudioVisual,
}


# each method's clip_error(frames, crop, input), which PretrainConfig.validate runs with the flags: a clip the
# method cannot cut is refused before anything is written (its forward makes the same check)
CLIP_CHECKS.update({name: cls.clip_error for name, cls in METHODS.items() if hasattr(cls, "clip_error")})


def create(name: str, backbone: nn.Module, **kwargs) -> nn.Module:
    """Build method ``name``; keyword arguments its constructor does not take are ignored."""
    if name not in METHODS:
        raise VidsslError(f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    cls = METHODS[name]
    accepted = inspect.signature(cls).parameters
    return cls(backbone, **{k: v for k, v in kwargs.items() if k in accepted})


RESOLVED = ("temperature", "ema_momentum", "proj_dim")  # constructor keywords a config may leave to the method


def method_defaults(name: str) -> dict[str, Any]:
    """``{keyword: default}`` of method ``name``'s constructor, for the keywords in :data:`RESOLVED` it takes."""
    if name not in METHODS:
        raise VidsslError(f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    params = inspect.signature(METHODS[name]).parameters
    return {k: params[k].default for k in RESOLVED if k in params}


def resolve_defaults(cfg: PretrainConfig) -> PretrainConfig:
    """``cfg`` with each None that means "the method's own default" replaced by that default; a
    keyword the method does not take stays None (unused)."""
    d = method_defaults(cfg.method)

    def pick(value: Any, key: str) -> Any:
        return d.get(key) if value is None else value

    return dataclasses.replace(cfg, temperature=pick(cfg.temperature, "temperature"),
                               ema_momentum=pick(cfg.ema_momentum, "ema_momentum"),
                               model=dataclasses.replace(cfg.model, proj_dim=pick(cfg.model.proj_dim, "proj_dim")))


# A run recorded before defaults were resolved holds None for these; what that code ran then
_RAN_FOR_NONE = {"temperature": {"simclr": 0.1, "moco_v1": 0.2, "moco_v2": 0.2},
                 "ema_momentum": {"moco_v1": 0.99, "moco_v2": 0.99, "byol": 0.99}}


def resolve_recorded(recorded: dict[str, Any]) -> dict[str, Any]:
    """A recorded config dict (``to_dict`` form) with the Nones of an older run replaced by the values
    it ran with, so that it compares equal to the same run's resolved config."""
    out = dict(recorded)
    for key, ran in _RAN_FOR_NONE.items():
        if out.get(key) is None and out.get("method") in ran:
            out[key] = ran[out["method"]]
    return out


def build_model(cfg: PretrainConfig) -> nn.Module:
    """The method of a pretraining config with freshly initialised weights; the same seed gives the same weights."""
    torch.manual_seed(cfg.seed)
    backbone = create_backbone(cfg.model.backbone, width=cfg.model.width, input=cfg.model.input)
    offered = {"head_hidden": cfg.model.head_hidden, "proj_dim": cfg.model.proj_dim, "temperature": cfg.temperature,
               "queue_size": cfg.queue_size, "ema_momentum": cfg.ema_momentum}
    return create(cfg.method, backbone, **{k: v for k, v in offered.items() if v is not None})
