"""Choose fine-tuning settings on validation: a small grid of head lr x backbone lr ratio, per init.

For a pretrained run (``vidssl pretrain`` + ``vidssl eval``), every grid point fine-tunes the
self-supervised backbone and its random init (= supervised from scratch) on 4/5 of train and
scores both on the other fifth, recording groups whole (``FinetuneConfig.holdout = "val"``;
test is never touched). It prints per-video validation accuracy per grid point and the best
setting of each init, and writes ``finetune_grid.json`` (every entry with its config) in
the run folder. A fair comparison then fine-tunes each init with its own best setting.

    .venv/bin/python bench/bench_finetune.py RUN [--lrs 1e-3 3e-3] [--ratios 0.1 1.0] [--steps 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
from pathlib import Path

import torch

from vidssl import api
from vidssl.config import FinetuneConfig
from vidssl.errors import VidsslError
from vidssl.io import write_json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3])
    p.add_argument("--ratios", type=float, nargs="+", default=[0.1, 1.0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: two runs fit side by side on two cores)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = FinetuneConfig(steps=args.steps, batch_size=args.batch_size, holdout="val", seed=args.seed, progress=False)
    rows = []
    try:
        for lr, ratio in itertools.product(args.lrs, args.ratios):
            cfg = dataclasses.replace(base, lr=lr, backbone_lr_ratio=ratio, scratch_backbone_lr_ratio=ratio)
            entry = api.finetune_run(args.run_dir, cfg)
            row = {"lr": lr, "ratio": ratio, **{k: 100 * v["per_video_acc"] for k, v in entry["results"].items()},
                   "entry": entry}
            rows.append(row)
            print(f"lr {lr:g} ratio {ratio:g}: ssl {row['ssl']:.1f}  random init {row['random_init']:.1f}", flush=True)
    except VidsslError as e:
        print(f"bench_finetune: error: {e}", file=sys.stderr)
        return 2
    best = {k: max(rows, key=lambda r: r[k]) for k in ("ssl", "random_init")}
    print("\n| head lr | backbone ratio | SSL (val, per video) | random init (val, per video) |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['lr']:g} | {r['ratio']:g} | {r['ssl']:.1f} | {r['random_init']:.1f} |")
    for k, r in best.items():
        print(f"best for {k}: lr {r['lr']:g}, backbone ratio {r['ratio']:g} ({r[k]:.1f})")
    write_json(Path(args.run_dir) / "finetune_grid.json",
               {"rows": rows, "best": {k: {"lr": r["lr"], "ratio": r["ratio"]} for k, r in best.items()},
                "holdout_rule": rows[0]["entry"].get("holdout_rule")})
    return 0


if __name__ == "__main__":
    sys.exit(main())
