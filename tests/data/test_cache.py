import os
import threading

import numpy as np
import pytest
from video_helpers import barcode_frames, read_barcode, ucf9, write_video

from vidssl.data import cache as cache_mod
from vidssl.data.cache import CachedVideoDataset, build_cache, entry_path
from vidssl.data.decode import read_frames
from vidssl.data.videos import VideoFolder, ucf101


@pytest.fixture
def folder(tmp_path):
    """Four short barcode videos of different lengths in two classes."""
    for k, n in enumerate((10, 14, 9, 12)):
        (tmp_path / "v" / "ab"[k % 2]).mkdir(parents=True, exist_ok=True)
        write_video(tmp_path / "v" / "ab"[k % 2] / f"{k}.avi", barcode_frames(n))
    return VideoFolder(tmp_path / "v")


def _all(cached):
    return [np.load(cached.entry(i)) for i in range(len(cached))]


def test_cached_frames_equal_decoded_frames(folder, tmp_path):
    cached = CachedVideoDataset(folder, tmp_path / "c", short_side=16)
    assert not cached.is_cached(0) and cached.num_frames(0) == folder.num_frames(0)
    idx = np.array([8, 1, 1, 3])
    frames = cached.read_frames(0, idx)
    assert cached.is_cached(0) and frames.flags.writeable
    assert np.array_equal(frames, read_frames(folder.source(0), idx, short_side=16))
    assert read_barcode(frames).tolist() == idx.tolist()
    assert [cached.num_frames(i) for i in range(4)] == [10, 9, 14, 12]  # sorted paths: a/0 a/2 b/1 b/3
    assert cached.read_frames(0, np.array([9 + 3])).shape == (1, 16, 32, 3)  # past the end: last frame
    assert cached.labels is folder.labels and cached.class_names is folder.class_names
    assert cached.source(2) == folder.source(2)


def test_entry_invalidated_by_edit_and_short_side(folder, tmp_path):
    cached = CachedVideoDataset(folder, tmp_path / "c", short_side=16)
    src = folder.source(0)
    old = cached.entry(0)
    assert read_barcode(cached.read_frames(0, np.array([0, 9]))).tolist() == [0, 9]  # remembers where entry 0 is
    assert entry_path(tmp_path / "c", src, 32) != old
    write_video(src, barcode_frames(10)[::-1].copy())  # same size and name, new content and mtime
    os.utime(src, ns=(5, 5))
    assert cached.entry(0) != old
    assert read_barcode(cached.read_frames(0, np.array([0, 9]))).tolist() == [9, 0]
    assert not old.exists()  # the stale version was removed when the new one was written
    assert len(list((tmp_path / "c").glob("*.npy"))) == 1


def test_reads_are_spans_of_the_entry_and_survive_a_cleared_cache(folder, tmp_path):
    cached = CachedVideoDataset(folder, tmp_path / "c", short_side=16)
    whole = np.load(build_cache(folder, tmp_path / "c", 16, progress=False).entry(2))  # 14 frames
    for idx in ([3, 4, 5, 6], [8, 2, 2, 0], [13, 13], [], [20, 0]):  # a clip, any order, repeats, none, past the end
        got = cached.read_frames(2, np.array(idx, dtype=np.int64))
        assert got.shape == (len(idx), 16, 32, 3) and got.flags.writeable and got.flags.c_contiguous
        assert np.array_equal(got, whole[np.minimum(np.array(idx, dtype=np.int64), 13)])
    for f in (tmp_path / "c").glob("*.npy"):
        f.unlink()  # the user clears the cache while a run goes on
    assert np.array_equal(cached.read_frames(2, np.array([13, 0])), whole[[13, 0]])  # scattered: memory map
    assert cached.is_cached(2)
    for f in (tmp_path / "c").glob("*.npy"):
        f.unlink()
    assert np.array_equal(cached.read_frames(2, np.array([5, 4])), whole[[5, 4]])  # one span
    cached.entry(2).write_bytes(b"not an array")  # the remembered layout must not be trusted blindly
    assert read_barcode(cached.read_frames(2, np.array([7, 8]))).tolist() == [7, 8]


def test_killed_build_resumes_to_identical_arrays(folder, tmp_path, monkeypatch):
    whole = _all(build_cache(folder, tmp_path / "whole", 16, progress=False))
    real, calls = cache_mod.decode.read_all, []

    def dying(path, short_side):
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while decoding the third video
        calls.append(path)
        return real(path, short_side)

    monkeypatch.setattr(cache_mod.decode, "read_all", dying)
    with pytest.raises(KeyboardInterrupt):
        build_cache(folder, tmp_path / "resumed", 16, progress=False)
    assert len(list((tmp_path / "resumed").glob("*.npy"))) == 2
    monkeypatch.setattr(cache_mod.decode, "read_all", real)

    def half_save(f, arr):  # killed while writing the third entry
        f.write(b"\x93NUMPY half an entry")
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod.np, "save", half_save)
    with pytest.raises(KeyboardInterrupt):
        build_cache(folder, tmp_path / "resumed", 16, progress=False)
    monkeypatch.undo()
    assert len(list((tmp_path / "resumed").iterdir())) == 2  # no half entry, no temporary file left
    (tmp_path / "resumed" / ".x.npy.tmp").write_bytes(b"left by a SIGKILL")  # never read as an entry
    resumed = build_cache(folder, tmp_path / "resumed", 16, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(whole, _all(resumed), strict=True))


def test_corrupt_entry_is_rebuilt(folder, tmp_path):
    cached = build_cache(folder, tmp_path / "c", 16, progress=False)
    good = np.load(cached.entry(1))
    cached.entry(1).write_bytes(cached.entry(1).read_bytes()[:200])
    assert np.array_equal(CachedVideoDataset(folder, tmp_path / "c", 16).load(1), good)


def test_concurrent_writers_of_one_entry(folder, tmp_path):
    # DataLoader workers filling the same entry at once: each renames a whole file over it
    barrier, errors = threading.Barrier(4), []

    def worker():
        try:
            barrier.wait()
            CachedVideoDataset(folder, tmp_path / "c", 16).load(2)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [p.suffix for p in (tmp_path / "c").iterdir()] == [".npy"]
    assert read_barcode(np.load(entry_path(tmp_path / "c", folder.source(2), 16))).tolist() == list(range(14))


def test_real_clips_cached(tmp_path):
    ds = ucf101(ucf9("classInd.txt", "testlist01.txt", "videos"), 1, "test").subset([0, 200])
    cached = build_cache(ds, tmp_path / "c", 64, progress=False)
    for i in range(2):
        assert cached.num_frames(i) == ds.num_frames(i)
        idx = np.array([5, 0, ds.num_frames(i) - 1])
        assert np.array_equal(cached.read_frames(i, idx), read_frames(ds.source(i), idx, short_side=64))
    assert cached.read_frames(0, np.array([0])).shape == (1, 64, 85, 3)


def test_short_sides_keep_their_own_entries(folder, tmp_path):
    small = build_cache(folder, tmp_path / "c", 16, progress=False)
    large = build_cache(folder, tmp_path / "c", 24, progress=False)
    assert all(small.is_cached(i) and large.is_cached(i) for i in range(len(folder)))  # neither evicted the other
    assert len(list((tmp_path / "c").glob("*.npy"))) == 2 * len(folder)
    stale_small, kept_large = small.entry(1), large.entry(1)
    os.utime(folder.source(1), ns=(7, 7))  # a new version of one source: only its entry at that short side is stale
    small.load(1)
    assert small.entry(1) != stale_small and not stale_small.exists() and kept_large.exists()


_READER = """
import sys
import numpy as np
from vidssl.data.cache import CachedVideoDataset
from vidssl.data.videos import VideoFolder

root, cache, side = sys.argv[1], sys.argv[2], int(sys.argv[3])
cached = CachedVideoDataset(VideoFolder(root), cache, side)
for _ in range(25):
    for i in range(len(cached)):
        got = cached.read_frames(i, np.array([0, 3]))
        assert got.shape[0] == 2 and min(got.shape[1:3]) == side, got.shape
print("done")
"""


def test_two_processes_at_two_short_sides_share_one_cache(folder, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "reader.py"
    script.write_text(_READER)
    repo = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    root = str(tmp_path / "v")
    procs = [subprocess.Popen([sys.executable, str(script), root, str(tmp_path / "c"), str(side)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for side in (16, 24)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "done", err[-2000:]
    for side in (16, 24):
        assert all(CachedVideoDataset(folder, tmp_path / "c", side).is_cached(i) for i in range(len(folder)))


def test_fill_cache_lists_unreadable_videos_or_raises_naming_the_file(folder, tmp_path):
    cached = CachedVideoDataset(folder, tmp_path / "c", short_side=16)
    cached.load(3)  # already cached: not decoded again
    stamp = cached.entry(3).stat().st_mtime_ns
    broken = folder.source(1)
    with open(broken, "r+b") as f:  # damaged after indexing: every byte after the header is gone
        f.truncate(64)
    with pytest.raises(Exception, match=r"2\.avi"):  # sorted: a/0 a/2 b/1 b/3
        cache_mod.fill_cache(cached, progress=False)
    assert cache_mod.fill_cache(cached, progress=False, skip_unreadable=True) == [1]
    assert [cached.is_cached(i) for i in range(4)] == [True, False, True, True]
    assert cached.entry(3).stat().st_mtime_ns == stamp
    assert cache_mod.fill_cache(cached, progress=False, skip_unreadable=True) == [1]  # listed again, not cached
