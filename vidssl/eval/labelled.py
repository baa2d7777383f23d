"""Keep the labelled videos of an evaluation's datasets.

A folder of videos labels a video by its class subfolder; videos lying in the root (or
directly under ``train/`` or ``test/``) are unlabelled (-1). Frozen-feature protocols and
fine-tuning need a class for every video, so they see the labelled ones only.
"""

from __future__ import annotations

import warnings

import numpy as np

from vidssl.errors import VidsslError


class LabelledView:
    """The videos ``keep`` of ``base``, with every label set and the dataset interface."""

    def __init__(self, base, keep: np.ndarray) -> None:
        self.base, self.keep = base, np.asarray(keep, dtype=np.int64)
        self.name, self.class_names = base.name, base.class_names
        self.labels = {k: v[self.keep] for k, v in base.labels.items()}
        self.split_rule: str | None = getattr(base, "split_rule", None)

    def __len__(self) -> int:
        return len(self.keep)

    def num_frames(self, i: int) -> int:
        return self.base.num_frames(int(self.keep[i]))

    def read_frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        return self.base.read_frames(int(self.keep[i]), indices)

    def source(self, i: int) -> str:
        return self.base.source(int(self.keep[i]))


def labelled_only(train, test, label_set: str | None = None) -> tuple:
    """(train, test) restricted to videos with a label >= 0 in ``label_set`` (default: the first).

    Datasets without unlabelled videos come back unchanged. Leaving any out warns once
    with the counts; none labelled at all is a :class:`VidsslError`.
    """
    label_set = label_set or next(iter(train.labels), None)
    if label_set is None:
        raise VidsslError(f"{train.name} has no labels; evaluation needs labelled videos")
    out, left = [], []
    for ds in (train, test):
        keep = np.flatnonzero(ds.labels[label_set] >= 0)
        left.append(len(ds) - len(keep))
        if len(keep) == 0:
            raise VidsslError(f"no labelled videos in {ds.name} ({len(ds)} unlabelled): evaluation needs videos in "
                              "class subfolders (root/<class>/..., or train/<class>/... and test/<class>/...)")
        if len(keep) == len(ds):
            out.append(ds)
            continue
        view = LabelledView(ds, keep)
        view.accounting = {**(getattr(ds, "accounting", None) or {}), "unlabelled_left_out": len(ds) - len(keep)}
        out.append(view)
    if any(left):
        warnings.warn(f"evaluating labelled videos only: left out {left[0]} of {len(train)} train and {left[1]} of "
                      f"{len(test)} test videos without a class subfolder", stacklevel=2)
    return out[0], out[1]
