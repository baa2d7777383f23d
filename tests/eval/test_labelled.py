import numpy as np
import pytest
from conftest import one_line

from vidssl.data.base import ArrayVideoDataset
from vidssl.errors import VidsslError
from vidssl.eval.labelled import labelled_only
from vidssl.eval.protocols import knn_classify, linear_probe, retrieval_recall


def _ds(labels, name="d"):
    n = len(labels)
    videos = np.arange(n, dtype=np.uint8)[:, None, None, None, None] * np.ones((1, 2, 4, 4, 3), np.uint8)
    return ArrayVideoDataset(videos, {"class": np.array(labels), "other": np.arange(n)}, {"class": ["a", "b"]}, name)


def test_unlabelled_videos_are_left_out_with_one_notice():
    train, test = _ds([0, -1, 1, 1, -1], "tr"), _ds([1, 0, -1], "te")
    with pytest.warns(UserWarning, match="left out 2 of 5 train and 1 of 3 test videos") as rec:
        tr, te = labelled_only(train, test)
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    assert tr.labels["class"].tolist() == [0, 1, 1] and tr.labels["other"].tolist() == [0, 2, 3]
    assert [tr.source(i) for i in range(3)] == ["tr#0", "tr#2", "tr#3"] and len(te) == 2
    assert tr.read_frames(2, np.array([0]))[0, 0, 0, 0] == 3 and tr.num_frames(0) == 2
    assert tr.class_names is train.class_names and tr.name == "tr"


def test_all_labelled_is_unchanged_and_none_labelled_is_one_line_error(recwarn):
    train, test = _ds([0, 1]), _ds([1])
    assert labelled_only(train, test) == (train, test) and not recwarn.list
    with pytest.raises(VidsslError) as e:
        labelled_only(train, _ds([-1, -1], "flat"))
    assert "no labelled videos in flat" in one_line(e.value)


@pytest.mark.parametrize("protocol", [knn_classify, retrieval_recall, linear_probe])
def test_protocols_refuse_negative_labels(protocol):
    x = np.random.default_rng(0).normal(size=(6, 3))
    y = np.array([0, 1, 2, 0, 1, -1])  # -1 would wrap to the last class in kNN votes, and -1 == -1 is a "hit"
    kw = {"ks": (1,)} if protocol is retrieval_recall else {}
    with pytest.raises(VidsslError, match="1 train labels are negative"):
        protocol(x, y, x[:3], y[:3], **kw)
    with pytest.raises(VidsslError, match="1 test labels are negative"):
        protocol(x[:5], y[:5], x, y, **kw)
