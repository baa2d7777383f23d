"""``vidssl compare``: a fair, budgeted, multi-seed comparison of methods on any data vidssl reads.

For every method and seed: pretrain (same data, backbone, budget and augmentation; the
seed sets the initial weights, batches and augmentation draws), evaluate the frozen
backbone beside its own random init (same input, same BN recalibration, same probe; and
without BN recalibration, which can be the stronger random baseline),
and optionally fine-tune both (random init = supervised from scratch at the same
fine-tuning budget). When the methods' input is not RGB, the random init on RGB clips is
evaluated too, so that a change of input cannot win by weakening the baseline. Every run
lives in its own folder under ``out_dir``; a killed comparison continues where it stopped
(pretraining resumes, finished evaluations are kept). The table is mean ± std over seeds.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidssl.config import EvalConfig, FinetuneConfig, PretrainConfig, to_dict
from vidssl.errors import VidsslError
from vidssl.io import atomic_write, ensure_writable_dir, write_json
from vidssl.lock import holds_out_dir
from vidssl.runlog import log_eval_metrics

METRICS = (("linear", ("linear_probe", "accuracy")), ("kNN", ("knn", "accuracy")), ("R@1", ("retrieval", "R@1")),
           ("R@5", ("retrieval", "R@5")))


@dataclass
class CompareConfig:
    out_dir: str = "runs/compare"
    methods: tuple[str, ...] = ("simclr",)
    seeds: tuple[int, ...] = (0, 1, 2)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)  # method, seed and out_dir are set per run
    eval: EvalConfig = field(default_factory=EvalConfig)  # seed and out_dir are set per run
    finetune: FinetuneConfig | None = None  # None: no fine-tuning
    rgb_baseline: bool = True  # also evaluate random init on RGB clips when the input is not RGB

    def validate(self) -> None:
        from vidssl.methods import METHODS

        if not self.methods or not self.seeds:
            raise VidsslError("compare needs at least one method and one seed")
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown:
            raise VidsslError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(sorted(METHODS))}")
        if len(set(self.seeds)) != len(self.seeds):
            raise VidsslError(f"seeds must differ, got {list(self.seeds)}")
        if self.finetune is not None and self.eval.holdout == "val":
            raise VidsslError("fine-tuning scores on the test split; with --holdout val leave fine-tuning off")
        self.pretrain.validate()
        self.eval.validate()


def run_dir(cfg: CompareConfig, method: str, seed: int) -> Path:
    return Path(cfg.out_dir) / f"{method}-seed{seed}"


_WHERE_IT_RUNS = ("device", "threads")  # evaluation settings that do not change what a run's results measure


def _done(path: Path, want: dict[str, Any]) -> dict[str, Any] | None:
    """The run's results.json if it was evaluated with exactly ``want`` (the eval config), else None."""
    try:
        res = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    def what(cfg: dict[str, Any] | None) -> dict[str, Any] | None:  # a moved or renamed folder is the same run
        return None if cfg is None else {k: v for k, v in cfg.items() if k != "out_dir"}

    return res if what(res.get("compare_eval_config")) == what(want) else None


@holds_out_dir("compare", lambda cfg: cfg.out_dir)
def compare(cfg: CompareConfig) -> dict[str, Any]:
    """Run (or continue) every method x seed; returns and writes ``compare.json`` and ``compare.md``."""
    from vidssl import api
    from vidssl.runtime import set_threads

    cfg.validate()
    set_threads(cfg.pretrain.threads)  # also for runs that are found done and only fine-tuned or summarised
    out = ensure_writable_dir(cfg.out_dir)
    runs: list[dict[str, Any]] = []
    for method in cfg.methods:
        for seed in cfg.seeds:
            rd = run_dir(cfg, method, seed)
            pcfg = dataclasses.replace(cfg.pretrain, method=method, seed=seed, out_dir=str(rd), resume=True)
            ecfg = dataclasses.replace(cfg.eval, out_dir=str(rd), seed=seed)
            want = json.loads(json.dumps({**{k: v for k, v in to_dict(ecfg).items() if k not in _WHERE_IT_RUNS},
                                          "data": None if ecfg.data is None else to_dict(ecfg.data)}))
            res = _done(rd / "results.json", want)
            if res is None:
                trained = api.pretrain(pcfg)
                res = api.evaluate(trained.checkpoint, ecfg, write=False)
                res["compare_eval_config"] = want
                res["results"].update(_extra_baselines(trained.checkpoint, ecfg,
                                                       cfg.pretrain.model.input != "rgb" and cfg.rgb_baseline))
                write_json(rd / "results.json", res)
                log_eval_metrics(rd, res)
            if cfg.finetune is not None and not _same_finetune(res.get("finetune", {}).get("config", {}), cfg.finetune):
                api.finetune_run(rd, cfg.finetune)
                res = json.loads((rd / "results.json").read_text())
            runs.append({"method": method, "seed": seed, "run_dir": str(rd), "results": res})
    summary = summarise(runs)
    report = {
        "protocol": {
            "what": "each method pretrained per seed, frozen backbone evaluated beside its own random init",
            "methods": list(cfg.methods), "seeds": list(cfg.seeds),
            "per_run": [{"method": r["method"], "seed": r["seed"], "run_dir": r["run_dir"],
                         "protocol": r["results"]["protocol"]} for r in runs],
        },
        "config": {"pretrain": to_dict(cfg.pretrain), "eval": to_dict(cfg.eval),
                   "finetune": None if cfg.finetune is None else to_dict(cfg.finetune)},
        "summary": summary,
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    report["gains"] = gains(summary)
    write_json(out / "compare.json", report)
    with atomic_write(out / "compare.md", "w") as f:
        f.write(format_table(summary) + "\n\n" + format_gains(summary) + "\n")
    from vidssl.report import render_compare_html

    with atomic_write(out / "compare.html", "w") as f:
        f.write(render_compare_html(report, runs, [name for name, _ in METRICS] + ["fine-tuned"]))
    return report


def _same_finetune(recorded: dict[str, Any], ft: FinetuneConfig) -> bool:
    """Whether a recorded fine-tuning entry was made with ``ft`` (any setting but progress, saving and where it ran)."""
    want = {k: v for k, v in json.loads(json.dumps(to_dict(ft))).items() if k not in ("progress", "checkpoint_every", *_WHERE_IT_RUNS)}
    return all(recorded.get(k) == v for k, v in want.items())


def _extra_baselines(checkpoint_path: Path, ecfg: EvalConfig, rgb: bool) -> dict[str, Any]:
    """Random init (same architecture and seed) in the other forms a fair comparison must beat.

    Re-estimating BatchNorm statistics helps a trained backbone but can weaken random init
    (measured on ucf101-9 validation folds: RGB random init 25.5 % linear with, 31.6 % without),
    so random init is also evaluated with pretraining's initial statistics; with a non-RGB
    input, random init on RGB clips too. The table's reader compares with the strongest.
    """
    from vidssl.api import evaluate_backbones
    from vidssl.checkpoint import load_pretrain_checkpoint
    from vidssl.data.loading import open_dataset
    from vidssl.engine import build_model
    from vidssl.eval.holdout import validation_folds
    from vidssl.eval.labelled import labelled_only

    _, pcfg, _ = load_pretrain_checkpoint(checkpoint_path)
    data = ecfg.data or pcfg.data
    train, test = labelled_only(*open_dataset(data, progress=False))
    folds = validation_folds(train, ecfg.seed)[0] if ecfg.holdout == "val" else None
    nets = {"random_init": pcfg}
    if rgb:
        nets["random_init_rgb"] = dataclasses.replace(pcfg, model=dataclasses.replace(pcfg.model, input="rgb"))
    out = {}
    for recal in (True, False):
        e = dataclasses.replace(ecfg, bn_recalibrate=recal)
        for name, c in nets.items():
            if name == "random_init" and recal == ecfg.bn_recalibrate:
                continue  # evaluate() already scored it this way
            key = name + ("" if recal == ecfg.bn_recalibrate else ("_bn_recal" if recal else "_no_bn_recal"))
            out[key] = evaluate_backbones({key: build_model(c).backbone}, train, test, data, e, folds)[key]
    return out


def _metric(entry: dict[str, Any], path: tuple[str, str], label: str) -> float | None:
    m = entry.get("labels", {}).get(label, {})
    if "skipped" in m or path[0] not in m:
        return None
    return float(m[path[0]][path[1]])


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (method, backbone): mean and std over seeds of every metric, in percent."""
    rows: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in runs:
        res = r["results"]
        label = next(iter(res["results"]["ssl"]["labels"]))  # the primary label set
        for backbone, entry in res["results"].items():
            key = (r["method"], backbone)
            vals = rows.setdefault(key, {})
            for name, path in METRICS:
                v = _metric(entry, path, label)
                if v is not None:
                    vals.setdefault(name, []).append(100 * v)
        for backbone, ft in res.get("finetune", {}).get("results", {}).items():
            rows.setdefault((r["method"], backbone), {}).setdefault("fine-tuned", []).append(100 * ft["per_video_acc"])
    out = []
    for (method, backbone), vals in rows.items():
        out.append({"method": method, "backbone": backbone, "seeds": max((len(v) for v in vals.values()), default=0),
                    **{k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0,
                           "values": [round(x, 2) for x in v]} for k, v in vals.items()}})
    return out


def gains(summary: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per method and metric: the SSL mean minus the *strongest* random-init row's mean (which row it was).

    Fine-tuned compares with random init fine-tuned (= supervised from scratch)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for method in dict.fromkeys(r["method"] for r in summary):
        rows = {r["backbone"]: r for r in summary if r["method"] == method}
        if "ssl" not in rows:
            continue
        for name in [n for n, _ in METRICS] + ["fine-tuned"]:
            base = [(r[name]["mean"], b) for b, r in rows.items() if b.startswith("random_init") and name in r]
            if name in rows["ssl"] and base:
                best, which = max(base)
                out.setdefault(method, {})[name] = {"gain": rows["ssl"][name]["mean"] - best, "against": which}
    return out


def format_gains(summary: list[dict[str, Any]]) -> str:
    """One line per method: SSL minus the strongest random init, metric by metric."""
    lines = []
    for method, g in gains(summary).items():
        parts = ", ".join(f"{name} {v['gain']:+.1f} (vs {v['against']})" for name, v in g.items())
        lines.append(f"- {method}, SSL minus the strongest random init: {parts}")
    return "\n".join(lines)


def format_table(summary: list[dict[str, Any]]) -> str:
    """Markdown: one row per (method, backbone), mean ± std over seeds."""
    cols = [name for name, _ in METRICS] + ["fine-tuned"]
    lines = ["| method | backbone | seeds | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    for row in summary:
        cells = [f"{row[c]['mean']:.1f} ± {row[c]['std']:.1f}" if c in row else "-" for c in cols]
        lines.append(f"| {row['method']} | {row['backbone']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
