"""Odd-one-out networks.

Fernando, Bilen, Gavves and Gould, "Self-Supervised Video Representation Learning With
Odd-One-Out Networks", CVPR 2017: of N sub-videos, N - 1 have their frames in order and one
does not; a network that encodes each sub-video with shared weights and fuses the encodings
must say which one is odd (N-way cross-entropy).

Here the view is cut into ``num_clips`` consecutive equal sub-clips (T divisible by it, as
clip_order) and one of them, drawn so that every position is odd equally often in a batch,
gets its frames in a random order other than the right one. The paper fuses encodings by a
sum of differences; here each sub-clip is scored from its encoding minus the mean of all N
(the same signal, what sets it apart from the others, and the same whatever the order of the
N), by a small MLP, and a softmax over the N scores says which is odd.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.methods.errors import ClipShapeError
from vidssl.modules.step_rng import StepRNG, balanced_labels


def shuffle_one(sub: torch.Tensor, odd: torch.Tensor, perms: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
    """sub: N x k x C x s x H x W sub-clips; odd: N, the sub-clip to disorder; perms: P x s frame orders
    (none the identity); which: N, the order each odd sub-clip gets. Returns a copy with those frames reordered."""
    out = sub.clone()
    rows = torch.arange(sub.shape[0], device=sub.device)
    out[rows, odd] = sub[rows, odd][rows[:, None], :, perms[which]].transpose(1, 2)
    return out


class OddOneOut(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, num_clips: int = 3) -> None:
        super().__init__()
        if num_clips < 2:
            raise ValueError(f"num_clips must be >= 2, got {num_clips}")
        self.backbone = backbone
        self.num_clips = num_clips
        self.scorer = nn.Sequential(nn.Linear(backbone.feature_dim, head_hidden), nn.ReLU(inplace=True),
                                    nn.Linear(head_hidden, 1))
        self.rng = StepRNG()

    @staticmethod
    def clip_error(frames: int, crop: int, input: str, num_clips: int = 3) -> str | None:
        """Why clips of this shape cannot be used (None: they can); checked with the flags, before anything runs."""
        k = num_clips
        if frames % k or frames // k < 2:
            return (f"odd_one_out cuts each clip into {k} equal sub-clips of at least 2 frames, so --clip-frames must "
                    f"be a multiple of {k} and at least {2 * k}; got {frames}")
        return None

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, C, T, H, W) batch, T divisible by num_clips with at least 2 frames each. Returns the loss."""
        x, k = views[0], self.num_clips
        n, c, t, h, w = x.shape
        if msg := self.clip_error(t, w, getattr(self.backbone, "input", "rgb"), k):
            raise ClipShapeError(msg)
        s = t // k
        perms = torch.tensor(list(itertools.permutations(range(s)))[1:], device=x.device)  # every order but the right one
        g = self.rng.next()
        odd = balanced_labels(n, k, g).to(x.device)
        which = torch.randint(len(perms), (n,), generator=g).to(x.device)
        sub = x.reshape(n, c, k, s, h, w).transpose(1, 2)  # N x k x C x s x H x W
        sub = shuffle_one(sub, odd, perms, which)
        f = self.backbone(sub.flatten(0, 1)).view(n, k, -1)  # N x k x D
        scores = self.scorer(f - f.mean(1, keepdim=True)).squeeze(-1)  # N x k
        return F.cross_entropy(scores, odd)
