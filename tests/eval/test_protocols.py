import numpy as np
import pytest

from vidssl.errors import VidsslError
from vidssl.eval.protocols import knn_classify, linear_probe, retrieval_recall


def blobs(n_per, d=6, sep=4.0, seed=0, classes=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d)) * sep
    y = np.repeat(np.arange(classes), n_per)
    return centres[y] + rng.normal(size=(len(y), d)), y


def test_probe_separable_vs_random_features():
    x, y = blobs(30)
    r = linear_probe(x, y, blobs(10, seed=0)[0], np.repeat(np.arange(3), 10))
    assert r.accuracy == 1.0 and r.C in (0.001, 0.01, 0.1, 1.0, 10.0) and 0 <= r.val_accuracy <= 1
    # features that carry no label information score near chance on fresh test clips
    rng = np.random.default_rng(2)
    chance_like = linear_probe(rng.normal(size=(300, 6)), np.tile([0, 1, 2], 100), rng.normal(size=(300, 6)),
                               np.tile([0, 1, 2], 100))
    assert chance_like.accuracy < 0.45


def test_probe_with_too_few_videos_to_hold_out_uses_fixed_c():
    x, y = blobs(1, classes=4)
    r = linear_probe(x, y, x, y)
    assert r.C == 1.0 and r.val_accuracy is None


def brute_recall(xtr, ytr, xte, yte, k):
    hits = 0
    for q, yq in zip(xte, yte):
        sims = [q @ g / (np.linalg.norm(q) * np.linalg.norm(g)) for g in xtr]
        top = sorted(range(len(xtr)), key=lambda i: -sims[i])[:k]
        hits += any(ytr[i] == yq for i in top)
    return hits / len(xte)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_recall_matches_brute_force(k):
    x, y = blobs(8, sep=0.7, seed=3)
    xq, yq = blobs(4, sep=0.7, seed=3)
    xq = xq + np.random.default_rng(9).normal(size=xq.shape)
    r = retrieval_recall(x, y, xq, yq, ks=(k,))
    assert r[f"R@{k}"] == pytest.approx(brute_recall(x, y, xq, yq, k))


def test_recall_is_monotone_and_knn_perfect_on_separable():
    x, y = blobs(10, sep=0.5, seed=4)
    xq, yq = blobs(10, sep=0.5, seed=5)
    r = retrieval_recall(x, y, xq, yq)
    vals = [r["R@1"], r["R@5"], r["R@10"], r["R@20"]]
    assert vals == sorted(vals)
    xs, ys = blobs(10, sep=10, seed=6)
    assert knn_classify(xs, ys, xs, ys, k=5) == 1.0


def test_bad_evaluation_inputs_are_clear():
    x, y = blobs(5)
    with pytest.raises(VidsslError, match="test split is empty"):
        linear_probe(x, y, x[:0], y[:0])
    with pytest.raises(VidsslError, match=r"test classes \[2\] have no train videos"):
        knn_classify(x[y < 2], y[y < 2], x, y)
    with pytest.raises(VidsslError, match="Recall@20 needs at least 20 gallery"):
        retrieval_recall(x[::2], y[::2], x, y)


def test_groups_from_ucf_names_and_probe_keeps_groups_whole():
    from vidssl.eval.protocols import source_groups

    names = [f"/d/ApplyEyeMakeup/v_ApplyEyeMakeup_g{g:02d}_c0{c}.avi" for g in (8, 9, 10, 11, 12) for c in (1, 2)]
    assert source_groups(names).tolist() == [8, 8, 9, 9, 10, 10, 11, 11, 12, 12]
    assert source_groups(names + ["other.mp4"]) is None
    # features that identify the group but not the class: a group-blind split rewards them
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 6)
    y = rng.integers(0, 2, 20)[groups]
    x = np.eye(20)[groups] + 0.01 * rng.normal(size=(120, 20))
    leaky = linear_probe(x, y, x[:10], y[:10])
    honest = linear_probe(x, y, x[:10], y[:10], groups=groups)
    assert leaky.val_accuracy == 1.0 and honest.val_accuracy < 0.9
