"""videoMoCo: momentum contrast with a queue of negative keys, v1 and v2.

He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020
(v1, Algorithm 1); Chen et al., "Improved Baselines with Momentum Contrastive Learning",
2020 (v2: a 2-layer MLP head instead of one linear layer, plus stronger augmentation and
a cosine schedule; here augmentation comes from the engine's AugConfig and the schedule
from the engine, so v2 differs from v1 in the head only).

views[0] is the query clip, views[1] the key clip of the same N videos. The loss is the
asymmetric InfoNCE of the v1/v2 papers (one direction, q from view 0 against k from view
1), not MoCo v3's symmetrised one: it needs one query and one key pass per step.

Shuffle BN. With BatchNorm, a query and its key could "cheat" by recognising each other
through batch statistics. MoCo computes keys on a batch shuffled across GPUs, so a key's
BN statistics come from different samples than its query's. In one process a permutation
alone changes nothing (batch statistics do not depend on sample order), so we simulate
``bn_groups`` devices: queries are encoded in ``bn_groups`` consecutive chunks, keys on a
randomly permuted batch in the same number of chunks, then un-permuted. Both encoders
run in train mode (batch statistics), as in the reference code. Under torchrun the
engine's default ``sync_bn`` makes BatchNorm statistics global instead (SyncBN, as MoCo v3
does); the keys of every process are gathered into one identical queue.

Defaults: 128-d projection and temperature 0.07 (v1) / 0.2 (v2) as in the papers; EMA
momentum 0.99, not the papers' 0.999, because runs here are a few hundred to ~1,000 steps
and 0.999 (a time constant of 1,000 steps) would leave the key encoder near its random
init for most of them (docs/methods.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.losses import info_nce
from vidssl.modules.distributed import gather
from vidssl.modules.heads import mlp_head
from vidssl.modules.momentum import MomentumEncoders, momentum_copy
from vidssl.modules.queue import KeyQueue
from vidssl.modules.step_rng import StepRNG


def _encode(backbone: nn.Module, head: nn.Module, x: torch.Tensor, groups: int) -> torch.Tensor:
    """x: N x C x T x H x W -> N x D, with BatchNorm statistics per chunk of ~N/groups clips."""
    return torch.cat([head(backbone(c)) for c in x.tensor_split(groups)])


class VideoMoCo(MomentumEncoders, nn.Module):
    """MoCo v2 (MLP head). ``VideoMoCoV1`` below differs only in its linear head."""

    num_views = 2
    mlp = True
    wants_video_ids = True  # the engine passes each clip's video index: own-video keys are no negatives

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, proj_dim: int = 128, temperature: float = 0.2,
                 queue_size: int = 1024, ema_momentum: float = 0.99, bn_groups: int = 2) -> None:
        super().__init__()
        if not 0 <= ema_momentum <= 1:
            raise ValueError(f"ema_momentum must be in [0, 1], got {ema_momentum}")
        self.backbone = backbone  # the query encoder: this is the one evaluated
        if self.mlp:
            self.head = mlp_head(backbone.feature_dim, head_hidden, proj_dim)
        else:
            self.head = nn.Linear(backbone.feature_dim, proj_dim)
        self.key_backbone = momentum_copy(backbone)
        self.key_head = momentum_copy(self.head)
        self.queue = KeyQueue(queue_size, proj_dim)
        self.rng = StepRNG()
        self.temperature, self.ema_momentum, self.bn_groups = temperature, ema_momentum, bn_groups

    def forward(self, views: list[torch.Tensor], video_ids: torch.Tensor | None = None) -> torch.Tensor:
        """views: two (N, C, T, H, W) batches, query clips then key clips; video_ids: (N,) the
        dataset index of each clip's video (None: unknown). Returns the loss.

        The queue is about as large as a small training set, so it often holds an older key
        of a query's own video; with ``video_ids`` such keys are left out of the negatives.
        """
        x_q, x_k = views[0], views[1]
        n = x_q.shape[0]
        groups = max(1, min(self.bn_groups, n // 2))  # a BatchNorm1d head needs >= 2 samples per group
        q = _encode(self.backbone, self.head, x_q, groups)  # N x D
        with torch.no_grad():
            perm = torch.randperm(n, generator=self.rng.next()).to(x_k.device)
            k = _encode(self.key_backbone, self.key_head, x_k[perm], groups)[perm.argsort()]  # N x D, unshuffled
            k = F.normalize(k, dim=1)
        # the queue still holds only earlier batches' keys; clone it, since enqueueing below writes in place
        ids = None if video_ids is None else video_ids.to(torch.long).to(q.device)
        loss = info_nce(q, k, self.queue.keys.clone(), temperature=self.temperature,
                        query_ids=ids, queue_ids=None if ids is None else self.queue.ids.clone())
        if self.training:  # multi-process: every process's keys and ids, the same queue everywhere
            self.queue.dequeue_and_enqueue(gather(k), None if ids is None else gather(ids))
        return loss

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(momentum encoder part, the query part it follows)."""
        return [(self.key_backbone, self.backbone), (self.key_head, self.head)]

    def momentum_at(self, step: int, total_steps: int) -> float:
        return self.ema_momentum  # constant in MoCo v1/v2


class VideoMoCoV1(VideoMoCo):
    """MoCo v1: the same, with one linear layer as the head (``head_hidden`` is unused) and the v1
    paper's temperature 0.07 (v2 raised it to 0.2 together with the MLP head)."""

    mlp = False

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, proj_dim: int = 128, temperature: float = 0.07,
                 queue_size: int = 1024, ema_momentum: float = 0.99, bn_groups: int = 2) -> None:
        super().__init__(backbone, head_hidden, proj_dim, temperature, queue_size, ema_momentum, bn_groups)
