"""The pretraining loop: schedule, steps, logging, checkpoints, resume."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from vidssl import checkpoint
from vidssl.config import PretrainConfig, parse_duration, to_dict
from vidssl.data.cache import fill_cache
from vidssl.data.loading import open_dataset, train_loader
from vidssl.errors import ChangedRun, VidsslError
from vidssl.io import atomic_write, ensure_writable_dir, write_json
from vidssl.lock import holds_out_dir
from vidssl.methods import METHODS, build_model, resolve_defaults, resolve_recorded
from vidssl.modules import distributed as dist
from vidssl.runlog import TENSORBOARD_DIR, RunLog
from vidssl.runtime import resolve_device, set_threads
from vidssl.stop import Stopped, sigterm_requests_stop
from vidssl.transforms.views import RawBatch, finish_on_device


@dataclass
class TrainResult:
    out_dir: Path
    checkpoint: Path
    step: int
    final_loss: float  # nan when nothing was trained (a resumed run that had already finished)
    elapsed_s: float
    already_finished: bool = False  # --resume of a run that had reached its step count: nothing was trained


def budget_steps(budget_s: float, elapsed_s: float, done: int, step_s: float) -> int:
    """The total step count that fits ``budget_s`` of training wall-clock: ``done`` steps took
    ``elapsed_s``, later ones take ``step_s`` each. Under DDP every process gets rank 0's count."""
    steps = max(done, done + int((budget_s - elapsed_s) / max(step_s, 1e-9)))
    if dist.is_distributed():
        t = torch.tensor([steps], dtype=torch.long)
        torch.distributed.broadcast(t, 0)
        steps = int(t.item())
    return steps


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up to ``cfg.lr`` over ``warmup_steps``, then cosine decay to 0."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


def make_optimizer(model: nn.Module, cfg: PretrainConfig) -> torch.optim.Optimizer:
    # no weight decay on norms and biases, as in SimCLR/MoCo v3
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def _trim_log(path: Path, upto_step: int) -> None:
    """Drop log lines past the checkpoint a resumed run restarts from."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= upto_step:
                keep.append(line)
        except (ValueError, KeyError):
            continue  # a line cut short by a kill
    with atomic_write(path, "w") as f:
        f.write("".join(k + "\n" for k in keep))


# where and how a run executes: free to differ when it is resumed (the results do not depend on them)
_RUN_ONLY = {"out_dir", "progress", "threads", "device", "channels_last", "resume", "checkpoint_every", "log_every", "extend_steps",
             "time_budget", "data.num_workers", "data.cache_dir", "data.frame_cache", "aug.on_device"}


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = list(v) if isinstance(v, tuple) else v
    return out


def check_same_run(recorded: dict, cfg: PretrainConfig, path: Path) -> None:
    """Refuse to resume ``path`` with a config that would change the run (anything but where and how it
    runs); a longer ``steps`` only with ``extend_steps`` (the cosine schedule then stretches from here on)."""
    old, new = _flat(resolve_recorded(recorded)), _flat(to_dict(cfg))
    diff = sorted(k for k in old.keys() | new.keys() if k not in _RUN_ONLY and old.get(k) != new.get(k)
                  and k in old)  # keys added since the checkpoint was written take their defaults
    if "steps" in diff and cfg.extend_steps and new["steps"] > old["steps"]:
        diff.remove("steps")
    if diff:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in diff[:6])
        hint = " (to train longer, add --extend-steps)" if diff == ["steps"] and new["steps"] > old["steps"] else ""
        raise ChangedRun(f"--resume would change the run in {path} ({shown}){hint}; resume with its recorded "
                          "settings (config.json) or choose a new --out")


def check_resume(last: Path, cfg: PretrainConfig, arch: dict) -> tuple[dict, PretrainConfig]:
    """The checkpoint ``last`` of the run in ``cfg.out_dir``, and the config to go on with, when ``cfg``
    may resume it: ``--resume`` given, the same architecture and settings (:func:`check_same_run`), and
    no new ``--time-budget`` (a budget was resolved to a step count when the run started)."""
    out = Path(cfg.out_dir)
    if not cfg.resume:
        raise VidsslError(f"{out} already holds a run (checkpoint {last}); pass --resume to continue it or choose a new --out")
    ck = checkpoint.load(last)
    checkpoint.check_arch(ck, arch, last)
    if not isinstance(ck.get("config"), dict):
        raise VidsslError(f"checkpoint {last} records no pretraining config, so it cannot be resumed (it was not "
                          "written by vidssl pretrain); choose a new --out")
    recorded_budget = ck["config"].get("time_budget")
    if cfg.time_budget is not None and cfg.time_budget != recorded_budget:
        was = f"budgeted at {recorded_budget}" if recorded_budget else f"set to {ck['config'].get('steps')} steps"
        raise VidsslError(f"--resume with --time-budget {cfg.time_budget} would not change the run in {out} "
                          f"(it was {was} when it started); resume with its recorded settings, or train longer "
                          "with --steps N --extend-steps")
    if cfg.time_budget is not None:
        cfg = dataclasses.replace(cfg, steps=int(ck["config"]["steps"]))
    check_same_run(ck["config"], cfg, last)
    return ck, cfg


def deterministic_cuda_env() -> None:
    """cuBLAS refuses deterministic mode unless CUBLAS_WORKSPACE_CONFIG is set before its first call."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


@holds_out_dir("pretrain", lambda cfg: cfg.out_dir if int(os.environ.get("RANK", "0")) == 0 else None)
def pretrain(cfg: PretrainConfig) -> TrainResult:
    """Pretrain ``cfg.method`` on the train split of ``cfg.data``; returns where it wrote.

    Under torchrun (WORLD_SIZE > 1) every process trains on its share of each global
    batch of ``cfg.batch_size`` clips with DDP; rank 0 alone writes logs and checkpoints.
    Rank 0 holds ``cfg.out_dir``'s lock (:mod:`vidssl.lock`): a second run there is refused.
    On SIGTERM the run finishes its step, writes its checkpoint and raises :class:`Stopped`.
    """
    cfg.validate()
    cfg = resolve_defaults(cfg)  # the method's own temperature, momentum, projection size: recorded as run
    device = resolve_device(cfg.device)
    distributed = dist.init_from_env(device)
    rank, world = dist.rank(), dist.world_size()
    if distributed and device.type == "cuda":  # one GPU per process, as torchrun numbers them
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if cfg.batch_size % world:
        raise VidsslError(f"--batch-size {cfg.batch_size} is the global batch: it must divide by the {world} processes")
    main = rank == 0
    out = ensure_writable_dir(cfg.out_dir)
    ckpt_dir = ensure_writable_dir(out / "checkpoints")
    last = ckpt_dir / "last.pt"
    set_threads(cfg.threads)
    if cfg.deterministic:
        deterministic_cuda_env()
    torch.use_deterministic_algorithms(cfg.deterministic)

    train, _ = open_dataset(cfg.data, progress=cfg.progress and main)
    audio = None
    if getattr(METHODS[cfg.method], "wants_audio", False):  # the videos with sound, and their log-mel spectrograms
        from vidssl.data.audio import with_audio
        from vidssl.data.synthetic import default_cache_dir

        train, audio = with_audio(train, cfg.data.cache_dir or default_cache_dir(), progress=cfg.progress and main)
    model = build_model(cfg)
    if distributed and cfg.sync_bn:
        dist.convert_batchnorm(model, device)
    model.to(device)
    layout = torch.channels_last_3d if cfg.channels_last else torch.contiguous_format
    if cfg.channels_last:
        for m in model.modules():  # 5-d conv weights; other parameters (and a 2D backbone's) are unchanged
            if isinstance(m, nn.Conv3d):
                m.to(memory_format=layout)
    opt = make_optimizer(model, cfg)
    arch = checkpoint.arch_of(cfg)
    step, elapsed = 0, 0.0
    log_path = out / "train_log.jsonl"
    if last.exists():
        ck, cfg = check_resume(last, cfg, arch)
        checkpoint.load_weights(model, ck["model"], last)
        opt.load_state_dict(ck["optimizer"])
        step, elapsed = ck["step"], ck["elapsed_s"]
    budget = parse_duration(cfg.time_budget) if cfg.time_budget is not None and step == 0 else None
    if budget is not None and hasattr(train, "is_cached"):  # the budget times training, not first decoding:
        fill_cache(train, progress=cfg.progress and main, skip_unreadable=True)  # fill it before the clock runs
    # a budget is resolved after `calib` steps, timed from step `skip` on (the first steps carry one-off
    # costs); within the warm-up the learning rate does not depend on the total step count yet
    calib = max(2, min(20, cfg.warmup_steps))
    skip = 2 if calib > 4 else 1

    def write_config() -> None:
        if main:
            write_json(out / "config.json", {"command": "pretrain", "config": to_dict(cfg), "dataset": train.name,
                                             "train_videos": len(train), "processes": world, "device": str(device),
                                             "steps_resolved": budget is None})

    if main:
        _trim_log(log_path, step)  # lines past the checkpoint (all of them for a fresh run) are dropped
    write_config()
    net = model
    if distributed:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def save(at: int) -> None:
        if main:
            checkpoint.save(last, step=at, model=model.state_dict(), optimizer=opt.state_dict(),
                            arch=arch, config=to_dict(cfg), elapsed_s=elapsed)

    model.train()
    loss_val = float("nan")
    if step >= cfg.steps:
        return TrainResult(out, last, step, loss_val, elapsed, already_finished=True)
    loader = train_loader(train, cfg, step, rank, world, stop=10**9 if budget is not None else None, audio=audio)
    bar = tqdm(total=cfg.steps if budget is None else None, initial=step, desc=f"pretrain {cfg.method}", disable=not (cfg.progress and main),
               mininterval=1.0, dynamic_ncols=True)
    amp = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda" and cfg.amp)
    t_log, n_log = time.perf_counter(), 0
    with RunLog(log_path, out / TENSORBOARD_DIR, step) if main else contextlib.nullcontext() as log, \
            sigterm_requests_stop() as asked_to_stop:
        t_prev = t_fetch = time.perf_counter()
        waited = 0.0  # seconds spent waiting for the loader since the last log line
        t_calib, start = 0.0, step
        for batch in loader:  # wall time includes waiting for data, so clips/s is honest
            waited += time.perf_counter() - t_fetch
            if step >= cfg.steps and budget is None:
                break
            lr = lr_at(step, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            kw = {}
            if isinstance(batch, list):  # [views, audio]: a method that listens too
                batch, clip_audio = batch
                kw["audio"] = clip_audio.to(device, non_blocking=True)
            if isinstance(batch, RawBatch):  # --on-device: uint8 crops handed over, made into views on the device
                batch = finish_on_device(batch, cfg.data.crop_size, device)
            views = [v.contiguous(memory_format=layout)  # V tensors of B x C x T x H x W
                     for v in batch.to(device, non_blocking=True).unbind(1)]
            if getattr(model, "wants_video_ids", False):  # the videos of this process's share of the batch
                share = cfg.batch_size // world
                ids = [i for i, _, _ in loader.batch_sampler.batch(step)[rank * share : (rank + 1) * share]]
                kw["video_ids"] = torch.tensor(ids, dtype=torch.long, device=device)
            with amp:
                loss = net(views, **kw)
            if not _all_finite(loss):
                bar.close()
                kept = f"the last good checkpoint {last} is kept" if last.exists() else "no checkpoint was written yet"
                raise VidsslError(
                    f"loss became {loss.item()} at step {step}; training stopped and {kept}. "
                    "Lower --lr or raise --temperature, then rerun (with --resume to continue)"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if hasattr(model, "after_step"):  # e.g. the EMA update of a momentum encoder
                model.after_step(step, cfg.steps)
            step += 1
            t_now = time.perf_counter()
            elapsed, t_prev = elapsed + (t_now - t_prev), t_now
            if step - start == skip:
                t_calib = elapsed
            if step - start == calib:
                step_s = (elapsed - t_calib) / (calib - skip)
            if budget is not None and step == calib:
                cfg = dataclasses.replace(cfg, steps=budget_steps(budget, elapsed, step, step_s))
                loader.batch_sampler.stop = cfg.steps
                budget = None  # resolved: from here on the run is an ordinary run of cfg.steps steps
                write_config()
                bar.total = cfg.steps
                bar.refresh()
                if main and cfg.progress:
                    tqdm.write(f"time budget {cfg.time_budget}: {cfg.steps} steps at {step_s:.2f} s/step "
                               f"(repeat exactly with --steps {cfg.steps})")
            elif step - start == calib and main and cfg.progress and cfg.steps > step:
                tqdm.write(f"pretraining: about {_minutes((cfg.steps - step) * step_s)} more on this machine "
                           f"({step_s:.2f} s/step over steps {start + skip + 1}-{step})")
            loss_val = loss.item()
            n_log += batch.shape[0] * world
            bar.update(1)
            if main and (step % cfg.log_every == 0 or step == cfg.steps):
                now = time.perf_counter()
                rate, wait_frac = n_log / (now - t_log), waited / (now - t_log)
                t_log, n_log, waited = now, 0, 0.0
                bar.set_postfix(loss=f"{loss_val:.3f}", clips_s=f"{rate:.0f}")
                log.write({"step": step, "loss": round(loss_val, 5), "lr": lr, "clips_per_s": round(rate, 1),
                           "elapsed_s": round(elapsed, 2), "data_wait_frac": round(wait_frac, 3)})
            if step % cfg.checkpoint_every == 0 or step == cfg.steps:
                save(step)
            if _any_process(asked_to_stop(), device) and step < cfg.steps:
                bar.close()
                if budget is not None:  # the step count is not known yet: nothing to resume
                    raise Stopped(f"stopped by SIGTERM at step {step}, before the time budget set the step count; "
                                  "no checkpoint is written; start the run again")
                if step % cfg.checkpoint_every:
                    save(step)
                dist.barrier()
                raise Stopped(f"stopped by SIGTERM at step {step} of {cfg.steps}; checkpoint {last} is written; "
                              "continue with the same command plus --resume")
            t_fetch = time.perf_counter()
    bar.close()
    dist.barrier()  # every process returns once rank 0's last checkpoint is on disk
    return TrainResult(out, last, step, loss_val, elapsed)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _any_process(flag: bool, device: torch.device) -> bool:
    """Whether ``flag`` is set in any process (so that all stop at the same step)."""
    if not dist.is_distributed():
        return flag
    t = torch.tensor([float(flag)], device=device)
    torch.distributed.all_reduce(t)
    return t.item() > 0


def _all_finite(loss: torch.Tensor) -> bool:
    """Whether the loss is finite in every process (so that all stop together on a NaN)."""
    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    if dist.is_distributed():
        torch.distributed.all_reduce(bad)
    return bad.item() == 0
