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

Also timed: the hand-over of ready-made clips by two workers (the ceiling of any
loader that ships float32 clips between processes), decoding the 320x240 originals with
and without frame threads, and the cost per frame of turning decoded frames into RGB.

The optional decord backend (``--decoder decord``, ``pip install 'vidssl[decoders]'``) is
timed beside PyAV on the same files and clips in the same rounds, where it is installed:
decoding every frame into full-size RGB (decord cannot hand out frames unconverted, so
PyAV is timed doing the same), and the on-the-fly clip rows. Its rows end in "decord".

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
from av.video.reformatter import VideoReformatter
from torch.utils.data import DataLoader, Dataset

from vidssl.data import decode, decode_decord
from vidssl.data.cache import build_cache
from vidssl.data.videos import ucf101
from vidssl.errors import VidsslError

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


class Ready(Dataset):
    """Ready-made clips (no reading at all): what a DataLoader costs to hand clips over."""

    def __init__(self, n: int, dtype: torch.dtype) -> None:
        self.n, self.clip = n, torch.zeros(3, CLIP, 64, 64, dtype=dtype)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, k: int) -> torch.Tensor:
        return self.clip.clone()


def conversion_us(paths: list[str], short: int = 64) -> dict[str, float]:
    """Microseconds per frame to turn decoded frames into RGB arrays at short side ``short``."""
    frames = []
    for p in paths[:4]:
        with av.open(p) as c:
            frames += list(c.decode(video=0))
    size = decode.output_size(frames[0].width, frames[0].height, short)
    rgb, direct = decode._RGB(), VideoReformatter()
    ways = {
        f"RGB at short side {short}: scale in YUV, then convert (vidssl)": lambda f: rgb(f, size),
        f"RGB at short side {short}: swscale straight into RGB": lambda f: direct.reformat(
            f, width=size[0], height=size[1], format="rgb24", interpolation="AREA", threads=1).to_ndarray(),
        "RGB at full size": lambda f: rgb(f, (f.width, f.height)),
    }
    out = {}
    for name, way in ways.items():
        t = time.perf_counter()
        for f in frames:
            way(f)
        out[name] = (time.perf_counter() - t) / len(frames) * 1e6
    return out


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


def rgb_rate_pyav(paths: list[str]) -> float:
    """Frames/s decoding every frame and converting it to a full-size RGB array, one thread."""
    t, n, to_rgb = time.perf_counter(), 0, decode._RGB()
    for p in paths:
        with av.open(p) as c:
            s = c.streams.video[0]
            s.thread_type = decode.DECODE_THREADS
            for f in c.decode(s):
                to_rgb(f, (f.width, f.height))
                n += 1
    return n / (time.perf_counter() - t)


def rgb_rate_decord(paths: list[str]) -> float:
    """The same with decord: every frame as full-size RGB, one thread, fetched CHUNK frames at a time."""
    decord = decode_decord.require()
    t, n = time.perf_counter(), 0
    for p in paths:
        vr = decord.VideoReader(p, ctx=decord.cpu(0), num_threads=1)
        for lo in range(0, len(vr), decode_decord.CHUNK):
            n += len(vr.get_batch(list(range(lo, min(lo + decode_decord.CHUNK, len(vr))))).asnumpy())
    return n / (time.perf_counter() - t)


def decode_rate_2proc(pool, paths: list[str]) -> float:
    t = time.perf_counter()
    n = sum(pool.map(decode_all, [paths[0::2], paths[1::2]]))
    return n / (time.perf_counter() - t)


def packet_indexes(paths: list[str]) -> dict:
    """The packet index this process built for each of ``paths``."""
    out = {}
    for p in paths:
        st = Path(p).stat()
        out[p] = decode._INDEX[(p, st.st_size, st.st_mtime_ns)]
    return out


def clip_work(paths: list[str], jobs: list[tuple[int, int]]) -> str:
    """What a random clip costs in these files: frames per keyframe, frames decoded per clip, one open."""
    index = packet_indexes(paths)
    gop = sum(len(ix.pts) for ix in index.values()) / sum(len(ix.keys) for ix in index.values())
    decoded = np.mean([start + CLIP - np.searchsorted(ix.pts, ix.keys[np.searchsorted(ix.keys, ix.pts[start], "right") - 1])
                       for ix, start in ((index[paths[i]], s) for i, s in jobs)])
    t = time.perf_counter()
    for i, _ in jobs:
        with av.open(paths[i]) as c:
            c.streams.video[0]
    open_ms = (time.perf_counter() - t) / len(jobs) * 1e3
    return f"a keyframe every {gop:.1f} frames, {decoded:.1f} frames decoded per clip, open {open_ms:.2f} ms"


def clip_floor(paths: list[str], jobs: list[tuple[int, int]]) -> float:
    """Clips/s for the work a clip cannot avoid: open, seek to the keyframe, decode to its end."""
    index = packet_indexes(paths)
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
    for p, n in zip(paths, frames):
        decode.read_frames(p, [n - 1])  # builds the file's packet index
    notes["1 process: open + seek + decode to the clip's end, no conversion"] = (
        f"packet index of {len(paths)} files built in {time.perf_counter() - t:.2f} s, once per process; "
        + clip_work(paths, jobs)
    )
    try:
        decode_decord.require()
        with_decord = True
    except VidsslError as e:  # not installed: the message says what to install
        print(f"decord rows skipped: {e}")
        with_decord = False
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="vidssl-bench-") as tmp, ctx.Pool(2) as pool:
        rows, fly_decord = {}, {}
        for size, short in ((112, 128), (64, 64)):
            ds = full.subset(pick)
            ds.short_side, ds.frames = short, frames
            t = time.perf_counter()
            cached = build_cache(ds, Path(tmp) / str(short), short, progress=False)
            build = time.perf_counter() - t
            mb = sum(f.stat().st_size for f in (Path(tmp) / str(short)).glob("*.npy")) / 2**20
            notes[f"{size}px, 1 process, frame cache"] = f"build {build:.1f} s, {mb:,.0f} MB on disk"
            rows[size] = (Clips(ds, jobs, size), Clips(ds, jobs, size, seek=False), Clips(cached, jobs, size))
            if with_decord:
                dds = full.subset(pick)
                dds.short_side, dds.frames, dds.decoder = short, frames, "decord"
                t = time.perf_counter()
                build_cache(dds, Path(tmp) / f"{short}-decord", short, progress=False)
                notes[f"{size}px, 1 process, on the fly, decord"] = (
                    f"frame cache build with decord {time.perf_counter() - t:.1f} s (PyAV: {build:.1f} s)")
                fly_decord[size] = Clips(dds, jobs, size)
        on_the_fly = [("64px, 2 workers, on the fly", rows[64][0])]
        if with_decord:
            on_the_fly.append(("64px, 2 workers, on the fly, decord", fly_decord[64]))
        loaders = {
            name: DataLoader(c, batch_size=16, num_workers=2, persistent_workers=True, multiprocessing_context=ctx)
            for name, c in (*on_the_fly, ("64px, 2 workers, frame cache", rows[64][2]),
                            ("2 workers, ready-made float32 clips (hand-over only)", Ready(len(jobs), torch.float32)),
                            ("2 workers, ready-made uint8 clips (hand-over only)", Ready(len(jobs), torch.uint8)))
        }
        originals = sorted(str(p) for p in (UCF9 / "original-sample").rglob("*.avi"))
        for loader in loaders.values():
            loader_clips_per_s(loader)  # warm-up: starts the workers (forked: they inherit the packet indexes)
        for _ in range(args.repeats):
            keep("PyAV decode only, 1 process, 1 thread", decode_rate(paths, "SLICE"), "frames/s")
            keep("PyAV decode only, 1 process, frame threads (AUTO)", decode_rate(paths, "AUTO"), "frames/s")
            keep("PyAV decode only, 2 processes", decode_rate_2proc(pool, paths), "frames/s")
            keep("PyAV decode + full-size RGB, 1 process, 1 thread", rgb_rate_pyav(paths), "frames/s")
            if with_decord:
                keep("decord decode + full-size RGB, 1 process, 1 thread", rgb_rate_decord(paths), "frames/s")
            keep("320x240 originals: PyAV decode only, 1 thread", decode_rate(originals, "SLICE"), "frames/s")
            keep("320x240 originals: PyAV decode only, frame threads (AUTO)", decode_rate(originals, "AUTO"), "frames/s")
            keep("320x240 originals: PyAV decode + full-size RGB, 1 thread", rgb_rate_pyav(originals), "frames/s")
            if with_decord:
                keep("320x240 originals: decord decode + full-size RGB, 1 thread", rgb_rate_decord(originals), "frames/s")
            for name, us in conversion_us(paths).items():
                best[name], unit[name] = min(best.get(name, float("inf")), us), "us/frame"
            keep("1 process: open + seek + decode to the clip's end, no conversion", clip_floor(paths, jobs))
            for size, (fly, noseek, cache) in rows.items():
                keep(f"{size}px, 1 process, on the fly", clips_per_s(fly))
                keep(f"{size}px, 1 process, on the fly, never seeking", clips_per_s(noseek))
                keep(f"{size}px, 1 process, frame cache", clips_per_s(cache))
                if with_decord:
                    keep(f"{size}px, 1 process, on the fly, decord", clips_per_s(fly_decord[size]))
            for name, loader in loaders.items():
                keep(name, loader_clips_per_s(loader))
    raw1 = max(best["PyAV decode only, 1 process, 1 thread"], best["PyAV decode only, 1 process, frame threads (AUTO)"])
    raw2 = best["PyAV decode only, 2 processes"]
    table = []
    for name, rate in best.items():
        if unit[name] != "clips/s" or "ready-made" in name:
            ratio = ""
        else:
            ref = raw2 if "2 workers" in name else raw1
            ratio = f"{100 * rate * CLIP / ref:.0f} %"
        table.append((name, f"{rate:,.{1 if unit[name] == 'us/frame' else 0}f} {unit[name]}", ratio, notes.get(name, "")))
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
    if with_decord:
        pairs = [("decode + full-size RGB, 1 process, 1 thread", "PyAV decode + full-size RGB, 1 process, 1 thread",
                  "decord decode + full-size RGB, 1 process, 1 thread"),
                 ("320x240 originals, decode + full-size RGB", "320x240 originals: PyAV decode + full-size RGB, 1 thread",
                  "320x240 originals: decord decode + full-size RGB, 1 thread"),
                 *((f"{size}px clips, 1 process, on the fly", f"{size}px, 1 process, on the fly",
                    f"{size}px, 1 process, on the fly, decord") for size in rows),
                 ("64px clips, 2 workers, on the fly", "64px, 2 workers, on the fly",
                  "64px, 2 workers, on the fly, decord")]
        print("\ndecord over PyAV (same files, clips and rounds; > 1: decord faster):")
        for what, pyav_row, decord_row in pairs:
            r = best[decord_row] / best[pyav_row]
            print(f"  {what}: {r:.2f}x ({'decord' if r > 1 else 'PyAV'} faster)")


if __name__ == "__main__":
    main()
