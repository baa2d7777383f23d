import dataclasses
import json

import pytest
from video_helpers import barcode_frames, write_video

from vidssl import api, checkpoint
from vidssl.config import DemoConfig, EvalConfig


def test_demo_writes_a_complete_run_folder(tiny_pretrain, tmp_path):
    cfg = DemoConfig(out_dir=str(tmp_path / "demo"), pretrain=tiny_pretrain,
                     eval=EvalConfig(knn_k=3, recall_ks=(1, 5), progress=False))
    report = api.demo(cfg)
    run = tmp_path / "demo"
    for name in ("results.json", "report.html", "loss_curve.png", "config.json", "train_log.jsonl", "checkpoints/last.pt"):
        assert (run / name).is_file(), name
    on_disk = json.loads((run / "results.json").read_text())
    assert on_disk["results"] == json.loads(json.dumps(report["results"]))
    p = on_disk["protocol"]
    assert p["pretrain_steps"] == 6 and p["clip_frames"] == 4 and p["crop_size"] == 16 and p["clips_per_video"] == 1
    assert p["train_videos"] == 24 and p["test_videos"] == 16 and p["pretrain_seconds"] > 0
    assert on_disk["pretrain_config"]["seed"] == 0 and on_disk["eval_config"]["data"]["stride"] == 1
    motion = on_disk["results"]["ssl"]["labels"]["motion"]
    assert 0 <= motion["linear_probe"]["accuracy"] <= 1 and set(motion["retrieval"]) == {"R@1", "R@5"}
    # random init with both BN choices (the demo's gain is read against the stronger)
    assert set(on_disk["results"]) == {"ssl", "random_init", "random_init_no_bn_recal"}
    clips = {k: r["bn_recalibration_clips"] for k, r in on_disk["results"].items()}
    assert clips == {"ssl": 24, "random_init": 24, "random_init_no_bn_recal": 0}
    table = api.format_table(report)
    lp = {k: 100 * r["labels"]["motion"]["linear_probe"]["accuracy"] for k, r in on_disk["results"].items()}
    assert "random init (BN re-estimated)" in table and "random init (initial BN statistics)" in table
    assert f"{lp['ssl']:.1f}" in table and f"{lp['random_init_no_bn_recal']:.1f}" in table
    stronger = max(("random_init", "random_init_no_bn_recal"), key=lp.get)
    gain = table.splitlines()[-1]
    assert gain.startswith(f"linear probe gain on motion: {lp['ssl'] - lp[stronger]:+.1f} points over the stronger")
    assert ("initial BN" in gain) == (stronger == "random_init_no_bn_recal")

    # running the demo again resumes the finished run instead of refusing or retraining
    again = api.demo(cfg)
    assert again["results"]["ssl"] == report["results"]["ssl"]


def test_random_init_baseline_is_the_trained_models_starting_point(tiny_pretrain, monkeypatch):
    """The random_init backbone that evaluate() scores holds exactly the weights (and BatchNorm buffers)
    that pretraining started from: the model's state at its first forward, before any optimizer step."""
    import torch

    from vidssl import engine

    def clone(module):
        return {k: v.detach().clone() for k, v in module.state_dict().items()}

    step0, real_build = {}, engine.build_model

    def build_and_watch(cfg):
        model = real_build(cfg)
        def first_forward(m, args):
            step0.setdefault("backbone", clone(m.backbone))

        model.register_forward_pre_hook(first_forward)
        return model

    monkeypatch.setattr(engine, "build_model", build_and_watch)  # pretraining's model only (api has its own name)
    res = api.pretrain(dataclasses.replace(tiny_pretrain, steps=2, seed=3))
    scored, real_eval = {}, api.evaluate_backbones

    recal = {}

    def record(backbones, train, test, data, cfg, *args, **kw):
        scored.update({name: clone(bb) for name, bb in backbones.items()})
        recal.update({name: cfg.bn_recalibrate for name in backbones})
        return real_eval(backbones, train, test, data, cfg, *args, **kw)

    monkeypatch.setattr(api, "evaluate_backbones", record)
    api.evaluate(res.checkpoint, EvalConfig(out_dir=str(res.out_dir), knn_k=3, recall_ks=(1,), progress=False))
    assert recal == {"ssl": True, "random_init": True, "random_init_no_bn_recal": False}
    for name in ("random_init", "random_init_no_bn_recal"):  # both BN choices start from the same weights
        assert scored[name].keys() == step0["backbone"].keys()
        for k, v in step0["backbone"].items():
            assert torch.equal(scored[name][k], v), (name, k)
    assert any(not torch.equal(scored["ssl"][k], v) for k, v in step0["backbone"].items() if v.is_floating_point())


def test_eval_with_a_checkpoint_of_another_method_is_refused(tiny_pretrain, tmp_path):
    import torch

    res = api.pretrain(dataclasses.replace(tiny_pretrain, steps=1))
    ck = torch.load(res.checkpoint, weights_only=False)
    ck["arch"]["method"] = "no_such_method"
    ck["config"]["method"] = "no_such_method"
    ck["digest"] = checkpoint.digest(ck)  # a consistent checkpoint of an unknown method, not a damaged one
    torch.save(ck, tmp_path / "odd.pt")
    with pytest.raises(api.VidsslError, match="unknown method 'no_such_method'"):
        api.evaluate(tmp_path / "odd.pt", EvalConfig(out_dir=str(tmp_path / "e"), progress=False))


def _tiny_checkpoint(tiny_pretrain, steps=1):
    return api.pretrain(dataclasses.replace(tiny_pretrain, steps=steps)).checkpoint


def test_eval_data_flags_override_the_checkpoints_data(tiny_pretrain, tmp_path, monkeypatch):
    from vidssl.cli import run

    ck = _tiny_checkpoint(tiny_pretrain)
    opened, real = [], api.open_dataset
    monkeypatch.setattr(api, "open_dataset", lambda data, **kw: opened.append((data, real(data, **kw))) or opened[-1][1])
    out = tmp_path / "e"
    assert run(["eval", str(ck), "--out", str(out), "--no-progress", "--knn-k", "3", "--recall-ks", "1",
                "--synthetic-seed", "5", "--clip-frames", "6"]) == 0
    data, (train, _) = opened[0]
    assert (data.synthetic_seed, data.clip_frames) == (5, 6)
    assert data.cache_dir == tiny_pretrain.data.cache_dir and data.synthetic_frames == 8  # the rest from the checkpoint
    saved = json.loads((out / "results.json").read_text())
    assert saved["protocol"]["clip_frames"] == 6 and saved["eval_config"]["data"]["synthetic_seed"] == 5
    builtin_train, _ = real(tiny_pretrain.data)  # what a broken override would silently evaluate
    assert train.videos.shape == builtin_train.videos.shape and not (train.videos == builtin_train.videos).all()


def _folder(root, files):
    for k, rel in enumerate(files):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / rel, barcode_frames(12)[k % 3 :][:8])
    return root


def test_unlabelled_videos_are_left_out_of_evaluation(tiny_pretrain, tmp_path, capsys):
    from vidssl.cli import main
    from vidssl.config import DataConfig

    ck = _tiny_checkpoint(tiny_pretrain)
    files = [f"{s}/{c}/{k}.avi" for s, n in (("train", 3), ("test", 2)) for c in "ab" for k in range(n)]
    root = _folder(tmp_path / "v", [*files, "train/loose.avi", "test/loose.avi", "test/loose2.avi"])
    data = DataConfig(dataset="folder", root=str(root), clip_frames=4, crop_size=16, cache_short_side=16,
                      frame_cache=False, cache_dir=str(tmp_path / "cache"))
    cfg = EvalConfig(out_dir=str(tmp_path / "e"), data=data, knn_k=3, recall_ks=(1, 5), progress=False)
    with pytest.warns(UserWarning, match="left out 1 of 7 train and 2 of 6 test videos"):
        report = api.evaluate(ck, cfg)
    p = report["protocol"]
    assert (p["train_videos"], p["test_videos"]) == (6, 4) and p["split_rule"] == "the train/ and test/ folders as given"
    knn = report["results"]["ssl"]["labels"]["class"]["knn"]["accuracy"]
    assert knn in (0.0, 0.25, 0.5, 0.75, 1.0) and report["results"]["ssl"]["labels"]["class"]["chance"] == 0.5
    flat = _folder(tmp_path / "flat", ["a.avi", "b.avi", "c.avi"])
    with pytest.raises(SystemExit) as e:
        main(["eval", str(ck), "--out", str(tmp_path / "f"), "--no-progress", "--dataset", "folder", "--root", str(flat),
              "--cache-short-side", "16", "--no-frame-cache", "--cache-dir", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and len(err.strip().splitlines()) == 1 and "no labelled videos" in err


def test_finetune_results_follow_the_checkpoints_weights(tiny_pretrain, tmp_path):
    import torch

    from vidssl.eval.finetune import FinetuneConfig

    run = tmp_path / "run"
    pcfg = dataclasses.replace(tiny_pretrain, out_dir=str(run), steps=2)
    ck = api.pretrain(pcfg).checkpoint
    ecfg = EvalConfig(out_dir=str(run), knn_k=3, recall_ks=(1,), progress=False)
    api.evaluate(ck, ecfg)
    ft = FinetuneConfig(steps=1, batch_size=8, clips_per_video=1, progress=False)
    api.finetune_run(run, ft)
    api.finetune_run(run, dataclasses.replace(ft, lr=3e-3))  # other settings: kept beside the first
    api.finetune_run(run, dataclasses.replace(ft, lr=3e-3, threads=1))  # the same settings: replaces its entry
    kept = api.evaluate(ck, ecfg)  # the same checkpoint re-evaluated keeps its fine-tunings
    assert [e["config"]["lr"] for e in kept["finetunes"]] == [1e-3, 3e-3]
    assert kept["finetune"] == kept["finetunes"][-1] and kept["finetune"]["config"]["threads"] == 1
    from vidssl.report import build_report

    page = build_report(run).read_text()  # the latest in the table, the earlier one named beside it
    first = kept["finetunes"][0]["results"]["ssl"]["per_video_acc"]
    assert f"Earlier fine-tunings of this run, with other settings (per video): head lr 0.001, scratch 0.001, 1 steps: " \
           f"self-supervised init {100 * first:.1f}%" in page

    state = torch.load(ck, weights_only=False)  # retrained to the same step: other weights, same path and step
    state["model"] = {k: v + 0.01 if v.is_floating_point() else v for k, v in state["model"].items()}
    state["digest"] = checkpoint.digest(state)
    torch.save(state, tmp_path / "other.pt")
    saved = (run / "results.json").read_text()
    (tmp_path / "other.pt").replace(ck)
    assert not {"finetune", "finetunes"} & set(api.evaluate(ck, ecfg))

    (run / "results.json").write_text(saved)  # a longer (resumed) run at the same path
    api.pretrain(dataclasses.replace(pcfg, steps=4, resume=True, extend_steps=True))
    report = api.evaluate(ck, ecfg)
    assert report["protocol"]["pretrain_steps"] == 4 and "finetune" not in report
    assert "finetune" not in json.loads((run / "results.json").read_text())
