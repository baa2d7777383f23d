"""Colour augmentation of a whole batch at once, on whatever device the batch is on.

The per-clip path (:func:`vidssl.transforms.spatial.apply_spatial`) runs in DataLoader
workers on the CPU. With ``AugConfig.on_device`` the workers only cut each clip's crop box
(uint8) and return its colour parameters; after the hand-over each crop is resized and
flipped (:func:`vidssl.transforms.views.finish_on_device`) and colour jitter, grayscale and
blur are applied here, vectorised over the batch with each clip's own parameters, on the GPU. Given the same parameters the two paths give
the same clips (to float rounding; tested).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vidssl.transforms.spatial import SpatialParams

# params vector layout: brightness, contrast, saturation, hue, order[0..3], gray, blur sigma
N_PARAMS = 10


def pack(p: SpatialParams) -> torch.Tensor:
    """One clip's colour parameters as a float vector of length :data:`N_PARAMS`."""
    return torch.tensor([p.brightness, p.contrast, p.saturation, p.hue, *p.jitter_order, float(p.gray), p.blur_sigma])


def _view(x: torch.Tensor) -> torch.Tensor:
    return x.view(-1, 1, 1, 1, 1)


def _gray(v: torch.Tensor) -> torch.Tensor:  # (B, 3, T, H, W) -> (B, 1, T, H, W)
    w = torch.tensor([0.299, 0.587, 0.114], dtype=v.dtype, device=v.device).view(1, 3, 1, 1, 1)
    return (v * w).sum(1, keepdim=True)


def _hue_matrices(shift: torch.Tensor) -> torch.Tensor:
    """(B,) hue shifts in turns -> (B, 3, 3) RGB rotation matrices (YIQ rotation)."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float32)
    a = 2 * math.pi * shift.float().cpu()
    rot = torch.zeros(len(a), 3, 3)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = a.cos(), -a.sin(), a.sin(), a.cos()
    return torch.linalg.inv(to_yiq) @ rot @ to_yiq


def _apply_op(op: int, v: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    if op == 0:
        return (v * _view(p[:, 0])).clamp(0, 1)
    if op == 1:
        mean = _gray(v).mean(dim=(1, 2, 3, 4))
        return ((v - _view(mean)) * _view(p[:, 1]) + _view(mean)).clamp(0, 1)
    if op == 2:
        g = _gray(v)
        return ((v - g) * _view(p[:, 2]) + g).clamp(0, 1)
    m = _hue_matrices(p[:, 3]).to(device=v.device, dtype=v.dtype)
    return torch.einsum("bdc,bcthw->bdthw", m, v).clamp(0, 1)


def _blur(v: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-clip separable Gaussian blur, radius ceil(2 sigma_i), reflect padding, one grouped conv."""
    b, c, t, h, w = v.shape
    radii = [max(1, math.ceil(2 * s)) for s in sigma.tolist()]
    r = max(radii)
    x = torch.arange(-r, r + 1, dtype=v.dtype, device=v.device)
    k = torch.exp(-(x[None] ** 2) / (2 * _view(sigma).flatten()[:, None].to(v.dtype) ** 2))
    k = k * (x[None].abs() <= torch.tensor(radii, device=v.device)[:, None]).to(v.dtype)  # zero beyond each radius
    k = (k / k.sum(1, keepdim=True)).repeat_interleave(c * t, 0)  # (B*C*T, 2r+1)
    y = v.reshape(1, b * c * t, h, w)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), k.view(-1, 1, 1, 2 * r + 1), groups=b * c * t)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k.view(-1, 1, 2 * r + 1, 1), groups=b * c * t)
    return y.view(b, c, t, h, w)


def colour_batch(v: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """v: (B, 3, T, H, W) in [0, 1]; params: (B, N_PARAMS) from :func:`pack`. Returns (B, 3, T, H, W)."""
    v = v.clone()
    p = params.to(v.device)
    identity = torch.stack([p[:, 0] != 1, p[:, 1] != 1, p[:, 2] != 1, p[:, 3] != 0], 1)  # (B, 4) op changes the clip
    for rnd in range(4):  # each clip applies its own op order: round r runs op order[r]
        for op in range(4):
            sel = ((p[:, 4 + rnd] == op) & identity[:, op]).nonzero().flatten()
            if len(sel):
                v[sel] = _apply_op(op, v[sel], p[sel])
    gray = (p[:, 8] > 0).nonzero().flatten()
    if len(gray):
        v[gray] = _gray(v[gray]).expand(-1, 3, -1, -1, -1)
    blur = (p[:, 9] > 0).nonzero().flatten()
    if len(blur):
        v[blur] = _blur(v[blur], p[blur, 9])
    return v
