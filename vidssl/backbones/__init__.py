"""Backbone registry: ``create_backbone(name, width=...)``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torch import nn

from vidssl.backbones.r2d import ResNet2dFrames
from vidssl.backbones.r3d import ResNet3d
from vidssl.errors import VidsslError

BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "r3d10": partial(ResNet3d, layers=(1, 1, 1, 1)),
    "r3d18": partial(ResNet3d, layers=(2, 2, 2, 2)),
    "r3d34": partial(ResNet3d, layers=(3, 4, 6, 3)),
    "r2d18": partial(ResNet2dFrames, layers=(2, 2, 2, 2)),  # 2D ResNet-18 per frame, features averaged over time
}


def create_backbone(name: str, **kwargs) -> nn.Module:
    if name not in BACKBONES:
        raise VidsslError(f"unknown backbone {name!r}; choose one of {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](**kwargs)
