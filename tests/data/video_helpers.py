"""Test helpers: videos written by the tests themselves, whose frames say their own index.

Frame ``i`` is eight vertical black/white bars spelling ``i`` in binary (bar ``b`` is
white when bit ``b`` is set), which survives lossy codecs and resizing, so a decoded
frame's index can be read back from its pixels.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import numpy as np
import pytest

UCF9 = Path(__file__).resolve().parents[2].parent / "shared/data/ucf101-9"

# (codec, file name, writer options): MPEG-4 in AVI as UCF101/HMDB51, H.264 with B-frames
# in MP4 (frames reordered), VP9 in MKV, VP8 in WebM, MJPEG in MOV
FORMATS = [
    ("mpeg4", "v.avi", {}),
    ("libx264", "v.mp4", {"gop": 10, "b_frames": 3}),
    ("libvpx-vp9", "v.mkv", {}),
    ("libvpx", "v.webm", {}),
    ("mjpeg", "v.mov", {"pix_fmt": "yuvj420p"}),
]


def ucf9(*needed: str) -> Path:
    """The ucf101-9 sample of real UCF101 clips, or skip the test.

    ``needed``: the paths under it that the test reads (default: MANIFEST.tsv); the test is
    skipped, naming the first one missing, unless all exist.
    """
    for rel in needed or ("MANIFEST.tsv",):
        if not (UCF9 / rel).exists():
            pytest.skip(f"../shared/data/ucf101-9 incomplete or not found: this test reads {UCF9 / rel}")
    return UCF9


def copy_layout(root: Path, video: Path, names) -> Path:
    """Copies of ``video`` at each relative path in ``names`` under ``root`` (copying is cheap, encoding is not)."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, root / name)
    return root


def barcode_frames(n: int, height: int = 32, width: int = 64) -> np.ndarray:
    """(n, height, width, 3) uint8 frames; frame i shows i (< 256) as 8 bars."""
    out = np.zeros((n, height, width, 3), np.uint8)
    for i in range(n):
        for b in range(8):
            if (i >> b) & 1:
                out[i, :, b * width // 8 : (b + 1) * width // 8] = 255
    out[..., 1] //= 2  # not grey: catches a channel-order mistake
    return out


def read_barcode(frames: np.ndarray) -> np.ndarray:
    """(N,) the index each of (N, H, W, 3) frames shows."""
    w = frames.shape[2]
    bits = np.stack([frames[:, :, b * w // 8 : (b + 1) * w // 8, 0].mean((1, 2)) > 127 for b in range(8)], 1)
    return (bits * (1 << np.arange(8))).sum(1)


def write_video(path: str | Path, frames: np.ndarray, codec: str = "mpeg4", *, fps: int = 25, gop: int = 12,
                pix_fmt: str = "yuv420p", audio: bool = False, b_frames: int | None = None,
                options: dict[str, str] | None = None, tone_hz: float | None = None) -> Path:
    """Encode (T, H, W, 3) uint8 frames into ``path`` (container from the extension);
    ``options``: encoder options (e.g. ``{"sc_threshold": "1000000000"}``: no scene-cut keyframes);
    ``audio``: a short silent AAC track; ``tone_hz``: an AAC track as long as the video, a sine at that pitch."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt, s.bit_rate = frames.shape[2], frames.shape[1], pix_fmt, 4_000_000
        s.codec_context.gop_size = gop
        s.options = options or {}
        if b_frames is not None:
            s.codec_context.max_b_frames = b_frames
        a = c.add_stream("aac", rate=16000) if audio or tone_hz else None
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if tone_hz:
            _write_tone(c, a, tone_hz, len(frames) / fps)
        elif a is not None:
            _write_silence(c, a)
    return Path(path)


def _write_tone(container, stream, hz: float, seconds: float) -> None:
    t = np.arange(round(seconds * 16000)) / 16000
    wave = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    for start in range(0, len(wave), 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[None, start : start + 1024]), format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts = 16000, start
        for p in stream.encode(frame):
            container.mux(p)
    for p in stream.encode():
        container.mux(p)


def write_audio_only(path: str | Path) -> Path:
    with av.open(str(path), "w") as c:
        _write_silence(c, c.add_stream("aac", rate=16000))
    return Path(path)


def _write_silence(container, stream) -> None:
    frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
    frame.sample_rate = 16000
    for k in range(4):
        frame.pts = k * 1024
        for p in stream.encode(frame):
            container.mux(p)
    for p in stream.encode():
        container.mux(p)


# (make a bad file at a path, the VideoError status a decoder must give for it)
BAD_FILES = [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("this is not a video\n" * 40), "unreadable"),
    (lambda p: None, "missing"),
    (lambda p: write_audio_only(p.with_suffix(".mp4")).rename(p), "no_video"),
]
