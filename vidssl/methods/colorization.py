"""Tracking emerges by colorizing videos.

Vondrick et al., ECCV 2018: the network sees grey frames; the colours of reference frames are
given, and each position of a grey target frame must take its colour from the reference
positions it resembles (a pointer, softmax of feature dot products), scored by the
cross-entropy of its true colour, quantised with k-means in Lab
(:func:`vidssl.losses.colour_copy_loss`). Copying the right colour needs the right
correspondence, so the features learn to track.

Here: the view's T frames are turned grey (BT.601 luma, normalised like any input); the
backbone's map after ``stages`` stages gives one feature map per frame (a 3D network's later
stages halve time, and the map is repeated back to one slice per frame, as in
:mod:`vidssl.eval.track`); the first T - 1 frames are the references and the last is the
target (the paper: 3 references, the 4th frame the target). The palette is ``num_colours``
k-means centres of the ab plane (the paper: 16 in Lab), fitted once on the pixels of the
first batch and kept with the weights; each pixel takes its nearest centre, and the colours
of a feature cell are the shares of each centre among its pixels. The paper's features are
at 1/8 of 256-pixel frames; stage 2 of a 32-pixel clip gives 8 x 8 cells. The stages after
``stages`` take no part in the task, so they keep their initial weights (a linear probe on the
pooled last stage then reads features through random layers; ``vidssl track`` reads the trained
map itself).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.backbones import frame_maps
from vidssl.losses import colour_copy_loss
from vidssl.methods.errors import ClipShapeError
from vidssl.modules.step_rng import StepRNG
from vidssl.transforms.colour import kmeans, luma, rgb_to_lab
from vidssl.transforms.spatial import MEAN, STD


def denormalise(x: torch.Tensor) -> torch.Tensor:
    """Normalised (N, 3, T, H, W) clips -> RGB in [0, 1]."""
    mean = torch.tensor(MEAN, device=x.device, dtype=x.dtype).view(3, 1, 1, 1)
    std = torch.tensor(STD, device=x.device, dtype=x.dtype).view(3, 1, 1, 1)
    return (x * std + mean).clamp(0, 1)


def grey_input(x: torch.Tensor) -> torch.Tensor:
    """Normalised RGB clips -> the same clips in grey (luma in all three channels), normalised again."""
    rgb = denormalise(x)
    y = luma(rgb.transpose(1, 2)).transpose(1, 2).expand_as(rgb)  # N x 3 x T x H x W
    mean = torch.tensor(MEAN, device=x.device, dtype=x.dtype).view(3, 1, 1, 1)
    std = torch.tensor(STD, device=x.device, dtype=x.dtype).view(3, 1, 1, 1)
    return (y - mean) / std


class Colorization(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module, num_colours: int = 16, stages: int = 2, temperature: float = 1.0) -> None:
        super().__init__()
        if not hasattr(backbone, "feature_map"):
            raise ValueError("colorization needs a backbone with feature_map (an R3D or R2D)")
        self.backbone = backbone
        self.stages, self.temperature = stages, temperature
        self.register_buffer("palette", torch.zeros(num_colours, 2))  # ab centres, fitted on the first batch
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.rng = StepRNG()

    def untrained_parameters(self) -> set[str]:
        """Names of the backbone's parameters the task never reaches (the stages after ``stages``)."""
        return {f"backbone.stages.{i}.{n}" for i in range(self.stages, len(self.backbone.stages))
                for n, _ in self.backbone.stages[i].named_parameters()}

    def colours(self, rgb: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, 3, H, W) RGB -> (B, h w, K): each cell's share of pixels nearest each palette colour."""
        ab = rgb_to_lab(rgb.float())[:, 1:]  # B x 2 x H x W
        b, _, h, w = ab.shape
        nearest = torch.cdist(ab.permute(0, 2, 3, 1).reshape(1, -1, 2), self.palette[None].float())[0].argmin(1)
        one_hot = F.one_hot(nearest, len(self.palette)).view(b, h, w, -1).permute(0, 3, 1, 2).float()
        return F.adaptive_avg_pool2d(one_hot, grid).flatten(2).transpose(1, 2)  # B x (h w) x K

    @staticmethod
    def clip_error(frames: int, crop: int, input: str) -> str | None:
        """Why clips of this shape cannot be used (None: they can); checked with the flags, before anything runs."""
        if frames < 2:
            return f"colorization copies colours from earlier frames to the last: --clip-frames must be at least 2; got {frames}"
        return None

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, 3, T, H, W) batch, T >= 2. Returns the loss."""
        x = views[0]
        n, _, t, h, w = x.shape
        if msg := self.clip_error(t, w, getattr(self.backbone, "input", "rgb")):
            raise ClipShapeError(msg)
        rgb = denormalise(x)
        g = self.rng.next()
        if not bool(self.fitted):  # the palette: k-means of the first batch's ab values
            ab = rgb_to_lab(rgb.transpose(1, 2).reshape(-1, 3, h, w).float())[:, 1:].permute(0, 2, 3, 1).reshape(-1, 2)
            sample = ab[torch.randperm(len(ab), generator=g)[:20000].to(ab.device)]
            self.palette.copy_(kmeans(sample, len(self.palette), g))
            self.fitted.fill_(True)
        maps = frame_maps(self.backbone, grey_input(x), self.stages)  # N x T x C x h' x w'
        grid = maps.shape[3:]
        feats = maps.flatten(3).transpose(2, 3)  # N x T x L x C
        cols = self.colours(rgb.transpose(1, 2).reshape(n * t, 3, h, w), grid).view(n, t, -1, len(self.palette))
        refs, ref_cols = feats[:, :-1].flatten(1, 2), cols[:, :-1].flatten(1, 2)  # N x (T-1)L x ...
        return colour_copy_loss(feats[:, -1], refs, ref_cols, cols[:, -1], temperature=self.temperature)
