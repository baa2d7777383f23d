"""Method registry: ``create(name, backbone, **kwargs)`` builds a pretraining method.

A method is an ``nn.Module`` with a ``backbone`` attribute (the encoder that is
evaluated), a ``num_views`` class attribute (how many augmented clips of each video
``forward`` takes) and ``forward(views: list[Tensor (N, C, T, H, W)]) -> loss``. A method
with momentum (EMA) encoders also defines ``after_step(step, total_steps)``, which the
engine calls after every optimiser step.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from torch import nn

from vidssl.errors import VidsslError
from vidssl.methods.arrow_of_time import ArrowOfTime
from vidssl.methods.byol import VideoBYOL
from vidssl.methods.clip_order import ClipOrder
from vidssl.methods.masked_video import MaskedVideoModel
from vidssl.methods.moco import VideoMoCo, VideoMoCoV1
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
}


def create(name: str, backbone: nn.Module, **kwargs) -> nn.Module:
    """Build method ``name``; keyword arguments its constructor does not take are ignored."""
    if name not in METHODS:
        raise VidsslError(f"unknown method {name!r}; choose one of {', '.join(sorted(METHODS))}")
    cls = METHODS[name]
    accepted = inspect.signature(cls).parameters
    return cls(backbone, **{k: v for k, v in kwargs.items() if k in accepted})
