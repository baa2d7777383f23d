import json

import av
import numpy as np
import pytest
import torch
from conftest import one_line

from vidssl import api
from vidssl.backbones import create_backbone
from vidssl.data.base import ArrayVideoDataset
from vidssl.data.loading import open_dataset
from vidssl.errors import VidsslError
from vidssl.eval.embed import FORMAT, Embeddings, embed, load_embeddings, nearest, save_embeddings
from vidssl.eval.features import extract_features


def backbone():
    torch.manual_seed(0)
    return create_backbone("r3d18", width=0.0625)


def test_embeddings_file_round_trips_and_is_plain_numpy(tiny_data, tmp_path):
    _, test = open_dataset(tiny_data)
    bb = backbone()
    path = embed(bb, test, tiny_data, 2, tmp_path / "e.npz", meta={"checkpoint": "x.pt"})
    assert [p.name for p in tmp_path.iterdir()] == ["e.npz"]  # no temporary file left behind
    want, _ = extract_features(bb, test, tiny_data, 2, progress=False)

    with np.load(path, allow_pickle=False) as z:  # the documented format, readable without vidssl
        assert z["features"].dtype == np.float32 and z["features"].shape == (len(test), bb.feature_dim)
        assert z["labels_motion"].dtype == np.int64 and z["sources"].shape == (len(test),)
        assert list(z["class_names_motion"])[:2] == ["right", "left"]
        meta = json.loads(str(z["meta"]))
    assert meta["format"] == FORMAT and meta["label_sets"] == ["motion", "digit"] and meta["checkpoint"] == "x.pt"
    assert meta["clips_per_video"] == 2 and meta["clip_frames"] == 4 and meta["crop_size"] == 16

    e = load_embeddings(path)
    np.testing.assert_array_equal(e.features, want)
    np.testing.assert_array_equal(e.labels["digit"], test.labels["digit"])
    assert e.sources == [test.source(i) for i in range(len(test))] and e.class_names == test.class_names
    assert e.primary_label_set == "motion" and len(e) == len(test)


def brute_nearest(feats, q, k):
    cos = [float(f @ q / (np.linalg.norm(f) * np.linalg.norm(q))) for f in feats]
    return sorted(range(len(feats)), key=lambda i: -cos[i])[:k], cos


def test_nearest_matches_brute_force_and_names_classes():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(12, 5)).astype(np.float32)
    y = np.arange(12) % 3
    coll = Embeddings(f, [f"v{i}" for i in range(12)], {"c": y}, {"c": ["a", "b", "c"]})
    q = rng.normal(size=5)
    got = nearest(coll, q, 4)
    order, cos = brute_nearest(f, q, 4)
    assert [n.source for n in got] == [f"v{i}" for i in order]
    assert [n.label for n in got] == [["a", "b", "c"][y[i]] for i in order]
    assert [n.cosine for n in got] == pytest.approx([cos[i] for i in order], abs=1e-5)
    assert nearest(coll, f[3], 1)[0].source == "v3"
    assert "v3" not in [n.source for n in nearest(coll, f[3], 11, exclude="v3")]


def test_bad_embedding_inputs_are_one_line_errors(tmp_path, tiny_data):
    coll = Embeddings(np.eye(3, dtype=np.float32), ["a", "b", "c"], {"c": np.array([0, 1, -1])}, {"c": ["x", "y"]})
    assert nearest(coll, np.array([0, 0, 1.0]), 1)[0].label is None  # unlabelled
    for call, frag in [
        (lambda: nearest(coll, np.ones(3), 4), "k=4 is larger than the gallery (3 videos)"),
        (lambda: nearest(coll, np.ones(3), 3, exclude="a"), "larger than the gallery (2 videos)"),
        (lambda: nearest(coll, np.ones(3), 0), "k must be >= 1"),
        (lambda: nearest(coll, np.ones(4), 1), "the query has 4 features but the collection 3"),
        (lambda: nearest(coll, np.ones(3), 1, label_set="z"), "no label set 'z'"),
        (lambda: load_embeddings(tmp_path / "none.npz"), "does not exist"),
        (lambda: load_embeddings((tmp_path / "bad.npz").write_bytes(b"not a zip") and tmp_path / "bad.npz"),
         "is not an embeddings file"),
        (lambda: embed(backbone(), ArrayVideoDataset(np.zeros((0, 8, 20, 20, 3), np.uint8), {}, {}, "void"), tiny_data,
                       1, tmp_path / "e.npz"), "nothing to embed: void has no videos"),
        (lambda: embed(backbone(), open_dataset(tiny_data)[1], tiny_data, 1, tmp_path / "no" / "e.npz"),
         "does not exist"),
    ]:
        with pytest.raises(VidsslError) as e:
            call()
        assert frag in one_line(e.value)


def test_api_embed_and_retrieve_by_source_and_by_file(tiny_run, tmp_path):
    ck = tiny_run / "checkpoints" / "last.pt"
    path = api.embed(ck, tmp_path / "all.npz", split="all", progress=False)
    coll = load_embeddings(path)
    assert len(coll) == 24 + 16 and coll.meta["split"] == "all" and coll.meta["checkpoint"] == str(ck.resolve())
    assert coll.sources[0].endswith("train#0") and coll.sources[-1].endswith("test#15")

    query = coll.sources[-1]
    hits = api.retrieve(query, path, k=3)
    assert len(hits) == 3 and query not in [h.source for h in hits]
    assert hits[0].cosine >= hits[1].cosine >= hits[2].cosine

    # a video file: embedded with the checkpoint and the protocol recorded in the file
    video = tmp_path / "q.mp4"
    frames = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    with av.open(str(video), "w") as c:
        s = c.add_stream("mpeg4", rate=25)
        s.width = s.height = 32
        s.pix_fmt = "yuv420p"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    hits = api.retrieve(str(video), path, k=5)
    assert len(hits) == 5 and all(-1 <= h.cosine <= 1 for h in hits)
    with pytest.raises(VidsslError) as e:
        api.retrieve(str(tmp_path / "missing.mp4"), path)
    assert "neither a video file nor a source" in one_line(e.value)
    with pytest.raises(VidsslError) as e:
        api.embed(ck, tmp_path / "x.npz", split="val")
    assert "unknown split 'val'" in one_line(e.value)


def test_a_damaged_embeddings_file_is_refused_in_one_line(tmp_path):
    """Issue 14: np.load raised zipfile.BadZipFile (a traceback) for a flipped byte in a member."""
    coll = Embeddings(np.arange(3000, dtype=np.float32).reshape(300, 10), [f"v{i}" for i in range(300)],
                      {"c": np.zeros(300, np.int64)}, {"c": ["x"]}, {"format": "vidssl-embeddings-1"})
    path = save_embeddings(coll, tmp_path / "e.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x04  # inside the features array
    path.write_bytes(bytes(data))
    with pytest.raises(VidsslError) as e:
        load_embeddings(path)
    assert "is not an embeddings file, or is damaged" in one_line(e.value)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(VidsslError):
        load_embeddings(path)
