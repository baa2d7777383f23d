"""Dense predictive coding (DPC).

Han, Xie and Zisserman, ICCV Workshops 2019: a video is cut into blocks of frames; each block
is encoded on its own by the backbone into a spatial feature map (averaged over the block's
time); a convolutional GRU aggregates the maps of the past blocks into a context, from which
a two-layer head predicts the map of the next block; the prediction is fed back to the GRU to
predict the block after it. A dense InfoNCE over positions, blocks and the batch
(:func:`vidssl.losses.dense_info_nce`) asks each predicted position to pick out its true
feature among all the others.

Scaled to CPU clips: the paper cuts 8 blocks of 5 frames and predicts the last 3 from the
first 5, at 128 pixels (a 4 x 4 map); here the view's T frames are cut into ``num_blocks``
blocks of T / num_blocks frames (by default 4 blocks when T divides by 4, else 3: 8 frames
give 4 blocks of 2, 6 frames 3 blocks of 2), the last
``pred_blocks`` (1 by default) are predicted from the others, and the map is the backbone's
last stage (2 x 2 cells at 32 pixels, 4 x 4 at 64). As in the paper, the ConvGRU and the head
use 1 x 1 convolutions and the scores are raw dot products.
"""

from __future__ import annotations

import torch
from torch import nn

from vidssl.losses import dense_info_nce
from vidssl.methods.errors import ClipShapeError


class ConvGRUCell(nn.Module):
    """A GRU whose gates are convolutions over a feature map (Ballas et al., ICLR 2016); 1 x 1 here, as in DPC."""

    def __init__(self, channels: int, kernel: int = 1) -> None:
        super().__init__()
        self.gates = nn.Conv2d(2 * channels, 2 * channels, kernel, padding=kernel // 2)  # update z, reset r
        self.candidate = nn.Conv2d(2 * channels, channels, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        n = torch.tanh(self.candidate(torch.cat([x, r * h], 1)))
        return (1 - z) * h + z * n


class DensePredictiveCoding(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module, num_blocks: int | None = None, pred_blocks: int = 1,
                 temperature: float = 1.0) -> None:
        super().__init__()
        if not hasattr(backbone, "feature_map"):
            raise ValueError("dpc needs a backbone with feature_map (an R3D or R2D)")
        if not 1 <= pred_blocks < (num_blocks or 3):
            raise ValueError(f"need 1 <= pred_blocks < num_blocks, got {pred_blocks} and {num_blocks}")
        self.backbone = backbone
        self.num_blocks, self.pred_blocks, self.temperature = num_blocks, pred_blocks, temperature
        d = backbone.feature_dim
        self.gru = ConvGRUCell(d)
        self.predict = nn.Sequential(nn.Conv2d(d, d, 1), nn.ReLU(inplace=True), nn.Conv2d(d, d, 1))

    @staticmethod
    def blocks(frames: int, num_blocks: int | None = None) -> int:
        """How many blocks a clip of ``frames`` is cut into: ``num_blocks``, or 4 when it divides, else 3."""
        return num_blocks or (4 if frames % 4 == 0 else 3)

    @staticmethod
    def clip_error(frames: int, crop: int, input: str, num_blocks: int | None = None) -> str | None:
        """Why clips of this shape cannot be used (None: they can); checked with the flags, before anything runs."""
        b = DensePredictiveCoding.blocks(frames, num_blocks)
        need = 2 if input == "residual" else 1
        if frames % b or frames // b < need:
            return (f"dpc cuts each clip into {b} blocks of equal length (at least {need} frame(s) each), so "
                    f"--clip-frames must be a multiple of {b} and at least {b * need}; got {frames}")
        return None

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, C, T, H, W) batch, T divisible by num_blocks. Returns the loss."""
        x = views[0]
        n, c, t, h, w = x.shape
        b = self.blocks(t, self.num_blocks)
        if msg := self.clip_error(t, w, getattr(self.backbone, "input", "rgb"), self.num_blocks):
            raise ClipShapeError(msg)
        blocks = x.reshape(n, c, b, t // b, h, w).transpose(1, 2).flatten(0, 1)  # (N b) x C x T/b x H x W
        z = self.backbone.feature_map(blocks).mean(2)  # (N b) x D x h' x w': each block on its own
        z = z.view(n, b, *z.shape[1:])  # N x b x D x h' x w'
        past = b - self.pred_blocks
        state = torch.zeros_like(z[:, 0])
        for i in range(past):
            state = self.gru(z[:, i], state)
        preds = []
        for _ in range(self.pred_blocks):
            preds.append(self.predict(state))
            state = self.gru(preds[-1], state)  # the prediction is fed back to predict the block after it
        return dense_info_nce(torch.stack(preds, 1), z[:, past:], temperature=self.temperature)
