"""``vidssl pretrain --config runs/x/config.json`` repeats a recorded run; flags override single fields."""

import dataclasses
import json

import pytest
import torch

from vidssl.cli import _pretrain_config, parse, run
from vidssl.config import load_recorded_config, to_dict
from vidssl.engine import pretrain
from vidssl.errors import VidsslError


def weights(ckpt):
    return torch.load(ckpt, weights_only=True)["model"]


def test_two_runs_from_one_config_end_with_identical_weights(tiny_pretrain, tmp_path, capsys):
    first = pretrain(dataclasses.replace(tiny_pretrain, deterministic=True, threads=1, seed=3, lr=3e-3))
    recorded = first.out_dir / "config.json"
    for name in ("a", "b"):
        assert run(["pretrain", "--config", str(recorded), "--out", str(tmp_path / name)]) == 0
    a, b = weights(tmp_path / "a/checkpoints/last.pt"), weights(tmp_path / "b/checkpoints/last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(a[k], v) for k, v in weights(first.checkpoint).items())  # and the recorded run's
    again = json.loads((tmp_path / "a/config.json").read_text())["config"]
    assert again == {**json.loads(recorded.read_text())["config"], "out_dir": str(tmp_path / "a")}

    # a flag overrides one field and leaves the rest as recorded
    assert run(["pretrain", "--config", str(recorded), "--out", str(tmp_path / "c"), "--steps", "2",
                "--temporal-shift", "1"]) == 0
    c = json.loads((tmp_path / "c/config.json").read_text())["config"]
    assert (c["steps"], c["aug"]["temporal_shift"], c["seed"], c["lr"]) == (2, 1, 3, 3e-3)
    assert c["data"] == again["data"] and c["model"] == again["model"]


def test_a_resolved_time_budget_comes_back_as_its_step_count(tiny_pretrain, tmp_path):
    path = tmp_path / "config.json"
    cfg = dataclasses.replace(tiny_pretrain, time_budget="20m", steps=1134)
    path.write_text(json.dumps({"command": "pretrain", "config": to_dict(cfg), "steps_resolved": True}))
    got = _pretrain_config(parse(["pretrain", "--config", str(path)]))
    assert (got.steps, got.time_budget) == (1134, None)
    assert got.out_dir == "runs/pretrain" and got.data == tiny_pretrain.data and got.model == tiny_pretrain.model
    assert _pretrain_config(parse(["pretrain", "--config", str(path), "--time-budget", "5m"])).time_budget == "5m"
    # a run killed before its budget was resolved repeats with the budget
    path.write_text(json.dumps({"command": "pretrain", "config": to_dict(cfg), "steps_resolved": False}))
    assert load_recorded_config(path).time_budget == "20m"


@pytest.mark.parametrize(("content", "fragment"), [
    (None, "cannot read --config"),
    ("not json", "is not JSON"),
    ('{"config": {"no_such_setting": 1}}', "unknown config key 'no_such_setting'"),
])
def test_a_bad_config_file_is_one_clear_error(content, fragment, tmp_path):
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(VidsslError, match=fragment):
        parse(["pretrain", "--config", str(path)])
