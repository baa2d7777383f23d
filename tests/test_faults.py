"""Regression tests of the faults bench/bench_faults.py found: short samples of each (issue 14)."""

import dataclasses
import fcntl
import json
import os
import resource
import signal
import time
from pathlib import Path

import pytest
import torch

from vidssl import checkpoint
from vidssl.cli import main
from vidssl.engine import pretrain
from vidssl.errors import VidsslError
from vidssl.lock import LOCK_NAME, out_dir_lock
from vidssl.methods.simclr import VideoSimCLR
from vidssl.stop import Stopped


def test_lock_is_released_when_its_holder_is_killed(tmp_path):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # another process holding the folder
        with out_dir_lock(tmp_path, "x"):
            os.write(w, b"held")
            time.sleep(60)
        os._exit(0)
    assert os.read(r, 4) == b"held"
    with pytest.raises(VidsslError, match="in use by vidssl x"), out_dir_lock(tmp_path, "y"):
        pass
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with out_dir_lock(tmp_path, "y"):
        pass


def test_a_second_writer_is_refused_and_sigterm_writes_a_checkpoint_to_resume_from(tiny_pretrain, monkeypatch):
    """One folder, one writer; SIGTERM ends the step, checkpoints off the schedule and says how to resume
    (bit-identical resumption itself: test_engine's resume tests)."""
    out = Path(tiny_pretrain.out_dir)
    out.mkdir()
    other = open(out / LOCK_NAME, "a+")  # noqa: SIM115 (another process's lock: a separate open file description)
    other.write("vidssl pretrain (pid 4242)\n")
    other.flush()
    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with pytest.raises(VidsslError, match=r"in use by vidssl pretrain \(pid 4242\)") as e:
        pretrain(tiny_pretrain)
    assert "\n" not in str(e.value) and not (out / "checkpoints").exists()
    other.close()  # what the kernel does when the holder dies, kill -9 included

    cfg = dataclasses.replace(tiny_pretrain, checkpoint_every=4)
    real_forward, calls = VideoSimCLR.forward, []

    def forward_then_term(self, *a, **kw):
        calls.append(1)
        if len(calls) == 3:  # the scheduler's SIGTERM arrives during step 3
            os.kill(os.getpid(), signal.SIGTERM)
        return real_forward(self, *a, **kw)

    monkeypatch.setattr(VideoSimCLR, "forward", forward_then_term)
    with pytest.raises(Stopped, match=r"SIGTERM at step 3 of 6.*--resume") as e:
        pretrain(cfg)
    assert e.value.exit_code == 143 and "\n" not in str(e.value)
    assert checkpoint.load(out / "checkpoints/last.pt")["step"] == 3  # off the every-4 schedule
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone with the loop
    monkeypatch.setattr(VideoSimCLR, "forward", real_forward)
    assert pretrain(dataclasses.replace(cfg, resume=True)).step == 6
    logged = [json.loads(x)["step"] for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert logged == [1, 2, 3, 4, 5, 6]  # the resumed run went on from step 3
    with out_dir_lock(out, "demo"), out_dir_lock(out, "eval"):  # re-entrant within one process
        assert "demo" in (out / LOCK_NAME).read_text()


def test_cli_says_how_to_resume_and_exits_143_after_sigterm(monkeypatch, capsys, tmp_path):
    from vidssl import api

    def stopped(cfg):
        raise Stopped("stopped by SIGTERM at step 3 of 6; continue with the same command plus --resume")

    monkeypatch.setattr(api, "pretrain", stopped)
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--out", str(tmp_path / "my run"), "--steps", "6"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 143 and len(err.splitlines()) == 1
    assert err.endswith(f"vidssl pretrain --out '{tmp_path / 'my run'}' --steps 6 --resume")


def test_an_os_error_anywhere_is_one_line_naming_the_path(monkeypatch, capsys, tmp_path):
    from vidssl import api

    def full(cfg):
        raise OSError(28, "No space left on device", str(tmp_path / "x.png"))

    monkeypatch.setattr(api, "pretrain", full)
    with pytest.raises(SystemExit) as e:
        main(["pretrain", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and str(tmp_path / "x.png") in err and "No space" in err


def test_a_flipped_byte_in_a_checkpoint_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    checkpoint.save(path, step=1, model={"w": torch.arange(4096, dtype=torch.float32)})
    data = bytearray(path.read_bytes())
    at = data.find(torch.arange(4096, dtype=torch.float32).numpy().tobytes()[4000:4016])
    data[at] ^= 0x10  # one bit of one weight: torch.load alone does not notice
    path.write_bytes(bytes(data))
    with pytest.raises(VidsslError, match="is damaged") as e:
        checkpoint.load(path)
    assert "\n" not in str(e.value)


def test_a_full_disk_keeps_the_previous_checkpoint_and_names_the_path(tmp_path):
    path = tmp_path / "last.pt"
    checkpoint.save(path, step=1, model={"w": torch.zeros(10)})
    good = path.read_bytes()
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(good) + 100, hard))  # torch.save raised RuntimeError here
    try:
        with pytest.raises(VidsslError, match=f"could not write {path}: File too large") as e:
            checkpoint.save(path, step=2, model={"w": torch.zeros(100_000)})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert "\n" not in str(e.value) and path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind


def test_a_link_or_non_file_planted_as_the_lock_is_refused_and_its_target_kept(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    runs = tmp_path / "shared-runs"
    runs.mkdir()
    (runs / LOCK_NAME).symlink_to(victim)
    with (pytest.raises(VidsslError, match=r"\.vidssl\.lock is a symbolic link, not vidssl's lock file"),
          out_dir_lock(runs, "pretrain")):
        pass
    assert victim.read_text() == "keep me"
    other = tmp_path / "other"
    other.mkdir()
    os.mkfifo(other / LOCK_NAME)
    with pytest.raises(VidsslError, match="is not a regular file"), out_dir_lock(other, "pretrain"):
        pass
    fresh = tmp_path / "fresh"
    with out_dir_lock(fresh, "pretrain"):  # the ordinary case still creates and writes the lock
        assert "vidssl pretrain (pid" in (fresh / LOCK_NAME).read_text()
