"""How long `vidssl demo` takes: the demo's earlier settings against today's, side by side in one run.

Default mode (`time`): runs the whole demo job (generate or open the built-in data, pretrain,
evaluate SSL and random init, write report.html) once with the settings the demo had before
(350 steps of batch 64, contiguous memory layout) and once with today's defaults
(``vidssl.config.DEMO_DEFAULTS``, channels_last_3d), one after the other in this process
with the same threads and data cache, and prints both wall times, their ratio and the
motion linear probe of both (SSL and random init) on the demo's test clips. The ratio is
the figure that holds across machines.

`--choose` mode: the candidates for the demo's budget, each pretrained and scored on
**validation data**: the built-in data drawn with another generator seed (1; the demo uses
0), so the choice never sees the demo's test clips. Prints motion linear / kNN of SSL and
random init and the pretraining seconds; the rule is the fastest candidate whose SSL
linear probe beats the *stronger* random init (with or without BN re-estimation) by at
least 40 points, the demo's goal.

    .venv/bin/python bench/bench_demo.py [--threads 0] [--out runs/bench_demo.json]
    .venv/bin/python bench/bench_demo.py --choose [--out runs/bench_demo_choose.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from vidssl import api
from vidssl.api import evaluate_backbones
from vidssl.config import DEMO_DEFAULTS, DataConfig, DemoConfig, EvalConfig, PretrainConfig, to_dict
from vidssl.data.loading import open_dataset
from vidssl.engine import build_model

BEFORE = {"steps": 350, "batch_size": 64, "channels_last": False}  # the demo up to commit 5586073
CANDIDATES = [  # (steps, batch size): the budget of the demo
    (350, 64), (200, 64), (150, 64), (200, 32), (150, 32),
]


def run_demo(settings: dict, data: DataConfig, report: bool) -> dict:
    """One whole demo job in a fresh folder; the wall time covers everything `vidssl demo` does."""
    with tempfile.TemporaryDirectory() as tmp:
        pre = PretrainConfig(**{**DEMO_DEFAULTS, **settings}, data=data, progress=False)
        cfg = DemoConfig(out_dir=tmp, pretrain=pre, eval=EvalConfig(progress=False), report=report)
        t0 = time.perf_counter()
        rep = api.demo(cfg)
        wall = time.perf_counter() - t0
    # random init is stronger *without* BN re-estimation: score it that way too (outside the timed job)
    train, test = open_dataset(data, progress=False)
    no_recal = dataclasses.replace(cfg.eval, bn_recalibrate=False)
    plain = evaluate_backbones({"r": build_model(pre).backbone}, train, test, data, no_recal, None)["r"]
    m = {k: rep["results"][k]["labels"]["motion"] for k in ("ssl", "random_init")}
    m["random_init_no_bn_recal"] = plain["labels"]["motion"]
    return {"settings": settings, "wall_s": round(wall, 1), "pretrain_s": rep["protocol"]["pretrain_seconds"],
            "steps": rep["protocol"]["pretrain_steps"],
            **{f"{k}_linear": 100 * v["linear_probe"]["accuracy"] for k, v in m.items()},
            **{f"{k}_knn": 100 * v["knn"]["accuracy"] for k, v in m.items()},
            "pretrain_config": rep["pretrain_config"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--choose", action="store_true", help="score the budget candidates on validation data")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, as `make demo`)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = []
    if a.choose:
        data = DataConfig(synthetic_seed=1)  # validation: another draw of the generator, never the demo's test clips
        for steps, batch in CANDIDATES:
            r = run_demo({"steps": steps, "batch_size": batch}, data, report=False)
            rows.append(r)
            print(f"{steps} steps x batch {batch}: SSL {r['ssl_linear']:.1f} / {r['ssl_knn']:.1f}, random init "
                  f"{r['random_init_linear']:.1f} / {r['random_init_knn']:.1f}, pretraining {r['pretrain_s']:.0f} s",
                  flush=True)
        ok = [r for r in rows if r["ssl_linear"] - max(r["random_init_linear"], r["random_init_no_bn_recal_linear"]) >= 40]
        chosen = min(ok, key=lambda r: r["pretrain_s"]) if ok else None
        print("\n| steps | batch | SSL linear / kNN | random init linear / kNN (BN re-estimated; initial BN) "
              "| pretraining s |\n|---|---|---|---|---|")
        for r in rows:
            s = r["settings"]
            print(f"| {s['steps']} | {s['batch_size']} | {r['ssl_linear']:.1f} / {r['ssl_knn']:.1f} | "
                  f"{r['random_init_linear']:.1f} / {r['random_init_knn']:.1f}; {r['random_init_no_bn_recal_linear']:.1f}"
                  f" / {r['random_init_no_bn_recal_knn']:.1f} | {r['pretrain_s']:.0f} |")
        print(f"\nchosen (fastest with SSL >= the stronger random init + 40 on validation): {chosen and chosen['settings']}")
        result = {"mode": "choose", "validation_data": to_dict(data), "rows": rows,
                  "chosen": chosen and chosen["settings"], "rule": "fastest with SSL linear >= the stronger random init (with or without BN re-estimation) + 40"}
    else:
        data = DataConfig()
        for name, settings in (("before", BEFORE), ("today", {})):
            r = run_demo(settings, data, report=True)
            r["name"] = name
            rows.append(r)
            print(f"{name}: {r['wall_s']:.0f} s (pretraining {r['pretrain_s']:.0f} s, {r['steps']} steps); motion linear "
                  f"SSL {r['ssl_linear']:.1f} vs random init {r['random_init_linear']:.1f} "
                  f"({r['random_init_no_bn_recal_linear']:.1f} without BN re-estimation)", flush=True)
        ratio = rows[1]["wall_s"] / rows[0]["wall_s"]
        print(f"\ntoday's demo takes {ratio:.2f}x the wall time of the earlier settings "
              f"({rows[1]['wall_s']:.0f} s vs {rows[0]['wall_s']:.0f} s, same process, threads {torch.get_num_threads()})")
        result = {"mode": "time", "rows": rows, "ratio": ratio, "threads": torch.get_num_threads()}
    out = Path(a.out or ("runs/bench_demo_choose.json" if a.choose else "runs/bench_demo.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
