"""The Python API; ``vidssl.cli`` is a thin layer over these functions."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vidssl import checkpoint
from vidssl.config import DemoConfig, EvalConfig, PretrainConfig, from_dict, to_dict
from vidssl.data.loading import open_dataset
from vidssl.engine import TrainResult, build_model, pretrain
from vidssl.errors import VidsslError
from vidssl.eval.features import extract_features
from vidssl.eval.protocols import knn_classify, linear_probe, retrieval_recall
from vidssl.io import ensure_writable_dir, write_json

__all__ = ["pretrain", "evaluate", "demo", "load_pretrain_checkpoint"]


def load_pretrain_checkpoint(path: str | Path) -> tuple[nn.Module, PretrainConfig, dict[str, Any]]:
    """Rebuild the method from a checkpoint: (model with trained weights, its config, raw checkpoint)."""
    ck = checkpoint.load(path)
    cfg = from_dict(PretrainConfig, ck["config"])
    checkpoint.check_arch(ck, checkpoint.arch_of(cfg), path)
    model = build_model(cfg)
    checkpoint.load_weights(model, ck["model"], path)
    return model, cfg, ck


def evaluate_backbones(backbones: dict[str, nn.Module], train, test, data, cfg: EvalConfig) -> dict[str, Any]:
    """Every protocol for every backbone and every label set of the data."""
    results: dict[str, Any] = {}
    for name, bb in backbones.items():
        f_tr, _ = extract_features(bb, train, data, cfg.clips_per_video, cfg.batch_size, cfg.progress, f"{name}: train features")
        f_te, _ = extract_features(bb, test, data, cfg.clips_per_video, cfg.batch_size, cfg.progress, f"{name}: test features")
        per_label = {}
        for n, label in enumerate(train.labels):
            y_tr, y_te = train.labels[label], test.labels[label]
            try:
                probe = linear_probe(f_tr, y_tr, f_te, y_te, cfg.probe_cs, cfg.probe_val_fraction, cfg.seed)
                per_label[label] = {
                    "linear_probe": probe.summary(),
                    "knn": {"k": cfg.knn_k, "accuracy": knn_classify(f_tr, y_tr, f_te, y_te, cfg.knn_k)},
                    "retrieval": retrieval_recall(f_tr, y_tr, f_te, y_te, cfg.recall_ks),
                    "chance": float(np.bincount(y_te).max() / len(y_te)),
                }
            except VidsslError as e:
                if n == 0:  # the primary label set must evaluate; secondary ones may not fit the split
                    raise
                per_label[label] = {"skipped": str(e)}
        results[name] = {"feature_dim": int(f_tr.shape[1]), "labels": per_label}
    return results


def evaluate(checkpoint_path: str | Path, cfg: EvalConfig | None = None, *, write: bool = True) -> dict[str, Any]:
    """Evaluate a pretrained checkpoint beside the random-init backbone of the same architecture.

    Returns the results dict that is also written to ``cfg.out_dir/results.json``, with
    the full protocol (data, split sizes, clip length and stride, clips per video, crop
    size, pretraining budget, seeds, resolved configs).
    """
    cfg = cfg or EvalConfig()
    cfg.validate()
    out = ensure_writable_dir(cfg.out_dir) if write else None
    model, pcfg, ck = load_pretrain_checkpoint(checkpoint_path)
    data = cfg.data or pcfg.data
    train, test = open_dataset(data)
    random_init = build_model(pcfg)  # the trained model's exact starting weights
    t0 = time.perf_counter()
    results = evaluate_backbones({"ssl": model.backbone, "random_init": random_init.backbone}, train, test, data, cfg)
    report = {
        "protocol": {
            "dataset": data.dataset, "train_split": train.name, "test_split": test.name,
            "train_videos": len(train), "test_videos": len(test),
            "clip_frames": data.clip_frames, "stride": data.stride, "clips_per_video": cfg.clips_per_video,
            "crop_size": data.crop_size, "test_view": "centre square resized to crop_size",
            "features": "backbone global-average-pooled, averaged over clips of a video",
            "checkpoint": str(checkpoint_path), "pretrain_steps": ck["step"],
            "pretrain_seconds": round(ck["elapsed_s"], 1), "pretrain_seed": pcfg.seed,
            "eval_seconds": None,
        },
        "pretrain_config": to_dict(pcfg),
        "eval_config": {**to_dict(cfg), "data": to_dict(data)},
        "results": results,
    }
    report["protocol"]["eval_seconds"] = round(time.perf_counter() - t0, 1)
    if out is not None:
        write_json(out / "results.json", report)
    return report


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table: one row per (backbone, label set)."""
    rows = [("backbone", "labels", "linear", "kNN", "R@1", "R@5", "R@10", "R@20", "chance")]
    for name, r in report["results"].items():
        for label, m in r["labels"].items():
            if "skipped" in m:
                continue
            rec = m["retrieval"]
            rows.append((name, label, f"{100 * m['linear_probe']['accuracy']:.1f}", f"{100 * m['knn']['accuracy']:.1f}",
                         *(f"{100 * rec[k]:.1f}" if k in rec else "-" for k in ("R@1", "R@5", "R@10", "R@20")),
                         f"{100 * m['chance']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plot_loss_curve(run_dir: str | Path) -> Path:
    """Loss and learning rate against step, from ``train_log.jsonl``, to ``loss_curve.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    rows = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax2 = ax.twinx()
    ax2.plot([r["step"] for r in rows], [r["lr"] for r in rows], color="tab:orange", alpha=0.6, label="lr")
    ax2.set_ylabel("learning rate")
    fig.tight_layout()
    path = run_dir / "loss_curve.png"
    tmp = run_dir / ".loss_curve.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


def demo(cfg: DemoConfig | None = None) -> dict[str, Any]:
    """The main job on the built-in data: pretrain videoSimCLR, evaluate it and random init."""
    cfg = cfg or DemoConfig()
    run = ensure_writable_dir(cfg.out_dir)
    # resume=True: running the demo again continues (or, when finished, just re-evaluates) the same run
    pcfg = dataclasses.replace(cfg.pretrain, out_dir=str(run), resume=True)
    ecfg = dataclasses.replace(cfg.eval, out_dir=str(run))
    t0 = time.perf_counter()
    res: TrainResult = pretrain(pcfg)
    report = evaluate(res.checkpoint, ecfg)
    plot_loss_curve(run)
    report["protocol"]["demo_total_seconds"] = round(time.perf_counter() - t0, 1)
    write_json(run / "results.json", report)
    return report
