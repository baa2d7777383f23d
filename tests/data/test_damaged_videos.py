"""Damaged, changing and awkwardly named video files (issue 14; bench/bench_faults.py runs the long versions)."""

import random
import shutil
import warnings

import numpy as np
import pytest
from video_helpers import barcode_frames, copy_layout, read_barcode, ucf9, write_video

from vidssl.config import AugConfig, DataConfig
from vidssl.data.cache import CachedVideoDataset
from vidssl.data.index import index_dataset, read_manifest
from vidssl.data.loading import ViewDataset
from vidssl.data.videos import VideoFolder, open_video_dataset
from vidssl.eval.classifier import LabelledViews


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("clip") / "c.avi", barcode_frames(12))


def test_damaged_manifest_lines_are_probed_again_with_one_warning(tmp_path, clip):
    root = copy_layout(tmp_path / "v", clip, ["a/1.avi", "a/2.avi", "b/3.avi"])
    m = tmp_path / "m.jsonl"
    index_dataset(root, m, progress=False)
    lines = m.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"frames": 12', '"frames": 99')  # still JSON, but not what was written
    m.write_text("".join(lines))
    with pytest.warns(UserWarning, match=r"m\.jsonl: 1 damaged line\(s\) skipped"):
        again = index_dataset(root, m, progress=False)
    assert again.probed == 1 and [r.frames for r in again.records] == [12, 12, 12]
    assert len(read_manifest(m)) == 3


def test_a_cache_entry_whose_header_lies_is_rebuilt_with_a_warning(tmp_path, clip):
    ds = VideoFolder(copy_layout(tmp_path / "v", clip, ["a/1.avi"]), short_side=16)
    cached = CachedVideoDataset(ds, tmp_path / "c", 16)
    good = np.array(cached.load(0))
    entry = cached.entry(0)
    data = entry.read_bytes()
    entry.write_bytes(data.replace(b"(12, ", b"(6,  ", 1))  # a flipped digit: a valid header of half the frames
    with pytest.warns(UserWarning, match="damaged frame-cache entry"):
        assert np.array_equal(CachedVideoDataset(ds, tmp_path / "c", 16).load(0), good)
    assert entry.read_bytes() == data


def test_a_video_that_becomes_unreadable_is_skipped_once_and_its_label_follows(tmp_path, clip):
    root = copy_layout(tmp_path / "v", clip, ["a/1.avi", "b/2.avi", "c/3.avi"])
    ds = VideoFolder(root)
    views = ViewDataset(ds, AugConfig(temporal_shift=0), DataConfig(clip_frames=4, crop_size=16), 1, seed=0)
    (root / "a/1.avi").write_bytes(b"")  # truncated to nothing while the run goes on
    with pytest.warns(UserWarning, match=r"skipped an unreadable video, .*1\.avi: the file is empty"):
        used, v = views.item((0, 0, 0))
    assert used == 1 and v.shape == (1, 3, 4, 16, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once
        _, y = LabelledViews(views, ds.labels["class"])[(0, 1, 0)]
    assert y.item() == 1  # the label of the video used
    (root / "b/2.avi").unlink()
    (root / "c/3.avi").unlink()
    with pytest.warns(UserWarning), pytest.raises(Exception, match="none of the 3 videos"):
        views.item((0, 2, 0))


def test_paths_with_spaces_and_non_ascii_characters(tmp_path, clip):
    root = copy_layout(tmp_path / "dossier ü", clip, [f"cl asse é/v_x_g0{g}_c01 ñ.avi" for g in range(1, 5)])
    data = DataConfig(dataset="folder", root=str(root), cache_dir=str(tmp_path / "cache ß"), cache_short_side=16,
                      crop_size=16, clip_frames=4)
    train, test = open_video_dataset(data, progress=False)
    assert len(train) + len(test) == 4
    assert read_barcode(train.read_frames(0, np.array([5, 2]))).tolist() == [5, 2]
    assert "é" in train.source(0) and train.entry(0).is_file()


def test_fuzzed_real_clips_never_crash_the_index_and_each_bad_one_is_listed_once(tmp_path):
    src = ucf9("videos/Archery/v_Archery_g01_c01.avi") / "videos/Archery/v_Archery_g01_c01.avi"
    rng, root = random.Random(0), tmp_path / "fuzz"
    root.mkdir()
    for k in range(6):
        data = bytearray(src.read_bytes())
        if k % 2:
            for _ in range(rng.randint(1, 16)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        else:
            data = data[: rng.randrange(len(data))]
        (root / f"f{k}.avi").write_bytes(bytes(data))
    report = index_dataset(root, tmp_path / "m.jsonl", progress=False)
    assert len(report.records) == 6
    listed = [line.split("\t")[0] for line in report.problems.read_text().splitlines()[1:]]
    assert sorted(listed) == sorted({r.path for r in report.bad}) and all(r.reason for r in report.bad)
    views = ViewDataset(VideoFolder(root), AugConfig(temporal_shift=0), DataConfig(clip_frames=4, crop_size=16), 1, 0)
    usable = [i for i, r in enumerate(report.records) if r.usable]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in usable:
            for step in range(3):  # every usable clip reads, or is replaced and reported once
                views.item((i, step, 0))
    reported = [str(w.message) for w in caught]
    assert len(reported) == len(set(reported)) == len(views.unreadable)


def test_a_full_disk_during_indexing_names_the_file_and_keeps_the_manifest(tmp_path, clip):
    """bench_faults found: the failed append left bytes buffered, and closing the file raised a bare OSError."""
    import resource
    import signal

    from vidssl.errors import VidsslError

    root = copy_layout(tmp_path / "v", clip, ["a/1.avi", "a/2.avi"])
    m = tmp_path / "m.jsonl"
    index_dataset(root, m, progress=False)
    good = m.read_bytes()
    shutil.copy(clip, root / "a/3.avi")  # a new file: probed and appended to the partial file
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))
    try:
        with pytest.raises(VidsslError, match=r"could not write .*m\.jsonl\.partial: File too large"):
            index_dataset(root, m, progress=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert m.read_bytes() == good
    assert len(index_dataset(root, m, progress=False).records) == 3  # the torn partial line is not trusted
