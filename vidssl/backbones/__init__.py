"""Backbone registry: ``create_backbone(name, width=...)``."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
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


def frame_maps(backbone: nn.Module, x: torch.Tensor, stages: int) -> torch.Tensor:
    """One feature map per frame: (N, 3, T, H, W) clips -> (N, T, C, h, w), the map after the stem and
    ``stages`` stages. A 3D network's later stages halve time, and its map is repeated back to one slice per
    frame (nearest); with residual input the first frame is duplicated in front, so that frame t's slice
    sees x_t - x_{t-1} (zero for t = 0). A 2D per-frame network gives each frame's map directly."""
    t = x.shape[2]
    if getattr(backbone, "input", "rgb") == "residual":
        x = torch.cat([x[:, :, :1], x], 2)
    fmap = backbone.feature_map(x, stages)  # N x C x T' x h x w
    if fmap.shape[2] != t:
        fmap = F.interpolate(fmap, size=(t, *fmap.shape[3:]), mode="nearest")
    return fmap.transpose(1, 2)
