"""Clips per second from video files: decoding on the fly vs the frame cache, on ucf101-9.

A clip is 16 consecutive frames from a random start, randomly cropped to S x S and
turned into a float tensor (3, 16, S, S), read in one process with one torch thread
(as in a DataLoader worker).
Frames are resized to a short side of 128 for 112 px crops and of 64 for 64 px crops,
both when decoding and in the cache. The same files are also decoded without any
conversion (PyAV's raw decode rate) and decoded into RGB arrays at full size. Every
rate is the best of ``--repeats`` interleaved rounds (the machine may be shared).

    .venv/bin/python bench/bench_loading.py [--videos 45] [--clips 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from vidssl.data import decode
from vidssl.data.cache import build_cache
from vidssl.data.videos import ucf101

UCF9 = Path(__file__).resolve().parents[1].parent / "shared/data/ucf101-9"
CLIP = 16


def clip(ds, i: int, start: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """(3, CLIP, size, size) float clip of video i from ``start`` (looping a short video)."""
    frames = torch.from_numpy(ds.read_frames(i, (start + np.arange(CLIP)) % ds.num_frames(i)))
    h, w = frames.shape[1:3]
    top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return frames[:, top : top + size, left : left + size].permute(3, 0, 1, 2).float().div_(255)


def clips_per_s(ds, jobs: list[tuple[int, int]], size: int) -> float:
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for i, start in jobs:
        clip(ds, i, start, size, rng)
    return len(jobs) / (time.perf_counter() - t)


def decode_rate(paths: list[str], to_rgb: str = "") -> float:
    """Frames/s decoding every frame of ``paths`` (threaded), optionally into RGB arrays.

    to_rgb: "" (no conversion), "to_ndarray" (frame.to_ndarray, a new swscale context
    per frame) or "reformatter" (one VideoReformatter per file, as read_frames does).
    """
    n, t = 0, time.perf_counter()
    for p in paths:
        with av.open(p) as c:
            s, r = c.streams.video[0], VideoReformatter()
            s.thread_type = "AUTO"
            for f in c.decode(s):
                if to_rgb == "to_ndarray":
                    f.to_ndarray(format="rgb24")
                elif to_rgb:
                    r.reformat(f, format="rgb24", threads=1).to_ndarray()
                n += 1
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=45, help="videos of ucf101-9 split-1 train (spread over classes)")
    ap.add_argument("--clips", type=int, default=200, help="clips timed per row and round")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; the best rate of each row is shown")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as in a DataLoader worker
    if not (UCF9 / "MANIFEST.tsv").is_file():
        print(f"skipped: ../shared/data/ucf101-9 not found (looked at {UCF9})")
        return
    full = ucf101(UCF9, 1, "train")
    pick = np.linspace(0, len(full) - 1, args.videos).round().astype(int).tolist()
    paths = [full.source(i) for i in pick]
    rng = np.random.default_rng(0)
    frames = [decode.probe(p).frames for p in paths]
    jobs = [(int(i), int(rng.integers(0, max(frames[i] - CLIP, 0) + 1)))
            for i in rng.integers(0, len(paths), args.clips)]
    print(f"ucf101-9: {len(paths)} videos, {sum(frames)} frames (160x120 MPEG-4 AVI), {len(jobs)} clips of "
          f"{CLIP} frames per row; torch threads {torch.get_num_threads()}, python {sys.version.split()[0]}")

    best: dict[str, float] = {}
    notes: dict[str, str] = {}

    def keep(name: str, rate: float) -> None:
        best[name] = max(best.get(name, 0.0), rate)

    with tempfile.TemporaryDirectory(prefix="vidssl-bench-") as tmp:
        caches = {}
        for size, short in ((112, 128), (64, 64)):
            ds = full.subset(pick)
            ds.short_side, ds.frames = short, frames
            t = time.perf_counter()
            caches[size] = (ds, build_cache(ds, Path(tmp) / str(short), short, progress=False))
            mb = sum(f.stat().st_size for f in (Path(tmp) / str(short)).glob("*.npy")) / 2**20
            build = time.perf_counter() - t
            notes[f"{size}px crops, frame cache (clips/s)"] = f"build {build:.1f} s, {mb:,.0f} MB on disk"
        for _ in range(args.repeats):
            keep("PyAV decode only (frames/s)", decode_rate(paths))
            keep("PyAV decode + frame.to_ndarray rgb24 (frames/s)", decode_rate(paths, "to_ndarray"))
            keep("PyAV decode + VideoReformatter rgb24 (frames/s)", decode_rate(paths, "reformatter"))
            for size, (ds, cached) in caches.items():
                keep(f"{size}px crops, on-the-fly decode (clips/s)", clips_per_s(ds, jobs, size))
                keep(f"{size}px crops, on-the-fly, never seeking (clips/s)", clips_per_s(_NoSeek(ds), jobs, size))
                keep(f"{size}px crops, frame cache (clips/s)", clips_per_s(cached, jobs, size))
    rows = [(k, f"{v:,.1f}", notes.get(k, "")) for k, v in best.items()]
    w = max(len(r[0]) for r in rows)
    print(f"\n{'source (short side 128 for 112px crops, 64 for 64px)':<{w}}  {'rate':>10}  notes")
    print("-" * (w + 48))
    for name, rate, note in rows:
        print(f"{name:<{w}}  {rate:>10}  {note}")


class _NoSeek:
    """A dataset view that always decodes from the first frame."""

    def __init__(self, ds) -> None:
        self.ds = ds

    def num_frames(self, i: int) -> int:
        return self.ds.num_frames(i)

    def read_frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        return decode.read_frames(self.ds.source(i), indices, self.ds.short_side, seek_min=1 << 62)


if __name__ == "__main__":
    main()
