import csv
import shutil

import numpy as np
import pytest
from video_helpers import BAD_FILES, FORMATS, barcode_frames, read_barcode, ucf9, write_video

from vidssl.data import decode
from vidssl.data.decode import MAX_SHORTFALL, VideoError, output_size, probe, read_all, read_frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("formats")
    return {name: write_video(d / name, barcode_frames(60), codec, **kw) for codec, name, kw in FORMATS}


@pytest.mark.parametrize("name", [f[1] for f in FORMATS])
def test_every_frame_decodes_in_order(videos, name):
    info = probe(videos[name])
    assert (info.frames, info.width, info.height, info.fps, info.has_audio) == (60, 64, 32, 25.0, False)
    assert info.duration_s == pytest.approx(2.4)
    assert read_barcode(read_frames(videos[name], np.arange(60))).tolist() == list(range(60))
    assert read_barcode(read_all(videos[name])).tolist() == list(range(60))


@pytest.mark.parametrize("name", [f[1] for f in FORMATS])
def test_order_duplicates_and_seeking(videos, name):
    frames = read_frames(videos[name], [5, 2, 2, 9])
    assert frames.shape == (4, 32, 64, 3) and frames.dtype == np.uint8
    assert read_barcode(frames).tolist() == [5, 2, 2, 9]
    for start in (24, 31, 47, 59):  # far enough in to seek to a keyframe
        idx = np.array([start, start - 1, start, (start + 3) % 60])
        seeked = read_frames(videos[name], idx)
        assert read_barcode(seeked).tolist() == idx.tolist()
        assert np.array_equal(seeked, read_frames(videos[name], idx, seek=False))


@pytest.mark.parametrize("name", [f[1] for f in FORMATS])
def test_random_clips_equal_a_full_decode(videos, name):
    # the packet index is built on the first read and reused by every later one
    everything = read_all(videos[name], short_side=16)
    rng = np.random.default_rng(0)
    for _ in range(12):
        start = int(rng.integers(0, 52))
        idx = np.concatenate([start + np.arange(8), rng.integers(0, 60, 2)])
        assert np.array_equal(read_frames(videos[name], idx, short_side=16), everything[idx])
    clip = read_frames(videos[name], np.arange(30, 46))  # sorted distinct: returned without a second copy
    assert clip.flags.writeable and clip.flags.c_contiguous and read_barcode(clip).tolist() == list(range(30, 46))


def test_a_file_with_one_keyframe_is_read_from_the_start(tmp_path):
    path = write_video(tmp_path / "one_gop.avi", barcode_frames(40), gop=1000, options={"sc_threshold": "1000000000"})
    key = (str(path), path.stat().st_size, path.stat().st_mtime_ns)
    for idx in ([30, 31, 32], [5, 39], [39, 0]):  # the first read finds it unseekable, the next ones know
        assert read_barcode(read_frames(path, idx)).tolist() == idx
    assert decode._INDEX[key] is None


def test_a_replaced_file_is_indexed_again(tmp_path):
    path = tmp_path / "v.mp4"
    write_video(path, barcode_frames(60), "libx264", gop=10)
    assert read_barcode(read_frames(path, [45, 50])).tolist() == [45, 50]
    first = decode._INDEX[(str(path), path.stat().st_size, path.stat().st_mtime_ns)]
    # another frame rate and GOP: the old index would map times to the wrong frames
    write_video(tmp_path / "w.mp4", barcode_frames(90)[::-1], "libx264", fps=50, gop=7).replace(path)
    assert read_barcode(read_frames(path, [45, 50, 89])).tolist() == [44, 39, 0]
    again = decode._INDEX[(str(path), path.stat().st_size, path.stat().st_mtime_ns)]
    assert (len(first.pts), len(again.pts)) == (60, 90) and len(again.keys) > len(first.keys)


def test_reads_from_threads_agree(videos):
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(name, np.arange(s, s + 8)) for name in ("v.avi", "v.mp4", "v.mkv") for s in (0, 17, 40, 52)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda j: read_frames(videos[j[0]], j[1], short_side=16), jobs * 3))
    for (name, idx), frames in zip(jobs * 3, got):
        assert np.array_equal(frames, read_all(videos[name], short_side=16)[idx])


def test_resize_to_short_side(videos):
    frames = read_frames(videos["v.avi"], [7, 3], short_side=16)
    assert frames.shape == (2, 16, 32, 3)
    assert read_barcode(frames).tolist() == [7, 3]
    assert output_size(33, 17, 8) == (16, 8) and output_size(17, 33, 8) == (8, 16) and output_size(5, 7, None) == (5, 7)


def test_odd_size_and_single_frame(tmp_path):
    odd = write_video(tmp_path / "odd.mp4", barcode_frames(5, 17, 33), "libx264", pix_fmt="yuv444p")
    assert (probe(odd).width, probe(odd).height, probe(odd).frames) == (33, 17, 5)
    frames = read_frames(odd, [4, 0])
    assert frames.shape == (2, 17, 33, 3) and read_barcode(frames).tolist() == [4, 0]
    assert read_frames(odd, [1], short_side=8).shape == (1, 8, 16, 3)
    one = write_video(tmp_path / "one.avi", barcode_frames(1))
    assert probe(one).frames == 1
    assert read_frames(one, [0, 0]).shape == (2, 32, 64, 3)


def test_audio_is_ignored_and_reported(tmp_path):
    v = write_video(tmp_path / "a.mp4", barcode_frames(20), "libx264", audio=True)
    assert probe(v).has_audio and probe(v).frames == 20
    assert read_barcode(read_frames(v, [19, 0, 10])).tolist() == [19, 0, 10]


def test_wrong_extension_is_read_by_content(videos, tmp_path):
    renamed = shutil.copy(videos["v.mp4"], tmp_path / "really_h264.avi")
    assert probe(renamed).codec == "h264"
    assert read_barcode(read_frames(renamed, [3, 40])).tolist() == [3, 40]


@pytest.mark.parametrize("make, status", BAD_FILES)
def test_bad_files_raise_clear_errors(tmp_path, make, status):
    path = tmp_path / "bad.avi"
    make(path)
    for call in (lambda: probe(path), lambda: read_frames(path, [0])):
        with pytest.raises(VideoError) as e:
            call()
        assert e.value.status == status and str(path) in str(e.value)


def test_truncated_file(tmp_path):
    whole = write_video(tmp_path / "whole.mkv", barcode_frames(60), "libx264", gop=10).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: int(len(whole) * 0.7)])
    n = probe(cut).frames
    assert 0 < n < 60
    assert read_barcode(read_frames(cut, np.arange(n))).tolist() == list(range(n))
    cut.write_bytes(whole[:200])  # not even the headers
    with pytest.raises(VideoError):
        read_frames(cut, [0])


def test_frames_past_the_end(videos):
    v = videos["v.avi"]
    assert read_barcode(read_frames(v, [59 + MAX_SHORTFALL, 0])).tolist() == [59, 0]  # repeats the last frame
    with pytest.raises(VideoError, match="only 60 decodable frames") as e:
        read_frames(v, [60 + MAX_SHORTFALL])
    assert e.value.status == "too_short"
    with pytest.raises(ValueError):
        read_frames(v, [-1])


def test_real_ucf101_clips():
    root = ucf9("MANIFEST.tsv", "videos")
    with open(root / "MANIFEST.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[::120]  # 11 clips, every class
    for r in rows:
        info = probe(root / "videos" / r["relative_path"])
        assert info.frames == int(r["frames"]), r["relative_path"]
        assert (info.width, info.height, info.codec) == (160, 120, "mpeg4")
        assert info.has_audio == (r["has_audio"] == "1") and info.fps == pytest.approx(float(r["fps"]), abs=1e-3)
    path = root / "videos" / rows[3]["relative_path"]
    idx = np.array([40, 41, 42, 40, 3])
    frames = read_frames(path, idx)
    assert frames.shape == (5, 120, 160, 3) and np.array_equal(frames[0], frames[3])
    assert np.array_equal(frames, read_frames(path, idx, seek=False))
    assert np.array_equal(frames, read_all(path)[idx])


def test_real_original_whose_header_lies():
    # the AVI header and packet count say 300 frames; one packet is a 7-byte "not coded"
    # placeholder that decodes to nothing, so 299 frames come out
    rel = "original-sample/Basketball/v_Basketball_g13_c01.avi"
    path = ucf9(rel) / rel
    info = probe(path)
    assert (info.frames, info.width, info.height, info.has_audio) == (299, 320, 240, False)
    assert probe(path, exact=False).frames == 300
    assert read_frames(path, [298, 0]).shape == (2, 240, 320, 3)
