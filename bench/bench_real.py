"""Real-video benchmark: the recommended recipe on ucf101-9, mean ± std over seeds, beside random init.

A thin call of :func:`vidssl.compare.compare` (``vidssl compare`` on the command line):
every method x seed is pretrained without labels on ucf101-9 split-K train for a fixed
wall-clock budget (one thread each, so two runs fit side by side on two cores), then its
frozen backbone is evaluated on split-K test beside its own random init and beside random
init on RGB clips (the stronger baseline), optionally fine-tuned beside supervised from
scratch (random init at the full backbone learning rate). Resumable: rerun the same
command after a kill. Writes ``compare.md`` and ``compare.json`` (full protocol) under --out.

    .venv/bin/python bench/bench_real.py [--budget 30m] [--seeds 0 1 2] [--split 1] [--methods simclr]
                                         [--input rgb] [--finetune-steps 300] [--holdout test|val]
                                         [--finetune-lr 3e-3 --finetune-ratio 1 --scratch-lr 1e-3 --scratch-ratio 1]
                                         [--out runs/bench_real]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidssl.compare import CompareConfig, compare, format_gains, format_table
from vidssl.config import PRESETS, AugConfig, DataConfig, EvalConfig, FinetuneConfig, ModelConfig, PretrainConfig
from vidssl.errors import VidsslError

UCF9 = Path(__file__).resolve().parents[1].parent / "shared/data/ucf101-9"


def recipe(args: argparse.Namespace) -> PretrainConfig:
    """The recommended real-video recipe, ``--preset real-video`` (vidssl.config.PRESETS), on ucf101-9."""
    pr = PRESETS["real-video"]
    data = DataConfig(dataset="ucf101", root=str(UCF9), split=args.split, clip_frames=pr["clip_frames"],
                      stride=pr["stride"], crop_size=pr["crop_size"], cache_short_side=pr["cache_short_side"],
                      cache_dir=args.cache_dir)
    model = ModelConfig(input=args.input or pr["input"])
    return PretrainConfig(data=data, aug=AugConfig(bg_mix_p=args.bg_mix_p), model=model, batch_size=pr["batch_size"],
                          lr=pr["lr"], temperature=pr.get("temperature"), time_budget=args.budget, steps=args.steps,
                          threads=1, progress=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", default=PRESETS["real-video"]["time_budget"],
                   help="pretraining wall-clock per run (default: the preset's); 'none' uses --steps")
    p.add_argument("--steps", type=int, default=350, help="steps when --budget none")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--split", type=int, default=1)
    p.add_argument("--methods", default="simclr")
    p.add_argument("--input", default=None, choices=("rgb", "residual"), help="default: the preset's")
    p.add_argument("--bg-mix-p", type=float, default=0.0)
    p.add_argument("--finetune-steps", type=int, default=0)
    # fine-tuning settings chosen per init on a validation fold of split-1 train (bench/bench_finetune.py)
    p.add_argument("--finetune-lr", type=float, default=3e-3, help="SSL fine-tuning head lr (default: 3e-3)")
    p.add_argument("--finetune-ratio", type=float, default=1.0, help="SSL backbone lr = head lr x this (default: 1)")
    p.add_argument("--scratch-lr", type=float, default=1e-3, help="supervised from scratch: head lr (default: 1e-3)")
    p.add_argument("--scratch-ratio", type=float, default=1.0,
                   help="supervised from scratch: backbone lr = head lr x this (default: 1)")
    p.add_argument("--holdout", default="test", choices=("test", "val"))
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default="runs/bench_real")
    args = p.parse_args(argv)
    if not (UCF9 / "trainlist01.txt").is_file():
        print(f"skipped: {UCF9} is absent (this benchmark needs ../shared/data/ucf101-9)")
        return 0
    if args.budget.lower() == "none":
        args.budget = None
    cfg = CompareConfig(out_dir=args.out, methods=tuple(args.methods.split(",")), seeds=tuple(args.seeds),
                        pretrain=recipe(args), eval=EvalConfig(clips_per_video=4, holdout=args.holdout, progress=False),
                        finetune=FinetuneConfig(steps=args.finetune_steps, lr=args.finetune_lr,
                                                backbone_lr_ratio=args.finetune_ratio, scratch_lr=args.scratch_lr,
                                                scratch_backbone_lr_ratio=args.scratch_ratio, progress=False)
                        if args.finetune_steps else None)
    try:
        report = compare(cfg)
    except VidsslError as e:
        print(f"bench_real: error: {e}", file=sys.stderr)
        return 2
    print(format_table(report["summary"]))
    print("\n" + format_gains(report["summary"]))
    print(f"\nfull protocol: {Path(args.out) / 'compare.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
