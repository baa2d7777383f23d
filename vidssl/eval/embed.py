"""Embeddings files: one feature vector per video, with its labels and where it came from.

File format (``vidssl-embeddings-1``), a NumPy ``.npz`` readable with ``allow_pickle=False``:

=====================  ==========  ==================================================
array                  shape       contents
=====================  ==========  ==================================================
``features``           (N, D)      float32, backbone global-average-pooled features,
                                   averaged over K uniformly spaced centre-cropped clips
``sources``            (N,)        str, the dataset's ``source(i)`` (a file path, or
                                   ``<dataset>#<i>`` for generated data)
``labels_<name>``      (N,)        int64 class index per label set; -1 = unlabelled
``class_names_<name>`` (C,)        str, the class names of that label set
``meta``               ()          str, JSON: ``format``, ``dataset``, ``count``,
                                   ``feature_dim``, ``label_sets`` (in order; the first is
                                   the primary one), ``clips_per_video``, ``clip_frames``,
                                   ``stride``, ``crop_size``, ``test_view``, ``features``,
                                   plus whatever the writer adds (checkpoint, data config)
=====================  ==========  ==================================================

Files are written atomically (a reader never sees half a file).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from torch import nn

from vidssl.errors import VidsslError
from vidssl.eval.features import extract_features
from vidssl.io import atomic_write

FORMAT = "vidssl-embeddings-1"


@dataclass
class Embeddings:
    features: np.ndarray  # (N, D) float32
    sources: list[str]
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # label set -> (N,) int64
    class_names: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sources)

    @property
    def primary_label_set(self) -> str | None:
        sets = self.meta.get("label_sets") or list(self.labels)
        return sets[0] if sets else None


class Neighbour(NamedTuple):
    source: str
    label: str | None  # class name in the label set asked for; None when unlabelled
    cosine: float


def compute_embeddings(backbone: nn.Module, dataset, data_cfg, clips_per_video: int, *, batch_size: int = 64,
                       progress: bool = False, meta: dict[str, Any] | None = None) -> Embeddings:
    """Features of every video of ``dataset`` (averaged over K uniformly spaced clips), with labels and sources."""
    if len(dataset) == 0:
        raise VidsslError(f"nothing to embed: {dataset.name} has no videos")
    if clips_per_video < 1:
        raise VidsslError(f"clips per video must be >= 1, got {clips_per_video}")
    feats, _ = extract_features(backbone, dataset, data_cfg, clips_per_video, batch_size, progress,
                                f"embed {dataset.name}")
    return Embeddings(
        features=feats.astype(np.float32),
        sources=[dataset.source(i) for i in range(len(dataset))],
        labels={k: np.asarray(v, np.int64) for k, v in dataset.labels.items()},
        class_names={k: list(v) for k, v in dataset.class_names.items()},
        meta={
            "format": FORMAT, "dataset": dataset.name, "count": len(dataset), "feature_dim": int(feats.shape[1]),
            "label_sets": list(dataset.labels), "clips_per_video": clips_per_video,
            "clip_frames": data_cfg.clip_frames, "stride": data_cfg.stride, "crop_size": data_cfg.crop_size,
            "test_view": "centre square resized to crop_size",
            "features": "backbone global-average-pooled, averaged over clips of a video",
            **(meta or {}),
        },
    )


def embed(backbone: nn.Module, dataset, data_cfg, clips_per_video: int, path: str | Path, *,
          batch_size: int = 64, progress: bool = False, meta: dict[str, Any] | None = None) -> Path:
    """Embed every video of ``dataset`` and write the file described above to ``path``.

    ``meta`` entries are added to the file's JSON ``meta`` (e.g. the checkpoint path).
    """
    emb = compute_embeddings(backbone, dataset, data_cfg, clips_per_video, batch_size=batch_size,
                             progress=progress, meta=meta)
    return save_embeddings(emb, path)


def concat(parts: list[Embeddings]) -> Embeddings:
    """Rows of several collections (e.g. train then test) of the same backbone and label sets, in order."""
    if not parts:
        raise VidsslError("nothing to concatenate")
    first = parts[0]
    if any(p.labels.keys() != first.labels.keys() or p.features.shape[1] != first.features.shape[1] for p in parts):
        raise VidsslError("embeddings with different label sets or feature sizes cannot be joined")
    return Embeddings(
        features=np.concatenate([p.features for p in parts]), sources=[s for p in parts for s in p.sources],
        labels={k: np.concatenate([p.labels[k] for p in parts]) for k in first.labels},
        class_names=first.class_names,
        meta={**first.meta, "dataset": " + ".join(p.meta.get("dataset", "?") for p in parts),
              "count": sum(len(p) for p in parts)},
    )


def save_embeddings(emb: Embeddings, path: str | Path) -> Path:
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        "features": np.asarray(emb.features, np.float32),
        "sources": np.asarray(emb.sources, dtype=str),
        "meta": np.asarray(json.dumps({**emb.meta, "label_sets": list(emb.labels)})),
    }
    for name, y in emb.labels.items():
        arrays[f"labels_{name}"] = np.asarray(y, np.int64)
        arrays[f"class_names_{name}"] = np.asarray(emb.class_names.get(name, []), dtype=str)
    if not path.parent.is_dir():
        raise VidsslError(f"cannot write {path}: folder {path.parent} does not exist")
    with atomic_write(path) as f:
        np.savez(f, **arrays)
    return path


def load_embeddings(path: str | Path) -> Embeddings:
    """Read a file written by :func:`embed`; a missing or foreign file is a :class:`VidsslError`."""
    path = Path(path)
    if not path.is_file():
        raise VidsslError(f"embeddings file {path} does not exist; write one with vidssl embed")
    damaged = f"{path} is not an embeddings file, or is damaged"
    try:
        with np.load(path, allow_pickle=False) as z:  # reading a member checks its CRC
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise VidsslError(f"{damaged} ({type(e).__name__}); write it again with vidssl embed") from e
    missing = [k for k in ("features", "sources", "meta") if k not in data]
    if missing:
        raise VidsslError(f"{path} is not a vidssl embeddings file (no {', '.join(missing)} array)")
    try:
        meta = json.loads(str(data["meta"]))
    except ValueError as e:
        raise VidsslError(f"{damaged} (its meta is not JSON); write it again with vidssl embed") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else None
        raise VidsslError(f"{path} has format {got!r}; this vidssl reads {FORMAT}")
    sets = meta.get("label_sets", [])
    try:
        out = Embeddings(
            features=data["features"].astype(np.float32),
            sources=[str(s) for s in data["sources"]],
            labels={k: data[f"labels_{k}"].astype(np.int64) for k in sets},
            class_names={k: [str(c) for c in data[f"class_names_{k}"]] for k in sets},
            meta=meta,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise VidsslError(f"{damaged} ({type(e).__name__}: {e}); write it again with vidssl embed") from e
    n = len(out.sources)
    if out.features.ndim != 2 or len(out.features) != n or any(len(y) != n for y in out.labels.values()):
        raise VidsslError(f"{damaged} (its arrays disagree on the number of videos); write it again with vidssl embed")
    return out


def nearest(collection: Embeddings, query_feature: np.ndarray, k: int = 5, *, label_set: str | None = None,
            exclude: str | None = None) -> list[Neighbour]:
    """The ``k`` videos of ``collection`` most cosine-similar to ``query_feature`` (D,), best first.

    ``exclude``: a source left out of the gallery (the query itself, when it is in the
    collection). ``label_set`` names the labels reported (default: the primary one).
    """
    q = np.asarray(query_feature, np.float32).reshape(-1)
    gallery = np.ones(len(collection), bool)
    if exclude is not None:
        gallery &= np.asarray(collection.sources) != exclude
    n = int(gallery.sum())
    if n == 0:
        raise VidsslError("the embeddings collection is empty; embed a non-empty split first")
    if k < 1:
        raise VidsslError(f"k must be >= 1, got {k}")
    if k > n:
        raise VidsslError(f"k={k} is larger than the gallery ({n} videos); ask for at most {n}")
    if q.shape[0] != collection.features.shape[1]:
        raise VidsslError(f"the query has {q.shape[0]} features but the collection {collection.features.shape[1]}; "
                          "embed both with the same checkpoint")
    label_set = label_set or collection.primary_label_set
    if label_set is not None and label_set not in collection.labels:
        have = ", ".join(collection.labels) or "none"
        raise VidsslError(f"no label set {label_set!r} in the collection; it has {have}")
    f = collection.features
    sim = (f @ q) / np.maximum(np.linalg.norm(f, axis=1) * np.linalg.norm(q), 1e-12)  # N
    sim[~gallery] = -np.inf
    order = np.argsort(-sim, kind="stable")[:k]
    out = []
    for i in order:
        name, y = None, (int(collection.labels[label_set][i]) if label_set is not None else -1)
        if y >= 0:
            names = collection.class_names[label_set]
            name = names[y] if y < len(names) else str(y)
        out.append(Neighbour(collection.sources[i], name, float(sim[i])))
    return out
