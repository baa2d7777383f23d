"""Validation parts of train, for choosing recipes and defaults without touching test.

Recording groups are kept whole (clips of one UCF101/HMDB51 group are cut from one long
video, so a group on both sides would measure near-duplicates); without groups the split
is per video. Pretraining may have seen the validation videos (without labels), as it
saw every train video; test videos stay unseen by everything that chooses a setting.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from vidssl.errors import VidsslError
from vidssl.eval.protocols import source_groups

VAL_FOLDS = 5  # one fold (a fifth of train) is the validation part


def validation_folds(train, seed: int = 0) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """``VAL_FOLDS`` (train part, validation part) index pairs over ``train``'s labelled videos, and the rule in words.

    Every labelled video is in exactly one validation part, so a figure averaged over the
    folds is scored on all of train (5x the videos of a single held-out fifth).
    """
    y = np.asarray(next(iter(train.labels.values())))
    labelled = np.flatnonzero(y >= 0)
    if len(labelled) < 2 * VAL_FOLDS:
        raise VidsslError(f"{train.name} has {len(labelled)} labelled videos; a validation split needs at least {2 * VAL_FOLDS}")
    counts = np.bincount(y[labelled])
    if counts.max() < VAL_FOLDS:
        raise VidsslError(f"{train.name} has at most {counts.max()} labelled videos per class; {VAL_FOLDS}-fold "
                          f"validation needs at least {VAL_FOLDS} in some class (score on test, or add videos)")
    groups = source_groups([train.source(int(i)) for i in labelled])
    if groups is not None and len(np.unique(groups)) >= VAL_FOLDS:
        split = StratifiedGroupKFold(VAL_FOLDS, shuffle=True, random_state=seed).split(labelled, y[labelled], groups)
        rule = f"{VAL_FOLDS}-fold cross-validation on train's labelled videos, stratified, recording groups whole, seed {seed}"
    else:
        split = StratifiedKFold(VAL_FOLDS, shuffle=True, random_state=seed).split(labelled, y[labelled])
        rule = f"{VAL_FOLDS}-fold cross-validation on train's labelled videos, stratified, per video (no groups found), seed {seed}"
    return [(labelled[a], labelled[v]) for a, v in split], rule
