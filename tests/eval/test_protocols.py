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


def brute_knn_predict(xtr, ytr, q, k, temperature):
    """Weighted kNN of Wu et al. 2018 (eq. 6), one query, written as a plain loop: the k train
    features of highest cosine similarity s_i each vote exp(s_i / t) for their class."""
    sims = [float(q @ g / (np.linalg.norm(q) * np.linalg.norm(g))) for g in xtr]
    top = sorted(range(len(xtr)), key=lambda i: -sims[i])[:k]
    votes = {}
    for i in top:
        votes[int(ytr[i])] = votes.get(int(ytr[i]), 0.0) + float(np.exp(sims[i] / temperature))
    return max(sorted(votes), key=lambda c: votes[c])


def knn_predict(xtr, ytr, q, k, temperature, classes):
    """The class knn_classify predicts for one query (the one label it scores as correct)."""
    right = [c for c in classes if knn_classify(xtr, ytr, q[None], np.array([c]), k, temperature) == 1.0]
    assert len(right) == 1, right
    return right[0]


@pytest.mark.parametrize("k", [1, 4, 9, 50])
@pytest.mark.parametrize("temperature", [0.05, 0.5, 5.0])
def test_knn_matches_weighted_vote_reference_on_held_out_queries(k, temperature):
    x, y = blobs(12, sep=0.8, seed=7, classes=4)  # overlapping classes: neighbours disagree
    xq, yq = blobs(5, sep=0.8, seed=8, classes=4)  # held-out queries, not the gallery itself
    xq = xq + np.random.default_rng(3).normal(size=xq.shape)
    want = [brute_knn_predict(x, y, q, k, temperature) for q in xq]
    assert [knn_predict(x, y, q, k, temperature, range(4)) for q in xq] == want
    assert knn_classify(x, y, xq, yq, k, temperature) == pytest.approx(np.mean(np.array(want) == yq))


def test_knn_votes_are_weighted_by_similarity_and_k_counts():
    # one near neighbour of class 0, two farther ones of class 1 (cosines 1.0, 0.8, 0.8)
    x = np.array([[1.0, 0.0], [0.8, 0.6], [0.8, -0.6], [-1.0, 0.0]])
    y = np.array([0, 1, 1, 2])
    q = np.array([[1.0, 0.0]])
    assert knn_predict(x, y, q[0], 3, 0.07, range(3)) == 0  # exp(1/.07) > 2 exp(.8/.07): the near one wins
    assert knn_predict(x, y, q[0], 3, 10.0, range(3)) == 1  # nearly equal weights: the majority wins
    assert knn_predict(x, y, q[0], 1, 10.0, range(3)) == 0  # k = 1: only the nearest votes
    assert brute_knn_predict(x, y, q[0], 3, 0.07) == 0 and brute_knn_predict(x, y, q[0], 3, 10.0) == 1


def test_recall_at_the_whole_gallery_is_allowed_and_finds_every_class():
    x, y = blobs(3, seed=7)  # 9 gallery videos
    xq, yq = blobs(2, seed=8)
    r = retrieval_recall(x, y, xq, yq, ks=(1, 9))
    assert r["R@9"] == 1.0 and r["R@9"] >= r["R@1"]
    with pytest.raises(VidsslError, match=r"^Recall@10 needs at least 10 gallery \(train\) videos, got 9; lower the k"):
        retrieval_recall(x, y, xq, yq, ks=(10,))


def _at_cos(sims):
    """2-d unit vectors whose cosine with (1, 0) is each of ``sims``."""
    a = np.arccos(np.asarray(sims, dtype=np.float64))
    return np.stack([np.cos(a), np.sin(a)], 1)


def test_knn_defaults_are_the_protocols_k_20_and_temperature_0_07():
    """Wu et al. 2018's weighted kNN as the evaluation calls it (only k is passed): k = 20, t = 0.07."""
    q, yq = _at_cos([1.0]), np.array([0])
    # temperature: one class-0 neighbour at cos 1 against ten class-1 at cos 0.8 (t = 0.07: class 0; t ~ 1: class 1)
    x_t = _at_cos([1.0] + [0.8] * 10 + [-1.0] * 10)
    y_t = np.array([0] + [1] * 10 + [2] * 10)
    assert knn_classify(x_t, y_t, q, yq) == 1.0 and knn_classify(x_t, y_t, q, yq, temperature=1.07) == 0.0
    # k: ten class-0 at cos 0.9, eleven class-1 at cos 0.895; the 20 nearest hold ten of each (class 0), 21 do not
    x_k = _at_cos([0.9] * 10 + [0.895] * 11)
    y_k = np.array([0] * 10 + [1] * 11)
    assert knn_classify(x_k, y_k, q, yq) == 1.0 and knn_classify(x_k, y_k, q, yq, k=21) == 0.0
