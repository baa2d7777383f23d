"""Evaluation protocols on frozen features: linear probe, kNN, retrieval.

All take train features/labels (the gallery) and test features/labels (the queries).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from sklearn.preprocessing import StandardScaler

from vidssl.errors import VidsslError


@dataclass
class ProbeResult:
    accuracy: float  # test top-1, in [0, 1]
    C: float  # chosen inverse L2 strength
    val_accuracy: float | None  # accuracy of the chosen C on the held-out part of train (None: too few to hold out)
    predictions: list[int]

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("predictions")
        return d


def _l2n(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def check_labels(y_train: np.ndarray, y_test: np.ndarray) -> None:
    if len(y_test) == 0:
        raise VidsslError("the test split is empty; evaluation needs labelled test videos")
    if len(y_train) == 0:
        raise VidsslError("the train split is empty; evaluation needs labelled train videos")
    for split, y in (("train", y_train), ("test", y_test)):
        if (np.asarray(y) < 0).any():
            raise VidsslError(f"{int((np.asarray(y) < 0).sum())} {split} labels are negative (unlabelled videos); "
                              "evaluate labelled videos only (vidssl.eval.labelled.labelled_only)")
    missing = sorted(int(c) for c in set(np.unique(y_test)) - set(np.unique(y_train)))
    if missing:
        raise VidsslError(f"test classes {missing} have no train videos; every test class needs train examples")


def source_groups(sources: list[str]) -> np.ndarray | None:
    """UCF101/HMDB-style recording groups from file names (``v_Class_g08_c01.avi`` -> 8), else None.

    Clips of one group are cut from one long video; a validation split that puts a group on
    both sides measures near-duplicates, so :func:`linear_probe` keeps groups whole.
    """
    found = [_GROUP.search(Path(s).name) for s in sources]
    if not sources or not all(found):
        return None
    return np.array([int(m.group(1)) for m in found])


_GROUP = re.compile(r"_g(\d+)_c\d+")


def linear_probe(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                 cs=(0.001, 0.01, 0.1, 1.0, 10.0), val_fraction: float = 0.2, seed: int = 0,
                 groups: np.ndarray | None = None) -> ProbeResult:
    """L2-regularised multinomial logistic regression on standardised features.

    C is chosen on a stratified held-out ``val_fraction`` of train (whole ``groups`` on one
    side when given), then the probe is refit on all of train and scored once on test.
    """
    check_labels(y_train, y_test)

    def fit(x, y, c):
        sc = StandardScaler().fit(x)
        clf = LogisticRegression(C=c, max_iter=2000).fit(sc.transform(x), y)
        return lambda z: clf.predict(sc.transform(z))

    counts = np.bincount(y_train)
    n_classes = int((counts > 0).sum())
    n_val = round(val_fraction * len(y_train))
    if counts[counts > 0].min() < 2 or n_val < n_classes or len(y_train) - n_val < n_classes:
        # too few videos per class to hold some out: fall back to a fixed C, and say so
        best, val = 1.0, {1.0: None}
    else:
        if groups is not None and len(np.unique(groups)) >= 2:
            folds = max(2, round(1 / val_fraction))
            splitter = StratifiedGroupKFold(n_splits=min(folds, len(np.unique(groups))), shuffle=True, random_state=seed)
            a, v = next(splitter.split(x_train, y_train, groups))
            xa, xv, ya, yv = x_train[a], x_train[v], y_train[a], y_train[v]
        else:
            xa, xv, ya, yv = train_test_split(x_train, y_train, test_size=n_val, random_state=seed, stratify=y_train)
        val = {c: float((fit(xa, ya, c)(xv) == yv).mean()) for c in cs}
        best = max(cs, key=lambda c: (val[c], -c))  # ties go to the stronger regulariser
    pred = fit(x_train, y_train, best)(x_test)
    return ProbeResult(float((pred == y_test).mean()), best, val[best], pred.tolist())


def knn_classify(x_train, y_train, x_test, y_test, k: int = 20, temperature: float = 0.07) -> float:
    """Weighted kNN on cosine similarity (Wu et al. 2018): votes exp(s / t) of the k nearest."""
    check_labels(y_train, y_test)
    k = min(k, len(x_train))
    sim = _l2n(x_test) @ _l2n(x_train).T
    nn_idx = np.argsort(-sim, axis=1)[:, :k]
    w = np.exp(np.take_along_axis(sim, nn_idx, 1) / temperature)
    votes = np.zeros((len(x_test), int(max(y_train.max(), y_test.max())) + 1))
    np.add.at(votes, (np.arange(len(x_test))[:, None], y_train[nn_idx]), w)
    return float((votes.argmax(1) == y_test).mean())


def retrieval_recall(x_train, y_train, x_test, y_test, ks=(1, 5, 10, 20)) -> dict[str, float]:
    """Recall@k: the fraction of test queries with a same-class train video among their k nearest (cosine)."""
    check_labels(y_train, y_test)
    kmax = max(ks)
    if kmax > len(x_train):
        raise VidsslError(f"Recall@{kmax} needs at least {kmax} gallery (train) videos, got {len(x_train)}; lower the k values")
    sim = _l2n(x_test) @ _l2n(x_train).T
    order = np.argsort(-sim, axis=1)[:, :kmax]
    hit = y_train[order] == y_test[:, None]
    return {f"R@{k}": float(hit[:, :k].any(1).mean()) for k in ks}
