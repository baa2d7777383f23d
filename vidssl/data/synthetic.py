"""Built-in generated dataset: sprites whose class is their *motion*.

Each clip shows one handwritten digit (scikit-learn's 1,797 real 8x8 digits) on a
plain background; background and sprite colours drift over the clip. The primary label
is the motion (8 classes, in pairs that are each other's time reversal); a second
label, ``digit``, is the appearance, so an evaluation can tell what a representation
captures. The generator knows where the sprite is: every clip comes with a per-frame mask
(sprite opacity > 0.5), the ground truth of the tracking evaluation (:mod:`vidssl.eval.track`). Train and test clips use disjoint digit images and independent random streams. Generation is deterministic
from the seed and cached on disk (written atomically) after the first call.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidssl.data.base import ArrayVideoDataset
from vidssl.errors import VidsslError
from vidssl.io import atomic_write

MOTIONS = ("right", "left", "up", "down", "rotate_cw", "rotate_ccw", "grow", "shrink")
GENERATOR_VERSION = 2
BACKGROUNDS = ("drift", "plain", "texture")


@dataclass(frozen=True)
class SyntheticSpec:
    """Everything that determines the generated clips (and so the cache key)."""

    train_per_class: int = 150
    test_per_class: int = 50
    frames: int = 16
    size: int = 32
    seed: int = 0
    background: str = "drift"  # drift (default) | plain | texture; see _render_split

    def validate(self) -> None:
        if self.train_per_class < 1 or self.test_per_class < 1:
            raise VidsslError("synthetic data needs at least 1 clip per class in train and test")
        if self.frames < 1:
            raise VidsslError(f"synthetic frames must be >= 1, got {self.frames}")
        if self.background not in BACKGROUNDS:
            raise VidsslError(f"unknown synthetic background {self.background!r}; choose one of {', '.join(BACKGROUNDS)}")
        if self.size < 16:
            raise VidsslError(f"synthetic frame size must be >= 16 px, got {self.size}")

    def key(self) -> str:
        blob = json.dumps({**asdict(self), "version": GENERATOR_VERSION}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32), d.target.astype(np.int64)


def _affine(motion: int, t: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Per-frame (centre_x, centre_y, angle_rad, scale) for one clip, shape (T, 4)."""
    n = len(t)
    cx = np.full(n, p["cx"])
    cy = np.full(n, p["cy"])
    ang = np.full(n, p["angle0"])
    scale = np.full(n, p["scale0"])
    name = MOTIONS[motion]
    if name in ("right", "left"):
        cx = p["cx"] + (1 if name == "right" else -1) * p["speed"] * (t - t.mean())
    elif name in ("up", "down"):
        cy = p["cy"] + (1 if name == "down" else -1) * p["speed"] * (t - t.mean())
    elif name in ("rotate_cw", "rotate_ccw"):
        ang = p["angle0"] + (1 if name == "rotate_cw" else -1) * p["omega"] * t
    else:
        ratio = p["growth"] ** (t - t.mean())
        scale = p["scale0"] * (ratio if name == "grow" else 1 / ratio)
    return np.stack([cx, cy, ang, scale], 1)


def _render_split(
    n_per_class: int, digit_imgs: np.ndarray, digit_lbl: np.ndarray, spec: SyntheticSpec, rng
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    T, S = spec.frames, spec.size
    n = n_per_class * len(MOTIONS)
    motions = np.repeat(np.arange(len(MOTIONS)), n_per_class)
    which = rng.integers(0, len(digit_imgs), n)
    videos = np.empty((n, T, S, S, 3), np.uint8)
    masks = np.empty((n, T, S, S), bool)
    t = np.arange(T, dtype=np.float64)
    half = 0.22 * S  # sprite half-size in pixels at scale 1
    for i in range(n):
        speed = rng.uniform(0.5, 1.0) * S / 32  # px per frame
        travel = speed * (T - 1) / 2
        margin = half * 1.1
        lo, hi = margin + travel, S - margin - travel
        p = {
            "cx": rng.uniform(min(lo, S / 2), max(hi, S / 2)),
            "cy": rng.uniform(min(lo, S / 2), max(hi, S / 2)),
            "speed": speed,
            "angle0": rng.uniform(-0.3, 0.3),
            "omega": math.radians(rng.uniform(8, 16)),
            "scale0": rng.uniform(0.8, 1.0),
            "growth": rng.uniform(1.04, 1.07),
        }
        if MOTIONS[motions[i]] not in ("right", "left", "up", "down"):
            p["cx"] = rng.uniform(margin * 1.2, S - margin * 1.2)
            p["cy"] = rng.uniform(margin * 1.2, S - margin * 1.2)
        par = torch.from_numpy(_affine(int(motions[i]), t, p)).float()
        # affine_grid maps output coords in [-1, 1] to sprite coords: in = A (out - c)
        c = par[:, :2] / S * 2 - 1
        cos, sin = torch.cos(par[:, 2]), torch.sin(par[:, 2])
        k = (S / 2) / (half * par[:, 3])
        A = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1) * k[:, None, None]
        theta = torch.cat([A, -(A @ c[:, :, None])], 2)  # T x 2 x 3
        sprite = torch.from_numpy(digit_imgs[which[i]])[None, None].expand(T, 1, 8, 8)
        grid = F.affine_grid(theta, [T, 1, S, S], align_corners=False)
        alpha = F.grid_sample(sprite, grid, align_corners=False).clamp(0, 1)  # T x 1 x S x S
        # plain background and sprite colours that drift over the clip (changing light):
        # a textured or constant-colour background lets instance discrimination succeed on
        # appearance alone, and the features then ignore motion (docs/benchmarks.md, "Choosing the data")
        w = torch.linspace(0, 1, T)[:, None, None, None]
        bg0, bg1 = (torch.from_numpy(rng.uniform(0.0, 0.5, 3).astype(np.float32))[None, :, None, None] for _ in range(2))
        fg0, fg1 = (torch.from_numpy(rng.uniform(0.55, 1.0, 3).astype(np.float32))[None, :, None, None] for _ in range(2))
        bg, colour = bg0 * (1 - w) + bg1 * w, fg0 * (1 - w) + fg1 * w  # T x 3 x 1 x 1
        if spec.background == "plain":  # constant colours (kept to show why the default drifts)
            bg, colour = bg0, fg0
        elif spec.background == "texture":  # a smooth random texture, constant colours
            low = torch.from_numpy(rng.uniform(0.0, 0.5, (1, 3, 4, 4)).astype(np.float32))
            bg, colour = F.interpolate(low, size=(S, S), mode="bicubic", align_corners=False).clamp(0, 1), fg0
        frames = bg * (1 - alpha) + colour * alpha  # T x 3 x S x S
        videos[i] = (frames.permute(0, 2, 3, 1) * 255).round().byte().numpy()
        masks[i] = (alpha[:, 0] > 0.5).numpy()
    return videos, motions, digit_lbl[which], masks


def generate(spec: SyntheticSpec) -> dict[str, np.ndarray]:
    """Generate both splits. Returns arrays ``{split}_videos`` (N,T,H,W,3) uint8, the labels
    ``{split}_motion`` and ``{split}_digit``, and ``{split}_masks`` (N,T,H,W) bool, where the sprite is."""
    spec.validate()
    imgs, lbl = _digits()
    half = len(imgs) // 2  # train and test sprites are different handwritten digits
    ss = np.random.SeedSequence([spec.seed, GENERATOR_VERSION])
    rng_train, rng_test = (np.random.default_rng(s) for s in ss.spawn(2))
    out = {}
    for split, n, sl, rng in (
        ("train", spec.train_per_class, slice(0, half), rng_train),
        ("test", spec.test_per_class, slice(half, None), rng_test),
    ):
        v, m, d, masks = _render_split(n, imgs[sl], lbl[sl], spec, rng)
        out[f"{split}_videos"], out[f"{split}_motion"], out[f"{split}_digit"] = v, m, d
        out[f"{split}_masks"] = masks
    return out


def default_cache_dir() -> Path:
    import os

    return Path(os.environ.get("VIDSSL_CACHE", Path.home() / ".cache" / "vidssl"))


def load_synthetic(
    spec: SyntheticSpec, cache_dir: str | Path | None = None
) -> tuple[ArrayVideoDataset, ArrayVideoDataset]:
    """Return (train, test) datasets, generating and caching them on first use."""
    spec.validate()
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    path = cache / f"synthetic-{spec.key()}.npz"
    arrays = None
    if path.exists():
        try:
            with np.load(path) as z:
                arrays = {k: z[k] for k in z.files}
        except Exception:  # noqa: BLE001 -- a damaged cache entry is regenerated, never trusted
            arrays = None
        if arrays is not None and "train_masks" not in arrays:  # written before the masks were: the same
            arrays = None  # clips (the generator's random draws are unchanged), regenerated with their masks
    if arrays is None:
        arrays = generate(spec)
        try:
            cache.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as f:
                np.savez(f, **arrays)
        except OSError:
            pass  # caching is an optimisation; an unwritable cache dir is not an error
    out = []
    for split in ("train", "test"):
        out.append(
            ArrayVideoDataset(
                arrays[f"{split}_videos"],
                labels={"motion": arrays[f"{split}_motion"], "digit": arrays[f"{split}_digit"]},
                class_names={"motion": list(MOTIONS), "digit": [str(i) for i in range(10)]},
                name=f"synthetic-{spec.key()}/{split}",
            )
        )
        out[-1].masks = arrays[f"{split}_masks"]  # N x T x H x W bool: where the sprite is (tracking's ground truth)
        out[-1].split_rule = "built-in: train and test generated apart, from different handwritten digits"
    return out[0], out[1]
