"""The loss of tracking by colorization.

Vondrick, Shrivastava, Fathi, Guadarrama and Murphy, "Tracking Emerges by Colorizing Videos",
ECCV 2018, Sec. 3: every position i of the (grey) target frame points to the positions j of
the reference frames with A_ij = exp(f_i . f_j) / sum_k exp(f_i . f_k) and takes their colours,
y_i = sum_j A_ij c_j; the loss is the cross-entropy of the true colour of i (quantised into a
palette) under y_i. Colours are distributions over the palette (one-hot, or the share of each
palette colour in a cell when colours are pooled onto the feature grid).
"""

from __future__ import annotations

import torch


def colour_copy_loss(target: torch.Tensor, refs: torch.Tensor, ref_colours: torch.Tensor, target_colours: torch.Tensor,
                     *, temperature: float = 1.0, eps: float = 1e-8) -> torch.Tensor:
    """target: (N, L, D) features of the target frame's positions; refs: (N, M, D) of the references';
    ref_colours: (N, M, K) and target_colours: (N, L, K), distributions over K palette colours.

    Returns mean over n, i of -sum_k target_colours[n,i,k] log(sum_j A[n,i,j] ref_colours[n,j,k] + eps),
    A[n] = softmax over j of target[n] refs[n]^T / temperature (the paper: temperature 1, raw features).
    """
    if target.ndim != 3 or refs.ndim != 3 or target.shape[0] != refs.shape[0] or target.shape[2] != refs.shape[2]:
        raise ValueError(f"target and refs must be (N, L, D) and (N, M, D), got {tuple(target.shape)} and "
                         f"{tuple(refs.shape)}")
    if ref_colours.shape[:2] != refs.shape[:2] or target_colours.shape[:2] != target.shape[:2]:
        raise ValueError("colours must give a distribution for every position of their frame")
    attn = (target @ refs.transpose(1, 2) / temperature).softmax(-1)  # N x L x M
    pred = attn @ ref_colours.to(attn.dtype)  # N x L x K: colours copied from the references
    return -(target_colours * (pred + eps).log()).sum(-1).mean()
