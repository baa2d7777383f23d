"""3D ResNet (R3D) backbones.

Tran et al., "A Closer Look at Spatiotemporal Convolutions for Action Recognition",
CVPR 2018: R3D-18 is a ResNet-18 whose 2D convolutions are replaced by full 3D ones.
The stem uses a 3x7x7 kernel with spatial stride 2 and no pooling; stages 2-4 halve
space and time. ``width`` scales every stage's channels so that small variants run
on a CPU (width=1 gives the reference 512-d features).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vidssl.transforms.motion import residual_frames

NormLayer = Callable[[int], nn.Module]
INPUTS = ("rgb", "residual")  # what the first convolution sees: frames, or differences of consecutive frames


class BasicBlock(nn.Module):
    """Two 3x3(x3) convolutions with a residual connection; ``conv`` is nn.Conv3d (video) or nn.Conv2d (frames)."""

    def __init__(self, c_in: int, c_out: int, stride: int, norm_layer: NormLayer, conv: type = nn.Conv3d) -> None:
        super().__init__()
        self.conv1 = conv(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(c_out)
        self.conv2 = conv(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = norm_layer(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.down: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(
                conv(c_in, c_out, 1, stride=stride, bias=False), norm_layer(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.down(x))


BasicBlock3d = BasicBlock  # its earlier name


def stage_channels(width: float, input: str) -> list[int]:
    """The four stages' channels at ``width`` (1.0: 64-512, the reference ResNet-18), after checking the arguments."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    if input not in INPUTS:
        raise ValueError(f"unknown input {input!r}; choose one of {', '.join(INPUTS)}")
    return [max(4, round(c * width)) for c in (64, 128, 256, 512)]


def make_stages(layers: tuple[int, ...], chans: list[int], norm_layer: NormLayer, conv: type = nn.Conv3d) -> nn.Sequential:
    """ResNet stages 2-5: ``layers[i]`` blocks of ``chans[i]`` channels, the first of stages 3-5 at stride 2."""
    stages, c_in = [], chans[0]
    for i, (n, c) in enumerate(zip(layers, chans)):
        blocks = [BasicBlock(c_in, c, 1 if i == 0 else 2, norm_layer, conv)]
        blocks += [BasicBlock(c, c, 1, norm_layer, conv) for _ in range(n - 1)]
        stages.append(nn.Sequential(*blocks))
        c_in = c
    return nn.Sequential(*stages)


class ResNet3d(nn.Module):
    """Video ResNet. Input ``(B, 3, T, H, W)`` float, output ``(B, feature_dim)``."""

    def __init__(
        self,
        layers: tuple[int, int, int, int] = (2, 2, 2, 2),
        width: float = 1.0,
        norm_layer: NormLayer = nn.BatchNorm3d,
        input: str = "rgb",
    ) -> None:
        super().__init__()
        self.input, chans = input, stage_channels(width, input)
        self.stem = nn.Sequential(
            nn.Conv3d(3, chans[0], (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
            norm_layer(chans[0]),
            nn.ReLU(inplace=True),
        )
        self.stages = make_stages(layers, chans, norm_layer)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = chans[-1]
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input == "residual":  # part of the network, so every user of the backbone sees the same input
            x = residual_frames(x)  # B x 3 x (T-1) x H x W
        x = self.stages(self.stem(x))  # B x C x T' x H' x W'
        return self.pool(x).flatten(1)  # B x C

    @torch.jit.unused
    def feature_map(self, x: torch.Tensor, stages: int = 4) -> torch.Tensor:
        """The map after the stem and the first ``stages`` stages, ``(B, C, T', H', W')`` (4: the map that
        ``forward`` pools); stage 1 keeps the stem's H/2 x W/2, each later stage halves time and space."""
        if self.input == "residual":
            x = residual_frames(x)
        return self.stages[:stages](self.stem(x))
