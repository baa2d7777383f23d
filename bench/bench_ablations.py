"""videoSimCLR augmentation ablations on the built-in motion data, with equal budget.

Three single changes to the default augmentation, each pretrained for the same steps
(the default run is shared by the three comparisons):
(a) spatial augmentation drawn once per clip (default) vs per frame (``framewise``),
(b) random temporal shift between the two views (``temporal_shift`` 8, default) vs none (0),
(c) no time reversal (``reverse_p`` 0, default) vs reversing a view with probability 0.5.
Each backbone is evaluated on the motion labels (linear probe, kNN) and by the reversal
confusion: of the test clips of a class whose time-reversal is another class (right/left,
up/down, rotate_cw/rotate_ccw, grow/shrink), the fraction the linear probe assigns to
that partner class. For scale, the mean fraction assigned to any one non-partner class is
given too. Prints a markdown table and writes everything to ``--out``.

    .venv/bin/python bench/bench_ablations.py [--steps 150] [--synthetic-seed 1] [--out runs/bench_ablations.json]

``--synthetic-seed 1`` draws the built-in data with another generator seed: validation data on
which the demo's augmentation defaults are chosen (the demo reports on seed 0's test clips).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidssl import __version__
from vidssl.api import load_pretrain_checkpoint
from vidssl.config import AugConfig, DataConfig, EvalConfig, PretrainConfig, to_dict
from vidssl.data.loading import open_dataset
from vidssl.data.synthetic import MOTIONS
from vidssl.engine import build_model, pretrain
from vidssl.eval.bn import recalibrate_bn
from vidssl.eval.features import extract_features
from vidssl.eval.protocols import knn_classify, linear_probe
from vidssl.io import write_json

PAIRS = (("right", "left"), ("up", "down"), ("rotate_cw", "rotate_ccw"), ("grow", "shrink"))
VARIANTS: dict[str, dict[str, Any]] = {  # name -> AugConfig fields changed from the defaults
    "default (per clip, shift 8, reverse 0)": {},
    "(a) per-frame spatial aug": {"framewise": True},
    "(b) no temporal shift": {"temporal_shift": 0},
    "(c) reverse_p 0.5": {"reverse_p": 0.5},
}


def reversal_confusion(pred: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Fraction of each reversal pair's test clips predicted as the partner class, and a non-partner baseline."""
    idx = {name: k for k, name in enumerate(MOTIONS)}
    partner = {idx[a]: idx[b] for a, b in PAIRS} | {idx[b]: idx[a] for a, b in PAIRS}
    per_pair = {}
    for a, b in PAIRS:
        ia, ib = idx[a], idx[b]
        in_pair = (y == ia) | (y == ib)
        per_pair[f"{a}/{b}"] = float((pred[in_pair] == np.vectorize(partner.get)(y[in_pair])).mean())
    n_classes = len(MOTIONS)
    other = [((pred[y == c] != c) & (pred[y == c] != partner[c])).mean() / (n_classes - 2) for c in range(n_classes)]
    return {"pairs": per_pair, "mean": float(np.mean(list(per_pair.values()))),
            "any_one_non_partner_mean": float(np.mean(other))}


def evaluate(backbone, train, test, data: DataConfig, ecfg: EvalConfig) -> dict[str, Any]:
    if ecfg.bn_recalibrate:  # the same ruler as `vidssl eval`: BN statistics of unaugmented train clips
        backbone, _ = recalibrate_bn(backbone, train, data, ecfg.batch_size)
    f_tr, _ = extract_features(backbone, train, data, ecfg.clips_per_video, ecfg.batch_size, False)
    f_te, _ = extract_features(backbone, test, data, ecfg.clips_per_video, ecfg.batch_size, False)
    y_tr, y_te = train.labels["motion"], test.labels["motion"]
    probe = linear_probe(f_tr, y_tr, f_te, y_te, ecfg.probe_cs, ecfg.probe_val_fraction, ecfg.seed)
    pred, n = np.asarray(probe.predictions), len(MOTIONS)
    knn = knn_classify(f_tr, y_tr, f_te, y_te, ecfg.knn_k)
    confusion = np.bincount(y_te * n + pred, minlength=n * n).reshape(n, n)  # rows: true class, columns: predicted
    return {"linear_probe": probe.summary(), "knn": {"k": ecfg.knn_k, "accuracy": knn},
            "reversal_confusion": reversal_confusion(pred, y_te), "confusion_matrix": confusion.tolist()}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| variant | motion linear | motion kNN | reversal-pair confusion | "
             + " | ".join(f"{a}/{b}" for a, b in PAIRS) + " | one non-partner class | pretrain s |",
             "|---" * (6 + len(PAIRS)) + "|"]
    for r in rows:
        m, rc = r["motion"], r["motion"]["reversal_confusion"]
        secs = "-" if r["pretrain_s"] is None else f"{r['pretrain_s']:.0f}"
        pairs = " | ".join(f"{100 * v:.1f}" for v in rc["pairs"].values())
        lines.append(f"| {r['variant']} | {100 * m['linear_probe']['accuracy']:.1f} | {100 * m['knn']['accuracy']:.1f} "
                     f"| {100 * rc['mean']:.1f} | {pairs} | {100 * rc['any_one_non_partner_mean']:.1f} | {secs} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150, help="pretraining steps (batch 64) for every variant")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synthetic-seed", type=int, default=0,
                    help="generator seed of the built-in data; 1 = validation data (choose defaults there, not on 0's test)")
    ap.add_argument("--cache-dir", default=None, help="where the generated data is cached (default ~/.cache/vidssl)")
    ap.add_argument("--work-dir", default=None, help="where the runs' checkpoints go (default: a temporary folder)")
    ap.add_argument("--out", default="runs/bench_ablations.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    data = DataConfig(cache_dir=args.cache_dir, synthetic_seed=args.synthetic_seed)
    ecfg = EvalConfig(progress=False, seed=args.seed)
    train, test = open_dataset(data)
    t_all = time.perf_counter()
    report: dict[str, Any] = {
        "protocol": {
            "dataset": f"built-in synthetic motion data, generator seed {args.synthetic_seed}",
            "bn_recalibration": ecfg.bn_recalibrate, "train_videos": len(train),
            "test_videos": len(test), "classes": list(MOTIONS), "reversal_pairs": [list(p) for p in PAIRS],
            "clip_frames": data.clip_frames, "stride": data.stride, "crop_size": data.crop_size,
            "clips_per_video": ecfg.clips_per_video, "test_view": "centre square resized to crop_size",
            "method": "simclr", "steps": args.steps, "seed": args.seed,
            "reversal_confusion": "fraction of test clips of a reversal pair that the motion linear probe "
                                  "assigns to the partner class",
            "software": {"vidssl": __version__, "torch": torch.__version__, "numpy": np.__version__,
                         "torch_threads": torch.get_num_threads()},
        },
        "eval_config": to_dict(ecfg),
        "rows": [],
    }
    with tempfile.TemporaryDirectory(prefix="vidssl-bench-ablations-") as tmp:
        work = Path(args.work_dir or tmp)
        for k, (name, changes) in enumerate(VARIANTS.items()):
            cfg = PretrainConfig(out_dir=str(work / f"v{k}"), data=data, aug=AugConfig(**changes),
                                 steps=args.steps, seed=args.seed, threads=1, progress=False)
            if k == 0:  # the starting weights of every variant, for scale
                rnd = evaluate(build_model(cfg).backbone, train, test, data, ecfg)
                report["rows"].append({"variant": "random init", "motion": rnd, "pretrain_s": None})
            res = pretrain(cfg)
            model, _, _ = load_pretrain_checkpoint(res.checkpoint)
            metrics = evaluate(model.backbone, train, test, data, ecfg)
            row = {"variant": name, "aug_changes": changes, "motion": metrics, "pretrain_s": res.elapsed_s,
                   "steps": res.step, "final_loss": res.final_loss, "config": to_dict(cfg)}
            report["rows"].append(row)
            report["protocol"]["total_seconds"] = round(time.perf_counter() - t_all, 1)
            write_json(out, report)
            m = row["motion"]
            print(f"{name}: linear {m['linear_probe']['accuracy']:.3f}, reversal confusion "
                  f"{m['reversal_confusion']['mean']:.3f}, {res.elapsed_s:.0f} s", flush=True)
    print()
    print(table(report["rows"]))
    print(f"\nchance 12.5; total {time.perf_counter() - t_all:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
