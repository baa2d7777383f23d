"""2D ResNet applied frame by frame: the appearance-only baseline a video backbone must beat.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (ResNet-18's layout),
applied to every frame of a clip independently; the per-frame features are averaged over
time, so the network sees no motion at all (with ``input="residual"``, each frame is the
difference of two consecutive frames). The stem mirrors :class:`~vidssl.backbones.r3d.ResNet3d`
(a 7x7 convolution at stride 2 and no pooling, as suits the small crops used on a CPU), and
``width`` scales channels the same way (1.0: 512-d features). On scene-heavy video such as
UCF101, appearance alone is a strong cue, so this is a baseline a user could pick instead.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vidssl.backbones.r3d import make_stages, stage_channels
from vidssl.transforms.motion import residual_frames

NormLayer = Callable[[int], nn.Module]


class ResNet2dFrames(nn.Module):
    """Per-frame 2D ResNet. Input ``(B, 3, T, H, W)`` float, output ``(B, feature_dim)`` (mean over frames)."""

    def __init__(
        self,
        layers: tuple[int, int, int, int] = (2, 2, 2, 2),
        width: float = 1.0,
        norm_layer: NormLayer = nn.BatchNorm2d,
        input: str = "rgb",
    ) -> None:
        super().__init__()
        self.input, chans = input, stage_channels(width, input)
        self.stem = nn.Sequential(nn.Conv2d(3, chans[0], 7, stride=2, padding=3, bias=False), norm_layer(chans[0]),
                                  nn.ReLU(inplace=True))
        self.stages = make_stages(layers, chans, norm_layer, nn.Conv2d)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = chans[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input == "residual":
            x = residual_frames(x)  # B x 3 x (T-1) x H x W
        b, c, t, h, w = x.shape
        # (B*T) x 3 x H x W: every frame on its own. Contiguous: a channels_last_3d clip would give
        # channels-last frames, and torch 2.13's CPU 2D convolutions corrupt the heap on those at one
        # thread and narrow widths (tests/backbones/test_backbones.py)
        frames = x.transpose(1, 2).reshape(b * t, c, h, w).contiguous()
        f = self.pool(self.stages(self.stem(frames))).flatten(1)  # (B*T) x C
        return f.reshape(b, t, -1).mean(1)  # B x C: averaged over time

    @torch.jit.unused
    def feature_map(self, x: torch.Tensor, stages: int = 4) -> torch.Tensor:
        """Every frame's map after the stem and the first ``stages`` stages, ``(B, C, T, H', W')`` (T - 1
        frames for residual input); stage 1 keeps the stem's H/2 x W/2, each later stage halves space."""
        if self.input == "residual":
            x = residual_frames(x)
        b, c, t, h, w = x.shape
        f = self.stages[:stages](self.stem(x.transpose(1, 2).reshape(b * t, c, h, w).contiguous()))
        return f.reshape(b, t, *f.shape[1:]).transpose(1, 2)
