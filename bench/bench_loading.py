"""Clips per second from video files: decoding on the fly vs the frame cache, on ucf101-9.

A clip is 16 consecutive frames from a random start, randomly cropped to S x S and
turned into a float tensor (3, 16, S, S). Frames are resized to a short side of 128 for
112 px crops and of 64 for 64 px crops, both when decoding and in the cache.

The reference is PyAV decoding every frame of the same files, without converting them
(the raw decode-only rate), measured in the same run with the same number of processes:
one process (the better of PyAV's frame threading and a single decoding thread, both
shown) and, for the rows that use both cores, two processes each decoding half the files.
Rows marked "1 process" read clips in this process with one torch thread, as one
DataLoader worker does; "2 workers" rows time a DataLoader with two worker processes
delivering batches of 16 clips to this process, as a training loop gets them.

Every rate is the best of ``--repeats`` interleaved rounds (the machine may be shared),
timed after each file's packet index is built (one demux pass per file and process,
timed on its own line; forked DataLoader workers inherit the parent's).

    .venv/bin/python bench/bench_loading.py [--videos 45] [--clips 320] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vidssl.data import decode
from vidssl.data.cache import build_cache
from vidssl.data.videos import ucf101

UCF9 = Path(__file__).resolve().parents[1].parent / "shared/data/ucf101-9"
CLIP = 16


class Clips(Dataset):
    """Item k: the (3, CLIP, size, size) float clip of job k = (video, start)."""

    def __init__(self, ds, jobs: list[tuple[int, int]], size: int, seek: bool = True) -> None:
        self.ds, self.jobs, self.size, self.seek = ds, jobs, size, seek

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, k: int) -> torch.Tensor:
        i, start = self.jobs[k]
        idx = (start + np.arange(CLIP)) % self.ds.num_frames(i)
        if self.seek:
            frames = self.ds.read_frames(i, idx)
        else:
            frames = decode.read_frames(self.ds.source(i), idx, self.ds.short_side, seek=False)
        frames = torch.from_numpy(frames)
        rng = np.random.default_rng(k)
        h, w = frames.shape[1:3]
        top, left = int(rng.integers(0, h - self.size + 1)), int(rng.integers(0, w - self.size + 1))
        crop = frames[:, top : top + self.size, left : left + self.size]
        return crop.permute(3, 0, 1, 2).float().div_(255)


def clips_per_s(clips: Clips) -> float:
    t = time.perf_counter()
    for k in range(len(clips)):
        clips[k]
    return len(clips) / (time.perf_counter() - t)


def loader_clips_per_s(loader: DataLoader) -> float:
    t, n = time.perf_counter(), 0
    for batch in loader:
        n += len(batch)
    return n / (time.perf_counter() - t)


def decode_all(paths: list[str], threads: str = "SLICE") -> int:
    """Decode every frame of ``paths`` without converting; returns the frame count."""
    n = 0
    for p in paths:
        with av.open(p) as c:
            s = c.streams.video[0]
            s.thread_type = threads
            for _ in c.decode(s):
                n += 1
    return n


def decode_rate(paths: list[str], threads: str) -> float:
    t = time.perf_counter()
    return decode_all(paths, threads) / (time.perf_counter() - t)


def decode_rate_2proc(pool, paths: list[str]) -> float:
    t = time.perf_counter()
    n = sum(pool.map(decode_all, [paths[0::2], paths[1::2]]))
    return n / (time.perf_counter() - t)


def clip_floor(paths: list[str], jobs: list[tuple[int, int]]) -> float:
    """Clips/s for the work a clip cannot avoid: open, seek to the keyframe, decode to its end."""
    index = {}
    for p in paths:
        st = Path(p).stat()
        index[p] = decode._INDEX[(p, st.st_size, st.st_mtime_ns)]
    t = time.perf_counter()
    for i, start in jobs:
        ix = index[paths[i]]
        last = ix.pts[min(start + CLIP, len(ix.pts)) - 1]
        with av.open(paths[i]) as c:
            s = c.streams.video[0]
            s.thread_type = decode.DECODE_THREADS
            c.seek(int(ix.keys[np.searchsorted(ix.keys, ix.pts[start], side="right") - 1]), stream=s, backward=True)
            for f in c.decode(s):
                if f.pts >= last:
                    break
    return len(jobs) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=45, help="videos of ucf101-9 split-1 train (spread over classes)")
    ap.add_argument("--clips", type=int, default=320, help="clips timed per row and round")
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
          f"{CLIP} frames per row; torch threads {torch.get_num_threads()}, python {sys.version.split()[0]}, "
          f"PyAV {av.__version__}")

    best: dict[str, float] = {}
    notes: dict[str, str] = {}
    unit: dict[str, str] = {}

    def keep(name: str, rate: float, u: str = "clips/s") -> None:
        best[name], unit[name] = max(best.get(name, 0.0), rate), u

    t = time.perf_counter()
    decode.read_frames(paths[0], [0])
    for p in paths:
        decode.read_frames(p, [frames[paths.index(p)] - 1])
    notes["1 process: open + seek + decode to the clip's end, no conversion"] = (
        f"packet index of {len(paths)} files built in {time.perf_counter() - t:.2f} s, once per process"
    )
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="vidssl-bench-") as tmp, ctx.Pool(2) as pool:
        rows = {}
        for size, short in ((112, 128), (64, 64)):
            ds = full.subset(pick)
            ds.short_side, ds.frames = short, frames
            t = time.perf_counter()
            cached = build_cache(ds, Path(tmp) / str(short), short, progress=False)
            build = time.perf_counter() - t
            mb = sum(f.stat().st_size for f in (Path(tmp) / str(short)).glob("*.npy")) / 2**20
            notes[f"{size}px, 1 process, frame cache"] = f"build {build:.1f} s, {mb:,.0f} MB on disk"
            rows[size] = (Clips(ds, jobs, size), Clips(ds, jobs, size, seek=False), Clips(cached, jobs, size))
        loaders = {
            name: DataLoader(c, batch_size=16, num_workers=2, persistent_workers=True, multiprocessing_context=ctx)
            for name, c in (("64px, 2 workers, on the fly", rows[64][0]), ("64px, 2 workers, frame cache", rows[64][2]))
        }
        for loader in loaders.values():
            loader_clips_per_s(loader)  # warm-up: starts the workers (forked: they inherit the packet indexes)
        for _ in range(args.repeats):
            keep("PyAV decode only, 1 process, 1 thread", decode_rate(paths, "SLICE"), "frames/s")
            keep("PyAV decode only, 1 process, frame threads (AUTO)", decode_rate(paths, "AUTO"), "frames/s")
            keep("PyAV decode only, 2 processes", decode_rate_2proc(pool, paths), "frames/s")
            keep("1 process: open + seek + decode to the clip's end, no conversion", clip_floor(paths, jobs))
            for size, (fly, noseek, cache) in rows.items():
                keep(f"{size}px, 1 process, on the fly", clips_per_s(fly))
                keep(f"{size}px, 1 process, on the fly, never seeking", clips_per_s(noseek))
                keep(f"{size}px, 1 process, frame cache", clips_per_s(cache))
            for name, loader in loaders.items():
                keep(name, loader_clips_per_s(loader))
    raw1 = max(best["PyAV decode only, 1 process, 1 thread"], best["PyAV decode only, 1 process, frame threads (AUTO)"])
    raw2 = best["PyAV decode only, 2 processes"]
    table = []
    for name, rate in best.items():
        if unit[name] == "frames/s":
            ratio = ""
        else:
            ref = raw2 if "2 workers" in name else raw1
            ratio = f"{100 * rate * CLIP / ref:.0f} %"
        table.append((name, f"{rate:,.0f} {unit[name]}", ratio, notes.get(name, "")))
    w = max(len(r[0]) for r in table)
    print(f"\n{'source':<{w}}  {'rate':>17}  {'frames/raw':>10}  notes")
    print("-" * (w + 80))
    for name, rate, ratio, note in table:
        print(f"{name:<{w}}  {rate:>17}  {ratio:>10}  {note}")
    print("\nframes/raw: delivered frames/s (16 per clip) over the raw decode-only rate with as many processes "
          "(1 process: the better threading)")
    for size, (fly, _, cache) in rows.items():
        one = best[f"{size}px, 1 process, frame cache"] / best[f"{size}px, 1 process, on the fly"]
        print(f"{size}px: the cache delivers {one:.1f}x the clips/s of decoding on the fly (1 process)")
    two = best["64px, 2 workers, frame cache"] / best["64px, 2 workers, on the fly"]
    print(f"64px: {two:.1f}x with 2 DataLoader workers")


if __name__ == "__main__":
    main()
