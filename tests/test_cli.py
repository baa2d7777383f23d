"""Bad input gets one line on stderr that says what to do, exit code 2, no traceback."""

import subprocess
import sys

import pytest

from vidssl.cli import main

TINY = ["--steps", "2", "--batch-size", "4", "--clip-frames", "4", "--crop-size", "16", "--width", "0.0625",
        "--head-hidden", "16", "--proj-dim", "8", "--synthetic-train-per-class", "1", "--synthetic-test-per-class", "1",
        "--synthetic-frames", "6", "--synthetic-size", "20", "--no-progress", "--log-every", "1"]


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def one_line_error(code, err, *fragments):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--bogus"], ["unrecognized arguments: --bogus", "--help"]),
        (["--crop-size", "64"], ["--crop-size 64 is larger than the frames (20x20)"]),
        (["--clip-frames", "0"], ["--clip-frames must be >= 1"]),
        (["--batch-size", "1"], ["--batch-size 1 is too small", "at least 2"]),
        (["--batch-size", "100"], ["larger than the training set (8 videos)"]),
        (["--method", "nope"], ["invalid choice: 'nope'"]),
        (["--width", "0"], ["--width must be > 0"]),
    ],
)
def test_bad_pretrain_input(extra, fragments, tmp_path, capsys):
    args = ["pretrain", *TINY, "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"), *extra]
    one_line_error(*run_cli(args, capsys)[::2], *fragments)


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(["pretrain", *TINY, "--out", str(blocker / "run")], capsys)
    one_line_error(code, err, f"output directory {blocker / 'run'} is not writable", "--out")


def test_eval_of_a_missing_or_foreign_checkpoint(tmp_path, capsys):
    code, _, err = run_cli(["eval", str(tmp_path / "none.pt"), "--out", str(tmp_path / "e")], capsys)
    one_line_error(code, err, "none.pt does not exist")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    code, _, err = run_cli(["eval", str(junk), "--out", str(tmp_path / "e")], capsys)
    one_line_error(code, err, "junk.pt could not be read")


def test_pretrain_then_eval_end_to_end(tmp_path, capsys):
    run = tmp_path / "r"
    code, out, _ = run_cli(["pretrain", *TINY, "--out", str(run), "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 0 and "pretrained 2 steps" in out
    code, out, _ = run_cli(["eval", str(run / "checkpoints/last.pt"), "--out", str(tmp_path / "e"), "--knn-k", "3",
                            "--recall-ks", "1", "5"], capsys)
    assert code == 0
    assert "self-supervised" in out and "random init (BN re-estimated)" in out and "R@5" in out
    assert "random init (initial BN statistics)" in out and "over the stronger random init" in out
    # resuming with a different architecture is refused
    code, _, err = run_cli(["pretrain", *TINY, "--out", str(run), "--cache-dir", str(tmp_path / "c"), "--resume",
                            "--width", "0.125"], capsys)
    one_line_error(code, err, "different architecture", "width")


def test_console_entry_point_exit_code_and_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "vidssl", "pretrain", "--clip-frames", "0", "--out", str(tmp_path)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2
    assert r.stderr.strip() == "vidssl: error: --clip-frames must be >= 1, got 0"


def test_preset_sets_defaults_and_flags_still_win():
    from vidssl.cli import _pretrain_config, parse

    cfg = _pretrain_config(parse(["pretrain", "--preset", "real-video"]))
    assert (cfg.model.input, cfg.data.stride, cfg.time_budget, cfg.data.cache_short_side) == ("residual", 8, "30m", 40)
    cfg = _pretrain_config(parse(["pretrain", "--preset", "real-video", "--stride", "2", "--input", "rgb"]))
    assert (cfg.model.input, cfg.data.stride, cfg.time_budget) == ("rgb", 2, "30m")
    plain = _pretrain_config(parse(["pretrain"]))
    assert (plain.model.input, plain.data.stride, plain.time_budget) == ("rgb", 1, None)


def test_demo_runs_its_own_budget_and_says_so_in_help(capsys):
    """The demo's steps and batch (chosen on validation data, bench/bench_demo.py) differ from pretrain's."""
    from vidssl.cli import _pretrain_config, parse
    from vidssl.config import DEMO_DEFAULTS, DemoConfig, PretrainConfig

    demo, plain = _pretrain_config(parse(["demo"])), _pretrain_config(parse(["pretrain"]))
    assert (demo.steps, demo.batch_size) == (DEMO_DEFAULTS["steps"], DEMO_DEFAULTS["batch_size"]) == (200, 64)
    assert plain.steps == PretrainConfig().steps == 350
    assert (DemoConfig().pretrain.steps, DemoConfig().pretrain.batch_size) == (200, 64)  # the Python API agrees
    assert _pretrain_config(parse(["demo", "--steps", "50"])).steps == 50
    with pytest.raises(SystemExit):
        parse(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "optimiser steps (the training budget) (default: 200)" in help_text
