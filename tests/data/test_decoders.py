"""The decord backend against PyAV: the same frames, counted the same way, the same errors.

Tests that need decord skip, naming what to install, where the ``decord2`` package is not
installed; the tests of the error for an unavailable backend run everywhere.
"""

import sys

import numpy as np
import pytest
from video_helpers import BAD_FILES, FORMATS, barcode_frames, read_barcode, ucf9, write_video

from vidssl.config import DataConfig
from vidssl.data import decode, decode_decord
from vidssl.data.cache import CachedVideoDataset
from vidssl.data.decode import MAX_SHORTFALL, VideoError, probe
from vidssl.data.decoders import get_decoder
from vidssl.data.videos import VideoFolder, open_video_dataset
from vidssl.errors import VidsslError

# Resized frames: decord hands out full-size RGB, resized by torch (antialiased bilinear),
# while PyAV scales the 4:2:0 YUV planes before converting. Mean absolute difference from
# PyAV's frames on the ucf101-9 clips below: 3.2 levels in 255 at short side 40, 2.2 at 64,
# 1.0 at 128 (up to ~60 at single pixels on colour edges); 3.0-3.1 on the barcode videos at
# 16 (the bars' edges are blurred a little more). Nearest-neighbour resizing of the same
# frames is 12.0 / 10.1 / 6.2 away, a wrong frame or colour order much further.
RESIZED_MEAN_TOL = 4.0


@pytest.fixture(scope="module")
def dd():
    """The decord backend module, or skip saying what to install."""
    try:
        decode_decord.require()
    except VidsslError as e:
        pytest.skip(f"decord backend not available here: {e}")
    return decode_decord


def textured(n: int, seed: int = 0) -> np.ndarray:
    """Barcode frames with per-pixel noise, so that any difference in colour conversion shows."""
    noise = np.random.default_rng(seed).integers(-40, 41, (n, 32, 64, 3))
    return np.clip(barcode_frames(n).astype(int) + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Every test format, textured: for frames that must be equal."""
    d = tmp_path_factory.mktemp("decoders")
    return {name: write_video(d / name, textured(60), codec, **kw) for codec, name, kw in FORMATS}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """Every test format, plain barcodes: pixel noise would measure the filters, not the decoders."""
    d = tmp_path_factory.mktemp("plain")
    return {name: write_video(d / name, barcode_frames(60), codec, **kw) for codec, name, kw in FORMATS}


@pytest.mark.parametrize("name", [f[1] for f in FORMATS])
def test_full_size_frames_equal_pyav(dd, videos, name):
    path = videos[name]
    everything = decode.read_all(path)
    assert read_barcode(everything).tolist() == list(range(60))
    assert np.array_equal(dd.read_all(path), everything)
    rng = np.random.default_rng(1)
    clips = [[5, 2, 2, 9], [59, 0, 31], [47, 46, 47, 50]]  # unsorted, repeated, far apart
    clips += [(int(s) + np.arange(16)).tolist() for s in rng.integers(0, 45, 6)]
    for idx in clips:
        got = dd.read_frames(path, idx)
        assert got.dtype == np.uint8 and got.flags.c_contiguous
        assert np.array_equal(got, decode.read_frames(path, idx)), idx


@pytest.mark.parametrize("name", [f[1] for f in FORMATS])
def test_resized_frames_close_to_pyav(dd, plain, name):
    path = plain[name]
    idx = [30, 3, 3, 59, 12]
    got, ref = dd.read_frames(path, idx, short_side=16), decode.read_frames(path, idx, short_side=16)
    assert got.shape == ref.shape == (5, 16, 32, 3)
    assert read_barcode(got).tolist() == idx
    assert np.abs(got.astype(int) - ref).mean() < RESIZED_MEAN_TOL
    assert np.array_equal(dd.read_all(path, short_side=16)[idx], got)


def test_resized_real_clips_close_to_pyav(dd):
    root = ucf9("videos/ApplyEyeMakeup", "videos/Basketball")
    paths = sorted(root.glob("videos/ApplyEyeMakeup/*.avi"))[:2] + sorted(root.glob("videos/Basketball/*.avi"))[:2]
    for short in (40, 64, 128):
        diffs = []
        for p in paths:
            idx = np.arange(20, 36)
            got, ref = dd.read_frames(p, idx, short), decode.read_frames(p, idx, short)
            assert got.shape == ref.shape and min(got.shape[1:3]) == short
            diffs.append(np.abs(got.astype(int) - ref).mean())
        assert np.mean(diffs) < RESIZED_MEAN_TOL, (short, diffs)


def test_frame_count_agrees_with_probe_where_the_header_lies(dd):
    # AVI header and packets say 300 frames, one is a "not coded" placeholder: PyAV decodes
    # 299, decord's container count says 300; frame i must still be PyAV's frame i
    rel = "original-sample/Basketball/v_Basketball_g13_c01.avi"
    path = ucf9(rel) / rel
    frames = dd.read_all(path)
    assert len(frames) == probe(path).frames == 299
    assert np.array_equal(frames, decode.read_all(path))


def test_frames_past_the_end_and_empty_reads(dd, videos):
    v = videos["v.avi"]
    last = decode.read_frames(v, [59])
    got = dd.read_frames(v, [59 + MAX_SHORTFALL, 0])  # repeats the last frame, as PyAV does
    assert np.array_equal(got[0], last[0]) and read_barcode(got).tolist() == [59, 0]
    with pytest.raises(VideoError, match="only 60 decodable frames") as e:
        dd.read_frames(v, [60 + MAX_SHORTFALL])
    assert e.value.status == "too_short"
    with pytest.raises(ValueError):
        dd.read_frames(v, [-1])
    assert dd.read_frames(v, [], short_side=16).shape == decode.read_frames(v, [], short_side=16).shape == (0, 16, 32, 3)


def test_truncated_file_reads_what_probe_counts(dd, tmp_path):
    whole = write_video(tmp_path / "whole.mkv", barcode_frames(60), "libx264", gop=10).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: int(len(whole) * 0.7)])
    n = probe(cut).frames
    assert 0 < n < 60
    assert np.array_equal(dd.read_all(cut), decode.read_all(cut))


@pytest.mark.parametrize("make, status", BAD_FILES)
def test_bad_files_raise_pyavs_errors(dd, tmp_path, make, status):
    path = tmp_path / "bad.avi"
    make(path)
    with pytest.raises(VideoError) as e:
        dd.read_frames(path, [0])
    assert e.value.status == status and str(path) in str(e.value)


def test_datasets_and_frame_cache_decode_with_the_chosen_backend(dd, tmp_path):
    for k, n in enumerate((10, 14)):
        (tmp_path / "v" / "ab"[k]).mkdir(parents=True)
        write_video(tmp_path / "v" / "ab"[k] / f"{k}.avi", textured(n, seed=k))
    pyav, dec = VideoFolder(tmp_path / "v", 16), VideoFolder(tmp_path / "v", 16, decoder="decord")
    assert dec.subset([1]).decoder == "decord"
    idx = np.array([9, 0, 4])
    assert np.array_equal(dec.read_frames(1, idx), dd.read_frames(dec.source(1), idx, 16))
    assert read_barcode(dec.read_frames(1, idx)).tolist() == idx.tolist()
    a, b = CachedVideoDataset(pyav, tmp_path / "c", 16), CachedVideoDataset(dec, tmp_path / "c", 16)
    assert a.entry(1) != b.entry(1)  # resized frames differ: each backend has its own entries
    assert np.array_equal(b.read_frames(1, idx), dec.read_frames(1, idx))
    assert np.array_equal(a.read_frames(1, idx), pyav.read_frames(1, idx))
    full = CachedVideoDataset(VideoFolder(tmp_path / "v", decoder="decord"), tmp_path / "c", None)
    assert np.array_equal(full.load(0), decode.read_all(full.source(0)))  # full size: PyAV's frames


def test_unavailable_backend_is_one_line_naming_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "decord", None)  # as if decord2 were not installed
    with pytest.raises(VidsslError) as e:
        get_decoder("decord")
    msg = str(e.value)
    assert "\n" not in msg and "pip install 'vidssl[decoders]'" in msg and "decord2==" in msg and "--decoder pyav" in msg
    (tmp_path / "v" / "a").mkdir(parents=True)
    write_video(tmp_path / "v" / "a" / "0.avi", barcode_frames(10))
    with pytest.raises(VidsslError, match=r"pip install 'vidssl\[decoders\]'"):
        VideoFolder(tmp_path / "v", decoder="decord")
    cfg = DataConfig(dataset="folder", root=str(tmp_path / "v"), cache_dir=str(tmp_path / "cache"), decoder="decord")
    with pytest.raises(VidsslError, match=r"pip install 'vidssl\[decoders\]'"):
        open_video_dataset(cfg, progress=False)
    assert not (tmp_path / "cache").exists()  # refused before indexing anything
    with pytest.raises(VidsslError, match="unknown --decoder 'ffmpeg'; choose one of: pyav, decord"):
        get_decoder("ffmpeg")
    assert get_decoder("pyav") is decode


def test_unavailable_backend_on_the_command_line(monkeypatch, tmp_path, capsys):
    from vidssl.cli import main

    monkeypatch.setitem(sys.modules, "decord", None)
    (tmp_path / "v").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--dataset", "folder", "--root", str(tmp_path / "v"), "--decoder", "decord",
              "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("vidssl: error: --decoder decord needs the decord2 package") and "pip install" in err


def test_decoder_flag_reaches_the_config_and_is_recorded():
    from vidssl.cli import _pretrain_config, build_parser, parse
    from vidssl.config import PretrainConfig, from_dict, to_dict

    cfg = _pretrain_config(parse(["pretrain", "--dataset", "folder", "--decoder", "decord"]))
    assert cfg.data.decoder == "decord" and to_dict(cfg)["data"]["decoder"] == "decord"
    assert _pretrain_config(parse(["pretrain"])).data.decoder == "pyav"
    assert build_parser().parse_args(["eval", "ck.pt", "--decoder", "decord"]).decoder == "decord"
    old = to_dict(PretrainConfig())
    del old["data"]["decoder"]  # a run recorded before --decoder existed reads as PyAV
    assert from_dict(PretrainConfig, old).data.decoder == "pyav"
