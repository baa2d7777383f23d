"""Every registered method with the same budget on ucf101-9, beside random init and supervised.

Each method is pretrained without labels on ucf101-9 split-1 train (the same backbone,
initial weights, steps, batch size, optimiser, schedule and augmentation; clips of 6
frames so that clip_order can cut 3 sub-clips), then its frozen backbone is evaluated on
split-1 test: linear probe, weighted kNN and Recall@1 (train videos as the gallery). Two
reference rows: random init (every method's starting weights) and supervised from
scratch (the same budget spent on cross-entropy with the split-1 train labels, see
:mod:`vidssl.eval.supervised`). Prints a markdown table and writes the protocol, the
resolved configs and every metric to ``--out`` (rewritten after each row).

    .venv/bin/python bench/bench_methods.py [--steps 120] [--methods simclr,rotnet] [--out runs/bench_methods.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidssl import __version__
from vidssl.api import evaluate_backbones, load_pretrain_checkpoint
from vidssl.config import DataConfig, EvalConfig, ModelConfig, PretrainConfig, to_dict
from vidssl.data.loading import open_dataset
from vidssl.engine import build_model, pretrain
from vidssl.errors import VidsslError
from vidssl.eval.supervised import train_supervised
from vidssl.io import write_json
from vidssl.methods import METHODS

UCF9 = Path(__file__).resolve().parents[1].parent / "shared/data/ucf101-9"


def make_config(args: argparse.Namespace, method: str, out_dir: Path) -> PretrainConfig:
    data = DataConfig(dataset="ucf101", root=str(UCF9), split=1, clip_frames=6, stride=2, crop_size=32,
                      cache_short_side=40, cache_dir=args.cache_dir)
    return PretrainConfig(out_dir=str(out_dir), method=method, data=data, model=ModelConfig(width=0.25),
                          batch_size=32, steps=args.steps, seed=args.seed, threads=1, progress=False)


def summarise(name: str, metrics: dict[str, Any], seconds: float | None, steps: int, **extra) -> dict[str, Any]:
    m = metrics["labels"]["class"]
    return {"method": name, "linear": m["linear_probe"]["accuracy"], "knn": m["knn"]["accuracy"],
            "R@1": m["retrieval"]["R@1"], "pretrain_s": seconds, "steps": steps, **extra, "metrics": metrics}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| method | linear | kNN | R@1 | pretrain s | steps |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | failed: {r['error']} | | | | |")
            continue
        secs = "-" if r["pretrain_s"] is None else f"{r['pretrain_s']:.0f}"
        lines.append(f"| {r['method']} | {100 * r['linear']:.1f} | {100 * r['knn']:.1f} | {100 * r['R@1']:.1f} "
                     f"| {secs} | {r['steps']} |")
    return "\n".join(lines)


def loss_curve(run_dir: Path) -> list[dict[str, float]]:
    path = run_dir / "train_log.jsonl"
    if not path.exists():
        return []
    return [{k: r[k] for k in ("step", "loss")} for r in map(json.loads, path.read_text().splitlines())]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120, help="pretraining (and supervised) steps of batch 32")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated registered methods")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None, help="index and frame cache (default ~/.cache/vidssl)")
    ap.add_argument("--work-dir", default=None, help="where the runs' checkpoints go (default: a temporary folder)")
    ap.add_argument("--out", default="runs/bench_methods.json")
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        sys.exit(f"unknown methods {unknown}; registered: {', '.join(METHODS)}")
    if not (UCF9 / "trainlist01.txt").is_file():
        print(f"skipped: ucf101-9 not found (looked for {UCF9}/trainlist01.txt)")
        return
    torch.set_num_threads(1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="vidssl-bench-methods-") as tmp:
        work = Path(args.work_dir or tmp)
        ref = make_config(args, "simclr", work / "ref")
        train, test = open_dataset(ref.data)
        t = time.perf_counter()
        for ds in (train, test):  # fill the frame cache first so that no method pays for decoding
            for i in range(len(ds)):
                if hasattr(ds, "load"):
                    ds.load(i)
        cache_s = time.perf_counter() - t
        ecfg = EvalConfig(out_dir=str(work / "eval"), progress=False, seed=args.seed)
        report: dict[str, Any] = {
            "protocol": {
                "dataset": "ucf101-9 (9 UCF101 classes)", "root": str(UCF9), "split": 1,
                "train_split": train.name, "test_split": test.name, "train_videos": len(train),
                "test_videos": len(test), "classes": len(train.class_names["class"]),
                "clip_frames": ref.data.clip_frames, "stride": ref.data.stride, "crop_size": ref.data.crop_size,
                "cache_short_side": ref.data.cache_short_side, "clips_per_video": ecfg.clips_per_video,
                "test_view": "centre square resized to crop_size",
                "features": "backbone global-average-pooled (frozen), one clip per video",
                "budget": {"steps": args.steps, "batch_size": ref.batch_size, "optimizer": ref.optimizer,
                           "lr": ref.lr, "warmup_steps": ref.warmup_steps, "schedule": "linear warm-up, cosine to 0",
                           "note": "equal steps and videos per batch; two-view methods encode 2 clips per video"},
                "seed": args.seed, "labels_used_in_pretraining": False,
                "supervised_baseline": "same backbone, init, budget and augmentation (one view), "
                                       "linear classifier + cross-entropy on split-1 train labels",
                "frame_cache_fill_seconds": round(cache_s, 1),
                "software": {"vidssl": __version__, "torch": torch.__version__, "numpy": np.__version__,
                             "torch_threads": torch.get_num_threads()},
            },
            "eval_config": {**to_dict(ecfg), "data": to_dict(ref.data)},
            "configs": {},
            "rows": [],
        }
        print(f"{train.name}: {len(train)} videos, {test.name}: {len(test)}; frame cache ready in {cache_s:.0f} s",
              flush=True)

        def add(row: dict[str, Any], cfg: PretrainConfig | None) -> None:
            report["rows"].append(row)
            if cfg is not None:
                report["configs"][row["method"]] = to_dict(cfg)
            report["protocol"]["total_seconds"] = round(time.perf_counter() - t_all, 1)
            write_json(out, report)
            shown = {k: v for k, v in row.items() if k not in ("metrics", "loss_curve")}
            print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in shown.items()}, flush=True)

        add(summarise("random init", evaluate_backbones({"random init": build_model(ref).backbone}, train, test,
                                                          ref.data, ecfg)["random init"], None, 0), None)
        for method in methods:
            cfg = make_config(args, method, work / method)
            try:
                res = pretrain(cfg)
                model, _, _ = load_pretrain_checkpoint(res.checkpoint)
                metrics = evaluate_backbones({method: model.backbone}, train, test, cfg.data, ecfg)[method]
            except (VidsslError, RuntimeError, ValueError) as e:  # one broken method must not sink the table
                error = f"{type(e).__name__}: {e}"
                add({"method": method, "error": error, "loss_curve": loss_curve(work / method)}, cfg)
                continue
            add(summarise(method, metrics, res.elapsed_s, res.step, final_loss=res.final_loss,
                          loss_curve=loss_curve(work / method)), cfg)

        cfg = make_config(args, "supervised", work / "supervised")  # cfg.method is not used by train_supervised
        losses: list[float] = []
        t = time.perf_counter()
        backbone = train_supervised(cfg, train, "class", on_step=lambda step, loss: losses.append(loss))
        secs = time.perf_counter() - t
        metrics = evaluate_backbones({"supervised": backbone}, train, test, cfg.data, ecfg)["supervised"]
        curve = [{"step": s + 1, "loss": round(v, 5)} for s, v in enumerate(losses)
                 if (s + 1) % ref.log_every == 0 or s + 1 == len(losses)]
        add(summarise("supervised (scratch)", metrics, secs, len(losses), final_loss=losses[-1], loss_curve=curve), cfg)

    print()
    print(table(report["rows"]))
    print(f"\nchance {100 * report['rows'][0]['metrics']['labels']['class']['chance']:.1f}; "
          f"total {time.perf_counter() - t_all:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
