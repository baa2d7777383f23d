"""What DataLoader workers hand over: uint8 (now) against float32 (before), clips/s with 2 workers.

Two loaders, each timed both ways in the same run, on ucf101-9 split-1 train videos read
from the frame cache (short side 128, 16-frame clips, 112 px network input):

- training views with ``--on-device`` (two views per video, strong augmentation): the
  workers hand over each view's uint8 crop box (:class:`vidssl.transforms.views.RawBatch`)
  against the float32 crops resized to 112 px that they handed over before;
- evaluation clips (one centre clip per video): uint8 centre squares against float32
  normalised 112 px clips.

A row is the clips/s a DataLoader with two worker processes delivers to this process,
best of ``--repeats`` interleaved rounds. The float work that moved out of the workers
(``finish_on_device`` / ``eval_batch``) is timed on its own, in this process on the CPU
with its torch threads: on a GPU it runs there instead.

    .venv/bin/python bench/bench_handover.py [--videos 24] [--batches 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vidssl.config import AugConfig, DataConfig
from vidssl.data import decode
from vidssl.data.cache import build_cache
from vidssl.data.loading import EvalClips, StepBatchSampler, ViewDataset, collate_squares, eval_batch
from vidssl.data.videos import ucf101
from vidssl.transforms.batched import colour_batch, pack
from vidssl.transforms.spatial import SpatialParams, apply_spatial, eval_view, normalize, sample_spatial, to_float
from vidssl.transforms.temporal import uniform_clips
from vidssl.transforms.views import collate_raw, finish_on_device, view_indices

UCF9 = Path(__file__).resolve().parents[1].parent / "shared/data/ucf101-9"
DATA = DataConfig(clip_frames=16, crop_size=112)
AUG = AugConfig(temporal_shift=4, hflip_p=0.5, blur_p=0.5, on_device=True)


class FloatViews(Dataset):
    """The ``--on-device`` hand-over before: float32 crops resized in the worker, plus colour parameters."""

    def __init__(self, ds) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        i, step, slot = key
        rng = np.random.default_rng(np.random.SeedSequence([0, step, slot]))
        idx = view_indices(self.ds.num_frames(i), DATA.clip_frames, 1, AUG, 2, rng)
        wanted, inverse = np.unique(np.concatenate(idx), return_inverse=True)
        frames = self.ds.read_frames(i, wanted)  # as make_views: each frame read once for both views
        views, params = [], []
        for v in range(2):
            clip = to_float(frames[inverse[v * DATA.clip_frames : (v + 1) * DATA.clip_frames]])
            p = sample_spatial(clip.shape[2], clip.shape[3], AUG, rng)
            views.append(apply_spatial(clip, SpatialParams(p.box, p.flip), DATA.crop_size))
            params.append(pack(p))
        return torch.stack(views), torch.stack(params)


class FloatEval(EvalClips):
    """The evaluation hand-over before: float32 normalised centre clips resized in the worker."""

    def __getitem__(self, i: int) -> torch.Tensor:
        clips = uniform_clips(self.ds.num_frames(i), self.data.clip_frames, self.data.stride, self.k)
        return torch.stack([normalize(eval_view(to_float(self.ds.read_frames(i, c)), self.data.crop_size))
                            for c in clips])


def delivered(loader: DataLoader, per_item: int) -> float:
    """Clips/s the loader delivers to this process (``per_item`` clips per dataset item)."""
    t, n = time.perf_counter(), 0
    for batch in loader:
        n += len(batch[0] if isinstance(batch, tuple) else batch) * per_item
    return n / (time.perf_counter() - t)


def mib(batch) -> float:
    if isinstance(batch, torch.Tensor):
        return batch.numel() * batch.element_size() / 2**20
    if isinstance(batch, (list, tuple)):
        return sum(mib(b) for b in batch)
    return mib(batch.pixels) + mib(batch.colour) + sum(mib(m[0]) for m in batch.mix if m is not None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=24, help="videos of ucf101-9 split-1 train (spread over classes)")
    ap.add_argument("--batches", type=int, default=8, help="batches of 8 videos timed per row and round")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; the best rate of each row is shown")
    args = ap.parse_args()
    if not (UCF9 / "MANIFEST.tsv").is_file():
        print(f"skipped: ../shared/data/ucf101-9 not found (looked at {UCF9})")
        return
    full = ucf101(UCF9, 1, "train")
    pick = np.linspace(0, len(full) - 1, args.videos).round().astype(int).tolist()
    ds = full.subset(pick)
    ds.short_side, ds.frames = 128, [decode.probe(full.source(i)).frames for i in pick]
    ctx = mp.get_context("fork")
    with tempfile.TemporaryDirectory(prefix="vidssl-bench-") as tmp:
        cached = build_cache(ds, Path(tmp), 128, progress=False)
        bs, steps = 8, args.batches
        sampler = StepBatchSampler(len(cached), bs, 0, 0, steps)
        kw = {"num_workers": 2, "persistent_workers": True, "multiprocessing_context": ctx}
        loaders = {
            "training views (--on-device), float32 crops (before)": (
                DataLoader(FloatViews(cached), batch_sampler=sampler, **kw), 2),
            "training views (--on-device), uint8 crops (now)": (
                DataLoader(ViewDataset(cached, AUG, DATA, 2, 0), batch_sampler=sampler, collate_fn=collate_raw, **kw), 2),
            "evaluation clips, float32 (before)": (
                DataLoader(FloatEval(cached, DATA, 1), batch_size=bs, **kw), 1),
            "evaluation clips, uint8 (now)": (
                DataLoader(EvalClips(cached, DATA, 1), batch_size=bs, collate_fn=collate_squares, **kw), 1),
        }
        size = {name: mib(next(iter(loader))) for name, (loader, _) in loaders.items()}  # also starts the workers
        best: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, (loader, per) in loaders.items():
                best[name] = max(best.get(name, 0.0), delivered(loader, per))
        # the float work now done after the hand-over, here on the CPU in this process
        raw = list(loaders["training views (--on-device), uint8 crops (now)"][0])
        old = list(loaders["training views (--on-device), float32 crops (before)"][0])
        ev = list(loaders["evaluation clips, uint8 (now)"][0])
        t = time.perf_counter()
        for b in raw:
            finish_on_device(b, DATA.crop_size)
        fin_new = (time.perf_counter() - t) / len(raw) * 1e3
        t = time.perf_counter()
        for c, p in old:
            normalize(colour_batch(c.flatten(0, 1), p.flatten(0, 1)))
        fin_old = (time.perf_counter() - t) / len(old) * 1e3
        t = time.perf_counter()
        for b in ev:
            eval_batch(b, DATA, torch.device("cpu"))
        fin_eval = (time.perf_counter() - t) / len(ev) * 1e3
        for loader, _ in loaders.values():
            loader._iterator = None  # stop the persistent workers
    print(f"ucf101-9: {len(cached)} videos from the frame cache (short side 128), {DATA.clip_frames}-frame clips, "
          f"{DATA.crop_size} px input, batches of {bs} videos, {steps} batches per row and round, best of "
          f"{args.repeats}; torch threads {torch.get_num_threads()} in this process")
    w = max(len(n) for n in best)
    print(f"\n{'hand-over, 2 DataLoader workers':<{w}}  {'clips/s':>8}  {'MiB/batch':>9}")
    for name, rate in best.items():
        print(f"{name:<{w}}  {rate:>8,.0f}  {size[name]:>9.2f}")
    tr = best["training views (--on-device), uint8 crops (now)"] / best["training views (--on-device), float32 crops (before)"]
    ev_r = best["evaluation clips, uint8 (now)"] / best["evaluation clips, float32 (before)"]
    print(f"\nuint8 / float32: training views {tr:.2f}x, evaluation clips {ev_r:.2f}x")
    print(f"after the hand-over, on this CPU (a GPU's work): finish_on_device {fin_new:.1f} ms/batch "
          f"(colour + normalise of the float crops before: {fin_old:.1f} ms), eval_batch {fin_eval:.1f} ms/batch")


if __name__ == "__main__":
    main()
