"""3D RotNet: predict by how much a clip was rotated in the image plane.

Jing and Tian, "Self-supervised Spatiotemporal Feature Learning via Video Rotation
Prediction", 2018 (after Gidaris et al.'s 2D RotNet, ICLR 2018): every frame of a clip is
rotated by the same 0, 90, 180 or 270 degrees and a linear layer on the backbone's
features classifies which (4-way cross-entropy). One view; each clip gets one rotation,
drawn so that the four are equally frequent in the batch (the 2D RotNet feeds all four
rotations of every image instead, at four times the cost).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.methods.errors import ClipShapeError
from vidssl.modules.step_rng import StepRNG, balanced_labels


def rotate(x: torch.Tensor, quarter_turns: torch.Tensor) -> torch.Tensor:
    """x: N x C x T x H x W with H == W; clip i turned by quarter_turns[i] * 90 degrees (counter-clockwise)."""
    return torch.stack([torch.rot90(c, int(r), dims=(2, 3)) for c, r in zip(x, quarter_turns)])


class RotNet3d(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(backbone.feature_dim, 4)
        self.rng = StepRNG()

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, C, T, H, W) batch of square clips. Returns the loss."""
        x = views[0]
        if x.shape[-1] != x.shape[-2]:
            raise ClipShapeError(f"rotnet needs square clips to rotate them, got H x W = {x.shape[-2]} x {x.shape[-1]}")
        y = balanced_labels(x.shape[0], 4, self.rng.next()).to(x.device)  # N quarter turns
        return F.cross_entropy(self.classifier(self.backbone(rotate(x, y))), y)
