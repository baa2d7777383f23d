"""Colour spaces and colour quantisation for the colorization pretext task.

sRGB to CIE Lab (D65 white) by the standard formulas (IEC 61966-2-1 for the sRGB transfer
curve; CIE 1976 L*a*b*), and k-means (Lloyd's algorithm, seeded) to quantise the ab plane
into a small palette, as Vondrick et al. 2018 quantise colours with k-means in Lab.
"""

from __future__ import annotations

import torch

# sRGB (linear) -> XYZ, D65 (IEC 61966-2-1), and the D65 reference white
_RGB_TO_XYZ = torch.tensor([[0.4124564, 0.3575761, 0.1804375],
                            [0.2126729, 0.7151522, 0.0721750],
                            [0.0193339, 0.1191920, 0.9503041]], dtype=torch.float64)
_WHITE = (0.95047, 1.0, 1.08883)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights: the grey frame a colorization network sees


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) sRGB in [0, 1] -> (..., 3, H, W) L* in [0, 100], a*, b* (roughly -128..127)."""
    c = rgb.clamp(0, 1)
    linear = torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = _RGB_TO_XYZ.to(rgb.device, rgb.dtype)
    xyz = torch.einsum("ij,...jhw->...ihw", m, linear)
    white = torch.tensor(_WHITE, device=rgb.device, dtype=rgb.dtype).view(3, 1, 1)
    t = xyz / white
    delta = 6 / 29
    f = torch.where(t > delta**3, t.clamp_min(1e-12) ** (1 / 3), t / (3 * delta**2) + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], -3)


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, H, W) RGB -> (..., 1, H, W) grey (BT.601 luma)."""
    w = torch.tensor(_LUMA, device=rgb.device, dtype=rgb.dtype).view(3, 1, 1)
    return (rgb * w).sum(-3, keepdim=True)


def kmeans(points: torch.Tensor, k: int, g: torch.Generator, iters: int = 20) -> torch.Tensor:
    """(P, D) points -> (k, D) centres by Lloyd's algorithm from k distinct points drawn with ``g``;
    a centre that loses all its points is moved to the point farthest from its centre."""
    if len(points) < k:
        raise ValueError(f"k-means needs at least k = {k} points, got {len(points)}")
    centres = points[torch.randperm(len(points), generator=g)[:k].to(points.device)].clone()
    for _ in range(iters):
        assign = torch.cdist(points, centres).argmin(1)
        for j in range(k):
            members = points[assign == j]
            if len(members):
                centres[j] = members.mean(0)
            else:
                far = torch.cdist(points, centres).min(1).values.argmax()
                centres[j] = points[far]
    return centres
