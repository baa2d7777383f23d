"""Every registered method at one budget on ucf101-9, over seeds, beside random init and supervised; J on the built-in data.

Each method is pretrained without labels on ucf101-9 split-1 train with the same backbone
(R3D-18 at width 0.25), initial weights (per seed), steps, batch size, optimiser, schedule and
augmentation, on RGB clips of 6 frames at stride 2 (32-pixel crops of frames resized to short
side 40), each method with its own defaults (methods that need it adapt to 6 frames:
order_verification takes single frames, dpc 3 blocks of 2). It runs as one call of
:func:`vidssl.compare.compare` with a variant per method, so random init is scored with both
BatchNorm statistics, ``supervised`` is pretraining with the split-1 labels at the same
budget, and each method is paired seed by seed with videoSimCLR. Frozen features of split-1
test: linear probe, kNN, Recall@1 (one centre clip per video).

A second downstream task: every checkpoint's encoder then tracks the built-in data's sprites
(``vidssl track``: the first frame's mask carried by feature affinity, J against the
generator's masks, on 100 test clips), beside its random init and a tracker that never moves.

Kill it and run it again: finished runs and their track.json are kept, a run in progress resumes.

    .venv/bin/python bench/bench_methods.py [--seeds 0 1 2] [--steps 120] [--methods simclr,rotnet]
                                            [--out runs/bench_methods]

One folder has one writer: seeds side by side (one thread each) get their own ``--out``, then
``--gather DIR0 DIR1 DIR2 --seeds 0 1 2 --out ALL`` moves their runs into one folder and writes
the tables over all seeds (every run is then found done).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vidssl import api, checkpoint
from vidssl.compare import CompareConfig, compare, format_paired, format_table
from vidssl.config import AugConfig, DataConfig, EvalConfig, ModelConfig, PretrainConfig, TrackConfig, to_dict
from vidssl.errors import VidsslError
from vidssl.io import atomic_write, write_json
from vidssl.methods import METHODS
from vidssl.variants import parse_variants

UCF9 = Path(__file__).resolve().parents[1].parent / "shared/data/ucf101-9"
TRACK_DATA = DataConfig(dataset="synthetic", clip_frames=6, stride=1, crop_size=32)  # the built-in data, every frame
TRACK_VIDEOS = 100


def base_config(args: argparse.Namespace) -> PretrainConfig:
    data = DataConfig(dataset="ucf101", root=str(UCF9), split=1, clip_frames=6, stride=2, crop_size=32,
                      cache_short_side=40, cache_dir=args.cache_dir)
    return PretrainConfig(data=data, aug=AugConfig(), model=ModelConfig(width=0.25), batch_size=32, steps=args.steps,
                          threads=1, progress=False)


def track_run(run_dir: Path) -> dict[str, Any]:
    """J of a run's checkpoint on the built-in data (kept in RUN/track/track.json while it describes that checkpoint)."""
    ckpt = run_dir / "checkpoints/last.pt"
    out = run_dir / "track"
    kept = out / "track.json"
    want = checkpoint.fingerprint(checkpoint.load(ckpt))
    if kept.is_file():
        old = json.loads(kept.read_text())
        if old["protocol"]["checkpoint_fingerprint"] == json.loads(json.dumps(want)):
            return old
    cfg = TrackConfig(out_dir=str(out), data=TRACK_DATA, videos=TRACK_VIDEOS, pictures=1, progress=False, threads=1)
    return api.track(ckpt, cfg)


def mean_std(xs: list[float]) -> str:
    a = 100 * np.asarray(xs, float)
    return f"{a.mean():.1f} ± {a.std(ddof=1):.1f}" if len(a) > 1 else f"{a.mean():.1f} (n=1)"


def tracking_table(tracks: dict[str, list[dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """Markdown of J per row (mean ± std over seeds) with random init (the stronger of its two BN statistics
    per seed) and the never-moving tracker; and the same as data."""
    rows: dict[str, list[float]] = {}
    for name, reports in tracks.items():
        rows[name] = [r["results"]["ssl"]["J"] for r in reports]
    first = next(iter(tracks.values()))
    rows["random init (stronger BN)"] = [max(v["J"] for k, v in r["results"].items() if k.startswith("random_init"))
                                         for r in first]
    rows["pixels (no network, same grid)"] = [r["results"]["pixels"]["J"] for r in first]
    rows["first mask copied (no motion)"] = [r["results"]["first_mask_copy"]["J"] for r in first]
    lines = ["| encoder | J on the built-in data |", "|---|---|"]
    lines += [f"| {name} | {mean_std(js)} |" for name, js in rows.items()]
    return "\n".join(lines), {k: {"J": v} for k, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=120, help="pretraining (and supervised) steps of batch 32")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated registered methods")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--cache-dir", default=None, help="index, frame and audio cache (default ~/.cache/vidssl)")
    ap.add_argument("--out", default="runs/bench_methods")
    ap.add_argument("--no-track", action="store_true", help="skip the tracking evaluation")
    ap.add_argument("--gather", nargs="+", default=None, metavar="DIR",
                    help="first move the runs of these folders (one process each) into --out")
    args = ap.parse_args(argv)
    if args.gather:
        from bench_thesis import gather

        gather(args.gather, args.out)
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        sys.exit(f"unknown methods {unknown}; registered: {', '.join(METHODS)}")
    if not (UCF9 / "trainlist01.txt").is_file():
        print(f"skipped: ucf101-9 not found (looked for {UCF9}/trainlist01.txt)")
        return 0
    t0 = time.perf_counter()
    rows = {m: {"method": m} for m in methods} | {"supervised": {"supervised": True}}
    reference = "simclr" if "simclr" in methods else methods[0]
    cfg = CompareConfig(out_dir=args.out, seeds=tuple(args.seeds), pretrain=base_config(args),
                        eval=EvalConfig(clips_per_video=1, progress=False, threads=1),
                        variants=tuple(parse_variants(rows, "bench_methods")), reference=reference)
    try:
        report = compare(cfg)
    except VidsslError as e:
        print(f"bench_methods: {e}", file=sys.stderr)
        return 2
    print(format_table(report["summary"]))
    if report["paired"]:
        print("\n" + format_paired(report["paired"], reference))
    if args.no_track:
        return 0
    tracks = {name: [track_run(Path(args.out) / f"{name}-seed{s}") for s in args.seeds] for name in rows}
    text, data = tracking_table(tracks)
    print(f"\nlabel propagation on {TRACK_VIDEOS} clips of the built-in data (J, mean ± std over seeds):\n\n{text}")
    write_json(Path(args.out) / "tracking.json", {
        "protocol": {"data": to_dict(TRACK_DATA), "videos": TRACK_VIDEOS, "seeds": args.seeds,
                     "track_config": next(iter(tracks.values()))[0]["track_config"],
                     "encoders": "each run's checkpoint (pretrained on ucf101-9 split-1 train), frozen"},
        "rows": data, "per_run": {name: [r["results"] for r in reports] for name, reports in tracks.items()}})
    with atomic_write(Path(args.out) / "tracking.md", "w") as f:
        f.write(text + "\n")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; wrote {args.out}/compare.md and tracking.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
