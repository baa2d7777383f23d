"""BYOL's regression loss.

Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020, eq. 2: the mean squared error
between the L2-normalised prediction and target projection,
||p/|p| - z/|z|||^2 = 2 - 2 <p, z> / (|p| |z|).
BYOL symmetrises it over the two views (eq. 3); the method adds both directions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidssl.losses.ntxent import _at_least_f32


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """p: (N, D) online predictions; z: (N, D) target projections (the caller detaches them).

    Returns the mean over the N pairs of 2 - 2 cos(p, z), a scalar in [0, 4].
    """
    if p.ndim != 2 or p.shape != z.shape:
        raise ValueError(f"p and z must both be (N, D), got {tuple(p.shape)} and {tuple(z.shape)}")
    with torch.autocast(p.device.type, enabled=False):  # float32 even under bf16 autocast
        return (2 - 2 * F.cosine_similarity(_at_least_f32(p), _at_least_f32(z), dim=1, eps=1e-12)).mean()
