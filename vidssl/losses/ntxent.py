"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR.

Chen et al., "A Simple Framework for Contrastive Learning of Visual Representations",
ICML 2020, Algorithm 1: for 2N views, l(i, j) = -log( exp(s_ij / t) /
sum_{k != i} exp(s_ik / t) ) with s the cosine similarity, averaged over all 2N
ordered positive pairs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _at_least_f32(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 -> float32; float32 and float64 stay as they are."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float = 0.1) -> torch.Tensor:
    """z1, z2: (N, D) embeddings of two views of the same N clips. Returns a scalar."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(f"z1 and z2 must both be (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    n = z1.shape[0]
    if n < 2:
        raise ValueError("NT-Xent needs at least 2 clips: the other clips are the negatives")
    with torch.autocast(z1.device.type, enabled=False):  # bf16 similarities step by ~0.06 at t = 0.1: use float32
        z = F.normalize(_at_least_f32(torch.cat([z1, z2])), dim=1)  # 2N x D
        sim = z @ z.T / temperature  # 2N x 2N
        sim.fill_diagonal_(float("-inf"))  # k != i
        target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
        return F.cross_entropy(sim, target)
