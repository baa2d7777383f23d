"""Temporal transforms: pure functions on frame-index arrays.

They run before any pixel is touched (Qian et al., "Spatiotemporal Contrastive Video
Representation Learning"; Feichtenhofer et al., "A Large-Scale Study on Unsupervised
Spatiotemporal Representation Learning"): a clip is a set of frame indices into a
video; the indices are shifted, thinned, reversed or shuffled, then the frames read.
All functions take a ``numpy.random.Generator`` so that results are reproducible.
"""

from __future__ import annotations

import numpy as np


def clip_indices(num_frames: int, start: int, length: int, stride: int = 1) -> np.ndarray:
    """``length`` frame indices from ``start`` every ``stride``, looping a short video.

    A video with fewer than ``length * stride`` frames is played again from its start,
    as "Random m" sampling does for short clips.
    """
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if length < 1 or stride < 1:
        raise ValueError(f"clip length and stride must be >= 1, got {length}, {stride}")
    return (start + stride * np.arange(length)) % num_frames


def random_start(num_frames: int, span: int, rng: np.random.Generator) -> int:
    """A uniformly random start such that ``span`` frames fit, or 0 if they cannot."""
    return int(rng.integers(0, max(num_frames - span, 0) + 1))


def random_clip(num_frames: int, length: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """"Random m": ``length`` consecutive (strided) frames from a random start."""
    return clip_indices(num_frames, random_start(num_frames, length * stride, rng), length, stride)


def uniform_clips(num_frames: int, length: int, stride: int, count: int) -> list[np.ndarray]:
    """``count`` clips whose starts are evenly spaced over the video (test-time protocol)."""
    span = length * stride
    last = max(num_frames - span, 0)
    starts = np.linspace(0, last, count).round().astype(int) if count > 1 else [last // 2]
    return [clip_indices(num_frames, int(s), length, stride) for s in starts]


def shifted_start(start: int, max_shift: int, num_frames: int, span: int, rng: np.random.Generator) -> int:
    """``start`` moved by a uniform integer in [-max_shift, max_shift], kept inside the video."""
    shift = int(rng.integers(-max_shift, max_shift + 1)) if max_shift > 0 else 0
    hi = max(num_frames - span, 0)
    return int(np.clip(start + shift, 0, hi))


def frame_drop(num_frames: int, start: int, length: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """Keep ``length`` frames, in order, chosen at random from the 2*length window at ``start``."""
    window = clip_indices(num_frames, start, 2 * length, stride)
    keep = np.sort(rng.choice(2 * length, size=length, replace=False))
    return window[keep]


def reverse(indices: np.ndarray) -> np.ndarray:
    """Play the clip backwards."""
    return indices[::-1].copy()


def shuffle(indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of the clip's frames."""
    return indices[rng.permutation(len(indices))]
