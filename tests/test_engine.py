import copy
import dataclasses
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from video_helpers import barcode_frames, write_video

from vidssl import checkpoint
from vidssl.data.cache import fill_cache
from vidssl.engine import lr_at, pretrain
from vidssl.errors import VidsslError
from vidssl.methods.simclr import VideoSimCLR


def weights(path):
    return checkpoint.load(path)["model"]


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_trains_logs_and_checkpoints(tiny_pretrain):
    res = pretrain(tiny_pretrain)
    assert res.step == 6 and torch.isfinite(torch.tensor(res.final_loss))
    log = [json.loads(x) for x in (res.out_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert all(r["clips_per_s"] > 0 for r in log)
    cfg = json.loads((res.out_dir / "config.json").read_text())
    assert cfg["config"]["steps"] == 6 and cfg["config"]["data"]["clip_frames"] == 4
    ck = checkpoint.load(res.checkpoint)
    assert ck["step"] == 6 and ck["arch"] == {"method": "simclr", "backbone": "r3d18", "width": 0.0625, "input": "rgb"}
    assert not list(res.out_dir.glob("**/*.tmp"))


def test_resume_after_interruption_matches_uninterrupted_run(tiny_pretrain, tmp_path, monkeypatch):
    full = dataclasses.replace(tiny_pretrain, out_dir=str(tmp_path / "full"), deterministic=True)
    ref = weights(pretrain(full).checkpoint)

    # crash right after the step-4 checkpoint is written, then resume
    cut = dataclasses.replace(full, out_dir=str(tmp_path / "cut"))
    real_save = checkpoint.save

    def save_then_die(path, **state):
        real_save(path, **state)
        if state["step"] == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        pretrain(cut)
    monkeypatch.setattr(checkpoint, "save", real_save)
    assert checkpoint.load(tmp_path / "cut/checkpoints/last.pt")["step"] == 4
    res = pretrain(dataclasses.replace(cut, resume=True))
    assert res.step == 6
    assert_same(weights(res.checkpoint), ref)
    steps = [json.loads(x)["step"] for x in (tmp_path / "cut/train_log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_sigkill_then_resume_matches_uninterrupted_run(tiny_pretrain, tmp_path):
    """A real kill -9 of the CLI mid-run: the resumed run continues from the kill and ends with the same weights."""
    total = 16  # the kill comes at the first checkpoint (step 1), 15 steps before the end
    common = ["--steps", str(total), "--batch-size", "8", "--clip-frames", "4", "--crop-size", "16", "--width", "0.0625",
              "--head-hidden", "32", "--proj-dim", "16", "--synthetic-train-per-class", "3", "--synthetic-test-per-class", "2",
              "--synthetic-frames", "8", "--synthetic-size", "20", "--cache-dir", tiny_pretrain.data.cache_dir,
              "--temporal-shift", "2", "--warmup-steps", "2", "--checkpoint-every", "1", "--log-every", "1",
              "--deterministic", "--no-progress", "--threads", "1"]
    cli = [sys.executable, "-m", "vidssl", "pretrain"]
    subprocess.run([*cli, "--out", str(tmp_path / "full"), *common], check=True, capture_output=True)
    proc = subprocess.Popen([*cli, "--out", str(tmp_path / "killed"), *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last, log = tmp_path / "killed/checkpoints/last.pt", tmp_path / "killed/train_log.jsonl"
    deadline = time.time() + 600  # a hang guard: a loaded machine is slow, not hung
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = checkpoint.load(last)["step"]
    assert proc.returncode == -signal.SIGKILL and 1 <= killed_at < total, (proc.returncode, killed_at)  # killed mid-run
    logged = [x for x in log.read_text().splitlines() if x.endswith("}") and json.loads(x)["step"] <= killed_at]
    subprocess.run([*cli, "--out", str(tmp_path / "killed"), *common, "--resume"], check=True, capture_output=True)
    assert checkpoint.load(last)["step"] == total
    assert_same(weights(last), weights(tmp_path / "full/checkpoints/last.pt"))
    lines = log.read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == list(range(1, total + 1))
    assert lines[:killed_at] == logged  # continued from the kill (a restart would rewrite these, with other timings)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_pretrain, monkeypatch):
    real_forward = VideoSimCLR.forward
    calls = {"n": 0}

    def forward(self, views):
        calls["n"] += 1
        loss = real_forward(self, views)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(VideoSimCLR, "forward", forward)
    with pytest.raises(VidsslError, match=r"loss became nan at step 2.*last good checkpoint .*last.pt is kept"):
        pretrain(tiny_pretrain)
    assert checkpoint.load(os.path.join(tiny_pretrain.out_dir, "checkpoints/last.pt"))["step"] == 2


def test_refuses_to_overwrite_a_run_and_checks_architecture_on_resume(tiny_pretrain):
    pretrain(dataclasses.replace(tiny_pretrain, steps=2))
    with pytest.raises(VidsslError, match="already holds a run.*--resume"):
        pretrain(tiny_pretrain)
    wider = dataclasses.replace(tiny_pretrain, resume=True, model=dataclasses.replace(tiny_pretrain.model, width=0.125))
    with pytest.raises(VidsslError, match="different architecture.*width: checkpoint 0.0625 vs config 0.125"):
        pretrain(wider)


def test_lr_schedule_warmup_then_cosine(tiny_pretrain):
    cfg = dataclasses.replace(tiny_pretrain, lr=1.0, steps=12, warmup_steps=2)
    lrs = [lr_at(s, cfg) for s in range(12)]
    assert lrs[0] == pytest.approx(0.5) and lrs[1] == pytest.approx(1.0)
    assert lrs[2] == pytest.approx(1.0) and all(a >= b for a, b in itertools.pairwise(lrs[2:]))
    assert lrs[-1] == pytest.approx(0.5 * (1 + torch.cos(torch.tensor(torch.pi * 9 / 10)).item()))


def test_budget_steps_fills_the_budget():
    from vidssl.engine import budget_steps

    assert budget_steps(100.0, 10.0, 20, 0.5) == 20 + 180
    assert budget_steps(5.0, 10.0, 20, 0.5) == 20  # already over budget: stop where it is
    from vidssl.config import parse_duration

    assert parse_duration("30m") == 1800 and parse_duration("1.5h") == 5400 and parse_duration("90") == 90
    with pytest.raises(VidsslError, match="time-budget"):
        parse_duration("soon")


def test_time_budget_resolves_and_records_a_step_count(tiny_pretrain):
    cfg = dataclasses.replace(tiny_pretrain, time_budget="4s", steps=10_000, warmup_steps=3, checkpoint_every=1000,
                              deterministic=True)
    res = pretrain(cfg)
    recorded = json.loads((res.out_dir / "config.json").read_text())
    assert recorded["steps_resolved"] and recorded["config"]["time_budget"] == "4s"
    assert 3 <= res.step == recorded["config"]["steps"] < 10_000  # the budget, not --steps, ended the run
    ck = checkpoint.load(res.checkpoint)
    assert ck["step"] == res.step and ck["config"]["steps"] == res.step
    # the recorded step count repeats the run exactly, without the budget
    again = pretrain(dataclasses.replace(cfg, out_dir=str(res.out_dir) + "-again", time_budget=None, steps=res.step))
    assert_same(weights(again.checkpoint), weights(res.checkpoint))
    # resuming it with another budget would not change it: refused, nothing written; the same budget: finished
    stamp = res.checkpoint.stat().st_mtime_ns
    with pytest.raises(VidsslError, match=r"--resume with --time-budget 8s would not change the run .* budgeted at 4s"):
        pretrain(dataclasses.replace(cfg, time_budget="8s", resume=True))
    done = pretrain(dataclasses.replace(cfg, resume=True))
    assert done.already_finished and done.step == res.step and res.checkpoint.stat().st_mtime_ns == stamp
    assert not res.already_finished


def test_resuming_a_finished_run_says_so(tiny_pretrain, capsys):
    from vidssl.cli import main

    cfg = dataclasses.replace(tiny_pretrain, steps=2)
    pretrain(cfg)
    argv = ["pretrain", "--out", cfg.out_dir, "--steps", "2", "--resume", "--no-progress", "--temporal-shift", "2",
            "--width", "0.0625", "--head-hidden", "32", "--proj-dim", "16", "--batch-size", "8", "--warmup-steps", "2",
            "--checkpoint-every", "2", "--log-every", "1", "--clip-frames", "4", "--crop-size", "16",
            "--cache-dir", cfg.data.cache_dir, "--synthetic-train-per-class", "3", "--synthetic-test-per-class", "2",
            "--synthetic-frames", "8", "--synthetic-size", "20"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    out = capsys.readouterr().out
    assert e.value.code == 0 and "had already finished (2 steps" in out and "nan" not in out


@pytest.mark.filterwarnings("ignore:v. no recording groups")  # one video per recording here
def test_a_time_budget_fills_the_frame_cache_before_its_clock_and_skips_an_unreadable_video(tiny_pretrain, tmp_path,
                                                                                           monkeypatch):
    from vidssl import engine
    from vidssl.config import DataConfig

    root = tmp_path / "v"
    for k, rel in enumerate(f"{c}/{k}.avi" for c in "ab" for k in range(4)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / rel, barcode_frames(12)[k % 3 :][:9])
    data = DataConfig(dataset="folder", root=str(root), clip_frames=4, crop_size=16, cache_short_side=16,
                      cache_dir=str(tmp_path / "cache"))
    cfg = dataclasses.replace(tiny_pretrain, data=data, time_budget="3s", steps=10_000, warmup_steps=3, batch_size=4,
                              checkpoint_every=1000)
    seen = {}

    def spy(cached, **kw):  # a video damaged after indexing, before the warm-up decodes it
        seen["logged"] = (Path(cfg.out_dir) / "train_log.jsonl").exists()
        Path(cached.source(0)).write_bytes(b"not a video any more")
        seen["bad"] = fill_cache(cached, **kw)
        seen["cached"] = [cached.is_cached(i) for i in range(len(cached))]
        return seen["bad"]

    monkeypatch.setattr(engine, "fill_cache", spy)
    with pytest.warns(UserWarning, match=r"skipped an unreadable video, .*0\.avi: not a readable video"):
        res = pretrain(cfg)
    assert seen["logged"] is False  # before the first step
    assert seen["bad"] == [0] and seen["cached"] == [False] + [True] * (len(seen["cached"]) - 1)
    assert 3 <= res.step < 10_000  # the run went on, the loader skipping the damaged video


def test_tests_resolve_auto_to_the_cpu(monkeypatch):
    # tests/conftest.py pins device="auto" to the CPU, so a GPU on the test machine changes nothing
    import torch

    from vidssl.engine import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cpu")


def test_pretext_methods_refuse_label_corrupting_augmentation(tiny_pretrain):
    for method, aug in [("clip_order", {"reverse_p": 0.5}), ("clip_order", {"shuffle_p": 0.5}),
                        ("arrow_of_time", {"shuffle_p": 0.5}), ("arrow_of_time", {"reverse_p": 0.5}),
                        ("order_verification", {"shuffle_p": 0.5}), ("odd_one_out", {"reverse_p": 0.5}),
                        ("future_prediction", {"reverse_p": 0.5})]:
        cfg = dataclasses.replace(tiny_pretrain, method=method, aug=dataclasses.replace(tiny_pretrain.aug, **aug),
                                  data=dataclasses.replace(tiny_pretrain.data, clip_frames=6))  # clips each can cut
        with pytest.raises(VidsslError, match="corrupt its labels"):
            cfg.validate()


def test_deterministic_mode_sets_the_cublas_workspace(monkeypatch):
    from vidssl.engine import deterministic_cuda_env

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    deterministic_cuda_env()
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_resume_refuses_a_changed_run_and_allows_where_it_runs(tiny_pretrain):
    pretrain(dataclasses.replace(tiny_pretrain, steps=2))
    for change in ({"lr": 1e-2}, {"seed": 3}, {"batch_size": 4}, {"aug": dataclasses.replace(tiny_pretrain.aug, gray_p=0.1)}):
        with pytest.raises(VidsslError, match="would change the run") as e:
            pretrain(dataclasses.replace(tiny_pretrain, steps=2, resume=True, **change))
        assert "\n" not in str(e.value) and next(iter(change)) in str(e.value)
    with pytest.raises(VidsslError, match="extend-steps"):
        pretrain(dataclasses.replace(tiny_pretrain, steps=4, resume=True))
    # where and how it runs may differ; a longer run when asked for
    res = pretrain(dataclasses.replace(tiny_pretrain, steps=4, resume=True, extend_steps=True, threads=1,
                                       checkpoint_every=3, log_every=2))
    assert res.step == 4


def test_channels_last_gives_the_same_loss_and_gradients():
    """--channels-last only changes the memory layout of 3D convolutions: the numbers stay (float tolerance)."""
    torch.manual_seed(0)
    from vidssl.backbones import create_backbone

    ref = VideoSimCLR(create_backbone("r3d18", width=0.0625), head_hidden=32, proj_dim=16).double()
    fast = copy.deepcopy(ref).to(memory_format=torch.channels_last_3d)
    views = [torch.randn(4, 3, 4, 16, 16, dtype=torch.float64) for _ in range(2)]
    stem = fast.backbone.stem[0].weight
    assert stem.is_contiguous(memory_format=torch.channels_last_3d) and not stem.is_contiguous()
    loss_ref = ref(views)
    loss_fast = fast([v.contiguous(memory_format=torch.channels_last_3d) for v in views])
    loss_ref.backward()
    loss_fast.backward()
    torch.testing.assert_close(loss_fast, loss_ref, rtol=1e-10, atol=1e-12)
    for (name, a), b in zip(ref.named_parameters(), fast.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-8, atol=1e-10, msg=name)


def test_pretraining_lays_conv_weights_out_channels_last_and_says_how_long_it_will_take(tiny_pretrain, capsys):
    cfg = dataclasses.replace(tiny_pretrain, steps=8, warmup_steps=3, progress=True)
    res = pretrain(cfg)
    assert weights(res.checkpoint)["backbone.stem.0.weight"].is_contiguous(memory_format=torch.channels_last_3d)
    printed = capsys.readouterr()
    err = printed.out + printed.err
    assert "pretraining: about" in err and "more on this machine" in err and "s/step over steps 2-3" in err
    plain = pretrain(dataclasses.replace(cfg, out_dir=cfg.out_dir + "-plain", channels_last=False))
    assert weights(plain.checkpoint)["backbone.stem.0.weight"].is_contiguous()


def test_method_defaults_are_resolved_and_recorded(tiny_pretrain):
    """None means the method's own default; config.json and the checkpoint record the value that ran."""
    model = dataclasses.replace(tiny_pretrain.model, proj_dim=None)
    cfg = dataclasses.replace(tiny_pretrain, method="moco_v1", model=model, queue_size=16, steps=1)
    assert cfg.temperature is None and cfg.ema_momentum is None
    res = pretrain(cfg)
    recorded = json.loads((res.out_dir / "config.json").read_text())["config"]
    assert (recorded["temperature"], recorded["ema_momentum"], recorded["model"]["proj_dim"]) == (0.07, 0.99, 128)
    ck = checkpoint.load(res.checkpoint)
    c = ck["config"]
    assert (c["temperature"], c["ema_momentum"], c["model"]["proj_dim"]) == (0.07, 0.99, 128)
    assert ck["model"]["head.weight"].shape[0] == 128 and ck["model"]["queue.keys"].shape[1] == 128
    pretrain(dataclasses.replace(cfg, resume=True))  # the unresolved config resumes its resolved record
    with pytest.raises(VidsslError, match=r"would change the run .*temperature: 0.07 -> 0.2"):
        pretrain(dataclasses.replace(cfg, resume=True, temperature=0.2))


def test_a_recorded_config_read_back_from_json_is_the_same_run_and_a_lost_setting_is_a_change(tiny_pretrain):
    from vidssl.config import to_dict
    from vidssl.engine import check_same_run
    from vidssl.errors import ChangedRun
    from vidssl.methods import resolve_defaults

    cfg = resolve_defaults(tiny_pretrain)
    assert isinstance(cfg.aug.crop_scale, tuple)
    check_same_run(json.loads(json.dumps(to_dict(cfg))), cfg, "x")  # config.json's lists are the config's tuples
    with pytest.raises(ChangedRun, match=r"\(old_knob: 3 -> None\)"):  # a setting this version no longer has
        check_same_run({**to_dict(cfg), "old_knob": 3}, cfg, "x")


def test_a_changed_resume_says_what_changed_in_one_line(tiny_pretrain):
    from vidssl.config import to_dict
    from vidssl.engine import check_same_run
    from vidssl.errors import ChangedRun
    from vidssl.methods import resolve_defaults

    cfg = resolve_defaults(tiny_pretrain)
    old = to_dict(cfg)
    tail = "; resume with its recorded settings (config.json) or choose a new --out"

    def refused(**changed):
        with pytest.raises(ChangedRun) as e:
            check_same_run(old, dataclasses.replace(cfg, **changed), "RUN")
        return str(e.value)

    assert refused(lr=0.5) == f"--resume would change the run in RUN (lr: {cfg.lr!r} -> 0.5){tail}"
    assert refused(steps=8) == f"--resume would change the run in RUN (steps: 6 -> 8) (to train longer, add --extend-steps){tail}"
    assert refused(steps=4) == f"--resume would change the run in RUN (steps: 6 -> 4){tail}"  # shorter: no hint
    assert refused(steps=4, extend_steps=True) == f"--resume would change the run in RUN (steps: 6 -> 4){tail}"
    both = refused(steps=8, lr=0.5)  # more than the step count: no hint
    assert both == f"--resume would change the run in RUN (lr: {cfg.lr!r} -> 0.5, steps: 6 -> 8){tail}"
    many = refused(lr=0.5, seed=9, steps=8, batch_size=4, warmup_steps=1, weight_decay=0.5, temperature=0.3)
    assert many.count(" -> ") == 6  # the first six, sorted
    check_same_run(old, dataclasses.replace(cfg, steps=8, extend_steps=True), "RUN")  # longer, asked for


def test_resume_refusals_name_the_run_and_its_checkpoint(tiny_pretrain):
    res = pretrain(dataclasses.replace(tiny_pretrain, steps=2))
    last = res.out_dir / "checkpoints" / "last.pt"
    with pytest.raises(VidsslError, match=f"^{re.escape(str(res.out_dir))} already holds a run \\(checkpoint "
                       f"{re.escape(str(last))}\\); pass --resume"):
        pretrain(dataclasses.replace(tiny_pretrain, steps=2))
    with pytest.raises(VidsslError, match=f"^checkpoint {re.escape(str(last))} is for a different architecture"):
        pretrain(dataclasses.replace(tiny_pretrain, steps=2, resume=True,
                                     model=dataclasses.replace(tiny_pretrain.model, width=0.125)))
    with pytest.raises(VidsslError) as e:  # a run of 2 steps given a budget on resuming
        pretrain(dataclasses.replace(tiny_pretrain, steps=2, resume=True, time_budget="1m"))
    assert str(e.value) == (f"--resume with --time-budget 1m would not change the run in {res.out_dir} (it was set to "
                            "2 steps when it started); resume with its recorded settings, or train longer with "
                            "--steps N --extend-steps")
    with pytest.raises(VidsslError, match=f"^--resume would change the run in {re.escape(str(last))} \\(lr: "):
        pretrain(dataclasses.replace(tiny_pretrain, steps=2, resume=True, lr=0.5))
    ck = checkpoint.load(last)  # a checkpoint that records no config (not written by vidssl pretrain)
    del ck["config"]
    checkpoint.save(last, **checkpoint.state_without_digest(ck))
    with pytest.raises(VidsslError, match=f"^checkpoint {re.escape(str(last))} records no pretraining config, so it "
                       "cannot be resumed \\(it was not written by vidssl pretrain\\); choose a new --out$"):
        pretrain(dataclasses.replace(tiny_pretrain, steps=2, resume=True))


def test_runs_recorded_before_resolution_resume_as_they_ran(tiny_pretrain):
    from vidssl.config import to_dict
    from vidssl.engine import check_same_run
    from vidssl.methods import resolve_defaults

    for method, resumes in (("simclr", True), ("moco_v2", True), ("moco_v1", False), ("byol", True)):
        cfg = dataclasses.replace(tiny_pretrain, method=method)
        old = to_dict(cfg)  # as written before defaults were resolved: None, meaning "the method's own"
        old["model"]["proj_dim"] = 16
        if resumes:
            check_same_run(old, resolve_defaults(cfg), "x")
        else:  # moco_v1 ran at 0.2 then; its default is now the paper's 0.07
            with pytest.raises(VidsslError, match=r"temperature: 0.2 -> 0.07"):
                check_same_run(old, resolve_defaults(cfg), "x")


def test_resuming_trims_the_log_to_the_checkpoint_keeping_every_readable_line(tmp_path):
    from vidssl.engine import _trim_log

    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1}\n{"step": 2, "lo\n{"step": 3}\n{"nostep": 1}\n{"step": 5}\n{"step": 6, "loss"')
    _trim_log(log, 4)  # a cut line (a kill mid-write) or one without a step is dropped; the lines after it stay
    assert log.read_text() == '{"step": 1}\n{"step": 3}\n'
    _trim_log(tmp_path / "absent.jsonl", 4)  # nothing to trim
    assert not (tmp_path / "absent.jsonl").exists()
