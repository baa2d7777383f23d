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
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidssl.errors import VidsslError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v")
TINY_PACKET = 16  # bytes: a packet this small may decode to no frame (MPEG-4 N-VOP)
SEEK_MIN = 24  # seek only when the first wanted frame is at least this far in
MAX_SHORTFALL = 8  # frames missing at the end that are filled with the last frame
_REORDER = 32  # packets demuxed past the last wanted frame (B-frame reordering depth)


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


def _open(path: str | Path) -> av.container.InputContainer:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise VideoError(path, "missing", f"cannot read the file ({e.strerror or e}); check the path") from e
    if size == 0:
        raise VideoError(path, "empty", "the file is empty (0 bytes); re-download or delete it")
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
    path: str | Path, indices: np.ndarray | list[int], short_side: int | None = None, *, seek_min: int = SEEK_MIN
) -> np.ndarray:
    """Frames ``indices`` of ``path`` as ``(len(indices), H, W, 3)`` uint8 RGB, in that order.

    Indices may repeat and come in any order; each frame is decoded once, decoding stops
    at the largest index, and when the smallest is ``seek_min`` or more frames in, the
    decoder starts at the keyframe before it. ``short_side`` resizes (area averaging)
    so that ``min(H, W) == short_side``. Up to ``MAX_SHORTFALL`` frames wanted past the
    last decodable one repeat it (headers and packet counts can overstate a damaged file).
    """
    idx = np.asarray(indices, dtype=np.int64).reshape(-1)
    if idx.size and idx.min() < 0:
        raise ValueError(f"frame indices must be >= 0, got {idx.min()}")
    wanted = np.unique(idx)
    got = None
    if wanted.size and wanted[0] >= seek_min:
        with _open(path) as container:
            got = _read_after_seek(container, _video_stream(container, path), wanted, short_side)
    if got is None:
        with _open(path) as container:
            stream = _video_stream(container, path)
            got = _collect(enumerate(_decode(container, stream)), wanted, short_side, path)
    if not idx.size:
        return np.zeros((0, *got[0], 3), np.uint8)
    return np.stack([got[1][i] for i in idx.tolist()])


def read_all(path: str | Path, short_side: int | None = None) -> np.ndarray:
    """Every decodable frame of ``path`` as ``(T, H, W, 3)`` uint8 RGB (T as :func:`probe` counts)."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        frames, reformatter, size = [], VideoReformatter(), None
        for frame in _decode(container, stream):
            size = size or output_size(frame.width, frame.height, short_side)  # the first frame's, for all
            frames.append(_to_rgb(frame, size, reformatter))
    if not frames:
        raise VideoError(path, "unreadable", "no frame could be decoded; re-encode or delete the file")
    return np.stack(frames)


def _decode(container, stream):
    """Decoded frames; a decoding error ends the stream (a damaged tail is not fatal)."""
    stream.thread_type = "AUTO"
    try:
        yield from container.decode(stream)
    except av.FFmpegError:
        return


def _collect(frames, wanted: np.ndarray, short_side, path) -> tuple[tuple[int, int], dict[int, np.ndarray]]:
    """Convert the wanted frames of an ``(index, frame)`` stream; stop after the last one."""
    want, last_wanted = set(wanted.tolist()), int(wanted[-1]) if wanted.size else -1
    out: dict[int, np.ndarray] = {}
    last, last_i, size, reformatter = None, -1, None, VideoReformatter()
    for i, frame in frames:
        if size is None:
            size = output_size(frame.width, frame.height, short_side)
        if i in want:
            out[i] = _to_rgb(frame, size, reformatter)
        last, last_i = frame, i
        if i >= last_wanted:
            break
    if last is None:
        raise VideoError(path, "unreadable", "no frame could be decoded; re-encode or delete the file")
    missing = [i for i in want if i not in out]
    if missing:
        if max(missing) - last_i > MAX_SHORTFALL or min(missing) <= last_i:
            raise VideoError(
                path, "too_short", f"frame {max(missing)} was asked for but the video has only {last_i + 1} "
                "decodable frames; re-run `vidssl index` on the dataset to refresh its frame counts"
            )
        fill = _to_rgb(last, size, reformatter)
        out.update({i: fill for i in missing})
    return (size[1], size[0]), out


def _to_rgb(frame, size: tuple[int, int], reformatter: VideoReformatter) -> np.ndarray:
    # one reformatter per read keeps its swscale context: frame.to_ndarray() builds a
    # new one per frame, which costs more than decoding a small frame; one swscale
    # thread is 1.6-2x faster on small frames, and DataLoader workers run in parallel
    return reformatter.reformat(
        frame, width=size[0], height=size[1], format="rgb24", interpolation="AREA", threads=1
    ).to_ndarray()


def _read_after_seek(container, stream, wanted: np.ndarray, short_side):
    """Decode from the keyframe before ``wanted[0]``; None where that is not safe or pays nothing.

    A demux-only pass ranks the packets by presentation time, which maps each decoded
    frame's pts back to its index. Files with a tiny (maybe frameless) packet, missing
    timestamps or a keyframe only at the start are decoded from the start instead.
    """
    first, stop = int(wanted[0]), int(wanted[-1]) + _REORDER
    pts, keys = [], []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is None or packet.size < TINY_PACKET:
            return None
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
        if len(pts) > stop:
            break
    order = sorted(pts)
    if first >= len(order):
        return None
    target = order[first]
    start = max((k for k in keys if k <= target), default=None)
    if start is None or start == order[0]:
        return None
    rank = {p: i for i, p in enumerate(order)}
    container.seek(start, stream=stream, backward=True)

    def indexed():
        for frame in _decode(container, stream):
            i = rank.get(frame.pts)
            if i is None:
                raise _NoSeek
            yield i, frame

    try:  # a frame before the target or unknown to the ranking means the seek went wrong
        return _collect(indexed(), wanted, short_side, "")
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
