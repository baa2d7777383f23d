"""Audio for audio-visual correspondence: decoding a known tone, the mel scale, the cache, clips' audio."""

import math
import warnings

import numpy as np
import pytest
import torch
from video_helpers import barcode_frames, write_video

from vidssl.data import audio as A
from vidssl.data.videos import VideoList
from vidssl.errors import VidsslError


@pytest.fixture
def tone_video(tmp_path):
    return write_video(tmp_path / "tone.mp4", barcode_frames(50, 32, 32), tone_hz=440)  # 2 s at 25 fps


def test_a_known_tone_decodes_to_its_pitch_and_lights_the_mel_band_around_it(tone_video):
    wave = A.decode_audio(tone_video)
    assert wave.dtype == np.float32 and abs(len(wave) - 32000) < 2048  # 2 s at 16 kHz (the codec pads a little)
    spectrum = np.abs(np.fft.rfft(wave[4000:20000]))
    assert np.fft.rfftfreq(16000, 1 / 16000)[spectrum.argmax()] == pytest.approx(440, abs=2)
    spec = A.log_mel(wave)
    assert spec.shape[0] == A.N_MELS and abs(spec.shape[1] - 201) <= 13  # 100 frames per second
    bank = A.mel_filterbank()
    freqs = torch.linspace(0, 8000, A.N_FFT // 2 + 1)
    centres = freqs[bank.argmax(1)]
    assert spec[:, 50:150].mean(1).argmax() == (centres - 440).abs().argmin()  # the band whose centre is nearest


def test_mel_filters_are_triangles_equally_spaced_in_mel():
    bank = A.mel_filterbank(n_mels=10, n_fft=2048, sample_rate=16000)
    assert bank.shape == (10, 1025) and (bank >= 0).all() and bank.max() <= 1
    freqs = torch.linspace(0, 8000, 1025, dtype=torch.float64)
    peaks = freqs[bank.argmax(1)]
    mel = 2595 * torch.log10(1 + peaks / 700)  # the HTK formula, written out
    steps = mel.diff()
    assert torch.allclose(steps, steps.mean().expand_as(steps), rtol=0.02)
    assert float(mel.diff().mean()) == pytest.approx(float(A.hz_to_mel(8000)) / 11, rel=0.02)
    assert ((bank[:-1] > 0) & (bank[1:] > 0)).any(1).all()  # neighbours overlap: no frequency falls between


def test_a_video_without_audio_has_none(tmp_path):
    assert A.decode_audio(write_video(tmp_path / "mute.avi", barcode_frames(10, 32, 32))) is None


def test_audio_is_cached_once_per_file_and_a_clip_takes_the_second_centred_on_it(tone_video, tmp_path, monkeypatch):
    ds = VideoList([tone_video], [0], ["tone"], "one")
    tracks = A.AudioTracks(ds, tmp_path / "cache")
    spec, fps = tracks.load(0)
    assert fps == 25 and A.entry_path(tmp_path / "cache", str(tone_video)).is_file()
    monkeypatch.setattr(A, "decode_audio", lambda *a: pytest.fail("decoded again instead of read from the cache"))
    again, _ = A.AudioTracks(ds, tmp_path / "cache").load(0)
    assert np.array_equal(again, spec)
    seg = tracks.segment(0, 20, 29, 1.0)  # frames 20-29 span 0.8-1.2 s: centre 1.0 s
    assert seg.shape == (1, A.N_MELS, 100)
    assert torch.equal(seg[0], torch.from_numpy(spec[:, 50:150]))
    start = tracks.segment(0, 0, 4, 1.0)[0]  # centred on 0.1 s: 40 frames before the track's start are padded
    assert (start[:, :40] == math.log(1e-6)).all() and torch.equal(start[:, 40:], torch.from_numpy(spec[:, :60]))


def test_videos_without_audio_are_left_out_with_one_notice_that_counts_them(tmp_path):
    paths = [write_video(tmp_path / f"s{k}.mp4", barcode_frames(10, 32, 32), tone_hz=300 + 100 * k) for k in range(2)]
    paths.append(write_video(tmp_path / "mute.avi", barcode_frames(10, 32, 32)))
    ds = VideoList(paths, [0, 1, 0], ["a", "b"], "three")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sub, tracks = A.with_audio(ds, tmp_path / "cache")
    assert [str(w.message) for w in caught] == [("1 of 3 videos have no audio stream (mute.avi): audio-visual "
                                                "correspondence pretrains on the other 2")]
    assert len(sub) == 2 and [sub.source(i) for i in range(2)] == [str(p) for p in paths[:2]]
    assert sub.labels["class"].tolist() == [0, 1] and tracks.has_audio(1)
    with pytest.raises(VidsslError, match="none of the 1 videos of mute has an audio stream"):
        A.with_audio(VideoList(paths[2:], [0], ["a"], "mute"), tmp_path / "cache")


def test_audio_visual_pretrains_on_a_folder_and_leaves_out_the_mute_video(tmp_path, capsys):
    from vidssl.config import AugConfig, DataConfig, ModelConfig, PretrainConfig
    from vidssl.engine import pretrain

    root = tmp_path / "videos"
    root.mkdir()
    for k in range(4):
        write_video(root / f"s{k}.mp4", barcode_frames(20, 32, 32), tone_hz=300 + 100 * k)
    write_video(root / "mute.avi", barcode_frames(20, 32, 32))
    data = DataConfig(dataset="folder", root=str(root), clip_frames=4, crop_size=16, cache_dir=str(tmp_path / "cache"))
    cfg = PretrainConfig(out_dir=str(tmp_path / "run"), method="audio_visual", data=data, aug=AugConfig(),
                         model=ModelConfig(width=0.0625, head_hidden=8), batch_size=2, steps=2, warmup_steps=1,
                         progress=False, threads=1)
    with pytest.warns(UserWarning, match="1 of 5 videos have no audio stream"):
        res = pretrain(cfg)
    assert res.step == 2 and math.isfinite(res.final_loss)
    import json

    assert json.loads((tmp_path / "run/config.json").read_text())["train_videos"] == 4
    with pytest.raises(VidsslError, match="needs videos with audio"):
        PretrainConfig(method="audio_visual").validate()
