"""Video decoding with decord (the ``decord2`` package): an optional backend beside PyAV.

Same contract as :func:`vidssl.data.decode.read_frames` and ``read_all``: frame ``i`` is
the ``i``-th frame the decoder outputs, and :func:`vidssl.data.decode.probe` (PyAV) still
counts the frames. At full size the frames equal PyAV's byte for byte on every format of
``tests/data/video_helpers.FORMATS`` and on ucf101-9 (decord2 3.4.0 bundles FFmpeg 8, as
PyAV 18 does, and converts to RGB with swscale). Resized frames cannot be equal: PyAV scales the YUV planes before converting
(:class:`vidssl.data.decode._RGB`), while decord only hands out RGB, and its own
``width``/``height`` resizing gives wrongly shaped arrays when the width shrinks
(decord2 3.4.0). So decord's full-size RGB frames are resized here with torch's
antialiased bilinear filter, which on ucf101-9 clips differs from PyAV's frames by 3.2 /
2.2 / 1.0 levels in 255 on average at short side 40 / 64 / 128 (up to ~60 at single
pixels on colour edges, where PyAV's 4:2:0 chroma is scaled before conversion). The frame cache keys entries by
:data:`CONVERSION`, so the two backends never read each other's resized frames.

decord counts frames from the container (``len(VideoReader)``), which can overstate a
damaged file (UCF101's placeholder "not coded" packets count as frames), but its frame
``i`` is still PyAV's frame ``i``: ``read_all`` returns as many frames as ``probe``
counts, and ``read_frames``, like PyAV's, repeats the last frame for up to
``MAX_SHORTFALL`` indices past the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidssl.data import decode
from vidssl.data.decode import MAX_SHORTFALL, VideoError, output_size
from vidssl.errors import VidsslError

INSTALL = "pip install 'vidssl[decoders]' (or: pip install decord2==3.4.0)"
CONVERSION = "decord-rgb-bilinear-aa"  # full-size RGB from decord, resized by torch: part of frame-cache keys
CHUNK = 64  # frames fetched from decord at a time: bounds the full-size frames held before resizing
_quiet = False


def require():
    """The ``decord`` module, or a one-line :class:`VidsslError` saying what to install."""
    try:
        import decord
    except (ImportError, OSError) as e:  # OSError: a shared library it links to is missing
        raise VidsslError(f"--decoder decord needs the decord2 package ({type(e).__name__}: {_first_line(e)}); "
                          f"install it with: {INSTALL}, or use --decoder pyav") from e
    global _quiet
    if not _quiet:
        decord.logging.set_level(decord.logging.QUIET)  # errors come back as exceptions; FFmpeg's log is noise
        _quiet = True
    return decord


def _first_line(e: BaseException) -> str:
    """An exception's message on one line (decord's carry a C++ stack trace)."""
    lines = str(e).strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:200]


def _open(path: str | Path):
    """A decord VideoReader on ``path`` with one decoding thread (DataLoader workers decode in parallel)."""
    decord = require()
    decode.stat_video(path)  # missing / empty: PyAV's messages
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as e:  # decord raises RuntimeError or DECORDError for anything it cannot open
        decode.probe(path)  # no video stream, unreadable...: PyAV says which, as for --decoder pyav
        raise VideoError(path, "unreadable", f"decord cannot open this file ({_first_line(e)}); "
                         "use --decoder pyav, which can") from e


def resize(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, size[1], size[0], 3) uint8: bilinear, antialiased when shrinking."""
    if (frames.shape[2], frames.shape[1]) == size:
        return frames
    x = torch.from_numpy(frames).permute(0, 3, 1, 2)  # N x 3 x H x W, channels-last in memory
    y = F.interpolate(x, size=(size[1], size[0]), mode="bilinear", antialias=True, align_corners=False)
    return y.permute(0, 2, 3, 1).contiguous().numpy()


def read_frames(path: str | Path, indices: np.ndarray | list[int], short_side: int | None = None) -> np.ndarray:
    """Frames ``indices`` of ``path`` as ``(len(indices), H, W, 3)`` uint8 RGB, in that order.

    As :func:`vidssl.data.decode.read_frames`: indices may repeat and come in any order,
    ``short_side`` resizes so that ``min(H, W) == short_side``, and up to
    ``MAX_SHORTFALL`` frames past the last one repeat it. decord seeks to the keyframe
    before each run of wanted frames itself.
    """
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and idx.min() < 0:
        raise ValueError(f"frame indices must be >= 0, got {idx.min()}")
    wanted, inverse = np.unique(idx, return_inverse=True)
    reader = _open(path)
    n = len(reader)
    if n == 0:
        raise VideoError(path, "unreadable", "no frame could be decoded; re-encode or delete the file")
    if wanted.size and wanted[-1] - (n - 1) > MAX_SHORTFALL:
        raise VideoError(
            path, "too_short", f"frame {wanted[-1]} was asked for but the video has only {n} decodable frames; "
            "re-run `vidssl index` on the dataset to refresh its frame counts"
        )
    take = np.minimum(wanted, n - 1) if wanted.size else np.zeros(1, np.int64)  # frame 0 gives an empty read its size
    out = None
    try:
        for lo in range(0, len(take), CHUNK):
            full = reader.get_batch(take[lo : lo + CHUNK].tolist()).asnumpy()  # k x H x W x 3, full size
            size = output_size(full.shape[2], full.shape[1], short_side)
            if out is None:
                out = np.empty((len(take), size[1], size[0], 3), np.uint8)
            out[lo : lo + len(full)] = resize(full, size)
    except Exception as e:  # decord's errors have no common Python base class
        if isinstance(e, VidsslError):
            raise
        raise VideoError(path, "unreadable", f"decord could not decode the frames ({_first_line(e)}); "
                         "re-encode the file or use --decoder pyav") from e
    if not idx.size:
        return out[:0]
    if wanted.size == idx.size and np.array_equal(wanted, idx):
        return out
    return out[inverse]


def read_all(path: str | Path, short_side: int | None = None) -> np.ndarray:
    """Every frame of ``path`` as ``(T, H, W, 3)`` uint8 RGB, T as :func:`vidssl.data.decode.probe` counts."""
    return read_frames(path, np.arange(decode.probe(path).frames), short_side)
