"""The videoSimCLR thesis's findings on real video: every table as ``vidssl compare --variants``, resumable.

Each *group* is one ablation of the thesis (a table or figure), run as one call of
:func:`vidssl.compare.compare` with named variants on top of the real-video recipe
(``--preset real-video``) on ucf101-9 split 1, at one budget per run counted in steps (so
that the figures do not depend on what else the machine is doing; the seconds are recorded
per run). All groups share one folder: a row with the same name and flags (``recipe``) is
trained once and read by every group, and random inits are evaluated once per network and
seed. Each group's table is written as ``GROUP.md``, ``GROUP.json`` and ``GROUP.html``.
Kill it at any point and run it again: finished runs are kept, a run in progress resumes.

    .venv/bin/python bench/bench_thesis.py [--groups methods spatial ...] [--seeds 0 1 2] [--steps 500]
                                           [--threads 1] [--out runs/thesis] [--list]

One folder has one writer, so processes side by side (one thread each, say ``--seeds 0`` and
``--seeds 1``) each get their own ``--out``; then ``--gather runs/thesis-s0 runs/thesis-s1
--out runs/thesis`` moves their runs into one folder, and a call with all seeds there (every
run then found done) writes the tables over all of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from vidssl.compare import CompareConfig, compare, format_paired, format_table
from vidssl.config import PRESETS, AugConfig, DataConfig, EvalConfig, FinetuneConfig, ModelConfig, PretrainConfig
from vidssl.errors import VidsslError
from vidssl.io import write_json
from vidssl.variants import parse_variants

UCF9 = Path(__file__).resolve().parents[1].parent / "shared/data/ucf101-9"
# cross-testing (the thesis pretrains on UCF101 and tests on HMDB51): two disjoint halves of the nine classes
SET_A = "ApplyEyeMakeup,ApplyLipstick,Archery,BabyCrawling"
SET_B = "BalanceBeam,BandMarching,BaseballPitch,Basketball,BasketballDunk"
NO_SPATIAL = {"crop_scale": [1.0, 1.0], "crop_ratio": [1.0, 1.0], "jitter_p": 0.0, "gray_p": 0.0, "blur_p": 0.0}

# group -> (reference row, {row: flags}, fine-tune? (True, or changes to the fine-tuning settings)). "recipe" is
# the preset at the study's budget.
GROUPS: dict[str, tuple[str, dict[str, dict[str, Any]], bool | dict[str, Any]]] = {
    # Table 1: methods, on the recipe's input (residual frames) and on RGB (the thesis's input)
    "methods": ("recipe", {"recipe": {}, "moco_v1": {"method": "moco_v1"}, "moco_v2": {"method": "moco_v2"},
                           "supervised": {"supervised": True}}, False),
    "methods_rgb": ("simclr_rgb", {"simclr_rgb": {"input": "rgb"}, "moco_v1_rgb": {"method": "moco_v1", "input": "rgb"},
                                   "moco_v2_rgb": {"method": "moco_v2", "input": "rgb"},
                                   "supervised_rgb": {"supervised": True, "input": "rgb"}}, False),
    # (ours) the recipe's residual input against RGB, both videoSimCLR (reads the runs of methods and methods_rgb)
    "input": ("recipe", {"recipe": {}, "simclr_rgb": {"input": "rgb"}}, False),
    # Table 3: spatial augmentation drawn once per clip against per frame, at 8 and 16 frames (same 2.5-s span)
    "spatial": ("recipe", {"recipe": {}, "framewise": {"framewise": True},
                           "frames16": {"clip_frames": 16, "stride": 4},
                           "frames16_framewise": {"clip_frames": 16, "stride": 4, "framewise": True}}, False),
    # Table 4: the temporal shift between the two views (the recipe's is 8)
    "shift": ("recipe", {"recipe": {}, "shift0": {"temporal_shift": 0}, "shift4": {"temporal_shift": 4},
                         "shift16": {"temporal_shift": 16}}, False),
    # Figure 6: other temporal transforms, and the temporal shift with no spatial augmentation
    "temporal": ("recipe", {"recipe": {}, "frame_drop": {"frame_drop": True}, "reverse": {"reverse_p": 0.5},
                            "shuffle": {"shuffle_p": 0.5}, "shift_only": dict(NO_SPATIAL)}, False),
    # Table 5: videoMoCo v1's queue against the 873 training videos
    "queue": ("moco_v1", {"moco_v1": {"method": "moco_v1"}, "moco_v1_q256": {"method": "moco_v1", "queue_size": 256},
                          "moco_v1_q4096": {"method": "moco_v1", "queue_size": 4096}}, False),
    # Table 1, cross-testing: pretrain without labels on one half of the classes, probe on the other half. A
    # row scored on A is not paired with within_B (other test videos): cross_A reads them, paired against within_A.
    # Rows with the same pretraining (within_A and cross_A_to_B) train it once per seed.
    "cross": ("within_B", {"within_B": {"classes": SET_B}, "cross_A_to_B": {"classes": SET_A, "eval_data": {"classes": SET_B}},
                           "within_A": {"classes": SET_A}, "cross_B_to_A": {"classes": SET_B, "eval_data": {"classes": SET_A}}},
              False),
    "cross_A": ("within_A", {"within_A": {"classes": SET_A},
                             "cross_B_to_A": {"classes": SET_B, "eval_data": {"classes": SET_A}}}, False),
    # The strongest baselines a user could pick instead: wider random inits, a 2D network per frame, image SimCLR
    "baselines": ("recipe", {"recipe": {}, "r3d18_w1_random": {"width": 1.0, "random_init_only": True},
                             "r2d18_random": {"backbone": "r2d18", "width": 1.0, "input": "rgb", "random_init_only": True},
                             "r2d18_image_simclr": {"backbone": "r2d18", "input": "rgb", "clip_frames": 1, "stride": 1,
                                                    "eval_data": {"clip_frames": 8, "stride": 8}}}, False),
    # Table 2: fine-tuned from SSL against supervised from scratch, each with its own lr chosen on validation
    # (at the study's budget and at twice it: the lrs were chosen for the 30-minute checkpoints)
    "finetune": ("recipe", {"recipe": {}, "steps1000": {"steps": 1000}}, True),
    # the same at 500 steps with the lrs chosen on validation for these checkpoints (bench/bench_finetune.py, mean
    # over the seeds: 3e-3 for both); a run keeps every fine-tuning made of it, so both groups share the folder
    "finetune_val500": ("recipe", {"recipe": {}}, {"scratch_lr": 3e-3}),
    # Budget: the recipe at about 5 (the study's budget), 10, 30 and 60 minutes of one thread
    "budget": ("recipe", {"recipe": {}, "steps1000": {"steps": 1000}, "steps3000": {"steps": 3000}}, False),
    "budget60": ("recipe", {"recipe": {}, "steps6000": {"steps": 6000}}, False),
    # Table 1 at twice the budget: does videoMoCo v1's gap to videoSimCLR close with more steps (its key encoder lags)?
    "methods1000": ("steps1000", {"steps1000": {"steps": 1000}, "moco_v1_steps1000": {"method": "moco_v1", "steps": 1000}},
                    False),
    # The recipe's width re-checked on validation folds of split-1 train (never test) against the strongest baseline
    # of the baselines group; into its own --out (a run keeps one evaluation), with copies of the recipe runs (without
    # their results.json). The full-width R3D-18 at random init is left out: its forward pass costs about 16 times
    # the recipe's, and its four evaluations of one seed had not finished after 15 minutes of one AVX2 core
    "width_val": ("recipe", {"recipe": {}, "width05": {"width": 0.5},
                             "r2d18_random": {"backbone": "r2d18", "width": 1.0, "input": "rgb", "random_init_only": True}},
                  False),
}
# groups scored on a validation fold of train: they choose settings, and their runs are kept apart from the test runs
VALIDATION = {"width_val"}


def recipe(steps: int, threads: int, cache_dir: str | None) -> PretrainConfig:
    """``--preset real-video`` on ucf101-9 split 1, budget in steps instead of minutes."""
    pr = PRESETS["real-video"]
    data = DataConfig(dataset="ucf101", root=str(UCF9), split=1, clip_frames=pr["clip_frames"], stride=pr["stride"],
                      crop_size=pr["crop_size"], cache_short_side=pr["cache_short_side"], cache_dir=cache_dir)
    return PretrainConfig(data=data, aug=AugConfig(), model=ModelConfig(input=pr["input"]), batch_size=pr["batch_size"],
                          lr=pr["lr"], steps=steps, threads=threads, progress=False)


def run_group(name: str, args: argparse.Namespace) -> dict[str, Any]:
    reference, rows, finetune = GROUPS[name]
    if args.rows:  # a part of the group (e.g. to summarise the rows that have finished); the reference stays
        rows = {r: f for r, f in rows.items() if r in args.rows or r == reference}
    seeds = (0,) if name == "budget60" else tuple(args.seeds)
    ft = None
    if finetune:  # lrs chosen per init on a validation fold of split-1 train (README, bench/bench_finetune.py)
        ft = FinetuneConfig(steps=300, lr=3e-3, backbone_lr_ratio=1.0, scratch_lr=1e-3, scratch_backbone_lr_ratio=1.0,
                            progress=False, threads=args.threads)
        ft = dataclasses.replace(ft, **finetune) if isinstance(finetune, dict) else ft
    holdout = "val" if name in VALIDATION else "test"
    for res in Path(args.out).glob("*-seed*/results.json"):  # compare would re-score them, in place, on the other holdout
        if json.loads(res.read_text()).get("compare_eval_config", {}).get("holdout", holdout) != holdout:
            raise VidsslError(f"group {name} scores on {'validation folds of train' if holdout == 'val' else 'test'} "
                              f"but {res.parent} in --out {args.out} was scored on the other; give this group its own "
                              "--out (copy the recipe runs there, without their results.json, to reuse their pretraining)")
    cfg = CompareConfig(out_dir=args.out, seeds=seeds, pretrain=recipe(args.steps, args.threads, args.cache_dir),
                        eval=EvalConfig(clips_per_video=4, progress=False, threads=args.threads, holdout=holdout),
                        finetune=ft,
                        variants=tuple(parse_variants(rows, f"group {name}")), reference=reference)
    report = compare(cfg)
    for ext in ("json", "md", "html"):  # one folder holds every group's runs; each group keeps its own tables
        os.replace(Path(args.out) / f"compare.{ext}", Path(args.out) / f"{name}.{ext}")
    return report


def gather(sources: list[str], out: str) -> None:
    """Move the run folders (and shared random-init evaluations) of per-process folders into ``out``."""
    dest = Path(out)
    (dest / "baselines").mkdir(parents=True, exist_ok=True)
    for src in map(Path, sources):
        for item in sorted(src.glob("*-seed*")) + sorted(src.glob("baselines/*.json")):
            target = dest / item.relative_to(src)
            if target.exists():
                print(f"gather: kept {target}, left {item} (both exist)")
                continue
            os.replace(item, target)


BUDGET_ROWS = ("recipe", "steps1000", "steps3000", "steps6000")  # the budget groups' rows, shortest first
OTHER_BASELINES = ("r3d18_w1_random", "r2d18_random")  # the baselines group's networks a user could pick instead
# The 30-minute point of the curve: bench/bench_real.py's three seeds on 2026-12-02 (docs/benchmarks.md), other runs
# on another machine whose per-run files are not kept here; drawn apart from this folder's runs, as measured there
THIRTY_MINUTES = {"label": "30 minutes: bench_real.py, 3 seeds, 2026-12-02 (other runs)", "steps": (2358, 2688, 2895),
                  "linear": (62.9, 2.2), "R@1": (53.6, 0.9)}


def budget_curve(out: str, rows: tuple[str, ...] = BUDGET_ROWS, others: tuple[str, ...] = OTHER_BASELINES,
                 thirty: dict[str, Any] | None = THIRTY_MINUTES) -> Path | None:
    """``budget_curve.png`` and ``.json`` in ``out``: linear and R@1 against pretraining steps, from the finished runs
    of ``rows`` found there (mean ± std over their seeds), with the strongest random init of the recipe's network as
    a line, and the strongest of the ``others`` rows (other networks at random init) found there as another;
    ``thirty`` (mean and std as measured elsewhere) is drawn apart, as a hollow square."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from vidssl.compare import summarise

    runs, steps, seconds = [], {}, {}
    for row in rows + others:
        for res_path in sorted(Path(out).glob(f"{row}-seed*/results.json")):
            res = json.loads(res_path.read_text())
            if res.get("variant", {}).get("name") != row or res.get("compare_eval_config", {}).get("holdout") != "test":
                continue
            runs.append({"method": row, "seed": res["protocol"]["pretrain_seed"], "results": res})
            steps.setdefault(row, set()).add(res["protocol"]["pretrain_steps"])
            seconds.setdefault(row, []).append(res["protocol"]["pretrain_seconds"])
    if not runs:
        return None
    summary = {(r["method"], r["backbone"]): r for r in summarise(runs)}
    points = []
    for row in [r for r in rows if (r, "ssl") in summary]:
        if len(steps[row]) != 1:
            raise VidsslError(f"{out}: the runs of {row} were pretrained for different numbers of steps {sorted(steps[row])}")
        ssl = summary[(row, "ssl")]
        points.append({"row": row, "steps": steps[row].pop(), "seeds": ssl["seeds"],
                       "minutes": round(float(np.mean(seconds[row])) / 60, 1),
                       **{m: {k: ssl[m][k] for k in ("mean", "std", "values")} for m in ("linear", "R@1")}})
    inits = {b: r for (row, b), r in summary.items() if row == rows[0] and b.startswith("random_init")}
    strongest = {m: max(((r[m]["mean"], b) for b, r in inits.items() if m in r), default=None) for m in ("linear", "R@1")}
    other = {m: max(((r[m]["mean"], f"{row}, {b}") for (row, b), r in summary.items() if row in others and m in r),
                    default=None) for m in ("linear", "R@1")}
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6), dpi=90)
    x = [p["steps"] for p in points]
    for ax, m in zip(axes, ("linear", "R@1")):
        ax.errorbar(x, [p[m]["mean"] for p in points], yerr=[p[m]["std"] for p in points], marker="o", capsize=3,
                    color="#2b6cb0", label="videoSimCLR (the recipe), mean ± std over seeds")
        for p in points:
            ax.scatter([p["steps"]] * len(p[m]["values"]), p[m]["values"], color="k", s=8, zorder=3)
            ax.annotate(f"n={p['seeds']}", (p["steps"], p[m]["mean"]), textcoords="offset points",
                        xytext=(6, -12), fontsize=7)
        if strongest[m]:
            ax.axhline(strongest[m][0], color="#c53030", ls="--", lw=1.5,
                       label=f"strongest random init of the recipe's network ({strongest[m][1]})")
        if other[m]:
            ax.axhline(other[m][0], color="#718096", ls=":", lw=1.5, label=f"strongest other network at random init ({other[m][1]})")
        if thirty:
            st = thirty["steps"]
            ax.errorbar([float(np.mean(st))], [thirty[m][0]], yerr=[thirty[m][1]],
                        xerr=[[np.mean(st) - min(st)], [max(st) - np.mean(st)]], marker="s", mfc="white", capsize=3,
                        color="#2f855a", ls="none", label=thirty["label"])
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
        ax.set_xscale("log")
        ax.set_xticks(x, [str(s) for s in x])
        ax.minorticks_off()
        ax.set_xlabel("pretraining steps of 32 clips")
        ax.set_ylabel(f"{m} (% of test videos)")
        ax.set_title(m)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    png = Path(out) / "budget_curve.png"
    fig.savefig(png)
    plt.close(fig)
    write_json(Path(out) / "budget_curve.json", {"points": points, "strongest_random_init": strongest,
                                                 "strongest_other_network": other, "drawn_apart": thirty,
                                                 "data": "ucf101-9 split 1, test split; --preset real-video"})
    return png


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", nargs="+", default=None, choices=list(GROUPS),
                   help="default: every group scored on test (none with --curve alone; width_val needs its own --out)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=500, help="pretraining steps of 32 clips per run (default: 500)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default="runs/thesis")
    p.add_argument("--rows", nargs="+", default=None, metavar="ROW",
                   help="only these rows of each group (and its reference), e.g. to summarise a partial study")
    p.add_argument("--curve", action="store_true",
                   help="after the groups, draw budget_curve.png in --out from the budget rows' finished runs there")
    p.add_argument("--list", action="store_true", help="print the groups and their rows, run nothing")
    p.add_argument("--gather", nargs="+", default=None, metavar="DIR",
                   help="first move the runs of these folders (one process each) into --out")
    args = p.parse_args(argv)
    if args.gather:
        gather(args.gather, args.out)
    if args.list:
        for g, (ref, rows, ft) in GROUPS.items():
            print(f"{g}: reference {ref}{', fine-tuned' if ft else ''}")
            for r, flags in rows.items():
                print(f"  {r}: {flags}")
        return 0
    if not (UCF9 / "trainlist01.txt").is_file():
        print(f"skipped: {UCF9} is absent (this benchmark needs ../shared/data/ucf101-9)")
        return 0
    default = [] if args.curve else [g for g in GROUPS if g not in VALIDATION]
    for name in args.groups if args.groups is not None else default:
        try:
            report = run_group(name, args)
        except VidsslError as e:
            print(f"bench_thesis: error in group {name}: {e}", file=sys.stderr)
            return 2
        print(f"## {name}\n\n{format_table(report['summary'])}\n")
        if report["paired"] or report.get("unpaired"):
            print(format_paired(report["paired"], report["protocol"]["reference"], report.get("unpaired", ())) + "\n")
    if args.curve:
        png = budget_curve(args.out)
        print(f"budget curve: {png}" if png else f"budget curve: no finished budget runs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
