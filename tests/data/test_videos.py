import csv
import json
import os
import warnings

import numpy as np
import pytest
from video_helpers import barcode_frames, copy_layout, read_barcode, ucf9, write_audio_only, write_video

from vidssl.config import DataConfig
from vidssl.data import index as index_mod
from vidssl.data.cache import CachedVideoDataset
from vidssl.data.index import find_videos, index_dataset, read_manifest
from vidssl.data.videos import VideoFolder, hmdb51, open_video_dataset, stratified_split, ucf101
from vidssl.errors import VidsslError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """One 12-frame AVI that the layouts below copy (copies are cheap, encoding is not)."""
    return write_video(tmp_path_factory.mktemp("tiny") / "t.avi", barcode_frames(12))


def test_video_folder_labelled_and_flat(tmp_path, tiny):
    root = copy_layout(tmp_path / "lab", tiny, ["run/a.avi", "run/b.MP4", "jump/x/c.mkv", "loose.avi"])
    (root / "run/notes.txt").write_text("not a video")
    (root / "run/.hidden.avi").write_bytes(b"")
    ds = VideoFolder(root)
    names = [os.path.basename(ds.source(i)) for i in range(len(ds))]
    assert names == ["c.mkv", "loose.avi", "a.avi", "b.MP4"]
    assert ds.class_names["class"] == ["jump", "run"]
    assert ds.labels["class"].tolist() == [0, -1, 1, 1] and ds.labels["class"].dtype == np.int64
    assert ds.num_frames(0) == 12 and read_barcode(ds.read_frames(2, np.array([3, 1]))).tolist() == [3, 1]
    flat = VideoFolder(copy_layout(tmp_path / "flat", tiny, ["a.avi", "b.avi"]))
    assert flat.labels["class"].tolist() == [-1, -1] and flat.class_names["class"] == []
    (tmp_path / "none").mkdir()
    with pytest.raises(VidsslError, match="no videos found"):
        VideoFolder(tmp_path / "none")
    with pytest.raises(VidsslError, match="is not a directory"):
        VideoFolder(tmp_path / "absent")


def _ucf(root, tiny):
    copy_layout(root / "videos", tiny, [f"{c}/v_{c}_g0{g}_c01.avi" for c in ("Archery", "Basketball") for g in (1, 2, 3)])
    (root / "classInd.txt").write_text("1 Archery\n2 Basketball\n")
    (root / "trainlist01.txt").write_text(
        "Archery/v_Archery_g02_c01.avi 1\nArchery/v_Archery_g03_c01.avi 1\r\n\nBasketball/v_Basketball_g02_c01.avi 2\n")
    (root / "testlist01.txt").write_text("Archery/v_Archery_g01_c01.avi\nBasketball/v_Basketball_g01_c01.avi\n")
    return root


def test_ucf101_split_files(tmp_path, tiny):
    root = _ucf(tmp_path, tiny)
    train, test = ucf101(root, 1, "train"), ucf101(root, 1, "test")
    assert len(train) == 3 and len(test) == 2
    assert train.labels["class"].tolist() == [0, 0, 1] and test.labels["class"].tolist() == [0, 1]
    assert train.class_names["class"] == ["Archery", "Basketball"]
    assert test.source(1).endswith("videos/Basketball/v_Basketball_g01_c01.avi")
    with pytest.raises(VidsslError, match=r"trainlist02\.txt not found"):
        ucf101(root, 2, "train")


@pytest.mark.parametrize(
    "listname, text, match",
    [
        ("trainlist01.txt", "Archery/v_Archery_g02_c01.avi 1\nArchery/v_Archery_g03_c01.avi\n",
         r"trainlist01\.txt:2: expected"),
        ("trainlist01.txt", "Archery/v_Archery_g02_c01.avi 2\n", r"trainlist01\.txt:1: label '2' does not match"),
        ("testlist01.txt", "Archery/v_Archery_g01_c01.avi\nArchery/v_Archery_g09_c01.avi\n",
         r"testlist01\.txt:2 names .*g09"),
        ("testlist01.txt", "Swimming/v_Swimming_g01_c01.avi\n", r"testlist01\.txt:1: expected"),
    ],
)
def test_ucf101_bad_lines_name_file_and_line(tmp_path, tiny, listname, text, match):
    root = _ucf(tmp_path, tiny)
    (root / listname).write_text(text)
    with pytest.raises(VidsslError, match=match):
        ucf101(root, 1, listname[:-10])


def test_hmdb51_split_files(tmp_path, tiny):
    copy_layout(tmp_path, tiny, [f"{c}/{c}_{k}.avi" for c in ("jump", "wave") for k in range(3)])
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "jump_test_split1.txt").write_text("jump_0.avi 1\njump_1.avi 2\njump_2.avi 0\n")
    (splits / "wave_test_split1.txt").write_text("wave_0.avi 2 \nwave_1.avi 1\nwave_2.avi 1\n")
    train, test = hmdb51(tmp_path, 1, "train"), hmdb51(tmp_path, 1, "test")
    assert [os.path.basename(p) for p in train.paths] == ["jump_0.avi", "wave_1.avi", "wave_2.avi"]
    assert train.labels["class"].tolist() == [0, 1, 1] and test.labels["class"].tolist() == [0, 1]
    assert test.class_names["class"] == ["jump", "wave"]
    with pytest.raises(VidsslError, match="no HMDB51 split files"):
        hmdb51(tmp_path, 2, "train")
    (splits / "wave_test_split1.txt").write_text("wave_0.avi 2\nwave_1.avi train\n")
    with pytest.raises(VidsslError, match=r"wave_test_split1\.txt:2: expected"):
        hmdb51(tmp_path, 1, "train")
    (splits / "wave_test_split1.txt").write_text("wave_9.avi 1\n")
    with pytest.raises(VidsslError, match=r"wave_test_split1\.txt:1 names wave/wave_9\.avi"):
        hmdb51(tmp_path, 1, "train")


@pytest.mark.filterwarnings("ignore:.*no recording groups")
def test_stratified_split_is_deterministic_and_70_30(tmp_path, tiny):
    root = copy_layout(tmp_path, tiny, [f"{c}/{k}.avi" for c in "ab" for k in range(10)] + ["c/0.avi"])
    ds = VideoFolder(root)
    train, test = stratified_split(ds, seed=0)
    assert np.bincount(test.labels["class"], minlength=3).tolist() == [3, 3, 0]
    assert np.bincount(train.labels["class"]).tolist() == [7, 7, 1]
    assert not set(train.paths) & set(test.paths)
    assert stratified_split(ds, seed=0)[1].paths == test.paths
    assert stratified_split(ds, seed=1)[1].paths != test.paths


def _bad_files(d):
    d.mkdir(parents=True, exist_ok=True)
    (d / "zero.avi").write_bytes(b"")
    (d / "text.avi").write_text("hello\n" * 30)
    write_audio_only(d / "sound.mp4")


def test_index_reports_every_problem_and_resumes(tmp_path, tiny, monkeypatch):
    root = copy_layout(tmp_path / "v", tiny, ["a/1.avi", "a/2.avi", "b/3.avi"])
    write_video(root / "b/short.avi", barcode_frames(3))
    _bad_files(root / "b")
    out = tmp_path / "idx/index.jsonl"
    real = index_mod.probe_record
    calls = []

    def dying(path, min_frames=1):
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed mid-index
        calls.append(path)
        return real(path, min_frames)

    monkeypatch.setattr(index_mod, "probe_record", dying)
    with pytest.raises(KeyboardInterrupt):
        index_dataset(root, out, min_frames=8, progress=False)
    assert len(read_manifest(out.with_name("index.jsonl.partial"))) == 3 and not out.exists()
    monkeypatch.setattr(index_mod, "probe_record", real)
    report = index_dataset(root, out, min_frames=8, progress=False)
    assert report.probed == len(find_videos(root)) - 3
    status = {os.path.basename(r.path): r.status for r in report.records}
    assert status == {"1.avi": "ok", "2.avi": "ok", "3.avi": "ok", "short.avi": "too_short", "zero.avi": "empty",
                      "text.avi": "unreadable", "sound.mp4": "no_video"}
    assert [json.loads(line)["path"] for line in out.read_text().splitlines()] == [r.path for r in report.records]
    problems = report.problems.read_text().splitlines()
    assert len(problems) == 5 and any("text.avi\tunreadable\t" in p for p in problems)
    assert not out.with_name("index.jsonl.partial").exists()
    os.utime(root / "a/1.avi", ns=(1, 1))  # a changed file is probed again, the rest reused
    assert index_dataset(root, out, min_frames=8, progress=False).probed == 1


@pytest.mark.parametrize("layout", ["split", "train_test"])
def test_open_video_dataset_folder_skips_bad_videos_with_one_warning(tmp_path, tiny, layout):
    files = [f"{c}/{k}.avi" for c in ("a", "b") for k in range(5)]
    if layout == "train_test":
        files = [f"train/{f}" for f in files] + ["test/a/t.avi", "test/b/t.avi"]
    root = copy_layout(tmp_path / "v", tiny, files)
    _bad_files(root / ("train/b" if layout == "train_test" else "b"))
    cfg = DataConfig(dataset="folder", root=str(root), cache_dir=str(tmp_path / "cache"), clip_frames=4,
                     crop_size=16, cache_short_side=16, frame_cache=False, group_pattern=r"^(\w+)\.")
    with pytest.warns(UserWarning, match=r"skipped 3 of 1[53] videos .*problems\.tsv") as rec:
        train, test = open_video_dataset(cfg, progress=False)
    assert len(rec) == 1
    assert (len(train), len(test)) == ((7, 3) if layout == "split" else (10, 2))
    assert train.class_names["class"] == ["a", "b"] and sorted(set(test.labels["class"].tolist())) == [0, 1]
    assert train.frames == [12] * len(train)
    assert train.read_frames(0, np.array([0, 11])).shape == (2, 16, 32, 3)
    cfg.frame_cache = True
    with warnings.catch_warnings(record=True):
        cached, _ = open_video_dataset(cfg, progress=False)
    assert isinstance(cached, CachedVideoDataset)
    assert np.array_equal(cached.read_frames(1, np.array([5, 2])), train.read_frames(1, np.array([5, 2])))
    cfg.crop_size = 32
    with pytest.raises(VidsslError, match="--crop-size 32 is larger"):
        open_video_dataset(cfg, progress=False)


def test_real_ucf101_split_1():
    root = ucf9("classInd.txt", "trainlist01.txt", "testlist01.txt", "videos")
    train, test = ucf101(root, 1, "train"), ucf101(root, 1, "test")
    assert (len(train), len(test)) == (873, 341)
    assert len(train.class_names["class"]) == 9 and train.class_names["class"][0] == "ApplyEyeMakeup"
    assert np.bincount(train.labels["class"]).min() > 0 and np.bincount(test.labels["class"]).min() > 0
    assert not {p.split("_g")[1][:2] for p in test.paths} & {p.split("_g")[1][:2] for p in train.paths}


def test_real_index_of_a_subset(tmp_path):
    root = ucf9("MANIFEST.tsv", "videos")
    with open(root / "MANIFEST.tsv") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[::60]
    report = index_dataset([root / "videos" / r["relative_path"] for r in rows], tmp_path / "i.jsonl",
                           min_frames=16, progress=False)
    assert [r.frames for r in report.records] == [int(r["frames"]) for r in rows]
    assert all(r.status == "ok" for r in report.records)


def _groups_of(ds, pattern=r"_g(\d+)_c"):
    import re

    return {(int(lab), re.search(pattern, os.path.basename(p)).group(1)) for p, lab in zip(ds.paths, ds.labels["class"])}


def test_folder_split_keeps_recording_groups_whole(tmp_path, tiny):
    files = [f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi" for c in ("Archery", "Bowling") for g in range(1, 6) for k in (1, 2, 3)]
    ds = VideoFolder(copy_layout(tmp_path / "v", tiny, files))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # groups found: no warning
        train, test = stratified_split(ds, seed=0)
    assert not _groups_of(train) & _groups_of(test)  # no recording on both sides
    assert np.bincount(test.labels["class"]).tolist() == [3, 3]  # 1 of 5 groups: closest to round(0.3 * 15) = 4
    assert len(train) + len(test) == len(ds) and not set(train.paths) & set(test.paths)
    assert "by recording group" in train.split_rule and train.split_rule == test.split_rule
    assert stratified_split(ds, seed=0)[1].paths == test.paths
    assert stratified_split(ds, seed=1)[1].paths != test.paths


def test_declared_group_pattern_and_per_video_fallback(tmp_path, tiny):
    files = [f"{c}/subj{s}_take{k}.avi" for c in ("a", "b") for s in range(4) for k in range(3)]
    root = copy_layout(tmp_path / "v", tiny, files)
    cfg = DataConfig(dataset="folder", root=str(root), cache_dir=str(tmp_path / "cache"), clip_frames=4,
                     crop_size=16, cache_short_side=16, frame_cache=False, group_pattern=r"^subj(\d+)_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train, test = open_video_dataset(cfg, progress=False)
    assert not _groups_of(train, r"subj(\d+)") & _groups_of(test, r"subj(\d+)")
    assert len(test) == 6 and "^subj(\\d+)_" in test.split_rule and "by recording group" in test.split_rule
    cfg.frame_cache = True
    cached, _ = open_video_dataset(cfg, progress=False)
    assert cached.split_rule == train.split_rule  # carried through the frame cache
    cfg.frame_cache, cfg.group_pattern = False, r"^take(\d+)"
    with pytest.raises(VidsslError, match=r"does not match 24 of 24 file names, e\.g\. subj0_take0\.avi"):
        open_video_dataset(cfg, progress=False)
    cfg.group_pattern = "subj"
    with pytest.raises(VidsslError, match="first group"):
        open_video_dataset(cfg, progress=False)
    cfg.group_pattern = None  # no UCF-style names either: per video, with one warning line
    with pytest.warns(UserWarning, match="no recording groups") as rec:
        train, test = open_video_dataset(cfg, progress=False)
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert "per video" in train.split_rule and len(test) == 8


def test_group_pattern_flag_reaches_the_data_config():
    from vidssl.cli import _pretrain_config, build_parser

    ns = build_parser().parse_args(["pretrain", "--dataset", "folder", "--group-pattern", r"^(\w+)-"])
    assert _pretrain_config(ns).data.group_pattern == r"^(\w+)-"
    assert _pretrain_config(build_parser().parse_args(["pretrain"])).data.group_pattern is None


def test_split_rules_of_official_splits_and_train_test_folders(tmp_path, tiny):
    root = _ucf(tmp_path / "ucf", tiny)
    cfg = DataConfig(dataset="ucf101", root=str(root), cache_dir=str(tmp_path / "cache"), clip_frames=4,
                     crop_size=16, cache_short_side=16, frame_cache=False, split=1)
    train, test = open_video_dataset(cfg, progress=False)
    assert train.split_rule == test.split_rule == "official ucf101 split 1"
    assert [os.path.basename(p) for p in test.paths] == ["v_Archery_g01_c01.avi", "v_Basketball_g01_c01.avi"]
    assert train.labels["class"].tolist() == [0, 0, 1] and train.frames == [12, 12, 12]
    cfg.split = 2
    with pytest.raises(VidsslError, match=r"trainlist02\.txt not found"):
        open_video_dataset(cfg, progress=False)
    hm = tmp_path / "hmdb"
    copy_layout(hm, tiny, [f"{c}/{c}_{k}.avi" for c in ("jump", "wave") for k in range(3)])
    (hm / "jump_test_split2.txt").write_text("jump_0.avi 1\njump_1.avi 2\njump_2.avi 0\n")
    (hm / "wave_test_split2.txt").write_text("wave_0.avi 2\nwave_1.avi 1\nwave_2.avi 1\n")
    cfg = DataConfig(dataset="hmdb51", root=str(hm), cache_dir=str(tmp_path / "cache"), clip_frames=4,
                     crop_size=16, cache_short_side=16, frame_cache=True, split=2)
    train, test = open_video_dataset(cfg, progress=False)
    assert isinstance(train, CachedVideoDataset) and train.split_rule == "official hmdb51 split 2"
    assert [os.path.basename(test.source(i)) for i in range(len(test))] == ["jump_1.avi", "wave_0.avi"]
    assert train.labels["class"].tolist() == [0, 1, 1]
    tt = copy_layout(tmp_path / "tt", tiny, ["train/a/1.avi", "train/b/2.avi", "test/a/3.avi", "test/b/4.avi"])
    cfg = DataConfig(dataset="folder", root=str(tt), cache_dir=str(tmp_path / "cache"), clip_frames=4,
                     crop_size=16, cache_short_side=16, frame_cache=False)
    assert open_video_dataset(cfg, progress=False)[1].split_rule == "the train/ and test/ folders as given"


def test_real_data_skip_names_what_the_test_reads(tmp_path, monkeypatch):
    import video_helpers

    (tmp_path / "MANIFEST.tsv").write_text("relative_path\n")  # a manifest alone is not the data set
    monkeypatch.setattr(video_helpers, "UCF9", tmp_path)
    assert video_helpers.ucf9() == tmp_path
    with pytest.raises(pytest.skip.Exception, match=r"reads .*trainlist01\.txt"):
        video_helpers.ucf9("MANIFEST.tsv", "trainlist01.txt")


def test_classes_keeps_those_classes_renumbered_in_the_order_given(tmp_path, tiny):
    root = _ucf(tmp_path / "ucf", tiny)
    cfg = DataConfig(dataset="ucf101", root=str(root), cache_dir=str(tmp_path / "cache"), clip_frames=4,
                     crop_size=16, cache_short_side=16, frame_cache=False, classes="Basketball")
    train, test = open_video_dataset(cfg, progress=False)
    assert [os.path.basename(p) for p in train.paths] == ["v_Basketball_g02_c01.avi"]
    assert train.labels["class"].tolist() == [0] and train.class_names["class"] == ["Basketball"]
    assert "classes Basketball only" in train.split_rule
    cfg.classes = "Basketball,Archery"  # the order given is the label order
    train, test = open_video_dataset(cfg, progress=False)
    assert train.labels["class"].tolist() == [1, 1, 0] and test.class_names["class"] == ["Basketball", "Archery"]
    cfg.classes = "Archery,Bowling"
    with pytest.raises(VidsslError, match=r"unknown class Bowling; .* has Archery, Basketball"):
        open_video_dataset(cfg, progress=False)
    with pytest.raises(VidsslError, match="built-in synthetic data has no such option"):
        from vidssl.data.loading import open_dataset

        open_dataset(DataConfig(classes="a"), progress=False)


def test_videos_shorter_than_a_clip_are_counted_named_in_one_line_and_recorded(tmp_path, capsys):
    from vidssl.cli import main

    root = tmp_path / "short"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for k, n in enumerate((5, 6, 12)):
            write_video(root / c / f"v_{c}_g{k:02d}_c01.avi", barcode_frames(n))
    cfg = DataConfig(dataset="folder", root=str(root), cache_dir=str(tmp_path / "cache"), clip_frames=4, stride=2,
                     crop_size=16, cache_short_side=16, frame_cache=False)
    with pytest.warns(UserWarning, match=r"4 of 6 videos are shorter than a clip's span \(4 frames at stride 2 = 7 "
                      r"frames; the shortest has 5\).*Lower --clip-frames or --stride"):
        train, test = open_video_dataset(cfg, progress=False)
    acc = [train.accounting, test.accounting]
    assert sum(a["videos_looped"] for a in acc) == 4 and sum(a["videos_used"] for a in acc) == 6
    assert all(a["videos_left_out"] == {} and a["clip_span_frames"] == 7 for a in acc)
    with warnings.catch_warnings():
        cfg.stride = 1  # a 4-frame span: nothing loops, nothing is said
        warnings.simplefilter("error")
        open_video_dataset(cfg, progress=False)
    # on the command line the notice is one clean line, and evaluation records the counts
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--dataset", "folder", "--root", str(root), "--clip-frames", "4", "--stride", "2",
              "--crop-size", "16", "--cache-short-side", "16", "--cache-dir", str(tmp_path / "cache"), "--steps", "1",
              "--batch-size", "4", "--width", "0.0625", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err
    assert e.value.code == 0
    notices = [line for line in err.splitlines() if "shorter than a clip" in line]
    assert len(notices) == 1 and notices[0].startswith("vidssl: notice: 4 of 6 videos") and "warnings.warn" not in err
    from vidssl.api import evaluate
    from vidssl.config import EvalConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate(out / "checkpoints" / "last.pt", EvalConfig(out_dir=str(out), progress=False, knn_k=1,
                                                                   recall_ks=(1,)))
    videos = res["protocol"]["videos"]
    assert videos["train"]["videos_looped"] + videos["test"]["videos_looped"] == 4
    assert json.loads((out / "results.json").read_text())["protocol"]["videos"] == videos


def test_an_unlabelled_folder_pretrains_on_every_video_and_an_empty_side_names_its_cause(tmp_path, tiny):
    from vidssl.config import ModelConfig, PretrainConfig
    from vidssl.engine import pretrain

    flat = copy_layout(tmp_path / "flat", tiny, [f"v_X_g01_c{k:02d}.avi" for k in range(5)])  # one recording
    cfg = DataConfig(dataset="folder", root=str(flat), cache_dir=str(tmp_path / "cache"), clip_frames=4,
                     crop_size=16, cache_short_side=16, frame_cache=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no split, so no warning about recording groups either
        train, test = open_video_dataset(cfg, progress=False)
    assert len(train) == 5 and len(test) == 0 and "every video is unlabelled" in train.split_rule
    res = pretrain(PretrainConfig(out_dir=str(tmp_path / "run"), data=cfg, model=ModelConfig(width=0.0625),
                                  batch_size=4, steps=1, progress=False))
    assert json.loads((res.out_dir / "config.json").read_text())["train_videos"] == 5
    one_group = copy_layout(tmp_path / "lab", tiny, [f"{c}/v_{c}_g01_c{k:02d}.avi" for c in ("a", "b") for k in range(4)])
    cfg.root = str(one_group)
    with pytest.raises(VidsslError, match=r"left lab-test empty: every video of a class shares one recording group"):
        open_video_dataset(cfg, progress=False)


def test_no_progress_silences_every_bar_of_embed_and_report(tmp_path, tiny, capsys):
    import shutil

    from vidssl.cli import main

    root = copy_layout(tmp_path / "vids", tiny, [f"{c}/v_{c}_g{k:02d}_c01.avi" for c in "ab" for k in range(16)])
    cache = tmp_path / "cache"
    common = ["--no-progress"]
    with pytest.raises(SystemExit) as e:
        main(["demo", "--dataset", "folder", "--root", str(root), "--clip-frames", "4", "--crop-size", "16",
              "--cache-short-side", "16", "--cache-dir", str(cache), "--steps", "1", "--batch-size", "4",
              "--width", "0.0625", "--no-report", "--out", str(tmp_path / "run"), *common])
    assert e.value.code == 0, capsys.readouterr().err
    for step in (["embed", str(tmp_path / "run" / "checkpoints" / "last.pt"), "--out", str(tmp_path / "e.npz")],
                 ["report", str(tmp_path / "run")]):
        shutil.rmtree(cache / "index", ignore_errors=True)  # the index is built again: its bar would show
        for p in cache.glob("*.tsv"):
            p.unlink()
        with pytest.raises(SystemExit) as e:
            main([*step, *common])
        err = capsys.readouterr().err
        assert e.value.code == 0 and "it/s" not in err and "%|" not in err, (step, err)
