import json
import math

import numpy as np
import pytest
import torch

from vidssl.backbones import create_backbone
from vidssl.config import AugConfig
from vidssl.data.base import ArrayVideoDataset
from vidssl.data.loading import open_dataset
from vidssl.errors import VidsslError
from vidssl.eval import finetune as ft
from vidssl.eval.finetune import Classifier, FinetuneConfig, cosine_lr, finetune, make_optimizer, predict_clips

AUG = AugConfig(temporal_shift=2)


def backbone(seed=0):
    torch.manual_seed(seed)
    return create_backbone("r3d18", width=0.0625)


def cfg(**kw):
    return FinetuneConfig(**{"steps": 3, "batch_size": 8, "lr": 1e-2, "clips_per_video": 2, "progress": False, **kw})


def test_optimizer_gives_the_backbone_a_tenth_of_the_head_lr_and_covers_every_weight():
    model = Classifier(backbone(), 8)
    opt = make_optimizer(model, cfg(lr=3e-3))
    head = {id(p) for p in model.head.parameters()}
    seen = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())  # each parameter exactly once
    for g in opt.param_groups:
        is_head = all(id(p) in head for p in g["params"])
        assert g["lr"] == pytest.approx(3e-3 if is_head else 3e-4)
        assert g["weight_decay"] == (0.0 if g["params"][0].ndim <= 1 else 1e-4)
    half = make_optimizer(model, cfg(lr=1e-3, backbone_lr_ratio=0.5))
    assert sorted({g["lr"] for g in half.param_groups}) == pytest.approx([5e-4, 1e-3])


def test_cosine_schedule():
    c = cfg(steps=10, lr=1.0)
    assert cosine_lr(0, c) == 1.0 and cosine_lr(5, c) == pytest.approx(0.5) and cosine_lr(10, c) == pytest.approx(0)
    assert all(cosine_lr(s, c) >= cosine_lr(s + 1, c) for s in range(10))


def test_finetune_trains_backbone_and_head_and_scores_clips_and_videos(tiny_data, monkeypatch):
    train, test = open_dataset(tiny_data)
    bb = backbone()
    before = {k: v.clone() for k, v in bb.state_dict().items()}
    seen = []
    monkeypatch.setattr(ft, "make_optimizer", lambda m, c: seen.append(make_optimizer(m, c)) or seen[-1])
    torch.manual_seed(0)
    head0 = torch.nn.Linear(bb.feature_dim, 8).weight.detach().clone()  # what the seeded head starts as

    res = finetune(bb, train, test, tiny_data, AUG, cfg(), "motion")

    assert all(torch.equal(v, bb.state_dict()[k]) for k, v in before.items())  # the caller's backbone is untouched
    tuned = res.model.backbone.state_dict()
    assert not torch.equal(tuned["stem.0.weight"], before["stem.0.weight"])
    assert not torch.equal(res.model.head.weight, head0)
    # during training every group's lr is the cosine value times its scale: backbone = head / 10
    lrs = {g["lr_scale"]: g["lr"] for g in seen[0].param_groups}
    assert lrs[0.1] == pytest.approx(0.1 * lrs[1.0]) and lrs[1.0] == pytest.approx(cosine_lr(2, cfg()))

    assert len(res.predictions) == len(test) and res.steps == 3 and res.seconds > 0 and math.isfinite(res.final_loss)
    # the reported accuracies are those of the K-clip probabilities of the returned model
    probs = predict_clips(res.model, test, tiny_data, 2)
    assert probs.shape == (len(test), 2, 8) and torch.allclose(probs.sum(-1), torch.ones(len(test), 2))
    y = torch.as_tensor(test.labels["motion"])
    assert res.per_clip_acc == pytest.approx((probs.argmax(-1) == y[:, None]).float().mean().item())
    assert res.per_video_acc == pytest.approx((probs.mean(1).argmax(-1) == y).float().mean().item())
    assert res.predictions == probs.mean(1).argmax(-1).tolist()
    assert set(res.summary()) >= {"per_clip_acc", "per_video_acc", "steps", "seconds"}

    one = finetune(bb, train, test, tiny_data, AUG, cfg(clips_per_video=1, steps=1), "motion")
    assert one.per_clip_acc == one.per_video_acc  # one clip per video: the two protocols coincide


def test_bad_finetune_inputs_are_one_line_errors(tiny_data):
    from conftest import one_line

    train, test = open_dataset(tiny_data)
    bb = backbone()
    empty = ArrayVideoDataset(np.zeros((0, 8, 20, 20, 3), np.uint8), {"motion": np.zeros(0)}, {"motion": ["a"]}, "none")
    cases = [
        ({"label_set": "colour"}, "no label set 'colour'"),
        ({"test": empty}, "test split none is empty"),
        ({"ft_cfg": cfg(steps=0)}, "steps must be >= 1"),
        ({"ft_cfg": cfg(batch_size=1000)}, "larger than the training set"),
        ({"ft_cfg": cfg(backbone_lr_ratio=-1)}, "ratio must be >= 0"),
    ]
    for kw, frag in cases:
        args = {"backbone": bb, "train": train, "test": test, "data_cfg": tiny_data, "aug_cfg": AUG,
                "ft_cfg": cfg(), "label_set": "motion", **kw}
        with pytest.raises(VidsslError) as e:
            finetune(**args)
        assert frag in one_line(e.value)


def test_validation_finetune_scores_a_fold_of_train_and_leaves_results_alone(tiny_run, monkeypatch):
    """holdout="val": train on 4/5 of train, score on the rest (never test), and results.json keeps test figures."""
    import json

    from vidssl import api
    from vidssl.eval.holdout import validation_folds

    seen = []
    real = ft.finetune

    def spy(backbone, train, test, data_cfg, aug_cfg, ft_cfg, label_set, **kw):
        seen.append(([train.source(i) for i in range(len(train))], [test.source(i) for i in range(len(test))],
                     (ft_cfg.lr, ft_cfg.backbone_lr_ratio)))
        return real(backbone, train, test, data_cfg, aug_cfg, ft_cfg, label_set, **kw)

    monkeypatch.setattr(ft, "finetune", spy)
    results = json.loads((tiny_run / "results.json").read_text())
    results["eval_config"]["data"]["synthetic_train_per_class"] = 5  # enough videos per class for 5 folds
    (tiny_run / "results.json").write_text(json.dumps(results))
    before = (tiny_run / "results.json").read_text()
    entry = api.finetune_run(tiny_run, cfg(steps=1, holdout="val", lr=1e-2, backbone_lr_ratio=0.1, scratch_lr=5e-3,
                                           scratch_backbone_lr_ratio=1.0))

    data = api.from_dict(type(api.load_pretrain_checkpoint(tiny_run / "checkpoints/last.pt")[1].data),
                         results["eval_config"]["data"])
    full_train, full_test = open_dataset(data)
    fit, val = validation_folds(full_train, 0)[0][0]
    assert len(seen) == 2  # SSL and random init, on the same videos
    assert [c for _, _, c in seen] == [(1e-2, 0.1), (5e-3, 1.0)]  # SSL, then scratch with its own lr and ratio
    for tr, va, _ in seen:
        assert tr == [full_train.source(int(i)) for i in fit] and va == [full_train.source(int(i)) for i in val]
        assert not set(va) & {full_test.source(i) for i in range(len(full_test))}
    assert "fold 1 of 5-fold" in entry["holdout_rule"] and set(entry["results"]) == {"ssl", "random_init"}
    assert (tiny_run / "results.json").read_text() == before
    assert not list((tiny_run / "checkpoints").glob("finetune-*.pt"))  # no fine-tuning state is left behind
    assert "finetune" not in json.loads(before)
    with pytest.raises(VidsslError, match="holdout must be test or val"):
        cfg(holdout="train").validate()


def test_killed_or_stopped_finetuning_continues_to_the_same_weights(tiny_data, tmp_path, monkeypatch):
    """Issue 14: the state is saved every checkpoint_every steps and on SIGTERM; a rerun continues from it."""
    import os
    import signal

    from vidssl import checkpoint
    from vidssl.stop import Stopped

    train, test = open_dataset(tiny_data)
    c = cfg(steps=5, checkpoint_every=2, clips_per_video=1)
    ref = finetune(backbone(), train, test, tiny_data, AUG, c, "motion")
    real, calls = ft.F.cross_entropy, []

    def failing(after, action):
        def loss(*a, **kw):
            calls.append(1)
            if len(calls) == after:
                action()
            return real(*a, **kw)
        return loss

    def die():
        raise KeyboardInterrupt  # a kill: whatever was saved is all there is

    state = tmp_path / "ft.pt"
    monkeypatch.setattr(ft.F, "cross_entropy", failing(4, die))
    with pytest.raises(KeyboardInterrupt):
        finetune(backbone(), train, test, tiny_data, AUG, c, "motion", state_path=state, tag={"run": 1})
    assert checkpoint.load(state)["step"] == 2
    calls.clear()
    monkeypatch.setattr(ft.F, "cross_entropy", failing(1, lambda: os.kill(os.getpid(), signal.SIGTERM)))
    with pytest.raises(Stopped, match=f"at step 3 of 5; its state is in {state}"):
        finetune(backbone(), train, test, tiny_data, AUG, c, "motion", state_path=state, tag={"run": 1})
    assert checkpoint.load(state)["step"] == 3
    monkeypatch.setattr(ft.F, "cross_entropy", real)
    res = finetune(backbone(), train, test, tiny_data, AUG, c, "motion", state_path=state, tag={"run": 1})
    assert res.final_loss == ref.final_loss and res.per_clip_acc == ref.per_clip_acc
    for k, v in ref.model.state_dict().items():
        assert torch.equal(v, res.model.state_dict()[k]), k
    # a state of other settings (another checkpoint, here another tag) is not continued
    calls.clear()
    monkeypatch.setattr(ft.F, "cross_entropy", failing(99, die))
    finetune(backbone(), train, test, tiny_data, AUG, c, "motion", state_path=state, tag={"run": 2})
    assert len(calls) == 5


def test_results_of_an_older_checkpoint_are_neither_fine_tuned_nor_pictured(tiny_run):
    """eval at step 6, then --resume --extend-steps to 8: finetune and report refuse to mix the two checkpoints."""
    import dataclasses as dc

    from conftest import one_line

    from vidssl import api
    from vidssl.checkpoint import load_pretrain_checkpoint
    from vidssl.engine import pretrain

    _, pcfg, _ = load_pretrain_checkpoint(tiny_run / "checkpoints" / "last.pt")
    results = json.loads((tiny_run / "results.json").read_text())
    before = results["protocol"]["pretrain_steps"]
    pretrain(dc.replace(pcfg, out_dir=str(tiny_run), steps=before + 2, resume=True, extend_steps=True, progress=False))
    for call in (lambda: api.finetune_run(tiny_run, FinetuneConfig(steps=1, batch_size=4, progress=False)),
                 lambda: api.report(tiny_run)):
        with pytest.raises(VidsslError) as e:
            call()
        msg = one_line(e.value)
        assert f"was measured on step {before} of" in msg and f"now holds step {before + 2}" in msg
        assert "vidssl eval" in msg and str(tiny_run) in msg
    assert json.loads((tiny_run / "results.json").read_text()) == results  # nothing written beside the old numbers
