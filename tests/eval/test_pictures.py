import itertools
import json

import numpy as np
import pytest
import torch
from conftest import one_line
from PIL import Image

from vidssl.backbones import create_backbone
from vidssl.data.loading import open_dataset
from vidssl.errors import VidsslError
from vidssl.eval import pictures as P


def check_png(path, min_side=150, max_side=2500):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        w, h = im.size
        px = np.asarray(im.convert("L"), np.float32)
    assert min_side <= w <= max_side and min_side <= h <= max_side, (w, h)
    assert px.std() > 5, "blank picture"
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # written atomically
    return w, h


def test_tsne_map_adapts_perplexity_to_small_sets(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 2)
    x = rng.normal(size=(6, 8)) + 5 * y[:, None]
    check_png(P.tsne_map(x, y, ["a", "b", "c"], tmp_path / "t.png"))
    with pytest.raises(VidsslError) as e:
        P.tsne_map(x[:1], y[:1], ["a"], tmp_path / "one.png")
    assert "at least 2 embeddings" in one_line(e.value)


def outline_pixels(path):
    px = np.asarray(Image.open(path).convert("RGB"))
    return (px == [26, 150, 65]).all(-1).sum(), (px == [215, 25, 28]).all(-1).sum()  # green, red


def test_retrieval_grid_outlines_same_class_green_and_others_red(tiny_data, tmp_path):
    train, test = open_dataset(tiny_data)
    y_tr, y_te = train.labels["motion"], test.labels["motion"]
    q = [0, 2]  # test videos of classes 0 and 1
    same = [int(np.flatnonzero(y_tr == y_te[i])[0]) for i in q]
    other = [int(np.flatnonzero(y_tr != y_te[i])[0]) for i in q]
    mixed = P.retrieval_grid(test, q, train, np.array([same, other]).T, tmp_path / "r.png", label_set="motion",
                             cosines=np.full((2, 2), 0.5))
    check_png(mixed)
    green, red = outline_pixels(mixed)
    assert green > 500 and red > 500 and abs(green - red) < 0.2 * green
    all_same = P.retrieval_grid(test, q, train, np.array([same, same]).T, tmp_path / "s.png", label_set="motion")
    assert outline_pixels(all_same)[1] == 0
    assert P.middle_frames(test, 0, 3).shape == (20, 3 * 20 + 2, 3)
    with pytest.raises(VidsslError):
        P.retrieval_grid(test, [], train, np.zeros((0, 2), int), tmp_path / "x.png", label_set="motion")


def test_animated_retrieval_grid_plays_each_cells_frames_with_the_same_outlines(tiny_data, tmp_path):
    train, test = open_dataset(tiny_data)
    y_tr, y_te = train.labels["motion"], test.labels["motion"]
    q = [0, 2]
    same = [int(np.flatnonzero(y_tr == y_te[i])[0]) for i in q]
    other = [int(np.flatnonzero(y_tr != y_te[i])[0]) for i in q]
    path = P.retrieval_grid(test, q, train, np.array([same, other]).T, tmp_path / "r.webp", label_set="motion",
                            cosines=np.full((2, 2), 0.5), frames_per_video=4, ms_per_frame=150)
    with Image.open(path) as im:
        assert im.format == "WEBP" and im.is_animated and im.n_frames == 4 and im.info["loop"] == 0
        pages = []
        for t in range(im.n_frames):
            im.seek(t)
            pages.append(np.asarray(im.convert("RGB")))
            assert im.info["duration"] == 150  # known once the frame is loaded
    for px in pages:  # lossless: the outlines keep their exact colours on every frame
        green, red = (px == [26, 150, 65]).all(-1).sum(), (px == [215, 25, 28]).all(-1).sum()
        assert green > 200 and red > 200 and abs(green - red) < 0.2 * green
    moving = [np.abs(a.astype(int) - b).sum() for a, b in itertools.pairwise(pages)]
    assert all(m > 0 for m in moving)  # the clips move (8-frame synthetic videos, 4 distinct frames each)
    outlines = [(px == [26, 150, 65]).all(-1) | (px == [215, 25, 28]).all(-1) for px in pages]
    assert all((o == outlines[0]).all() for o in outlines)  # the outlines stay put while the thumbnails play
    with pytest.raises(VidsslError, match=r"\.png \(still\) or a \.webp \(animated\)"):
        P.retrieval_grid(test, q, train, np.array([same]).T, tmp_path / "r.gif", label_set="motion")


def test_kernel_grid_draws_the_stem_and_refuses_other_modules(tmp_path):
    torch.manual_seed(0)
    bb = create_backbone("r3d18", width=0.25)
    w, h = check_png(P.kernel_grid(bb, tmp_path / "k.png"), min_side=100)
    assert w > h  # 16 kernels of 3 time slices each: a wide mosaic
    with pytest.raises(VidsslError) as e:
        P.kernel_grid(torch.nn.Linear(2, 2), tmp_path / "x.png")
    assert "no stem[0] convolution" in one_line(e.value)


def test_training_curves_skip_a_cut_line_and_need_a_log(tmp_path):
    log = tmp_path / "train_log.jsonl"
    rows = [json.dumps({"step": s, "loss": 5 / s, "lr": 1e-3 * s / 10}) for s in range(1, 11)]
    log.write_text("\n".join(rows) + '\n{"step": 11, "lo')
    assert len(P.read_train_log(log)) == 10
    check_png(P.training_curves(log, tmp_path / "c.png"))
    with pytest.raises(VidsslError) as e:
        P.training_curves(tmp_path / "none.jsonl", tmp_path / "c.png")
    assert "does not exist" in one_line(e.value)
    log.write_text("")
    with pytest.raises(VidsslError, match="no complete line"):
        P.read_train_log(log)


def test_confusion_matrix(tmp_path):
    y = np.array([0, 0, 1, 1, 2, -1])
    check_png(P.confusion_matrix(y, np.array([0, 1, 1, 1, 0, 2]), ["a", "b", "c"], tmp_path / "m.png"))
    with pytest.raises(VidsslError) as e:
        P.confusion_matrix(y, y[:2], ["a", "b", "c"], tmp_path / "m.png")
    assert "6 true labels but 2 predictions" in one_line(e.value)
    with pytest.raises(VidsslError) as e:
        P.confusion_matrix(y, y, ["a", "b", "c"], tmp_path / "missing" / "m.png")
    assert "does not exist" in one_line(e.value)
