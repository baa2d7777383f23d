"""View makers: turn one video into the augmented clips a method trains on."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vidssl.transforms import temporal
from vidssl.transforms.batched import colour_batch, pack
from vidssl.transforms.motion import fit_frame, mix_frame
from vidssl.transforms.spatial import augment_clip, hflip, normalize, resized_crop, sample_spatial, to_float


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


@dataclass
class RawViews:
    """One video's views as the workers hand them over with ``aug.on_device``: uint8 crops, no float work.

    ``crops[v]`` is view v's crop box cut exactly from the decoded frames, ``(3, T, h, w)``
    uint8 (h, w differ per view); ``mix[v]`` the other video's frame blended into it, cut
    to the same box (float ``(3, h, w)``, one frame per clip), and its weight, or None.
    """

    crops: list[torch.Tensor]
    flip: list[bool]
    mix: list[tuple[torch.Tensor, float] | None]
    colour: torch.Tensor  # (V, N_PARAMS) colour parameters (vidssl.transforms.batched.pack)


def make_views(dataset, i: int, *, aug, clip_frames: int, stride: int, crop_size: int, num_views: int, rng,
               frames_used: list | None = None):
    """Returns (num_views, 3, clip_frames, crop_size, crop_size) normalised float views.

    With ``aug.on_device``: a :class:`RawViews` for :func:`finish_on_device`, which makes
    the same views on the device (bitwise on the CPU; tested); the random draws are the same either way.
    ``frames_used``, when given, receives each view's frame indices (e.g. to cut the audio of view 0).
    """
    idx = view_indices(dataset.num_frames(i), clip_frames, stride, aug, num_views, rng)
    if frames_used is not None:
        frames_used.extend(np.asarray(v) for v in idx)
    wanted, inverse = np.unique(np.concatenate(idx), return_inverse=True)
    frames = dataset.read_frames(i, wanted)  # each frame decoded once for all views, (F, H, W, 3) uint8
    h, w = frames.shape[1:3]
    views, raw = [], RawViews([], [], [], torch.empty(0))
    colour = []
    for v in range(num_views):
        clip = frames[inverse[v * clip_frames : (v + 1) * clip_frames]]  # T x H x W x 3 uint8
        mix = None
        if aug.bg_mix_p > 0 and len(dataset) > 1 and rng.random() < aug.bg_mix_p:
            mix = _other_frame(dataset, i, aug.bg_mix_max, rng)
        if aug.on_device:  # cut the crop box here; float, resize, flip, colour, grey and blur on the device
            p = sample_spatial(h, w, aug, rng)
            top, left, ch, cw = p.box
            raw.crops.append(torch.from_numpy(np.ascontiguousarray(clip[:, top : top + ch, left : left + cw])).permute(3, 0, 1, 2))
            raw.flip.append(p.flip)
            raw.mix.append(None if mix is None else
                           (fit_frame(mix[0], h, w)[:, top : top + ch, left : left + cw].contiguous(), mix[1]))
            colour.append(pack(p))
        else:
            x = to_float(clip) if mix is None else mix_frame(to_float(clip), *mix)
            views.append(normalize(augment_clip(x, aug, crop_size, rng)))
    if aug.on_device:
        raw.colour = torch.stack(colour)
        return raw
    return torch.stack(views)


def _other_frame(dataset, i: int, max_weight: float, rng) -> tuple[torch.Tensor, float]:
    """One random frame (C, h, w) of another random video, and its blending weight ~ U[0, max_weight]."""
    j = int(rng.integers(len(dataset) - 1))
    j += j >= i  # any video but i
    k = int(rng.integers(dataset.num_frames(j)))
    frame = to_float(dataset.read_frames(j, np.array([k])))[:, 0]  # C x h x w
    return frame, float(rng.uniform(0, max_weight))


@dataclass
class RawBatch:
    """B videos' :class:`RawViews` as one object the DataLoader hands over (see :func:`collate_raw`).

    Every crop is flattened into one uint8 buffer, so a single copy moves the pixels to the device.
    """

    pixels: torch.Tensor  # (sum of 3*T*h*w,) uint8, crops in (video, view) order
    shapes: list[tuple[int, int, int, int]]  # (3, T, h, w) of each of the B*V crops
    flip: list[bool]
    mix: list[tuple[torch.Tensor, float] | None]
    colour: torch.Tensor  # (B, V, N_PARAMS)

    def __len__(self) -> int:
        return self.colour.shape[0]

    def pin_memory(self) -> RawBatch:  # called by DataLoader(pin_memory=True)
        mix = [None if m is None else (m[0].pin_memory(), m[1]) for m in self.mix]
        return RawBatch(self.pixels.pin_memory(), self.shapes, self.flip, mix, self.colour.pin_memory())


def collate_raw(items: list[RawViews]) -> RawBatch:
    """The DataLoader's ``collate_fn`` for :class:`RawViews` (runs in the workers)."""
    crops = [c for it in items for c in it.crops]
    return RawBatch(torch.cat([c.reshape(-1) for c in crops]), [tuple(c.shape) for c in crops],
                    [f for it in items for f in it.flip], [m for it in items for m in it.mix],
                    torch.stack([it.colour for it in items]))


def finish_on_device(batch: RawBatch, crop_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """A :class:`RawBatch` -> (B, V, 3, T, S, S) normalised views on ``device``.

    Per crop: ``/ 255``, background mixing, the resize to ``crop_size`` and the flip, as the
    workers did them in float before (a resize per crop: the boxes differ); then colour,
    grey and blur batched over all clips (:func:`vidssl.transforms.batched.colour_batch`).
    """
    b, v = batch.colour.shape[:2]
    pixels = batch.pixels.to(device, non_blocking=True).split([math.prod(s) for s in batch.shapes])
    clips = []
    for x, shape, flip, mix in zip(pixels, batch.shapes, batch.flip, batch.mix):
        x = x.view(shape).float().div_(255)  # as to_float
        if mix is not None:
            x = mix_frame(x, mix[0].to(device, non_blocking=True), mix[1])
        x = resized_crop(x, (0, 0, *shape[2:]), crop_size)
        clips.append(hflip(x) if flip else x)
    out = colour_batch(torch.stack(clips), batch.colour.flatten(0, 1))
    return normalize(out).view(b, v, *out.shape[1:])
