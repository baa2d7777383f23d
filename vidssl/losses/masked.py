"""Masked reconstruction loss of masked autoencoders.

He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022, Sec. 3 and its
reference code; Tong et al., "VideoMAE", NeurIPS 2022: the mean squared error between
predicted and true pixels, per patch, averaged over the masked patches only. With
``norm_pix`` each target patch is first normalised by its own mean and standard deviation
(MAE's "normalized pixels" target, its Table 1c).
"""

from __future__ import annotations

import torch


def masked_reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *,
                               norm_pix: bool = False, eps: float = 1e-6) -> torch.Tensor:
    """pred, target: (N, L, P) patches of P values; mask: (N, L), 1 where a patch was masked.

    Returns sum_{n,l} mask[n,l] * mean_p (pred - target)^2 / sum mask, a scalar.
    """
    if pred.ndim != 3 or pred.shape != target.shape:
        raise ValueError(f"pred and target must both be (N, L, P), got {tuple(pred.shape)} and {tuple(target.shape)}")
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask must be (N, L) = {tuple(pred.shape[:2])}, got {tuple(mask.shape)}")
    mask = mask.to(pred.dtype)
    if mask.sum() == 0:
        raise ValueError("no patch is masked: the loss is only defined on masked patches")
    if norm_pix:
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)  # unbiased, as MAE's code
        target = (target - mean) / (var + eps).sqrt()
    per_patch = ((pred - target) ** 2).mean(-1)  # N x L
    return (per_patch * mask).sum() / mask.sum()
