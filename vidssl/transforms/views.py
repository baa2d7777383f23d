"""View makers: turn one video into the augmented clips a method trains on."""

from __future__ import annotations

import numpy as np
import torch

from vidssl.transforms import temporal
from vidssl.transforms.batched import colour_batch, pack
from vidssl.transforms.motion import mix_frame
from vidssl.transforms.spatial import SpatialParams, apply_spatial, augment_clip, normalize, sample_spatial, to_float


def view_indices(num_frames: int, clip_frames: int, stride: int, aug, num_views: int, rng) -> list[np.ndarray]:
    """Temporal transforms for ``num_views`` views of one video (frame indices only).

    One base start is drawn ("Random m"); each view moves it by U[-s, s], then
    optionally thins a 2m window (frame drop), reverses or shuffles.
    """
    span = clip_frames * stride * (2 if aug.frame_drop else 1)
    base = temporal.random_start(num_frames, span, rng)
    out = []
    for _ in range(num_views):
        start = temporal.shifted_start(base, aug.temporal_shift, num_frames, span, rng)
        if aug.frame_drop:
            idx = temporal.frame_drop(num_frames, start, clip_frames, stride, rng)
        else:
            idx = temporal.clip_indices(num_frames, start, clip_frames, stride)
        if rng.random() < aug.reverse_p:
            idx = temporal.reverse(idx)
        if rng.random() < aug.shuffle_p:
            idx = temporal.shuffle(idx, rng)
        out.append(idx)
    return out


def make_views(dataset, i: int, *, aug, clip_frames: int, stride: int, crop_size: int, num_views: int, rng):
    """Returns (num_views, 3, clip_frames, crop_size, crop_size) normalised float views.

    With ``aug.on_device``: (cropped unnormalised views, (num_views, N_PARAMS) colour
    parameters) for :func:`finish_on_device`; the random draws are the same either way.
    """
    idx = view_indices(dataset.num_frames(i), clip_frames, stride, aug, num_views, rng)
    wanted, inverse = np.unique(np.concatenate(idx), return_inverse=True)
    frames = dataset.read_frames(i, wanted)  # each frame decoded once for all views
    views, params = [], []
    for v in range(num_views):
        clip = to_float(frames[inverse[v * clip_frames : (v + 1) * clip_frames]])
        if aug.bg_mix_p > 0 and len(dataset) > 1 and rng.random() < aug.bg_mix_p:
            clip = _mix_other(clip, dataset, i, aug.bg_mix_max, rng)
        if aug.on_device:  # crop and flip here; colour, grey and blur later, batched on the device
            p = sample_spatial(clip.shape[2], clip.shape[3], aug, rng)
            views.append(apply_spatial(clip, SpatialParams(p.box, p.flip), crop_size))
            params.append(pack(p))
        else:
            views.append(normalize(augment_clip(clip, aug, crop_size, rng)))
    return (torch.stack(views), torch.stack(params)) if aug.on_device else torch.stack(views)


def _mix_other(clip: torch.Tensor, dataset, i: int, max_weight: float, rng) -> torch.Tensor:
    """Blend one random frame of another random video into every frame of ``clip`` (C, T, H, W)."""
    j = int(rng.integers(len(dataset) - 1))
    j += j >= i  # any video but i
    k = int(rng.integers(dataset.num_frames(j)))
    frame = to_float(dataset.read_frames(j, np.array([k])))[:, 0]  # C x h x w
    return mix_frame(clip, frame, float(rng.uniform(0, max_weight)))


def finish_on_device(clips: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """(B, V, 3, T, S, S) cropped clips + (B, V, N_PARAMS) colour parameters -> normalised views."""
    b, v = clips.shape[:2]
    out = colour_batch(clips.flatten(0, 1), params.flatten(0, 1))
    return normalize(out).view(b, v, *out.shape[1:])
