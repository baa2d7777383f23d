import dataclasses
import json

import pytest

from vidssl import api
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
    assert set(on_disk["results"]) == {"ssl", "random_init"}
    table = api.format_table(report)
    assert "random_init" in table and f"{100 * motion['linear_probe']['accuracy']:.1f}" in table

    # running the demo again resumes the finished run instead of refusing or retraining
    again = api.demo(cfg)
    assert again["results"]["ssl"] == report["results"]["ssl"]


def test_random_init_baseline_is_the_trained_models_starting_point(tiny_pretrain):
    res = api.pretrain(dataclasses.replace(tiny_pretrain, steps=1))
    model, cfg, _ = api.load_pretrain_checkpoint(res.checkpoint)
    from vidssl.engine import build_model

    fresh = build_model(cfg)
    assert any((a != b).any() for a, b in zip(model.backbone.parameters(), fresh.backbone.parameters()))
    assert all((a == b).all() for a, b in zip(build_model(cfg).parameters(), fresh.parameters()))


def test_eval_with_a_checkpoint_of_another_method_is_refused(tiny_pretrain, tmp_path):
    import torch

    res = api.pretrain(dataclasses.replace(tiny_pretrain, steps=1))
    ck = torch.load(res.checkpoint, weights_only=False)
    ck["arch"]["method"] = "no_such_method"
    ck["config"]["method"] = "no_such_method"
    torch.save(ck, tmp_path / "odd.pt")
    with pytest.raises(api.VidsslError, match="unknown method 'no_such_method'"):
        api.evaluate(tmp_path / "odd.pt", EvalConfig(out_dir=str(tmp_path / "e"), progress=False))
