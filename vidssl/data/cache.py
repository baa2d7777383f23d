"""Frame cache: decode each video once into a ``(T, H, W, 3)`` uint8 ``.npy`` file.

An entry is named after the source's absolute path, the cache's short side and the frame
conversion (its *flavour*), and the source's size and modification time (its *version*).
An edited or replaced video gets a new version, and writing it removes the older versions
of the same flavour only: entries at other short sides are kept, so runs at two short
sides (at once or in turn) never evict each other's frames. Entries are written to a temporary file and renamed into place: a
file under an entry's name is always complete, an interrupted build leaves no entry, and
DataLoader workers that fill the same entry at once each rename a whole file over it. A
worker reads only the frames it needs (see :meth:`CachedVideoDataset.read_frames`).
"""

from __future__ import annotations

import contextlib
import hashlib
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vidssl.data import decode
from vidssl.data.decoders import get_decoder
from vidssl.errors import VidsslError
from vidssl.io import atomic_write


def entry_path(cache_dir: str | Path, source: str | Path, short_side: int | None,
               conversion: str = decode.CONVERSION) -> Path:
    """Where the cache entry of ``source`` at ``short_side`` lives (it may not exist yet).

    ``conversion``: how the decoder converts and resizes frames (its
    ``CONVERSION``, see :mod:`vidssl.data.decoders`), so that backends whose resized
    frames differ never read each other's entries."""
    path, size, mtime = decode.file_key(source)
    who = hashlib.sha1(path.encode()).hexdigest()[:16]
    flavour = hashlib.sha1(f"{short_side or 0}|{conversion}".encode()).hexdigest()[:8]
    version = hashlib.sha1(f"{size}|{mtime}".encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{who}-{flavour}-{version}.npy"


def write_entry(path: Path, frames: np.ndarray) -> None:
    """Atomically write an entry and drop the stale ones: same source, short side and
    conversion, older source size/mtime. Entries at other short sides stay."""
    with atomic_write(path, "wb") as f:
        np.save(f, frames)
    who, flavour, _ = path.name.split("-")
    for old in path.parent.glob(f"{who}-{flavour}-*.npy"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()


def _check_entry(frames: np.ndarray, path: Path, short_side: int | None) -> None:
    """ValueError unless ``frames`` (a memory map of ``path``) is an entry as written: (T, H, W, 3) uint8 at
    ``short_side``, filling the file exactly (a damaged header can describe another shape)."""
    shape = frames.shape
    if (frames.dtype != np.uint8 or len(shape) != 4 or shape[3] != 3 or 0 in shape
            or (short_side and min(shape[1:3]) != short_side)
            or (isinstance(frames, np.memmap) and frames.offset + frames.nbytes != path.stat().st_size)):
        raise ValueError(f"not a frame-cache entry: {frames.dtype} {shape}")


class CachedVideoDataset:
    """A file-backed dataset read from the frame cache (entries built on first use).

    Frames are ``(len(indices), H, W, 3)`` uint8 with ``min(H, W) == short_side``
    (None keeps the stored size), decoded by the base dataset's ``decoder`` (PyAV if it
    names none). ``num_frames`` is the base dataset's; indices past a
    video's cached length read its last frame (the two counts differ only for a
    damaged file or a stale index).
    """

    def __init__(self, dataset, cache_dir: str | Path, short_side: int | None) -> None:
        self.base, self.cache_dir, self.short_side = dataset, Path(cache_dir), short_side
        self.decoder: str = getattr(dataset, "decoder", "pyav")
        get_decoder(self.decoder)  # unknown or not installed: say so now
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.name, self.labels, self.class_names = dataset.name, dataset.labels, dataset.class_names
        self.split_rule: str | None = getattr(dataset, "split_rule", None)
        self.accounting: dict | None = getattr(dataset, "accounting", None)  # videos listed, used, left out, looped
        # per process: video -> (source size and mtime, entry, offset of the frames, their shape)
        self._where: dict[int, tuple[tuple[int, int], Path, int, tuple[int, ...]]] = {}

    def __len__(self) -> int:
        return len(self.base)

    def source(self, i: int) -> str:
        return self.base.source(i)

    def entry(self, i: int) -> Path:
        return entry_path(self.cache_dir, self.base.source(i), self.short_side,
                          get_decoder(self.decoder).CONVERSION)

    def is_cached(self, i: int) -> bool:
        return self.entry(i).is_file()

    def load(self, i: int) -> np.ndarray:
        """Video ``i`` as a read-only memory map ``(T, H, W, 3)``, decoding it if needed."""
        path = self.entry(i)
        try:
            frames = np.load(path, mmap_mode="r")
            _check_entry(frames, path, self.short_side)
        except (FileNotFoundError, ValueError, OSError) as e:  # absent, or damaged / not written by us
            if not isinstance(e, FileNotFoundError):
                warnings.warn(f"{path}: damaged frame-cache entry ({type(e).__name__}); decoding "
                              f"{self.base.source(i)} again", stacklevel=2)
            frames = get_decoder(self.decoder).read_all(self.base.source(i), self.short_side)
            write_entry(path, frames)
        return frames

    def num_frames(self, i: int) -> int:
        # the base's count (an index's): clip sampling must not depend on what is cached yet
        return self.base.num_frames(i)

    def read_frames(self, i: int, indices: np.ndarray, _retry: bool = True) -> np.ndarray:
        """Frames ``indices`` of video ``i``: one read of the span they cover.

        Where the entry is, and the layout of its frames, are remembered while the source
        file keeps its size and mtime, so a read costs a ``stat``, an ``open`` and a
        ``readinto`` (parsing the ``.npy`` header and mapping the file each time cost
        more than copying a 16-frame clip). Frames scattered over a span more than 4x
        their number are gathered from a memory map instead.
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        st = decode.stat_video(self.base.source(i))
        key = (st.st_size, st.st_mtime_ns)
        where = self._where.get(i)
        if where is None or where[0] != key:
            frames = self.load(i)
            if not (frames.dtype == np.uint8 and frames.flags.c_contiguous and isinstance(frames, np.memmap)):
                return np.ascontiguousarray(frames[np.minimum(idx, len(frames) - 1)])
            where = self._where[i] = (key, self.entry(i), frames.offset, frames.shape)
        _, path, offset, shape = where
        idx = np.minimum(idx, shape[0] - 1)
        if not idx.size:
            return np.zeros((0, *shape[1:]), np.uint8)
        lo, hi = int(idx.min()), int(idx.max())
        try:
            if hi - lo + 1 > 4 * idx.size:
                return np.ascontiguousarray(np.memmap(path, np.uint8, "r", offset, shape)[idx])
            span = np.empty((hi - lo + 1, *shape[1:]), np.uint8)
            with open(path, "rb") as f:
                f.seek(offset + lo * span[0].nbytes)
                complete = f.readinto(span) == span.nbytes
        except (OSError, ValueError):  # removed (e.g. the cache was cleared) or cut short: rebuild it
            complete = False
        if not complete:
            del self._where[i]
            if not _retry:
                raise VidsslError(
                    f"{path}: the frame-cache entry keeps changing or is damaged; delete {self.cache_dir} and run again"
                )
            return self.read_frames(i, idx, _retry=False)
        if idx.size == span.shape[0] and np.array_equal(idx, np.arange(lo, hi + 1)):
            return span
        return span[idx - lo]


def build_cache(dataset, cache_dir: str | Path, short_side: int | None, *, progress: bool = True) -> CachedVideoDataset:
    """Fill the cache for every video of a file-backed ``dataset``; valid entries are skipped.

    Interrupted, it resumes where it stopped: finished entries are whole files, and an
    unfinished one was never renamed into place.
    """
    cached = CachedVideoDataset(dataset, cache_dir, short_side)
    fill_cache(cached, progress=progress)
    return cached


def fill_cache(cached: CachedVideoDataset, *, progress: bool = True, skip_unreadable: bool = False) -> list[int]:
    """Decode every video of ``cached`` that has no valid entry yet; returns the indices left unreadable.

    A video that cannot be decoded raises, unless ``skip_unreadable``: then it is listed and
    left for the loader, which reports and skips it as it would without a cache.
    """
    bad = []
    todo = [i for i in range(len(cached)) if not cached.is_cached(i)]
    for i in tqdm(todo, desc="frame cache", unit="video", disable=not progress, mininterval=1.0):
        try:
            cached.load(i)
        except (VidsslError, OSError, ValueError, RuntimeError):
            if not skip_unreadable:
                raise
            bad.append(i)
    return bad
