"""Spatial transforms: pure functions on float videos ``(C, T, H, W)`` in [0, 1].

Parameters are drawn once per clip by :func:`sample_spatial` and applied to every
frame by :func:`apply_spatial`, so the crop, flip and colour are the same across time
(temporally consistent augmentation, Qian et al. 2021, CVRL). The frame-wise mode draws
parameters per frame instead, the known-worse alternative kept for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class SpatialParams:
    """One clip's draw: crop box (top, left, height, width), flip, colour and blur."""

    box: tuple[int, int, int, int]
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0
    jitter_order: tuple[int, ...] = (0, 1, 2, 3)
    gray: bool = False
    blur_sigma: float = 0.0


def resized_crop(video: torch.Tensor, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    """Crop ``box`` from every frame and resize it to ``size`` x ``size`` (bilinear)."""
    top, left, h, w = box
    crop = video[..., top : top + h, left : left + w]
    c, t = crop.shape[:2]
    out = F.interpolate(crop.transpose(0, 1), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.transpose(0, 1).reshape(c, t, size, size)


def hflip(video: torch.Tensor) -> torch.Tensor:
    return video.flip(-1)


def _gray(video: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], dtype=video.dtype).view(3, 1, 1, 1)
    return (video * w).sum(0, keepdim=True)


def adjust_brightness(video: torch.Tensor, factor: float) -> torch.Tensor:
    return (video * factor).clamp(0, 1)


def adjust_contrast(video: torch.Tensor, factor: float) -> torch.Tensor:
    mean = _gray(video).mean()  # one mean over the whole clip keeps frames consistent
    return ((video - mean) * factor + mean).clamp(0, 1)


def adjust_saturation(video: torch.Tensor, factor: float) -> torch.Tensor:
    g = _gray(video)
    return ((video - g) * factor + g).clamp(0, 1)


def adjust_hue(video: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue by ``shift`` turns (in [-0.5, 0.5]) in YIQ space."""
    a = 2 * math.pi * shift
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
    rot = torch.tensor([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    m = (torch.linalg.inv(to_yiq) @ rot @ to_yiq).to(video.dtype)
    return torch.einsum("dc,cthw->dthw", m, video).clamp(0, 1)


def grayscale(video: torch.Tensor) -> torch.Tensor:
    return _gray(video).expand_as(video).contiguous()


def gaussian_blur(video: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of every frame, kernel radius ceil(2 sigma), reflect padding."""
    if sigma <= 0:
        return video
    r = max(1, math.ceil(2 * sigma))
    x = torch.arange(-r, r + 1, dtype=video.dtype)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    k = k / k.sum()
    c, t, h, w = video.shape
    v = video.reshape(c * t, 1, h, w)
    v = F.conv2d(F.pad(v, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    v = F.conv2d(F.pad(v, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return v.reshape(c, t, h, w)


def sample_crop_box(
    h: int, w: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """Random resized crop box (Szegedy et al. 2015): area fraction in ``scale``, aspect in ``ratio``."""
    area = h * w
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        ar = math.exp(rng.uniform(*log_r))
        cw = round(math.sqrt(target * ar))
        ch = round(math.sqrt(target / ar))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    side = min(h, w)  # fallback: the largest centred square
    return (h - side) // 2, (w - side) // 2, side, side


def center_box(h: int, w: int) -> tuple[int, int, int, int]:
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side, side


def sample_spatial(h: int, w: int, aug, rng: np.random.Generator) -> SpatialParams:
    """Draw one clip's spatial parameters from an :class:`vidssl.config.AugConfig`."""
    box = sample_crop_box(h, w, aug.crop_scale, aug.crop_ratio, rng)
    flip = bool(rng.random() < aug.hflip_p)
    b = c = s = 1.0
    hue = 0.0
    order = (0, 1, 2, 3)
    if rng.random() < aug.jitter_p:
        b = float(rng.uniform(1 - aug.brightness, 1 + aug.brightness))
        c = float(rng.uniform(1 - aug.contrast, 1 + aug.contrast))
        s = float(rng.uniform(1 - aug.saturation, 1 + aug.saturation))
        hue = float(rng.uniform(-aug.hue, aug.hue))
        order = tuple(int(i) for i in rng.permutation(4))
    gray = bool(rng.random() < aug.gray_p)
    sigma = float(rng.uniform(*aug.blur_sigma)) if rng.random() < aug.blur_p else 0.0
    return SpatialParams(box, flip, b, c, s, hue, order, gray, sigma)


def apply_spatial(video: torch.Tensor, p: SpatialParams, size: int) -> torch.Tensor:
    """Apply one draw to every frame of ``video`` (C, T, H, W); returns (C, T, size, size)."""
    v = resized_crop(video, p.box, size)
    if p.flip:
        v = hflip(v)
    for op in p.jitter_order:
        if op == 0 and p.brightness != 1.0:
            v = adjust_brightness(v, p.brightness)
        elif op == 1 and p.contrast != 1.0:
            v = adjust_contrast(v, p.contrast)
        elif op == 2 and p.saturation != 1.0:
            v = adjust_saturation(v, p.saturation)
        elif op == 3 and p.hue != 0.0:
            v = adjust_hue(v, p.hue)
    if p.gray:
        v = grayscale(v)
    return gaussian_blur(v, p.blur_sigma)


def augment_clip(video: torch.Tensor, aug, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Clip-consistent (default) or frame-wise (``aug.framewise``) spatial augmentation."""
    _, t, h, w = video.shape
    if not aug.framewise:
        return apply_spatial(video, sample_spatial(h, w, aug, rng), size)
    frames = [apply_spatial(video[:, i : i + 1], sample_spatial(h, w, aug, rng), size) for i in range(t)]
    return torch.cat(frames, 1)


def eval_view(video: torch.Tensor, size: int) -> torch.Tensor:
    """Deterministic test-time view: the centred square, resized to ``size``."""
    _, _, h, w = video.shape
    return resized_crop(video, center_box(h, w), size)


def centre_square(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, s, s) uint8, s = min(H, W): the centred square, cut exactly (no resizing)."""
    top, left, side, _ = center_box(*frames.shape[1:3])
    return torch.from_numpy(np.ascontiguousarray(frames[:, top : top + side, left : left + side])).permute(3, 0, 1, 2)


def eval_input(squares: torch.Tensor, size: int) -> torch.Tensor:
    """(..., 3, T, s, s) uint8 centre squares -> (..., 3, T, size, size) normalised float32, on their device.

    The same numbers as ``normalize(eval_view(to_float(frames), size))`` (bitwise on the CPU,
    tested): the crop is exact on uint8, and ``/ 255``, the resize and the normalisation run
    here, batched, after the hand-over. On a GPU the resize is CUDA's kernel (float rounding).
    """
    lead, (c, t, s, s2) = squares.shape[:-4], squares.shape[-4:]
    x = squares.reshape(-1, c, t, s, s2).float().div_(255)  # N x 3 x T x s x s
    n = x.shape[0]
    y = F.interpolate(x.transpose(1, 2).reshape(n * t, c, s, s2), size=(size, size), mode="bilinear",
                      align_corners=False, antialias=True)  # (N*T) x 3 x S x S, as resized_crop
    return normalize(y.view(n, t, c, size, size).transpose(1, 2)).reshape(*lead, c, t, size, size)


MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)


def normalize(video: torch.Tensor) -> torch.Tensor:
    """Standardise channels with fixed video-dataset statistics (works on (C,T,H,W) and (B,C,T,H,W))."""
    shape = (3, 1, 1, 1)
    mean = torch.tensor(MEAN, dtype=video.dtype, device=video.device).view(shape)
    return (video - mean) / torch.tensor(STD, dtype=video.dtype, device=video.device).view(shape)


def to_float(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (3, T, H, W) float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float().div_(255)
