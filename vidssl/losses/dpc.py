"""The dense InfoNCE loss of Dense Predictive Coding.

Han, Xie and Zisserman, "Video Representation Learning by Dense Predictive Coding", ICCV
Workshops 2019, Sec. 3.2: a predicted feature z^_{i,k} (clip i's future block and spatial
position k, over a batch) is scored against every true feature z_{j,m} of every future block and
position of every clip in the batch by a dot product; the one at the same clip, block and
position is the positive, all the others are negatives (a dense, N x F x h x w-way softmax).
The paper uses raw dot products; ``temperature`` divides them (1 = the paper).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def dense_info_nce(pred: torch.Tensor, target: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """pred, target: (N, F, D, h, w) predicted and true features of F future blocks. Returns
    mean over every (clip, block, position) of -log softmax(pred . target_all / temperature)[its own]."""
    if pred.ndim != 5 or pred.shape != target.shape:
        raise ValueError(f"pred and target must both be (N, F, D, h, w), got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    d = pred.shape[2]
    p = pred.permute(0, 1, 3, 4, 2).reshape(-1, d)  # (N F h w) x D
    z = target.permute(0, 1, 3, 4, 2).reshape(-1, d)
    logits = p.float() @ z.float().T / temperature
    return F.cross_entropy(logits, torch.arange(len(p), device=p.device))
