"""The dataset interface every video source implements.

A dataset is a list of videos. It reports each video's frame count and reads any set
of frame indices as ``(len(indices), H, W, 3)`` uint8 RGB. Clip sampling and
augmentation live elsewhere and only use this interface, so the built-in data, a
folder of videos and UCF101/HMDB51 all train and evaluate through the same code.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class VideoDataset(Protocol):
    name: str
    labels: dict[str, np.ndarray]  # label set name -> (N,) int64; -1 where unlabelled
    class_names: dict[str, list[str]]

    def __len__(self) -> int: ...

    def num_frames(self, i: int) -> int: ...

    def read_frames(self, i: int, indices: np.ndarray) -> np.ndarray: ...

    def source(self, i: int) -> str: ...


class ArrayVideoDataset:
    """Videos held in memory as one ``(N, T, H, W, 3)`` uint8 array."""

    split_rule: str = "as given"  # how these videos were separated from the other split, in words

    def __init__(
        self,
        videos: np.ndarray,
        labels: dict[str, np.ndarray],
        class_names: dict[str, list[str]],
        name: str = "array",
    ) -> None:
        if videos.ndim != 5 or videos.shape[-1] != 3 or videos.dtype != np.uint8:
            raise ValueError(f"videos must be (N, T, H, W, 3) uint8, got {videos.shape} {videos.dtype}")
        self.videos = videos
        self.labels = {k: np.asarray(v, np.int64) for k, v in labels.items()}
        self.class_names = class_names
        self.name = name

    def __len__(self) -> int:
        return len(self.videos)

    def num_frames(self, i: int) -> int:
        return self.videos.shape[1]

    def read_frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        return self.videos[i, indices]

    def source(self, i: int) -> str:
        return f"{self.name}#{i}"

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.videos.shape[2], self.videos.shape[3]
