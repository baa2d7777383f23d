"""Audio beside the frames: decoded with PyAV, as log-mel spectrograms, cached like frames.

For audio-visual correspondence (:mod:`vidssl.methods.audio_visual`). A video's audio track
is decoded once (PyAV's resampler: mono, 16 kHz, float), turned into a log-mel spectrogram
(``torch.stft`` with a 25 ms Hann window and a 10 ms hop, 40 mel bands of the HTK mel scale,
log(power + 1e-6)) and written to the cache folder with the video's frame rate, named after
the file's path, size and modification time (an edited video gets a new entry, as the frame
cache does). A clip then takes the ``seconds`` of spectrogram centred on its own frames.
Videos without an audio stream are left out of such a run with one notice that counts them.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path

import numpy as np
import torch

from vidssl.data import decode
from vidssl.errors import VidsslError
from vidssl.io import atomic_write

SAMPLE_RATE = 16_000
WINDOW = 400  # 25 ms
HOP = 160  # 10 ms: 100 spectrogram frames per second
N_FFT = 512
N_MELS = 40
SETTINGS = f"mono{SAMPLE_RATE}|hann{WINDOW}|hop{HOP}|fft{N_FFT}|htk{N_MELS}|log1e-6"


def decode_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """The audio track of ``path`` as mono float32 samples at ``sample_rate``; None if it has no audio stream."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):  # what the resampler still holds
                chunks.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, OSError) as e:
        raise decode.VideoError(f"{path}: its audio cannot be decoded ({e}); re-encode it or remove it") from e
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale: 2595 log10(1 + f / 700)."""
    return 2595 * torch.log10(1 + torch.as_tensor(f, dtype=torch.float64) / 700)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700 * (10 ** (m / 2595) - 1)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE,
                   fmin: float = 0.0, fmax: float | None = None) -> torch.Tensor:
    """(n_mels, n_fft // 2 + 1) triangular filters, equally spaced on the mel scale between fmin and fmax
    (default: Nyquist), each peaking at 1 on its centre frequency."""
    fmax = sample_rate / 2 if fmax is None else fmax
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    edges = mel_to_hz(torch.linspace(float(hz_to_mel(fmin)), float(hz_to_mel(fmax)), n_mels + 2, dtype=torch.float64))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up, down = (freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)
    return torch.clamp(torch.minimum(up, down), min=0).float()


def log_mel(wave: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Mono samples at 16 kHz -> (N_MELS, frames) log-mel power spectrogram, 100 frames per second."""
    x = torch.as_tensor(wave, dtype=torch.float32)
    if len(x) < WINDOW:
        x = torch.nn.functional.pad(x, (0, WINDOW - len(x)))
    spec = torch.stft(x, N_FFT, hop_length=HOP, win_length=WINDOW, window=torch.hann_window(WINDOW), center=True,
                      return_complex=True).abs() ** 2  # (N_FFT/2 + 1) x frames
    return torch.log(mel_filterbank() @ spec + 1e-6)


def entry_path(cache_dir: str | Path, source: str) -> Path:
    path, size, mtime = decode.file_key(source)
    who = hashlib.sha1(path.encode()).hexdigest()[:16]
    version = hashlib.sha1(f"{size}|{mtime}|{SETTINGS}".encode()).hexdigest()[:12]
    return Path(cache_dir) / "audio" / f"{who}-{version}.npz"


class AudioTracks:
    """Per-video log-mel spectrograms of a dataset's videos (None for a video without audio), cached on disk."""

    def __init__(self, dataset, cache_dir: str | Path, loaded: dict[int, tuple[np.ndarray | None, float]] | None = None
                 ) -> None:
        self.ds, self.cache_dir = dataset, Path(cache_dir)
        self._mem: dict[int, tuple[np.ndarray | None, float]] = dict(loaded or {})  # video -> (log-mel, fps)

    def load(self, i: int) -> tuple[np.ndarray | None, float]:
        """(log-mel (N_MELS, F) float32 or None, the video's frame rate)."""
        if i in self._mem:
            return self._mem[i]
        source = self.ds.source(i)
        if not Path(source).is_file():
            raise VidsslError(f"{source} is not a video file: audio-visual correspondence needs videos with sound "
                              "(the built-in data has none; use --dataset folder, ucf101 or hmdb51)")
        entry = entry_path(self.cache_dir, source)
        got = None
        if entry.is_file():
            try:
                with np.load(entry) as z:
                    got = (z["logmel"] if bool(z["has_audio"]) else None, float(z["fps"]))
            except Exception:  # noqa: BLE001 -- a damaged entry is rebuilt, never trusted
                got = None
        if got is None:
            wave = decode_audio(source)
            fps = decode.probe(source).fps or 25.0
            spec = None if wave is None else log_mel(wave).numpy().astype(np.float32)
            try:
                entry.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(entry) as f:
                    np.savez(f, logmel=spec if spec is not None else np.zeros((N_MELS, 0), np.float32),
                             has_audio=spec is not None, fps=fps)
            except OSError:
                pass  # the cache is an optimisation
            got = (spec, fps)
        self._mem[i] = got
        return got

    def has_audio(self, i: int) -> bool:
        spec, _ = self.load(i)
        return spec is not None and spec.shape[1] > 0

    def segment(self, i: int, first_frame: int, last_frame: int, seconds: float) -> torch.Tensor:
        """(1, N_MELS, round(100 seconds)) log-mel of video i centred on frames first..last; the quietest
        value pads what lies outside the track."""
        spec, fps = self.load(i)
        width = round(seconds * SAMPLE_RATE / HOP)  # spectrogram frames
        centre = (first_frame + last_frame + 1) / 2 / fps * SAMPLE_RATE / HOP
        start = math.floor(centre - width / 2)
        out = np.full((N_MELS, width), math.log(1e-6), np.float32)
        lo, hi = max(start, 0), min(start + width, spec.shape[1])
        if hi > lo:
            out[:, lo - start : hi - start] = spec[:, lo:hi]
        return torch.from_numpy(out)[None]


class VideoSubset:
    """Some videos of a dataset (the same frames, labels and names), e.g. the ones with sound."""

    def __init__(self, dataset, keep: list[int], name: str) -> None:
        self.base, self.keep, self.name = dataset, list(keep), name
        self.labels = {k: np.asarray(v)[self.keep] for k, v in dataset.labels.items()}
        self.class_names = dataset.class_names
        self.split_rule = getattr(dataset, "split_rule", None)

    def __len__(self) -> int:
        return len(self.keep)

    def num_frames(self, i: int) -> int:
        return self.base.num_frames(self.keep[i])

    def read_frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        return self.base.read_frames(self.keep[i], indices)

    def source(self, i: int) -> str:
        return self.base.source(self.keep[i])


def with_audio(dataset, cache_dir: str | Path, progress: bool = False) -> tuple[VideoSubset, AudioTracks]:
    """The videos of ``dataset`` that have sound, and their audio; one notice counts (and names a few of)
    the ones left out. Refuses when none has sound."""
    from tqdm import tqdm

    tracks = AudioTracks(dataset, cache_dir)
    keep, silent = [], []
    for i in tqdm(range(len(dataset)), desc="audio", disable=not progress, mininterval=1.0, leave=False):
        (keep if tracks.has_audio(i) else silent).append(i)
    if not keep:
        raise VidsslError(f"none of the {len(dataset)} videos of {dataset.name} has an audio stream: audio-visual "
                          "correspondence needs videos with sound")
    if silent:
        names = ", ".join(Path(dataset.source(i)).name for i in silent[:3]) + (", ..." if len(silent) > 3 else "")
        warnings.warn(f"{len(silent)} of {len(dataset)} videos have no audio stream ({names}): audio-visual "
                      f"correspondence pretrains on the other {len(keep)}", stacklevel=2)
    sub = VideoSubset(dataset, keep, f"{dataset.name} (with audio)")
    return sub, AudioTracks(sub, cache_dir, {j: tracks.load(i) for j, i in enumerate(keep)})  # nothing decoded again
