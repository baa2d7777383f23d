"""Training throughput of R3D-18 at 16x112x112: clips/s against batch size, MFU, data wait.

    .venv/bin/python bench/bench_throughput.py                    # CPU, small batches
    python bench/bench_throughput.py --device cuda                # on a GPU machine: bf16, channels-last-3d

FLOPs are counted, not assumed: torch.utils.flop_counter counts the forward and backward
of one training step of videoSimCLR (backbone + head + NT-Xent; 2 views per clip), so
"clips/s" is videos per second, each seen as two 16x112x112 views. MFU = counted FLOP/s
divided by the peak (--peak-tflops; default for H100/H200 dense bf16: 989 TFLOP/s; none
for a CPU, where only achieved GFLOP/s is printed).

Two measurements per batch size: the model step alone on a batch already on the device
(compute bound), and the full loop with the real data path (built-in data generated at
128 px, DataLoader with --workers processes, augmentation on the CPU), whose fraction of
wall time spent waiting for the next batch is the "data wait".
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from vidssl.config import AugConfig, DataConfig, ModelConfig, PretrainConfig
from vidssl.data.loading import open_dataset, train_loader
from vidssl.engine import build_model, make_optimizer
from vidssl.transforms.views import RawBatch, finish_on_device


def step_fn(model, opt, device, amp):
    def step(views):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            loss = model(views)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def count_flops(cfg: PretrainConfig, batch: int) -> float:
    model = build_model(cfg)
    views = [torch.randn(batch, 3, cfg.data.clip_frames, cfg.data.crop_size, cfg.data.crop_size) for _ in range(2)]
    with FlopCounterMode(display=False) as fc:
        model(views).backward()
    return fc.get_total_flops() / batch  # per clip (two views), forward + backward


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batches", default=None, help="comma-separated batch sizes (default: cpu 2,4,8; cuda 8,16,32,64)")
    ap.add_argument("--iters", type=int, default=None, help="timed steps per batch size (default: cpu 3, cuda 20)")
    ap.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: cpu 0, cuda 8)")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--out", default="runs/bench_throughput.json")
    a = ap.parse_args()
    device = torch.device(a.device)
    cuda = device.type == "cuda"
    batches = [int(b) for b in (a.batches or ("8,16,32,64" if cuda else "2,4,8")).split(",")]
    iters = a.iters or (20 if cuda else 3)
    workers = a.workers if a.workers is not None else (8 if cuda else 0)
    peak = a.peak_tflops or (989.0 if cuda else None)
    data = DataConfig(clip_frames=16, crop_size=112, synthetic_size=128, synthetic_frames=24,
                      synthetic_train_per_class=max(batches) // 8 + 2, synthetic_test_per_class=1, num_workers=workers)
    # on a GPU, colour augmentation runs batched on the device (AugConfig.on_device)
    cfg = PretrainConfig(data=data, aug=AugConfig(on_device=cuda), model=ModelConfig(width=a.width), batch_size=max(batches),
                         steps=10**6, progress=False)
    flops = count_flops(cfg, 2)
    gpu = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"R3D-18 width {a.width}, 16x112x112, videoSimCLR step: {flops / 1e9:.1f} GFLOP per clip (fwd+bwd, 2 views); {gpu}")
    train, _ = open_dataset(data)
    rows = []
    for b in batches:
        model = build_model(cfg).to(device)
        if cuda:
            model = model.to(memory_format=torch.channels_last_3d)
        opt = make_optimizer(model, cfg)
        run = torch.compile(model) if a.compile else model
        step = step_fn(run, opt, device, cuda)
        x = [torch.randn(b, 3, 16, 112, 112, device=device) for _ in range(2)]
        for _ in range(2):
            step(x)  # warm-up
        sync(device)
        t = time.perf_counter()
        for _ in range(iters):
            step(x)
        sync(device)
        compute = (time.perf_counter() - t) / iters
        # the full loop with the real data path
        bcfg = PretrainConfig(data=data, aug=cfg.aug, model=cfg.model, batch_size=b, steps=iters + 2, progress=False)
        waited, t0 = 0.0, None
        t_prev = time.perf_counter()
        for i, batch in enumerate(train_loader(train, bcfg, 0)):
            t_got = time.perf_counter()
            if t0 is not None:
                waited += t_got - t_prev  # time spent waiting for this batch
            if isinstance(batch, RawBatch):
                batch = finish_on_device(batch, data.crop_size, device)
            views = list(batch.to(device, non_blocking=True).unbind(1))
            step(views)
            sync(device)
            t_prev = time.perf_counter()
            if i == 2:  # three warm-up steps, then time the rest
                t0 = t_prev
        loop = (t_prev - t0) / (iters - 1) if t0 else float("nan")
        row = {"batch": b, "clips_per_s_compute": b / compute, "clips_per_s_loop": b / loop,
               "tflops": flops * b / compute / 1e12, "data_wait_fraction": waited / (t_prev - t0) if t0 else None}
        row["mfu"] = row["tflops"] / peak if peak else None
        rows.append(row)
        mfu = f"{100 * row['mfu']:.1f}%" if peak else "-"
        print(f"batch {b:4d}: {row['clips_per_s_compute']:8.1f} clips/s compute, {row['clips_per_s_loop']:8.1f} with data, "
              f"{row['tflops'] * 1e3:9.1f} GFLOP/s, MFU {mfu}, data wait {100 * (row['data_wait_fraction'] or 0):.0f}%")
    import pathlib

    pathlib.Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(a.out).write_text(json.dumps({"device": gpu, "gflop_per_clip": flops / 1e9, "width": a.width,
                                               "workers": workers, "peak_tflops": peak, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
