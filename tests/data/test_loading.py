"""Batches through the loader, on a UCF101-like folder written by the test: the ``--split`` path,
strided clip indices in training views and test clips, and the same batches with any number of workers."""

import os

import numpy as np
import pytest
import torch
from video_helpers import barcode_frames, read_barcode, write_video

from vidssl.config import AugConfig, DataConfig, PretrainConfig
from vidssl.data.loading import EvalClips, eval_batch, eval_loader, open_dataset, train_loader
from vidssl.transforms.spatial import MEAN, STD
from vidssl.transforms.temporal import uniform_clips

CLASSES = ("Archery", "Bowling")
FRAMES = {(c, g): 16 + 2 * g + k for k, c in enumerate(CLASSES) for g in range(1, 5)}  # lengths differ per video
CODE = 30  # frame t of video v shows the number CODE * v + t, so a decoded clip names its video and frames


@pytest.fixture(scope="module")
def ucf_like(tmp_path_factory):
    """Two classes x four recording groups; split 1 tests on group 1, split 2 on group 2 (as UCF's lists do)."""
    root = tmp_path_factory.mktemp("ucf_like")
    names = {key: f"{key[0]}/v_{key[0]}_g{key[1]:02d}_c01.avi" for key in FRAMES}
    for v, (key, rel) in enumerate(sorted(names.items())):
        (root / "videos" / rel).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / "videos" / rel, barcode_frames(CODE * v + FRAMES[key], 32, 32)[CODE * v :])
    (root / "classInd.txt").write_text("".join(f"{k + 1} {c}\n" for k, c in enumerate(CLASSES)))
    for split in (1, 2):
        (root / f"trainlist{split:02d}.txt").write_text(
            "".join(f"{rel} {CLASSES.index(c) + 1}\n" for (c, g), rel in sorted(names.items()) if g != split))
        (root / f"testlist{split:02d}.txt").write_text(
            "".join(f"{rel}\n" for (c, g), rel in sorted(names.items()) if g == split))
    video_id = {os.path.basename(rel): v for v, (_, rel) in enumerate(sorted(names.items()))}
    return root, video_id


def data_config(root, tmp_path, **kw) -> DataConfig:
    return DataConfig(**{"dataset": "ucf101", "root": str(root), "split": 2, "clip_frames": 4, "stride": 3,
                         "crop_size": 32, "cache_short_side": 32, "cache_dir": str(tmp_path / "cache"), **kw})


# no colour, flip or resizing: a view is the decoded frames, normalised
PLAIN = AugConfig(temporal_shift=2, crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter_p=0.0, gray_p=0.0)


def decode(clip: torch.Tensor) -> np.ndarray:
    """(3, T, S, S) normalised clip -> (T,) the numbers its frames show."""
    mean, std = torch.tensor(MEAN).view(3, 1, 1, 1), torch.tensor(STD).view(3, 1, 1, 1)
    frames = ((clip * std + mean) * 255).round().clamp(0, 255).byte().permute(1, 2, 3, 0).numpy()
    return read_barcode(frames)


@pytest.mark.parametrize("frame_cache", [False, True])
def test_split_k_opens_its_lists_and_training_views_are_strided_clips(ucf_like, tmp_path, frame_cache):
    root, video_id = ucf_like
    data = data_config(root, tmp_path, frame_cache=frame_cache)
    train, test = open_dataset(data, progress=False)  # -> vidssl.data.videos.open_video_dataset
    assert train.split_rule == "official ucf101 split 2"
    assert sorted(os.path.basename(test.source(i)) for i in range(len(test))) == [
        "v_Archery_g02_c01.avi", "v_Bowling_g02_c01.avi"]
    assert not any("_g02_" in train.source(i) for i in range(len(train))) and len(train) == 6
    ids = [video_id[os.path.basename(train.source(i))] for i in range(len(train))]
    assert [train.num_frames(i) for i in range(len(train))] == [FRAMES[c, g] for c in CLASSES for g in (1, 3, 4)]

    cfg = PretrainConfig(data=data, aug=PLAIN, batch_size=4, steps=3, seed=1)
    loader = train_loader(train, cfg, 0)
    seen_starts = set()
    for step, batch in enumerate(loader):
        assert batch.shape == (4, 2, 3, 4, 32, 32)  # B x V x C x T x S x S
        for (i, _, _), views in zip(loader.batch_sampler.batch(step), batch):
            starts = []
            for view in views:
                shown = decode(view)
                video, t = np.divmod(shown, CODE)
                assert (video == ids[i]).all(), "a clip from another video than the one sampled"
                assert np.diff(t).tolist() == [3, 3, 3], f"frames {t.tolist()} are not every 3rd frame"
                assert 0 <= t[0] and t[-1] < train.num_frames(i)
                starts.append(int(t[0]))
            assert abs(starts[0] - starts[1]) <= 4  # each view moves the shared start by at most 2 frames
            seen_starts.update(starts)
    assert len(seen_starts) > 3  # random starts, not always the first frame


def test_test_clips_are_uniformly_spaced_strided_clips(ucf_like, tmp_path):
    root, video_id = ucf_like
    data = data_config(root, tmp_path, frame_cache=False)
    _, test = open_dataset(data, progress=False)
    clips = EvalClips(test, data, clips_per_video=3)
    for i in range(len(test)):
        assert clips[i].dtype == torch.uint8  # handed over as uint8, made float by eval_batch
        got = [decode(c) for c in eval_batch(clips[i], data, torch.device("cpu"))]  # K x (3, T, S, S)
        want = uniform_clips(test.num_frames(i), 4, 3, 3)
        assert [g.tolist() for g in got] == [(CODE * video_id[os.path.basename(test.source(i))] + w).tolist()
                                             for w in want]
        assert len({int(g[0]) for g in got}) == 3 and all(np.diff(g).tolist() == [3, 3, 3] for g in got)


@pytest.mark.parametrize("workers", [0, 2])
def test_evaluation_input_is_the_float_path_of_before(ucf_like, tmp_path, workers):
    """uint8 squares from the workers, resized and normalised after the hand-over: the same numbers as before."""
    from vidssl.transforms.spatial import eval_view, normalize, to_float

    root, _ = ucf_like
    data = data_config(root, tmp_path, frame_cache=True, num_workers=workers, crop_size=20)  # 32 -> 20: resized
    _, test = open_dataset(data, progress=False)
    got = torch.cat([eval_batch(b, data, torch.device("cpu")) for b in eval_loader(test, data, 3, 1, torch.device("cpu"))])
    want = []
    for i in range(len(test)):
        idx = uniform_clips(test.num_frames(i), 4, 3, 3)
        want.append(torch.stack([normalize(eval_view(to_float(test.read_frames(i, c)), 20)) for c in idx]))
    assert got.shape == (len(test), 3, 3, 4, 20, 20) and torch.equal(got, torch.stack(want))


def test_evaluation_batches_of_videos_of_different_sizes():
    from vidssl.transforms.spatial import eval_view, normalize, to_float

    class TwoSizes:
        def __init__(self):
            self.frames = [np.random.default_rng(k).integers(0, 256, (6, 20 + 4 * k, 24, 3), dtype=np.uint8)
                           for k in range(2)]

        def __len__(self):
            return 2

        def num_frames(self, i):
            return 6

        def read_frames(self, i, idx):
            return self.frames[i][idx]

    data = DataConfig(clip_frames=4, crop_size=16)
    ds = TwoSizes()
    (batch,) = list(eval_loader(ds, data, 1, 2, torch.device("cpu")))
    assert isinstance(batch, list) and [b.shape[-1] for b in batch] == [20, 24]  # squares of 20 and 24 px
    want = torch.stack([normalize(eval_view(to_float(f[1:5]), 16))[None] for f in ds.frames])
    assert torch.equal(eval_batch(batch, data, torch.device("cpu")), want)


@pytest.mark.parametrize("on_device", [False, True])
def test_workers_give_the_same_batches_as_the_main_process(ucf_like, tmp_path, on_device):
    """README: a resumed run sees exactly the batches an uninterrupted one would, with any number of workers
    (with --on-device: the uint8 crops handed over, made into views after the hand-over)."""
    from vidssl.transforms.views import RawBatch, finish_on_device

    def views(loader):
        return [finish_on_device(b, 24) if isinstance(b, RawBatch) else b for b in loader]

    root, _ = ucf_like
    strong = AugConfig(temporal_shift=2, hflip_p=0.5, blur_p=0.5, bg_mix_p=0.5, on_device=on_device)  # every draw
    batches = {}
    for workers in (0, 2):
        data = data_config(root, tmp_path, frame_cache=True, num_workers=workers, crop_size=24)
        train, _ = open_dataset(data, progress=False)
        cfg = PretrainConfig(data=data, aug=strong, batch_size=4, steps=4, seed=2)
        batches[workers] = views(train_loader(train, cfg, 0))
        resumed = views(train_loader(train, cfg, 2))  # a run resumed at step 2
        assert len(resumed) == 2 and all(torch.equal(a, b) for a, b in zip(resumed, batches[workers][2:]))
    assert len(batches[0]) == len(batches[2]) == 4
    for a, b in zip(batches[0], batches[2]):
        assert torch.equal(a, b)
    assert not torch.equal(batches[0][0], batches[0][1])


def test_split_flag_reaches_the_data_config():
    from vidssl.cli import _pretrain_config, build_parser

    ns = build_parser().parse_args(["pretrain", "--dataset", "ucf101", "--root", "r", "--split", "3", "--stride", "2"])
    data = _pretrain_config(ns).data
    assert (data.dataset, data.root, data.split, data.stride) == ("ucf101", "r", 3, 2)
