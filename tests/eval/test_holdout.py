import numpy as np
import pytest

from vidssl.data.base import ArrayVideoDataset
from vidssl.errors import VidsslError
from vidssl.eval.holdout import VAL_FOLDS, validation_folds


class _Named(ArrayVideoDataset):
    def __init__(self, names, labels):
        super().__init__(np.zeros((len(names), 2, 4, 4, 3), np.uint8), {"class": labels}, {"class": ["a", "b", "c"]})
        self.names = names

    def source(self, i):
        return self.names[i]


def _ucf_like():
    names, labels = [], []
    for c in range(3):
        for g in range(1, 11):
            for k in range(1, 4):
                names.append(f"v_C{c}_g{g:02d}_c{k:02d}.avi")
                labels.append(c)
    names.append("v_C0_g01_c09.avi")
    labels.append(-1)  # unlabelled: never scored
    return _Named(names, np.array(labels))


def test_folds_cover_every_labelled_video_once_and_keep_groups_whole():
    ds = _ucf_like()
    folds, rule = validation_folds(ds, seed=0)
    assert len(folds) == VAL_FOLDS and "groups whole" in rule
    val = np.concatenate([v for _, v in folds])
    assert sorted(val.tolist()) == list(range(90))  # index 90 is unlabelled
    key = [ds.names[i].split("_c")[0].split("_", 2)[2] for i in range(len(ds))]  # class and group
    for a, v in folds:
        assert not {key[i] for i in a} & {key[i] for i in v}
        assert set(ds.labels["class"][v]) == {0, 1, 2}  # stratified


def test_refuses_tiny_sets():
    with pytest.raises(VidsslError, match="needs at least"):
        validation_folds(_Named([f"v{i}" for i in range(4)], np.array([0, 1, 0, 1])))


def test_refuses_classes_too_small_for_the_folds_in_one_line():
    names = [f"v{i}" for i in range(12)]
    with pytest.raises(VidsslError, match="at most 4 labelled videos per class") as e:
        validation_folds(_Named(names, np.arange(12) % 3))  # 4 videos in each of 3 classes
    assert "\n" not in str(e.value)
