"""Temporal order verification (Shuffle and Learn).

Misra, Zitnick and Hebert, "Shuffle and Learn: Unsupervised Learning using Temporal Order
Verification", ECCV 2016: from five frames (a, b, c, d, e) of the high-motion part of a
video, the tuple (b, c, d) is in order and (b, a, d) or (b, e, d) is not; a network that
encodes each frame of the tuple, concatenates the three encodings and classifies the tuple
(binary cross-entropy) must learn what changes over time.

Here the backbone is a video network, so each of the five elements is a sub-clip of
``sub_frames`` consecutive frames (by default 1, single frames as in the paper, or 2 for the
residual input, which needs two). The five
sit side by side in a window of 5 x sub_frames frames; where the view is longer than that,
the window is the one with the most motion (the largest mean absolute difference of
consecutive frames, standing in for the paper's optical-flow magnitude). Half of each batch
is in order and half not (the paper: 25 % in order; balanced here so that the chance level
is 50 %), and a negative takes a or e with equal probability.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.methods.errors import ClipShapeError
from vidssl.modules.step_rng import StepRNG, balanced_labels

POSITIVE, NEGATIVES = (1, 2, 3), ((1, 0, 3), (1, 4, 3))  # (b, c, d); (b, a, d) and (b, e, d)


def most_motion_window(x: torch.Tensor, length: int) -> torch.Tensor:
    """x: N x C x T x H x W -> N x C x length x H x W, per clip the window of ``length`` consecutive frames
    whose consecutive-frame differences have the largest mean absolute value (the first such window on ties)."""
    n, t = x.shape[0], x.shape[2]
    if length >= t:
        return x[:, :, :length]
    motion = (x[:, :, 1:] - x[:, :, :-1]).abs().mean((1, 3, 4))  # N x (T-1): motion between frame i and i+1
    window = motion.unfold(1, length - 1, 1).sum(2) if length > 1 else torch.zeros(n, t, device=x.device)
    start = window.argmax(1)  # N: first offset with the most motion
    idx = start[:, None] + torch.arange(length, device=x.device)  # N x length
    return x[torch.arange(n, device=x.device)[:, None], :, idx].transpose(1, 2)


def order_tuples(x: torch.Tensor, sub_frames: int, labels: torch.Tensor, pick_e: torch.Tensor) -> torch.Tensor:
    """x: N x C x (5 sub_frames) x H x W, five sub-clips a..e. labels: N (1 = in order); pick_e: N bool
    (a negative takes e rather than a). Returns N x 3 x C x sub_frames x H x W tuples."""
    n, c, _, h, w = x.shape
    sub = x.reshape(n, c, 5, sub_frames, h, w).transpose(1, 2)  # N x 5 x C x s x H x W
    order = torch.tensor([NEGATIVES[0], NEGATIVES[1], POSITIVE], device=x.device)  # rows: (b,a,d) (b,e,d) (b,c,d)
    which = torch.where(labels.bool(), 2, pick_e.long())  # N: row of ``order``
    return sub[torch.arange(n, device=x.device)[:, None], order[which]]


class OrderVerification(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, sub_frames: int | None = None) -> None:
        super().__init__()
        if sub_frames is None:  # single frames, as the paper; two for residual input (one difference)
            sub_frames = 2 if getattr(backbone, "input", "rgb") == "residual" else 1
        if sub_frames < 1:
            raise ValueError(f"sub_frames must be >= 1, got {sub_frames}")
        self.backbone = backbone
        self.sub_frames = sub_frames
        self.classifier = nn.Sequential(nn.Linear(3 * backbone.feature_dim, head_hidden), nn.ReLU(inplace=True),
                                        nn.Linear(head_hidden, 2))
        self.rng = StepRNG()

    @staticmethod
    def clip_error(frames: int, crop: int, input: str, sub_frames: int | None = None) -> str | None:
        """Why clips of this shape cannot be used (None: they can); checked with the flags, before anything runs."""
        s = sub_frames or (2 if input == "residual" else 1)
        if frames < 5 * s:
            return (f"order_verification cuts five sub-clips of {s} frame(s) from each clip"
                    f"{' (two each for --input residual)' if input == 'residual' else ''}, so --clip-frames must be at "
                    f"least {5 * s}; got {frames}")
        return None

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, C, T, H, W) batch, T >= 5 x sub_frames. Returns the loss."""
        x, s = views[0], self.sub_frames
        n, t = x.shape[0], x.shape[2]
        if msg := self.clip_error(t, x.shape[-1], getattr(self.backbone, "input", "rgb"), s):
            raise ClipShapeError(msg)
        g = self.rng.next()
        y = balanced_labels(n, 2, g).to(x.device)  # 1 = in order
        pick_e = (torch.rand(n, generator=g) < 0.5).to(x.device)
        tuples = order_tuples(most_motion_window(x, 5 * s), s, y, pick_e)  # N x 3 x C x s x H x W
        f = self.backbone(tuples.flatten(0, 1)).view(n, -1)  # N x 3D: the three encodings concatenated
        return F.cross_entropy(self.classifier(f), y)
