"""Label propagation: does a frozen encoder track?

The protocol of "Tracking Emerges by Colorizing Videos" (Vondrick et al., ECCV 2018) and its
successors (Jabri et al., "Space-Time Correspondence as a Contrastive Random Walk", NeurIPS
2020): the first frame's labels (a mask, or colours) are carried through the video by
feature affinity. Every frame gets a feature map; each position of frame t attends to the
positions of a set of reference frames (the first frame, whose labels are given, plus the
``context`` frames before t, whose labels were predicted), keeps its ``topk`` most similar
(cosine similarity / ``temperature``, softmax over those k) and takes the weighted mean of
their labels. Nothing is trained: the features alone decide where the labels go.

A mask is scored by region similarity J (DAVIS; Perazzi et al. 2016): the intersection over
union of the predicted and the true mask, per frame after the first, averaged over frames and
then over videos. The built-in data's generator knows where its sprite is in every frame
(:mod:`vidssl.data.synthetic`), so J is measured there; real video here has no masks, so
``vidssl track`` shows the first frame's colours carried forward instead, as pictures.

Per-frame features of a 3D network: the backbone runs once over the whole tracked sequence
(T frames) and the map after its first ``stages`` stages is taken; stage 1 keeps every frame,
each later stage halves time, and the map is then repeated back to one slice per frame
(nearest). With residual input the first frame is duplicated in front, so frame t's slice sees
the difference x_t - x_{t-1} (zero for t = 0). A 2D per-frame backbone gives each frame's map
directly. Labels live on the feature grid: the first mask is average-pooled onto it, and each
prediction is resized back to the frame bilinearly before its argmax.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vidssl.backbones import frame_maps
from vidssl.transforms.spatial import center_box, centre_square, eval_input


@torch.no_grad()
def frame_features(backbone: nn.Module, video: torch.Tensor, stages: int = 1) -> torch.Tensor:
    """video: (3, T, S, S) normalised float -> (T, C, h, w): one feature map per frame (see the module's doc)."""
    return frame_maps(backbone, video[None], stages)[0].float()


def _far(h: int, w: int, radius: int, device: torch.device) -> torch.Tensor:
    """(h w) x (h w) bool: True where two grid positions are more than ``radius`` apart (either axis)."""
    yy, xx = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    yy, xx = yy.flatten(), xx.flatten()
    return ((yy[:, None] - yy[None]).abs() > radius) | ((xx[:, None] - xx[None]).abs() > radius)


@torch.no_grad()
def propagate(feats: torch.Tensor, first: torch.Tensor, *, context: int = 4, topk: int = 10,
              temperature: float = 0.07, radius: int = 0) -> torch.Tensor:
    """Carry the first frame's labels through a video by feature affinity.

    feats: (T, C, h, w) per-frame features; first: (K, h, w) labels of frame 0 (one-hot or soft,
    or colours). Frame t attends to frame 0 and frames max(1, t - context) .. t - 1: for each of its
    positions, the ``topk`` reference positions of highest cosine similarity, weighted by a softmax
    of similarity / ``temperature``; ``radius`` > 0 keeps only reference positions within that many
    grid cells on each axis. Returns (T, K, h, w) labels, frame 0 being ``first``.
    """
    if feats.ndim != 4 or first.ndim != 3 or first.shape[1:] != feats.shape[2:]:
        raise ValueError(f"feats must be (T, C, h, w) and first (K, h, w) on the same grid, got "
                         f"{tuple(feats.shape)} and {tuple(first.shape)}")
    if topk < 1 or temperature <= 0 or context < 0 or radius < 0:
        raise ValueError(f"need topk >= 1, temperature > 0, context >= 0, radius >= 0; got {topk}, {temperature}, "
                         f"{context}, {radius}")
    t_len, _, h, w = feats.shape
    f = F.normalize(feats.flatten(2).float(), dim=1)  # T x C x L, unit vectors per position
    labels = [first.flatten(1).float()]  # per frame: K x L
    far = _far(h, w, radius, feats.device) if radius else None
    for t in range(1, t_len):
        refs = sorted({0, *range(max(1, t - context), t)})
        keys = torch.cat([f[r] for r in refs], 1)  # C x (M L)
        ref_labels = torch.cat([labels[r] for r in refs], 1)  # K x (M L)
        aff = f[t].T @ keys / temperature  # L x (M L)
        if far is not None:
            aff = aff.masked_fill(far.repeat(1, len(refs)), float("-inf"))
        top, idx = aff.topk(min(topk, aff.shape[1]), dim=1)  # L x k
        weights = top.softmax(1)  # a position's own cell is always within the radius: never all -inf
        labels.append(torch.einsum("lk,klj->jl", weights, ref_labels.T[idx].transpose(0, 1)))  # K x L
    return torch.stack(labels).view(t_len, -1, h, w)


def region_similarity(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """J per frame: |pred & true| / |pred | true| of (T, H, W) bool masks; 1 where both are empty (DAVIS)."""
    pred, true = np.asarray(pred, bool), np.asarray(true, bool)
    if pred.shape != true.shape:
        raise ValueError(f"masks differ in shape: {pred.shape} and {true.shape}")
    inter = (pred & true).sum((1, 2))
    union = (pred | true).sum((1, 2))
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def mask_labels(mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(H, W) bool -> (2, h, w) soft labels (background, object): the one-hot mask average-pooled onto the grid."""
    one_hot = torch.stack([~mask, mask]).float()
    return F.adaptive_avg_pool2d(one_hot, grid)


def to_pixels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(T, K, h, w) labels on the feature grid -> (T, K, H, W), resized bilinearly."""
    return F.interpolate(labels, size=size, mode="bilinear", align_corners=False)


def track_mask(feats: torch.Tensor, masks: torch.Tensor, **kw: Any) -> np.ndarray:
    """Propagate ``masks[0]`` ((T, H, W) bool, the truth) with ``feats``; returns J of frames 1..T-1."""
    labels = propagate(feats, mask_labels(masks[0], feats.shape[2:]), **kw)
    pred = to_pixels(labels, masks.shape[1:]).argmax(1).bool()  # T x H x W
    return region_similarity(pred[1:].numpy(), masks[1:].numpy())


def frame_indices(num_frames: int, frames: int, stride: int) -> np.ndarray:
    """The tracked frames of a video: 0, stride, 2 stride, ... (at most ``frames`` of them, at least 2)."""
    n = max(2, min(frames, (num_frames - 1) // stride + 1))
    return np.minimum(np.arange(n) * stride, num_frames - 1)


def read_video(dataset, i: int, frames: int, stride: int, crop_size: int) -> tuple[torch.Tensor, np.ndarray]:
    """(normalised (3, T, S, S) float input, (T, S, S, 3) uint8 frames as the network sees them) of video i."""
    idx = frame_indices(dataset.num_frames(i), frames, stride)
    squares = centre_square(dataset.read_frames(i, idx))  # 3 x T x s x s uint8
    x = eval_input(squares, crop_size)
    shown = F.interpolate(squares.transpose(0, 1).float(), size=(crop_size, crop_size), mode="bilinear",
                          align_corners=False, antialias=True).round().clamp(0, 255).byte()  # T x 3 x S x S
    return x, shown.permute(0, 2, 3, 1).numpy()


def read_masks(dataset, i: int, frames: int, stride: int, crop_size: int) -> torch.Tensor:
    """(T, S, S) bool true masks of video i, cut and resized (nearest) as its frames are."""
    idx = frame_indices(dataset.num_frames(i), frames, stride)
    m = torch.from_numpy(np.ascontiguousarray(dataset.masks[i][idx]))  # T x H x W
    top, left, side, _ = center_box(*m.shape[1:])
    m = m[:, top : top + side, left : left + side].float()[:, None]
    return F.interpolate(m, size=(crop_size, crop_size), mode="nearest")[:, 0].bool()


def evenly_spaced(n: int, count: int) -> np.ndarray:
    """``count`` indices spread evenly over ``range(n)`` (all of them for count 0 or count >= n)."""
    if count <= 0 or count >= n:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, count)).astype(int))


def propagation_settings(cfg) -> dict[str, Any]:
    """The keyword arguments of :func:`propagate` in a :class:`vidssl.config.TrackConfig`."""
    return {"context": cfg.context, "topk": cfg.topk, "temperature": cfg.temperature, "radius": cfg.radius}


def summarise_j(per_video: list[float]) -> dict[str, Any]:
    j = np.asarray(per_video, float)
    return {"J": float(j.mean()), "J_std_over_videos": float(j.std()), "videos": len(j),
            "J_per_video": [round(float(v), 4) for v in j]}


@torch.no_grad()
def score_tracking(backbones: dict[str, nn.Module], dataset, indices: np.ndarray, data, cfg, *,
                   progress: bool = False) -> dict[str, dict[str, Any]]:
    """J of each backbone over videos ``indices`` of a dataset with masks (``dataset.masks``), each video read
    once; beside them ``pixels``, the frames themselves average-pooled onto the first backbone's grid (a match
    of colours: what an encoder must beat to be of use for tracking), and ``first_mask_copy``, a tracker
    that never moves (the first mask predicted for every frame)."""
    from tqdm import tqdm

    from vidssl.runtime import module_device

    for bb in backbones.values():
        bb.eval()
    kw = propagation_settings(cfg)
    per_video: dict[str, list[float]] = {name: [] for name in [*backbones, "pixels", "first_mask_copy"]}
    for i in tqdm(indices, desc="tracking", disable=not progress, mininterval=1.0, leave=False):
        x, _ = read_video(dataset, int(i), cfg.frames, data.stride, data.crop_size)
        masks = read_masks(dataset, int(i), cfg.frames, data.stride, data.crop_size)
        grid = None
        for name, bb in backbones.items():
            feats = frame_features(bb, x.to(module_device(bb)), cfg.stages).cpu()
            grid = grid or feats.shape[2:]
            per_video[name].append(float(track_mask(feats, masks, **kw).mean()))
        pixels = F.adaptive_avg_pool2d(x.transpose(0, 1), grid)  # T x 3 x h x w
        per_video["pixels"].append(float(track_mask(pixels, masks, **kw).mean()))
        m = masks.numpy()
        per_video["first_mask_copy"].append(float(region_similarity(np.broadcast_to(m[:1], m[1:].shape), m[1:]).mean()))
    return {name: summarise_j(js) for name, js in per_video.items()}


def _outline(mask: np.ndarray) -> np.ndarray:
    """The 1-pixel inner boundary of a (H, W) bool mask."""
    pad = np.pad(mask, 1)
    inner = pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:]
    return mask & ~inner


@torch.no_grad()
def track_picture(backbone: nn.Module, dataset, i: int, data, cfg, path, *, scale: int = 0) -> Any:
    """An animated WebP of video i, side by side: its frames as the network sees them; the first frame's
    colours carried forward by :func:`propagate` (what the features match); and, where the data has masks,
    the propagated mask (red) with the true mask's outline (green). Returns the path."""
    from PIL import Image

    from vidssl.eval.pictures import save_animation
    from vidssl.runtime import module_device

    backbone.eval()
    x, shown = read_video(dataset, i, cfg.frames, data.stride, data.crop_size)  # shown: T x S x S x 3 uint8
    feats = frame_features(backbone, x.to(module_device(backbone)), cfg.stages).cpu()
    grid, size = feats.shape[2:], shown.shape[1:3]
    first = torch.from_numpy(shown[0]).permute(2, 0, 1).float() / 255  # 3 x S x S
    colours = to_pixels(propagate(feats, F.adaptive_avg_pool2d(first, grid), **propagation_settings(cfg)), size)
    panels = [shown, (colours.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()]
    if getattr(dataset, "masks", None) is not None:
        true = read_masks(dataset, i, cfg.frames, data.stride, data.crop_size)
        pred = to_pixels(propagate(feats, mask_labels(true[0], grid), **propagation_settings(cfg)), size).argmax(1)
        overlay = shown.astype(np.float32)
        overlay[pred.bool().numpy()] = 0.45 * overlay[pred.bool().numpy()] + 0.55 * np.array([230, 40, 40])
        overlay = overlay.round().astype(np.uint8)
        for t, m in enumerate(true.numpy()):
            overlay[t][_outline(m)] = (40, 220, 40)
        panels.append(overlay)
    gap = np.full((len(shown), size[0], 2, 3), 255, np.uint8)
    strip = np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=2)  # T x S x W x 3
    k = scale or max(1, 128 // size[0])  # small frames are enlarged (nearest) to be seen
    pages = [Image.fromarray(f).resize((f.shape[1] * k, f.shape[0] * k), Image.NEAREST) for f in strip]
    return save_animation(pages, path, ms_per_frame=200)
