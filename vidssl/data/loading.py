"""From datasets to batches: dataset factory, step-indexed sampling, view datasets.

Sampling is a pure function of (seed, step): the batch at step s and every random
draw used to augment it depend on nothing else, so a resumed run sees exactly the
batches an uninterrupted one would, with any number of DataLoader workers.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vidssl.errors import VidsslError
from vidssl.transforms.spatial import centre_square, eval_input
from vidssl.transforms.temporal import uniform_clips
from vidssl.transforms.views import collate_raw, make_views


def open_dataset(data, progress: bool = True) -> tuple:
    """(train, test) datasets for a :class:`vidssl.config.DataConfig`."""
    if data.dataset == "synthetic":
        if getattr(data, "classes", None):
            raise VidsslError("--classes keeps some classes of a video dataset (folder, ucf101, hmdb51); "
                              "the built-in synthetic data has no such option")
        from vidssl.data.synthetic import SyntheticSpec, load_synthetic

        spec = SyntheticSpec(
            data.synthetic_train_per_class, data.synthetic_test_per_class,
            data.synthetic_frames, data.synthetic_size, data.synthetic_seed, data.synthetic_background,
        )
        train, test = load_synthetic(spec, data.cache_dir)
        h, w = train.frame_size
        if data.crop_size > min(h, w):
            raise VidsslError(
                f"--crop-size {data.crop_size} is larger than the frames ({h}x{w}); "
                f"use --crop-size <= {min(h, w)} or generate larger frames with --synthetic-size"
            )
        return train, test
    if data.dataset in ("folder", "ucf101", "hmdb51"):
        from vidssl.data.videos import open_video_dataset

        return open_video_dataset(data, progress=progress)
    raise VidsslError(f"unknown dataset {data.dataset!r}; choose one of: synthetic, folder, ucf101, hmdb51")


def step_rng(seed: int, step: int, slot: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, step, slot]))


class StepBatchSampler(Sampler):
    """Yields, for steps ``start..stop-1``, lists of ``(video index, step, slot)``.

    Each epoch is a fresh permutation seeded by (seed, epoch); incomplete batches are dropped.
    With ``world`` processes, process ``rank`` gets its share of each global batch; slots
    stay global, so every clip is augmented the same whatever the number of processes.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int, rank: int = 0, world: int = 1) -> None:
        if batch_size > n:
            raise VidsslError(f"--batch-size {batch_size} is larger than the training set ({n} videos)")
        self.n, self.bs, self.seed, self.start, self.stop = n, batch_size, seed, start, stop
        self.per_epoch = n // batch_size
        self.rank, self.world = rank, world

    def batch(self, step: int) -> list[tuple[int, int, int]]:
        epoch, k = divmod(step, self.per_epoch)
        perm = np.random.default_rng(np.random.SeedSequence([self.seed, 1_000_003, epoch])).permutation(self.n)
        return [(int(i), step, j) for j, i in enumerate(perm[k * self.bs : (k + 1) * self.bs])]

    def __iter__(self) -> Iterator[list[tuple[int, int, int]]]:
        share = self.bs // self.world  # process r takes the r-th share of each global batch
        step = self.start
        while step < self.stop:  # stop may be lowered while iterating (a time budget resolves the step count)
            yield self.batch(step)[self.rank * share : (self.rank + 1) * share]
            step += 1

    def __len__(self) -> int:
        return self.stop - self.start


class ViewDataset(Dataset):
    """Maps ``(index, step, slot)`` to the augmented views of that video.

    A video that can no longer be read (damaged, truncated, replaced or deleted since it
    was indexed) is reported once, with the reason, and the next readable video takes its
    place, with the same random draws: the run goes on.
    """

    def __init__(self, dataset, aug, data, num_views: int, seed: int, audio=None, audio_seconds: float = 1.0) -> None:
        self.ds, self.aug, self.data, self.num_views, self.seed = dataset, aug, data, num_views, seed
        self.audio, self.audio_seconds = audio, audio_seconds  # AudioTracks: an item is then (views, audio)
        self.unreadable: set[int] = set()  # in this process

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, key: tuple[int, int, int]) -> torch.Tensor:
        return self.item(key)[1]

    def item(self, key: tuple[int, int, int]) -> tuple[int, torch.Tensor]:
        """(the video used: ``index`` or the readable one that replaced it, its views)."""
        from vidssl.data.decode import VideoError

        i, step, slot = key
        n = len(self.ds)
        for j in ((i + k) % n for k in range(n)):
            if j in self.unreadable:
                continue
            try:
                used: list = []
                views = make_views(
                    self.ds, j, aug=self.aug, clip_frames=self.data.clip_frames, stride=self.data.stride,
                    crop_size=self.data.crop_size, num_views=self.num_views, rng=step_rng(self.seed, step, slot),
                    frames_used=used,
                )
                if self.audio is None:
                    return j, views
                return j, (views, self.audio.segment(j, int(used[0].min()), int(used[0].max()), self.audio_seconds))
            except VideoError as e:
                self.unreadable.add(j)
                warnings.warn(f"skipped an unreadable video, {e}", stacklevel=2)
        raise VidsslError(f"none of the {n} videos of {self.ds.name} can be read any more; "
                          "check the files (vidssl index) and run again")


def train_loader(dataset, cfg, start_step: int, rank: int = 0, world: int = 1, stop: int | None = None,
                 audio=None) -> DataLoader:
    """Batches of views ``(B / world, V, 3, T, S, S)`` for steps ``start_step..stop-1`` (default ``cfg.steps``).

    With ``cfg.aug.on_device`` a batch is a :class:`vidssl.transforms.views.RawBatch` of uint8
    crops instead, which :func:`vidssl.transforms.views.finish_on_device` turns into those views.
    With ``audio`` (:class:`vidssl.data.audio.AudioTracks`), a batch is ``[views, audio]``, the audio
    ``(B / world, 1, mels, frames)`` log-mel of each clip's own time.
    """
    from vidssl.methods import METHODS

    method = METHODS[cfg.method]
    views = ViewDataset(dataset, cfg.aug, cfg.data, method.num_views, cfg.seed, audio,
                        getattr(method, "audio_seconds", 1.0))
    stop = cfg.steps if stop is None else stop
    sampler = StepBatchSampler(len(dataset), cfg.batch_size, cfg.seed, start_step, stop, rank, world)
    return DataLoader(
        views, batch_sampler=sampler, num_workers=cfg.data.num_workers,
        persistent_workers=False, pin_memory=torch.cuda.is_available(),
        collate_fn=collate_raw if cfg.aug.on_device else None,  # uint8 crops: finish_on_device makes the views
    )


class EvalClips(Dataset):
    """Uniformly spaced clips of every video as uint8 centre squares: item i is (K, 3, T, s, s) uint8.

    ``s`` is the frames' short side. The workers only decode and cut (exact on uint8); the
    device turns a batch into the network input with :func:`eval_batch` (``/ 255``, resize
    to ``crop_size``, normalise), the same numbers as doing it here in float.
    """

    def __init__(self, dataset, data, clips_per_video: int) -> None:
        self.ds, self.data, self.k = dataset, data, clips_per_video

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> torch.Tensor:
        clips = uniform_clips(self.ds.num_frames(i), self.data.clip_frames, self.data.stride, self.k)
        wanted, inverse = np.unique(np.concatenate(clips), return_inverse=True)
        frames = self.ds.read_frames(i, wanted)
        m = self.data.clip_frames
        return torch.stack([centre_square(frames[inverse[j * m : (j + 1) * m]]) for j in range(self.k)])


def collate_squares(items: list[torch.Tensor]) -> torch.Tensor | list[torch.Tensor]:
    """Stacked when every video has the same short side (always, with a fixed ``cache_short_side``), else a list."""
    return torch.stack(items) if len({x.shape for x in items}) == 1 else items


def eval_loader(dataset, data, clips_per_video: int, batch_size: int, device: torch.device) -> DataLoader:
    """Batches of ``batch_size`` videos' :class:`EvalClips` (uint8), for :func:`eval_batch`."""
    return DataLoader(EvalClips(dataset, data, clips_per_video), batch_size=batch_size, num_workers=data.num_workers,
                      pin_memory=device.type == "cuda", collate_fn=collate_squares)


def eval_batch(batch: torch.Tensor | list[torch.Tensor], data, device: torch.device) -> torch.Tensor:
    """A batch of :func:`eval_loader` -> (B, K, 3, T, S, S) normalised float32 clips on ``device``."""
    if isinstance(batch, list):
        return torch.stack([eval_input(x.to(device, non_blocking=True), data.crop_size) for x in batch])
    return eval_input(batch.to(device, non_blocking=True), data.crop_size)
