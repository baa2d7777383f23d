"""Label propagation (vidssl.eval.track): against a reference written from the formula, on masks whose
answer is known, and end to end through the API and the command line."""

import html
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vidssl import api
from vidssl.backbones import create_backbone
from vidssl.cli import main
from vidssl.config import TrackConfig
from vidssl.data.loading import open_dataset
from vidssl.eval.track import (
    evenly_spaced,
    frame_features,
    mask_labels,
    propagate,
    read_masks,
    region_similarity,
    track_mask,
)


def reference_propagate(feats, first, context, topk, temperature, radius):
    """Position by position, from the formula: label_t(p) = sum_{q in top-k} softmax(cos(p, q) / tau) label(q),
    q over the first frame and the ``context`` frames before t, within ``radius`` cells when radius > 0."""
    t_len, _, h, w = feats.shape
    labels = [first.double()]
    f = feats.double() / feats.double().norm(dim=1, keepdim=True)
    for t in range(1, t_len):
        refs = sorted({0} | set(range(max(1, t - context), t)))
        out = torch.zeros_like(labels[0])
        for y in range(h):
            for x in range(w):
                cands = []
                for r in refs:
                    for yy in range(h):
                        for xx in range(w):
                            if radius and (abs(yy - y) > radius or abs(xx - x) > radius):
                                continue
                            cands.append((float(f[t, :, y, x] @ f[r, :, yy, xx]), labels[r][:, yy, xx]))
                cands.sort(key=lambda c: -c[0])
                top = cands[:topk]
                weights = torch.tensor([c[0] for c in top], dtype=torch.float64).div(temperature).softmax(0)
                out[:, y, x] = sum(wt * lab for wt, (_, lab) in zip(weights, top))
        labels.append(out)
    return torch.stack(labels)


@pytest.mark.parametrize("context,topk,temperature,radius", [(2, 3, 0.1, 0), (1, 1, 0.07, 0), (3, 5, 0.5, 1)])
def test_propagate_matches_the_formula_position_by_position(context, topk, temperature, radius):
    g = torch.Generator().manual_seed(context * 10 + topk)
    feats = torch.randn(5, 6, 4, 3, generator=g)
    first = torch.rand(2, 4, 3, generator=g)
    got = propagate(feats, first, context=context, topk=topk, temperature=temperature, radius=radius)
    want = reference_propagate(feats, first, context, topk, temperature, radius)
    assert got.shape == (5, 2, 4, 3)
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)
    assert torch.equal(got[0], first)  # the first frame's labels are given, not predicted


def moving_sprite(frames=8, size=16, dx=1, seed=0):
    """Features that name each point of the scene (a random code per scene position), a scene that slides
    right by dx pixels per frame (wrapping round), and the true mask of a block in it."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randn(32, size, size, generator=g)
    feats = torch.stack([torch.roll(codes, dx * t, dims=2) for t in range(frames)])
    block = torch.zeros(size, size, dtype=torch.bool)
    block[4:9, 3:8] = True
    masks = torch.stack([torch.roll(block, dx * t, dims=1) for t in range(frames)])
    return feats, masks


def test_features_that_follow_the_motion_track_perfectly_and_shuffled_ones_do_not():
    feats, masks = moving_sprite()
    assert np.array_equal(track_mask(feats, masks, topk=1), np.ones(7))  # J = 1 on every frame
    assert track_mask(feats, masks, topk=5, radius=2).mean() == 1.0
    g = torch.Generator().manual_seed(1)
    shuffled = torch.stack([f.flatten(1)[:, torch.randperm(256, generator=g)].view_as(f) for f in feats])
    assert track_mask(shuffled, masks, topk=1).mean() < 0.3
    static = feats[:1].expand_as(feats)  # features that do not move: the mask stays where it was
    j = track_mask(static, masks, topk=1)
    assert np.allclose(j, region_similarity(masks[:1].expand(7, -1, -1).numpy(), masks[1:].numpy()))
    assert j[-1] < j[0] < 1


def test_region_similarity_is_intersection_over_union_and_one_for_two_empty_masks():
    pred = np.zeros((3, 4, 4), bool)
    true = np.zeros((3, 4, 4), bool)
    pred[0, :2, :2], true[0, :2, :] = True, True  # 4 of 8
    pred[1, 0, 0] = True  # 0 of 1
    assert region_similarity(pred, true).tolist() == [0.5, 0.0, 1.0]
    with pytest.raises(ValueError, match="differ in shape"):
        region_similarity(pred, true[:2])


def test_mask_labels_are_the_mask_pooled_onto_the_grid():
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[:2, :1] = True
    labels = mask_labels(mask, (2, 2))
    assert torch.equal(labels[1], torch.tensor([[0.5, 0.0], [0.0, 0.0]]))
    assert torch.equal(labels.sum(0), torch.ones(2, 2))


@pytest.mark.parametrize("name,input", [("r3d10", "rgb"), ("r3d10", "residual"), ("r2d18", "rgb"), ("r2d18", "residual")])
def test_every_frame_gets_its_own_feature_map(name, input):
    bb = create_backbone(name, width=0.0625, input=input).eval()
    video = torch.randn(3, 6, 16, 16)
    for stages, side in ((1, 8), (2, 4)):
        assert frame_features(bb, video, stages).shape == (6, bb.stages[stages - 1][0].conv1.out_channels, side, side)
    # frame t's features see frames up to t (and after): a change of the last frame leaves frame 0 nearly alone
    # in a 2D net and exactly alone there with RGB input
    if name == "r2d18" and input == "rgb":
        changed = video.clone()
        changed[:, -1] += 1
        a, b = frame_features(bb, video, 2), frame_features(bb, changed, 2)
        assert torch.equal(a[:-1], b[:-1]) and not torch.equal(a[-1], b[-1])


def test_propagate_refuses_labels_on_another_grid():
    with pytest.raises(ValueError, match="same grid"):
        propagate(torch.randn(3, 4, 5, 5), torch.rand(2, 4, 4))


def test_evenly_spaced_spreads_over_the_split():
    assert evenly_spaced(10, 0).tolist() == list(range(10))
    assert evenly_spaced(10, 3).tolist() == [0, 4, 9]  # 4.5 rounds to even
    assert evenly_spaced(400, 4).tolist() == [0, 133, 266, 399]
    assert evenly_spaced(3, 5).tolist() == [0, 1, 2]


def test_the_built_in_data_knows_where_its_sprite_is(tiny_data):
    train, _ = open_dataset(tiny_data, progress=False)
    assert train.masks.shape == train.videos.shape[:4] and train.masks.dtype == bool
    assert train.masks.any((2, 3)).all()  # the sprite is visible in every frame
    # the sprite's pixels are the bright ones: sprite colours are drawn above 0.55, backgrounds below 0.5
    bright = train.videos.max(-1) > 0.52 * 255
    inside, outside = bright[train.masks].mean(), bright[~train.masks].mean()
    assert inside > 0.95 and outside < 0.1
    # "right" moves the sprite right: the mask's centre of mass goes right over the clip
    cols = np.arange(train.masks.shape[3])
    right = train.labels["motion"] == 0
    centre = (train.masks[right].sum(2) * cols).sum(-1) / train.masks[right].sum((2, 3))  # N x T
    assert (centre[:, -1] > centre[:, 0] + 2).all()


def test_masks_are_cut_and_resized_as_the_frames_are(tiny_data):
    _, test = open_dataset(tiny_data, progress=False)  # 20 px frames, 16 px crop
    m = read_masks(test, 0, 8, 1, 16)
    want = F.interpolate(torch.from_numpy(test.masks[0]).float()[:, None], size=(16, 16), mode="nearest")[:, 0]
    assert m.shape == (8, 16, 16) and torch.equal(m, want.bool())


def test_track_scores_every_backbone_and_writes_protocol_and_pictures(tiny_run, tmp_path, capsys):
    ckpt = tiny_run / "checkpoints/last.pt"
    out = tmp_path / "track"
    report = api.track(ckpt, TrackConfig(out_dir=str(out), pictures=2, progress=False))
    res = report["results"]
    assert set(res) == {"ssl", "random_init", "random_init_no_bn_recal", "pixels", "first_mask_copy"}
    assert all(0 <= r["J"] <= 1 and r["videos"] == 16 and len(r["J_per_video"]) == 16 for r in res.values())
    assert res["random_init"]["bn_recalibration_clips"] > 0 == res["random_init_no_bn_recal"]["bn_recalibration_clips"]
    on_disk = json.loads((out / "track.json").read_text())
    assert on_disk["results"] == json.loads(json.dumps(res))
    p = on_disk["protocol"]
    assert (p["holdout"], p["videos"], p["frames"], p["stride"], p["crop_size"]) == ("test", 16, 16, 1, 16)
    assert p["frames_tracked"] == [8, 8]  # 16 asked, the generated clips have 8
    assert p["pretrain_steps"] == 6 and p["checkpoint_fingerprint"]["step"] == 6
    assert on_disk["track_config"]["topk"] == 3 and on_disk["track_config"]["data"]["crop_size"] == 16
    assert len(report["pictures"]) == 4  # 2 videos x (ssl, the stronger random init)
    for pic in report["pictures"]:
        with Image.open(out / pic["file"]) as im:
            assert im.format == "WEBP" and im.n_frames == 8 and im.size == (3 * 16 * 8 + 2 * 2 * 8, 16 * 8)
    # the same run on train videos, a few of them: chosen settings never touch test
    small = api.track(ckpt, TrackConfig(holdout="val", videos=5, pictures=0, progress=False), write=False)
    assert small["protocol"]["videos_from"].endswith("/train") and small["results"]["ssl"]["videos"] == 5


def test_the_command_prints_j_per_backbone(tiny_run, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["track", str(tiny_run / "checkpoints/last.pt"), "--out", str(tmp_path / "t"), "--videos", "4",
              "--pictures", "0", "--no-progress"])
    assert e.value.code == 0
    printed = capsys.readouterr().out
    for row in ("self-supervised", "random init (BN re-estimated)", "random init (initial BN statistics)",
                "pixels (no network, same grid)", "first mask copied (no motion)"):
        assert row in printed
    assert (tmp_path / "t/track.json").exists()


def test_videos_without_masks_are_drawn_not_scored(tiny_run, tmp_path, monkeypatch):
    from vidssl.data import synthetic

    real = synthetic.load_synthetic

    def no_masks(*a, **kw):
        train, test = real(*a, **kw)
        train.masks = test.masks = None
        return train, test

    monkeypatch.setattr(synthetic, "load_synthetic", no_masks)
    report = api.track(tiny_run / "checkpoints/last.pt", TrackConfig(out_dir=str(tmp_path), pictures=1, progress=False))
    assert report["results"] == {} and "no masks" in report["protocol"]["score"]
    assert "nothing to score" in api.format_track_table(report)
    with Image.open(tmp_path / report["pictures"][0]["file"]) as im:
        assert im.size == (2 * 16 * 8 + 2 * 8, 16 * 8)  # frames | colours carried, no mask panel


def test_scoring_reads_each_video_once_and_pools_the_frames_onto_the_first_backbones_grid(tiny_data, monkeypatch):
    from vidssl.config import TrackConfig
    from vidssl.eval import track as T

    _, test = open_dataset(tiny_data, progress=False)  # 8 frames of 16 px after the crop
    reads = []
    real_read = T.read_video
    monkeypatch.setattr(T, "read_video", lambda *a: (reads.append(a[1]), real_read(*a))[1])
    cfg = TrackConfig(frames=8)
    nets = {"a": create_backbone("r3d10", width=0.0625), "b": create_backbone("r2d18", width=0.0625)}
    got = T.score_tracking(nets, test, np.array([0, 3]), tiny_data, cfg)
    assert reads == [0, 3]  # one read per video for every backbone and baseline
    assert list(got) == ["a", "b", "pixels", "first_mask_copy"]
    x, _ = real_read(test, 3, 8, 1, 16)
    masks = read_masks(test, 3, 8, 1, 16)
    pixels = F.adaptive_avg_pool2d(x.transpose(0, 1), (8, 8))  # stage 1 of a 16-px input: an 8 x 8 grid
    assert got["pixels"]["J_per_video"][1] == round(float(track_mask(pixels, masks, context=4, topk=3,
                                                                        temperature=0.07, radius=0).mean()), 4)
    still = region_similarity(masks[:1].expand(7, -1, -1).numpy(), masks[1:].numpy()).mean()
    assert got["first_mask_copy"]["J_per_video"][1] == round(float(still), 4)


def test_the_report_shows_the_tracking_of_its_own_checkpoint_and_refuses_an_old_one(tiny_run, capsys):
    from vidssl.report import build_report

    with pytest.raises(SystemExit) as e:  # the default --out is the run's track/ folder, where the report looks
        main(["track", str(tiny_run / "checkpoints/last.pt"), "--videos", "4", "--pictures", "1", "--no-progress"])
    assert e.value.code == 0
    track = json.loads((tiny_run / "track/track.json").read_text())
    page = build_report(tiny_run).read_text()
    assert "Tracking (label propagation)" in page
    for r in track["results"].values():
        assert f"{100 * r['J']:.1f}" in page
    assert "first mask copied (no motion)" in page and "the true outline (green)" in page
    stronger = max(("random_init", "random_init_no_bn_recal"), key=lambda k: track["results"][k]["J"])
    bn = "BN re-estimated" if stronger == "random_init" else "initial BN statistics"
    assert f"random init ({bn}), " in html.unescape(page)  # the pictured random init is named by its own BN
    assert page.count("data:image/webp") >= 2  # the retrieval grid and the tracking pictures (ssl, random init)
    track["protocol"]["checkpoint_fingerprint"]["step"] = 3  # as if tracked with an earlier checkpoint
    (tiny_run / "track/track.json").write_text(json.dumps(track))
    page = html.unescape(build_report(tiny_run).read_text())
    assert "describes another checkpoint (step 3) than the run's (step 6)" in page
    assert "first mask copied" not in page
