"""Video decoding with PyAV: probe a file, read any set of frames from it.

Frame ``i`` of a video is the ``i``-th frame the decoder outputs, counting from 0, and
:func:`probe` counts frames the same way. Container headers are not trusted for the
count: UCF101's AVI headers count dropped-frame slots and placeholder packets, so they
disagree with the decoded count on some files. Counting the non-empty packets of the
video stream (demuxing only, no decoding) gives the decoded count for every clip of
ucf101-9; a packet of a few bytes can be an MPEG-4 "not coded" placeholder that
decodes to no frame, so a file with one is counted by decoding instead.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidssl.errors import VidsslError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v")
TINY_PACKET = 16  # bytes: a packet this small may decode to no frame (MPEG-4 N-VOP)
# Slice threads only, no frame threading: frame threads delay output by a frame per thread
# and restart at every seek, and DataLoader workers decode in parallel anyway. On the
# 2-core reference machine frame threading was slower even for whole files
# (bench/bench_loading.py: 160x120 MPEG-4 33,070 vs 18,993 frames/s, 320x240 12,827 vs
# 9,817; a one-off check on a generated 720p H.264 file: 355 vs 243).
DECODE_THREADS = "SLICE"
MAX_SHORTFALL = 8  # frames missing at the end that are filled with the last frame


class VideoError(VidsslError):
    """A file that cannot be used as a video; ``status`` says why in one word.

    status: ``missing`` | ``empty`` | ``unreadable`` | ``no_video`` | ``too_short``.
    """

    def __init__(self, path: str | Path, status: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.status, self.reason = str(path), status, reason


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a file's first video stream."""

    frames: int  # decodable frames
    fps: float  # average frame rate (0.0 when unknown)
    width: int
    height: int
    duration_s: float
    has_audio: bool
    codec: str


def stat_video(path: str | Path) -> os.stat_result:
    """``os.stat`` of a video file; :class:`VideoError` if it is missing or empty."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise VideoError(path, "missing", f"cannot read the file ({e.strerror or e}); check the path") from e
    if st.st_size == 0:
        raise VideoError(path, "empty", "the file is empty (0 bytes); re-download or delete it")
    return st


def _open(path: str | Path, checked: bool = False) -> av.container.InputContainer:
    """Open ``path`` for reading (``checked``: :func:`stat_video` was just called on it)."""
    if not checked:
        stat_video(path)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError as e:
        raise VideoError(
            path, "unreadable", f"not a readable video ({e.strerror or type(e).__name__}); "
            "check that the file is a complete video (try playing it) or delete it"
        ) from e


def _video_stream(container, path: str | Path):
    if not container.streams.video:
        kinds = ", ".join(s.type for s in container.streams) or "none"
        raise VideoError(
            path, "no_video", f"the file has no video stream (streams: {kinds}); remove it from the dataset"
        )
    return container.streams.video[0]


def probe(path: str | Path, exact: bool | None = None) -> VideoInfo:
    """Frame count, rate, size, audio and codec of ``path``'s first video stream.

    exact: ``True`` counts by decoding every frame; ``False`` counts non-empty packets;
    ``None`` (default) counts packets and decodes only files that have a tiny packet.
    The first frame is always decoded, so files the decoder cannot read fail here.
    Raises :class:`VideoError` for a missing, empty or unreadable file, or one with no
    video stream or no frames.
    """
    with _open(path) as container:
        stream = _video_stream(container, path)
        has_audio = bool(container.streams.audio)
        packets, tiny, first = 0, False, None
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                packets += 1
                tiny |= packet.size < TINY_PACKET
                if first is None:
                    first = next(iter(packet.decode()), None)
        except av.FFmpegError as e:
            if first is None:
                reason = f"the video cannot be decoded ({e}); re-encode or delete it"
                raise VideoError(path, "unreadable", reason) from e
            tiny = True  # damaged after the first frame: only decoding tells how many frames are usable
        if packets and first is None:  # decoders with delay output their first frame at flush
            first = next(iter(stream.decode(None)), None)
        if first is None:
            raise VideoError(path, "unreadable", f"the video stream has no decodable frames ({packets} packets)")
        width, height = first.width, first.height
        rate = stream.average_rate or stream.guessed_rate
        codec = stream.codec_context.name
    frames = _count_decoded(path) if exact or (exact is None and tiny) else packets
    fps = float(rate) if rate else 0.0
    duration = frames / fps if fps else 0.0
    return VideoInfo(frames, fps, width, height, duration, has_audio, codec)


def _count_decoded(path: str | Path) -> int:
    with _open(path) as container:
        return sum(1 for _ in _decode(container, _video_stream(container, path)))


def output_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(width, height) with the shorter side scaled to ``short_side`` (unchanged if None)."""
    if not short_side:
        return width, height
    if width <= height:
        return short_side, max(1, round(height * short_side / width))
    return max(1, round(width * short_side / height)), short_side


def read_frames(
    path: str | Path, indices: np.ndarray | list[int], short_side: int | None = None, *, seek: bool = True
) -> np.ndarray:
    """Frames ``indices`` of ``path`` as ``(len(indices), H, W, 3)`` uint8 RGB, in that order.

    Indices may repeat and come in any order; each frame is decoded once and decoding
    stops at the largest index. With ``seek`` (default) the decoder starts at the
    keyframe before the smallest index, found in the file's packet index (built by one
    demux pass the first time this process reads the file, then kept: see
    :func:`_packet_index`); ``seek=False`` always decodes from the first frame.
    ``short_side`` resizes (area averaging) so that ``min(H, W) == short_side``. Up to
    ``MAX_SHORTFALL`` frames wanted past the last decodable one repeat it (headers and
    packet counts can overstate a damaged file).
    """
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and idx.min() < 0:
        raise ValueError(f"frame indices must be >= 0, got {idx.min()}")
    wanted, inverse = np.unique(idx, return_inverse=True)
    got = None
    if seek and wanted.size:
        st = stat_video(path)
        key = (str(path), st.st_size, st.st_mtime_ns)  # an edited or replaced file is indexed again
        with _open(path, checked=True) as container:
            stream = _video_stream(container, path)
            index, demuxed = _packet_index(key, container, stream)
            if index is not None:
                got = _read_after_seek(container, stream, path, index, demuxed, wanted, short_side)
            elif not demuxed:  # known not to be seekable, and the container is fresh
                got = _collect(enumerate(_decode(container, stream)), wanted, short_side, path)
    if got is None:
        with _open(path) as container:
            stream = _video_stream(container, path)
            got = _collect(enumerate(_decode(container, stream)), wanted, short_side, path)
    if not idx.size:
        return np.zeros((0, *got.shape[1:]), np.uint8)
    if wanted.size == idx.size and np.array_equal(wanted, idx):
        return got  # sorted distinct indices (one clip): no second copy
    return got[inverse]


def read_all(path: str | Path, short_side: int | None = None) -> np.ndarray:
    """Every decodable frame of ``path`` as ``(T, H, W, 3)`` uint8 RGB (T as :func:`probe` counts)."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        frames, to_rgb, size = [], _converter(), None
        for frame in _decode(container, stream):
            size = size or output_size(frame.width, frame.height, short_side)  # the first frame's, for all
            frames.append(to_rgb(frame, size))
    if not frames:
        raise VideoError(path, "unreadable", "no frame could be decoded; re-encode or delete the file")
    return np.stack(frames)


def _decode(container, stream, threads: str = DECODE_THREADS):
    """Decoded frames; a decoding error ends the stream (a damaged tail is not fatal)."""
    stream.thread_type = threads
    try:
        yield from container.decode(stream)
    except av.FFmpegError:
        return


def _collect(frames, wanted: np.ndarray, short_side, path) -> np.ndarray:
    """``(len(wanted), H, W, 3)``: the ``wanted`` (sorted, distinct) frames of an
    ``(index, frame)`` stream, converted as they come; stops after the last one."""
    slot = {int(f): j for j, f in enumerate(wanted)}
    last_wanted = int(wanted[-1]) if wanted.size else -1
    out, filled = None, np.zeros(len(wanted), bool)
    last, last_i, size, to_rgb = None, -1, None, _converter()
    for i, frame in frames:
        if size is None:
            size = output_size(frame.width, frame.height, short_side)
            out = np.empty((len(wanted), size[1], size[0], 3), np.uint8)
        j = slot.get(i)
        if j is not None:
            out[j] = to_rgb(frame, size)
            filled[j] = True
        last, last_i = frame, i
        if i >= last_wanted:
            break
    if last is None:
        raise VideoError(path, "unreadable", "no frame could be decoded; re-encode or delete the file")
    if not filled.all():
        missing = wanted[~filled]
        if missing[-1] - last_i > MAX_SHORTFALL or missing[0] <= last_i:
            raise VideoError(
                path, "too_short", f"frame {missing[-1]} was asked for but the video has only {last_i + 1} "
                "decodable frames; re-run `vidssl index` on the dataset to refresh its frame counts"
            )
        out[~filled] = to_rgb(last, size)
    return out


class _RGB:
    """Converts decoded frames to ``(H, W, 3)`` uint8 RGB at a given size.

    A resized 4:2:0 frame is scaled in YUV first (area averaging on the planes) and then
    converted at its new size. swscale's fast unscaled YUV-to-RGB path makes this about
    2.5x faster than scaling straight into packed RGB: 25 vs 64 us for a 160x120 frame
    to 85x64 (bench/bench_loading.py), for a mean difference of about 2 levels in 255 at
    colour edges. Each of the two steps keeps its own swscale context from one frame to
    the next (building one per frame, as ``frame.to_ndarray()`` does, costs more than
    decoding a small frame); one swscale thread, as DataLoader workers run in parallel.
    """

    def __init__(self) -> None:
        self.scale, self.convert = VideoReformatter(), VideoReformatter()

    def __call__(self, frame, size: tuple[int, int]) -> np.ndarray:
        if (frame.width, frame.height) != size:
            if frame.format.name in ("yuv420p", "yuvj420p"):
                frame = self.scale.reformat(frame, width=size[0], height=size[1], interpolation="AREA", threads=1)
            else:
                return self.scale.reformat(
                    frame, width=size[0], height=size[1], format="rgb24", interpolation="AREA", threads=1
                ).to_ndarray()
        return self.convert.reformat(frame, format="rgb24", threads=1).to_ndarray()


CONVERSION = "yuv-area-rgb"  # how frames are resized and converted: part of frame-cache keys
_local = threading.local()


def _converter() -> _RGB:
    """This thread's converter (swscale contexts must not be shared between threads)."""
    if not hasattr(_local, "rgb"):
        _local.rgb = _RGB()
    return _local.rgb


@dataclass(frozen=True)
class _PacketIndex:
    """Where a file's frames are: ``pts[i]`` is frame i's presentation time (sorted),
    ``keys`` the keyframes' (sorted). None in the cache: not safe to seek in."""

    pts: np.ndarray
    keys: np.ndarray


_INDEX: dict[tuple[str, int, int], _PacketIndex | None] = {}
_INDEX_LOCK = threading.Lock()
_UNSEEN = object()
MAX_INDEXED = 200_000  # files whose packet index a process keeps (about 2 kB each for UCF101)


def _packet_index(key: tuple[str, int, int], container, stream) -> tuple[_PacketIndex | None, bool]:
    """(index or None, whether ``container`` was demuxed to build it).

    Kept per process under ``key`` = (path, size, mtime in ns); DataLoader workers
    forked after the parent read a file inherit its index. Files with a tiny (maybe
    frameless) packet, missing timestamps or a keyframe only at the start get None:
    they are decoded from the start.
    """
    index = _INDEX.get(key, _UNSEEN)
    if index is not _UNSEEN:
        return index, False
    pts, keys, index = [], [], None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is None or packet.size < TINY_PACKET:
                break
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
        else:
            sorted_pts = np.sort(np.asarray(pts, np.int64))
            if len(keys) > 1 and np.all(np.diff(sorted_pts) > 0):
                index = _PacketIndex(sorted_pts, np.sort(np.asarray(keys, np.int64)))
    except av.FFmpegError:
        pass  # damaged: decoded from the start, where a damaged tail just ends the stream
    with _INDEX_LOCK:
        if len(_INDEX) >= MAX_INDEXED:
            _INDEX.pop(next(iter(_INDEX)))  # the oldest
        _INDEX[key] = index
    return index, True


def _read_after_seek(
    container, stream, path, index: _PacketIndex, demuxed: bool, wanted: np.ndarray, short_side
) -> np.ndarray | None:
    """Decode from the keyframe before ``wanted[0]``; None where that went wrong.

    Each decoded frame's pts maps back to its index through the packet index. A frame
    unknown to the index, or one past a wanted frame that never came, means the seek
    went wrong: the caller then decodes from the start. ``demuxed``: the container was
    read to build the index, so it must seek even to the first keyframe.
    """
    if wanted[0] >= len(index.pts):
        return None
    k = int(np.searchsorted(index.keys, index.pts[wanted[0]], side="right")) - 1
    if k < 0:  # no keyframe at or before the target
        return None
    start = int(index.keys[k])
    if demuxed or start != index.pts[0]:
        container.seek(start, stream=stream, backward=True)
    pts, n = index.pts, len(index.pts)

    def indexed():
        i = -1
        for frame in _decode(container, stream):
            if frame.pts is None:
                raise _NoSeek
            i = i + 1 if i + 1 < n and pts[i + 1] == frame.pts else int(np.searchsorted(pts, frame.pts))
            if i >= n or pts[i] != frame.pts:
                raise _NoSeek
            yield i, frame

    try:
        return _collect(indexed(), wanted, short_side, path)
    except (_NoSeek, VideoError):
        return None


class _NoSeek(Exception):
    pass


def is_video_file(path: str | Path) -> bool:
    """True for a visible file with a video extension (case-insensitive)."""
    p = Path(path)
    return p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")


def file_key(path: str | Path) -> tuple[str, int, int]:
    """(absolute path, size, mtime in ns): changes whenever the file is replaced or edited."""
    st = os.stat(path)
    return str(Path(path).resolve()), st.st_size, st.st_mtime_ns
