"""Checkpoints are read without running code from them; the ones vidssl writes still load."""

import dataclasses
import os
import subprocess
import sys

import pytest
import torch

from vidssl import checkpoint
from vidssl.engine import build_model, make_optimizer, pretrain
from vidssl.errors import VidsslError


class Payload:
    """Unpickling this runs a shell command that writes ``marker``: what a doctored checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"echo ran > {self.marker}",)


@pytest.mark.parametrize("method", ["simclr", "moco_v2"])
def test_checkpoints_in_the_current_format_load_with_weights_only(method, tiny_pretrain, tmp_path):
    cfg = dataclasses.replace(tiny_pretrain, method=method, queue_size=16, steps=2)
    res = pretrain(cfg)
    ck = checkpoint.load(res.checkpoint)  # weights_only=True inside
    assert ck["step"] == 2 and ck["config"]["method"] == method and ck["arch"]["method"] == method
    model, got_cfg, _ = checkpoint.load_pretrain_checkpoint(res.checkpoint)
    assert got_cfg.aug.crop_scale == cfg.aug.crop_scale and got_cfg.data == cfg.data
    assert all(torch.equal(model.state_dict()[k], v) for k, v in ck["model"].items())
    opt = make_optimizer(model, got_cfg)
    opt.load_state_dict(ck["optimizer"])  # optimiser state round-trips too

    # a checkpoint saved by hand with the layout engine.pretrain writes
    model = build_model(cfg)
    path = tmp_path / "hand.pt"
    checkpoint.save(path, step=7, model=model.state_dict(), optimizer=make_optimizer(model, cfg).state_dict(),
                    arch=checkpoint.arch_of(cfg), config=dataclasses.asdict(cfg), elapsed_s=1.5)
    again, again_cfg, ck = checkpoint.load_pretrain_checkpoint(path)
    assert ck["step"] == 7 and again_cfg == dataclasses.replace(cfg)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))


def test_a_checkpoint_carrying_a_pickled_payload_is_refused_before_it_runs(tiny_pretrain, tmp_path):
    res = pretrain(dataclasses.replace(tiny_pretrain, steps=1))
    state = checkpoint.load(res.checkpoint)
    marker = tmp_path / "pwned"
    state["extra"] = Payload(marker)
    evil = tmp_path / "evil.pt"
    torch.save(state, evil)

    with pytest.raises(VidsslError) as e:
        checkpoint.load(evil)
    assert f"asks to import {os.system.__module__}.system" in str(e.value) and "refused" in str(e.value)
    assert "\n" not in str(e.value)
    assert not marker.exists()

    # the command line: one line on stderr, exit code 2, and still nothing ran
    r = subprocess.run([sys.executable, "-m", "vidssl", "eval", str(evil), "--out", str(tmp_path / "e")],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "refused" in r.stderr
    assert not marker.exists()

    # the payload is live: an unsafe load would have run it
    torch.load(evil, weights_only=False)
    assert marker.read_text().strip() == "ran"


# A state with every kind of value a checkpoint holds, and its digest and fingerprint as written by
# vidssl since digests exist: checkpoints on disk carry these, so the format may never drift.
STATE = {"step": 7, "elapsed_s": 1.5, "format": "not hashed", "digest": "not hashed",
         "model": {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor([1, -1])},
         "config": {"lr": 0.001, "crop": (32, 32), "name": "simclr", "none": None}}
DIGEST = "7ab3e20df9d6d1ee59bc2f3275a441836d3dc7e6483512bf1fb41b9b65d3581f"
WEIGHTS_SHA256 = "8a1503004ae5657d1b2009b8b7a2c162503bddafa8fab3a1a187bceff21cd4a7"


def reference_digest(state):
    """The digest as its docstring defines it: SHA-256 over every tensor's dtype, shape and bytes and every
    value's repr, dicts in the order of their keys' reprs, with brackets around dicts and sequences."""
    import hashlib

    h = hashlib.sha256()

    def feed(x):
        if isinstance(x, torch.Tensor):
            h.update(f"T{x.dtype}{tuple(x.shape)}".encode() + x.contiguous().numpy().tobytes())
        elif isinstance(x, dict):
            h.update(b"{")
            for k in sorted(x, key=repr):
                feed(k)
                feed(x[k])
            h.update(b"}")
        elif isinstance(x, (list, tuple)):
            h.update(b"[")
            for v in x:
                feed(v)
            h.update(b"]")
        else:
            h.update(repr(x).encode())

    feed({k: v for k, v in state.items() if k not in ("format", "digest")})
    return h.hexdigest()


def test_digest_and_fingerprint_are_stable_and_match_their_definition():
    assert checkpoint.digest(STATE) == reference_digest(STATE) == DIGEST
    assert checkpoint.fingerprint(STATE) == {"step": 7, "weights_sha256": WEIGHTS_SHA256}
    # every part counts: a value, a key, a dtype, a shape, nesting
    for changed in ({"step": 8}, {"config": {**STATE["config"], "crop": [32, 32, 0]}},
                    {"model": {**STATE["model"], "b": torch.tensor([1, -1], dtype=torch.int32)}},
                    {"model": {**STATE["model"], "w": STATE["model"]["w"].reshape(3, 2)}},
                    {"config": {**STATE["config"], "crop": ((32,), 32)}}):
        assert checkpoint.digest({**STATE, **changed}) != DIGEST, changed
    assert checkpoint.fingerprint({**STATE, "step": 8})["weights_sha256"] == WEIGHTS_SHA256
    renamed = {"v" if k == "w" else k: t for k, t in STATE["model"].items()}
    assert checkpoint.fingerprint({**STATE, "model": renamed})["weights_sha256"] != WEIGHTS_SHA256
