"""TensorBoard event files beside train_log.jsonl, read back (skipped when tensorboard is not installed)."""

import dataclasses
import json
import sys

import numpy as np
import pytest

from vidssl import api, checkpoint
from vidssl.config import EvalConfig
from vidssl.engine import pretrain


def scalars(log_dir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_training_and_evaluation_write_events(tiny_pretrain):
    pytest.importorskip("tensorboard")
    res = pretrain(tiny_pretrain)
    rows = [json.loads(x) for x in (res.out_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    for field in ("loss", "lr", "clips_per_s", "data_wait_frac"):
        got = scalars(res.out_dir / "tensorboard", f"train/{field}")
        assert [s for s, _ in got] == [r["step"] for r in rows]
        np.testing.assert_allclose([v for _, v in got], [r[field] for r in rows], rtol=1e-6)
    report = api.evaluate(res.checkpoint, EvalConfig(out_dir=str(res.out_dir), knn_k=3, recall_ks=(1, 5),
                                                     progress=False))
    for backbone in ("ssl", "random_init"):
        m = report["results"][backbone]["labels"]["motion"]
        for metric, value in (("linear_probe", m["linear_probe"]["accuracy"]), ("knn", m["knn"]["accuracy"]),
                              ("R@5", m["retrieval"]["R@5"])):
            got = scalars(res.out_dir / "tensorboard", f"eval/{backbone}/motion/{metric}")
            assert got == [(6, pytest.approx(value, rel=1e-6))]


def test_a_resumed_run_shows_each_step_once(tiny_pretrain, tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    real_save = checkpoint.save

    def die_before_step_4(path, **state):
        if state["step"] == 4:
            raise KeyboardInterrupt  # steps 3 and 4 are logged, the last checkpoint is step 2
        real_save(path, **state)

    monkeypatch.setattr(checkpoint, "save", die_before_step_4)
    with pytest.raises(KeyboardInterrupt):
        pretrain(tiny_pretrain)
    monkeypatch.setattr(checkpoint, "save", real_save)
    res = pretrain(dataclasses.replace(tiny_pretrain, resume=True))
    rows = [json.loads(x) for x in (res.out_dir / "train_log.jsonl").read_text().splitlines()]
    got = scalars(res.out_dir / "tensorboard", "train/loss")
    assert [s for s, _ in got] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose([v for _, v in got], [r["loss"] for r in rows], rtol=1e-6)


def test_without_tensorboard_the_jsonl_log_is_all(tiny_pretrain, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    res = pretrain(tiny_pretrain)
    assert not (res.out_dir / "tensorboard").exists()
    rows = [json.loads(x) for x in (res.out_dir / "train_log.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(0 <= r["data_wait_frac"] <= 1 for r in rows)
