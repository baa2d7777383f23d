"""Clip order prediction (VCOP).

Xu et al., "Self-supervised Spatiotemporal Learning via Video Clip Order Prediction",
CVPR 2019: cut a clip into n sub-clips, shuffle them with one of the n! permutations,
encode each sub-clip with the backbone, pass every pair (f_i, f_j), i < j, through a
shared Linear-ReLU layer, concatenate the pair features and classify the permutation
(n!-way cross-entropy). Here the n sub-clips are the n consecutive equal parts of the
view's T frames, so T must be divisible by n (n = 3 by default: T = 6, 9, 12, ...).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.methods.errors import ClipShapeError
from vidssl.modules.step_rng import StepRNG, balanced_labels


def shuffle_subclips(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """x: N x C x T x H x W; order: N x k, a permutation per clip.

    Returns N x k x C x T/k x H x W where position j of clip i holds sub-clip order[i, j].
    """
    (n, c, t, h, w), k = x.shape, order.shape[1]
    sub = x.reshape(n, c, k, t // k, h, w).transpose(1, 2)  # N x k x C x T/k x H x W, in playback order
    return sub[torch.arange(n, device=x.device)[:, None], order]


class ClipOrder(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, num_clips: int = 3) -> None:
        super().__init__()
        if num_clips < 2:
            raise ValueError(f"num_clips must be >= 2, got {num_clips}")
        self.backbone = backbone
        self.num_clips = num_clips
        self.register_buffer("perms", torch.tensor(list(itertools.permutations(range(num_clips)))), persistent=False)
        self.pairs = list(itertools.combinations(range(num_clips), 2))
        self.pair = nn.Sequential(nn.Linear(2 * backbone.feature_dim, head_hidden), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(len(self.pairs) * head_hidden, len(self.perms))
        self.rng = StepRNG()

    @staticmethod
    def clip_error(frames: int, crop: int, input: str, num_clips: int = 3) -> str | None:
        """Why clips of this shape cannot be used (None: they can); checked with the flags, before anything runs."""
        k, t = num_clips, frames
        if t % k:
            return (f"clip_order cuts each clip into {k} equal sub-clips, so --clip-frames must be a multiple of {k}; "
                    f"got {t} (try {max(k, t - t % k)})")
        if input == "residual" and t // k < 2:  # a sub-clip of one frame has no difference to feed
            return (f"clip_order with --input residual needs sub-clips of at least 2 frames, so --clip-frames must "
                    f"be at least {2 * k}; got {t}")
        return None

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, C, T, H, W) batch, T divisible by num_clips. Returns the loss."""
        x = views[0]
        n, t, k = x.shape[0], x.shape[2], self.num_clips
        if msg := self.clip_error(t, x.shape[-1], self.backbone.input, k):
            raise ClipShapeError(msg)
        y = balanced_labels(n, len(self.perms), self.rng.next()).to(x.device)  # N permutation indices
        sub = shuffle_subclips(x, self.perms[y])  # N x k x C x T/k x H x W
        f = self.backbone(sub.flatten(0, 1)).view(n, k, -1)  # N x k x D, one pass for all sub-clips
        g = torch.cat([self.pair(torch.cat([f[:, i], f[:, j]], 1)) for i, j in self.pairs], 1)  # N x (pairs * hidden)
        return F.cross_entropy(self.classifier(g), y)
