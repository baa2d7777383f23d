"""Pictures of a run: t-SNE map, retrieval grid, first-layer kernels, training curves, confusion matrix.

Every function draws with Matplotlib's object API on the Agg canvas (no pyplot, no
global backend switch), writes one PNG atomically and returns its path (the retrieval
grid can also be an animated WebP).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from vidssl.errors import VidsslError
from vidssl.io import atomic_write


def _figure(w: float, h: float) -> Figure:
    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically (no Software/URL metadata in the file)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise VidsslError(f"cannot write {path}: folder {path.parent} does not exist")
    with atomic_write(path) as f:
        fig.savefig(f, format="png", metadata={"Software": None})
    return path


def _colours(n: int) -> np.ndarray:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "hsv"]
    return np.array([cmap(i if n <= 20 else i / n) for i in range(max(n, 1))])


def tsne_map(features: np.ndarray, labels: np.ndarray, class_names: Sequence[str], path: str | Path, *,
             seed: int = 0, title: str = "t-SNE of test embeddings") -> Path:
    """2-D t-SNE (van der Maaten & Hinton 2008) of (N, D) features, one colour per class.

    Perplexity is ``min(30, (N - 1) / 3)`` (at least 1): sklearn needs it below N, and
    a small set with perplexity 30 collapses into one blob. Exact gradients up to 500
    points, Barnes-Hut above.
    """
    from sklearn.manifold import TSNE

    x = np.asarray(features, np.float32)
    y = np.asarray(labels)
    if x.ndim != 2 or len(x) != len(y):
        raise VidsslError(f"t-SNE needs (N, D) features and N labels, got {x.shape} and {y.shape}")
    if len(x) < 2:
        raise VidsslError(f"t-SNE needs at least 2 embeddings, got {len(x)}; the test split is too small")
    perplexity = max(1.0, min(30.0, (len(x) - 1) / 3))
    method = "exact" if len(x) <= 500 else "barnes_hut"  # Barnes-Hut's per-iteration overhead dominates small sets
    xy = TSNE(2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed,
              method=method).fit_transform(x)
    fig = _figure(6.5, 5.2)
    ax = fig.add_subplot()
    colours = _colours(len(class_names))
    for c, name in enumerate(class_names):
        m = y == c
        if m.any():
            ax.scatter(xy[m, 0], xy[m, 1], s=10, color=colours[c], label=name, alpha=0.8, linewidths=0)
    if (y < 0).any():
        ax.scatter(xy[y < 0, 0], xy[y < 0, 1], s=8, color="0.6", label="unlabelled", alpha=0.6, linewidths=0)
    ax.set_title(f"{title} (N={len(x)}, perplexity {perplexity:.0f})", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=8, markerscale=1.8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


def _middle_indices(num_frames: int, count: int) -> np.ndarray:
    """Up to ``count`` distinct frame indices evenly spaced over the middle half of a video."""
    n = num_frames
    return np.unique(np.linspace(n / 4, max(n / 4, 3 * n / 4 - 1), count).round().astype(int).clip(0, n - 1))


def middle_frames(dataset, i: int, count: int = 3) -> np.ndarray:
    """``count`` frames evenly spaced over the middle half of video ``i``, side by side: (H, count*W + gaps, 3)."""
    frames = dataset.read_frames(i, _middle_indices(dataset.num_frames(i), count))  # F x H x W x 3 uint8
    gap = np.full((frames.shape[1], 1, 3), 255, np.uint8)
    parts = []
    for f in frames:
        parts += [f, gap]
    return np.concatenate(parts[:-1], 1)


def retrieval_grid(queries, query_ids: Sequence[int], gallery, neighbour_ids: np.ndarray, path: str | Path, *,
                   label_set: str, cosines: np.ndarray | None = None, frames_per_video: int = 3,
                   ms_per_frame: int = 200) -> Path:
    """One row per query: the query video, then its k nearest gallery videos, best first.

    ``neighbour_ids``: (Q, k) gallery indices. A neighbour of the query's class is
    outlined green, any other red. The format follows ``path``'s suffix: ``.png`` shows
    ``frames_per_video`` frames of each video's middle half side by side; ``.webp`` is
    an animation in which every cell plays ``frames_per_video`` frames of its video's
    middle half, ``ms_per_frame`` each, so a reader sees the motion the features encode.
    """
    nb = np.asarray(neighbour_ids)
    if nb.ndim != 2 or len(nb) != len(query_ids) or len(query_ids) == 0:
        raise VidsslError(f"retrieval grid needs (Q, k) neighbour indices for Q >= 1 queries, got {nb.shape}")
    animated = Path(path).suffix.lower() == ".webp"
    if not animated and Path(path).suffix.lower() != ".png":
        raise VidsslError(f"cannot write {path}: a retrieval grid is a .png (still) or a .webp (animated)")
    q_lab = queries.labels[label_set]
    names = gallery.class_names[label_set]
    rows, k = len(query_ids), nb.shape[1]
    cells = [[(queries, int(qi), None)] + [(gallery, int(g), c) for c, g in enumerate(nb[r])]
             for r, qi in enumerate(query_ids)]
    if animated:  # (F, H, W, 3) per cell, each cell padded to F frames by holding its last one
        clips = [[ds.read_frames(i, _middle_indices(ds.num_frames(i), frames_per_video)) for ds, i, _ in row]
                 for row in cells]
        steps = max(len(c) for row in clips for c in row)
        first = [[c[0] for c in row] for row in clips]
        aspect = clips[0][0].shape[2] / clips[0][0].shape[1]  # one frame per cell: larger cells than the stills
        cell_w, row_h = 0.25 + 0.8 * aspect, 1.05
    else:
        first = [[middle_frames(ds, i, frames_per_video) for ds, i, _ in row] for row in cells]
        cell_w, row_h = 1.5, 0.78
    fig = _figure(0.4 + cell_w * (k + 1), 0.35 + row_h * rows)
    axes = fig.subplots(rows, k + 1, squeeze=False)
    shown = []
    for r, qi in enumerate(query_ids):
        for c, (ds, i, col) in enumerate(cells[r]):
            ax = axes[r, c]
            shown.append(ax.imshow(first[r][c], interpolation="nearest"))
            ax.set_xticks([])
            ax.set_yticks([])
            y = int(ds.labels[label_set][i])
            text = names[y] if 0 <= y < len(names) else "?"
            if col is None:
                edge, width = "black", 1.0
                ax.set_ylabel("query", fontsize=7)
            else:
                edge, width = ("#1a9641" if y == q_lab[qi] and y >= 0 else "#d7191c"), 3.0
                if cosines is not None:
                    text += f" {cosines[r][col]:.2f}"
            for s in ax.spines.values():
                s.set_edgecolor(edge)
                s.set_linewidth(width)
            ax.set_xlabel(text, fontsize=6.5, labelpad=1)
            if r == 0:
                ax.set_title("query" if col is None else f"#{col + 1}", fontsize=8)
    fig.subplots_adjust(left=0.03, right=0.99, top=1 - 0.25 / fig.get_figheight(), bottom=0.02, wspace=0.06, hspace=0.4)
    if not animated:
        return save_figure(fig, path)
    flat = [c for row in clips for c in row]
    pages = []
    for t in range(steps):
        for im, c in zip(shown, flat):
            im.set_data(c[min(t, len(c) - 1)])
        fig.canvas.draw()
        pages.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()))
    return save_animation(pages, path, ms_per_frame)


def save_animation(pages: list[Image.Image], path: str | Path, ms_per_frame: int) -> Path:
    """Write ``pages`` as a looping animated WebP (lossless: outlines keep their exact colours), atomically."""
    path = Path(path)
    if not path.parent.is_dir():
        raise VidsslError(f"cannot write {path}: folder {path.parent} does not exist")
    with atomic_write(path) as f:
        pages[0].save(f, format="WEBP", save_all=True, append_images=pages[1:], duration=ms_per_frame, loop=0,
                      lossless=True, method=4)
    return path


def kernel_grid(backbone: nn.Module, path: str | Path, *, title: str = "first-layer 3D kernels") -> Path:
    """The stem's (C_out, 3, kT, kH, kW) kernels as RGB images, one per time slice, left to right.

    Each kernel is min-max normalised over all its values (so its time slices compare).
    """
    try:
        w = backbone.stem[0].weight.detach().cpu().float().numpy()
    except (AttributeError, IndexError, TypeError) as e:
        raise VidsslError(f"{type(backbone).__name__} has no stem[0] convolution to draw") from e
    if w.ndim != 5 or w.shape[1] != 3:
        raise VidsslError(f"first-layer kernels must be (C_out, 3, kT, kH, kW), got {tuple(w.shape)}")
    c_out, _, kt, kh, kw = w.shape
    lo = w.reshape(c_out, -1).min(1)[:, None, None, None, None]
    hi = w.reshape(c_out, -1).max(1)[:, None, None, None, None]
    w = (w - lo) / np.maximum(hi - lo, 1e-12)
    cols = math.ceil(math.sqrt(c_out))
    rows = math.ceil(c_out / cols)
    cell_w, cell_h = kt * kw + (kt - 1) + 2, kh + 2  # slices 1 px apart, kernels 2 px apart
    mosaic = np.ones((rows * cell_h, cols * cell_w, 3), np.float32)
    for n in range(c_out):
        r, c = divmod(n, cols)
        for t in range(kt):
            x0 = c * cell_w + t * (kw + 1)
            mosaic[r * cell_h : r * cell_h + kh, x0 : x0 + kw] = w[n, :, t].transpose(1, 2, 0)
    fig = _figure(min(12.0, 0.9 + 0.045 * mosaic.shape[1]), 0.7 + 0.045 * mosaic.shape[0])
    ax = fig.add_subplot()
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(f"{title}: {c_out} kernels of {kt}x{kh}x{kw}, time slices left to right", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def read_train_log(path: str | Path) -> list[dict]:
    """Rows of ``train_log.jsonl``; a line cut short by a kill is skipped."""
    path = Path(path)
    if not path.is_file():
        raise VidsslError(f"training log {path} does not exist; it is written by vidssl pretrain")
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            if "step" in row and "loss" in row:
                rows.append(row)
        except ValueError:
            continue
    if not rows:
        raise VidsslError(f"training log {path} has no complete line; train for at least log_every steps")
    return rows


def training_curves(train_log: str | Path, path: str | Path) -> Path:
    """Training loss and learning rate against step, side by side, from ``train_log.jsonl``."""
    rows = read_train_log(train_log)
    steps = [r["step"] for r in rows]
    fig = _figure(9, 3.2)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.plot(steps, [r["loss"] for r in rows], color="tab:blue", marker="." if len(rows) < 30 else None)
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss")
    ax1.set_title("loss", fontsize=10)
    ax1.grid(alpha=0.3)
    ax2.plot(steps, [r.get("lr", float("nan")) for r in rows], color="tab:orange")
    ax2.set_xlabel("step")
    ax2.set_ylabel("learning rate")
    ax2.set_title("learning rate (logged steps)", fontsize=10)
    ax2.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str], path: str | Path, *,
                     title: str = "confusion matrix") -> Path:
    """Counts (rows: true class, columns: predicted), coloured by the row-normalised fraction."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise VidsslError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    keep = y_true >= 0
    if not keep.any():
        raise VidsslError("no labelled test videos to draw a confusion matrix of")
    n = len(class_names)
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (y_true[keep], y_pred[keep]), 1)
    frac = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    side = 1.9 + 0.38 * n
    fig = _figure(side + 0.9, side)
    ax = fig.add_subplot()
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if frac[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    fig.tight_layout()
    return save_figure(fig, path)
