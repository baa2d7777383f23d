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
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vidssl.config import EvalConfig, FinetuneConfig, PretrainConfig, to_dict
from vidssl.errors import ChangedRun, VidsslError
from vidssl.eval.tables import BACKBONE_NAMES, mean_std, read_by_random_init
from vidssl.io import atomic_write, ensure_writable_dir, write_json
from vidssl.lock import holds_out_dir
from vidssl.runlog import log_eval_metrics
from vidssl.variants import Variant, apply_variant, eval_data_of

METRICS = (("linear", ("linear_probe", "accuracy")), ("kNN", ("knn", "accuracy")), ("R@1", ("retrieval", "R@1")),
           ("R@5", ("retrieval", "R@5")))


@dataclass
class CompareConfig:
    out_dir: str = "runs/compare"
    methods: tuple[str, ...] = ("simclr",)  # one row per method (when ``variants`` is None)
    seeds: tuple[int, ...] = (0, 1, 2)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)  # method, seed and out_dir are set per run
    eval: EvalConfig = field(default_factory=EvalConfig)  # seed and out_dir are set per run
    finetune: FinetuneConfig | None = None  # None: no fine-tuning
    rgb_baseline: bool = True  # also evaluate random init on RGB clips when the input is not RGB
    variants: tuple[Variant, ...] | None = None  # named flag sets, one row each (vidssl.variants); None: ``methods``
    reference: str | None = None  # the row every other is paired against, seed by seed (default: the first)

    def rows(self) -> list[Variant]:
        """The table's rows: the variants, or one per method."""
        if self.variants:
            return list(self.variants)
        return [Variant(m, {"method": m}) for m in self.methods]

    def validate(self) -> None:
        from vidssl.backbones import BACKBONES
        from vidssl.methods import METHODS

        if not self.methods or not self.seeds:
            raise VidsslError("compare needs at least one method and one seed")
        if self.variants is None:
            unknown = [m for m in self.methods if m not in METHODS]
            if unknown:
                raise VidsslError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(sorted(METHODS))}")
        names = [v.name for v in self.rows()]
        if len(set(names)) != len(names):
            raise VidsslError(f"row names must differ, got {names}")
        if self.reference is not None and self.reference not in names:
            raise VidsslError(f"--reference {self.reference!r} is not one of the rows ({', '.join(names)})")
        if len(set(self.seeds)) != len(self.seeds):
            raise VidsslError(f"seeds must differ, got {list(self.seeds)}")
        if self.finetune is not None and self.eval.holdout == "val":
            raise VidsslError("fine-tuning scores on the test split; with --holdout val leave fine-tuning off")
        self.eval.validate()
        for v in self.rows():  # every variant is checked before anything trains
            pcfg = apply_variant(self.pretrain, v)
            try:
                if pcfg.method not in METHODS:
                    raise VidsslError(f"unknown method {pcfg.method!r}; choose from {', '.join(sorted(METHODS))}")
                if pcfg.model.backbone not in BACKBONES:
                    raise VidsslError(f"unknown backbone {pcfg.model.backbone!r}; choose from {', '.join(sorted(BACKBONES))}")
                if v.supervised and pcfg.time_budget is not None:
                    raise VidsslError("supervised pre-training counts its budget in steps: give --steps, not "
                                      "--time-budget")
                pcfg.validate()
            except VidsslError as e:
                raise VidsslError(f"variant {v.name!r}: {e}" if self.variants else str(e)) from None


def run_dir(cfg: CompareConfig, row: str, seed: int) -> Path:
    return Path(cfg.out_dir) / f"{row}-seed{seed}"


_WHERE_IT_RUNS = ("device", "threads")  # evaluation settings that do not change what a run's results measure
# pretraining settings that do not change what a run produces (where and how it runs, how often it saves)
_HOW_IT_RUNS = ("out_dir", "progress", "threads", "device", "channels_last", "resume", "checkpoint_every", "log_every",
                "extend_steps", "data.num_workers", "data.cache_dir", "data.frame_cache", "aug.on_device")


def _plain(x: Any) -> Any:
    return json.loads(json.dumps(x))


def _eval_want(ecfg: EvalConfig) -> dict[str, Any]:
    """What a run's evaluation measured: the eval config but where it ran and wrote."""
    return _plain({k: v for k, v in to_dict(ecfg).items() if k not in _WHERE_IT_RUNS})  # data: nested as a dict


def _pretrain_asked(pcfg: PretrainConfig, v: Variant) -> dict[str, Any]:
    """What produces a run's weights: the pretraining config but where and how it runs, and the variant's kind."""
    d = to_dict(pcfg)
    for key in _HOW_IT_RUNS:
        part, _, name = key.rpartition(".")
        (d[part] if part else d).pop(name, None)
    return _plain({**d, "supervised": v.supervised, "random_init_only": v.random_init_only})


def _done(path: Path, want: dict[str, Any], asked: dict[str, Any]) -> dict[str, Any] | None:
    """The run's results.json if it came from ``asked`` (pretraining) and was evaluated with ``want``, else None."""
    try:
        res = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    def what(cfg: dict[str, Any] | None) -> dict[str, Any] | None:  # a moved or renamed folder is the same run
        return None if cfg is None else {k: v for k, v in cfg.items() if k != "out_dir"}

    same_eval = what(res.get("compare_eval_config")) == what(want)
    return res if same_eval and res.get("compare_pretrain") == asked else None


@holds_out_dir("compare", lambda cfg: cfg.out_dir)
def compare(cfg: CompareConfig) -> dict[str, Any]:
    """Run (or continue) every row x seed; returns and writes ``compare.json``, ``compare.md`` and ``compare.html``.

    A row is a method (``cfg.methods``) or a variant (``cfg.variants``: named flag sets on top
    of ``cfg.pretrain``). A run already in ``out_dir`` is kept only when the pretraining it
    asked for and its evaluation settings are the ones asked now; otherwise it is redone
    (pretraining resumes when only the evaluation changed, and is refused with one line
    when its checkpoint was made with other settings).
    """
    from vidssl import api
    from vidssl.report import finetune_entries
    from vidssl.runtime import set_threads

    cfg.validate()
    set_threads(cfg.pretrain.threads)  # also for runs that are found done and only fine-tuned or summarised
    out = ensure_writable_dir(cfg.out_dir)
    runs: list[dict[str, Any]] = []
    # rows whose pretraining is the same (they differ only in what they are evaluated on, say the
    # cross-testing's "pretrain on A, probe on A" and "pretrain on A, probe on B") train it once per seed
    trained: dict[str, tuple[str, Path]] = {}  # pretraining asked (as JSON) -> (row, checkpoint)
    for v in cfg.rows():
        vcfg = apply_variant(cfg.pretrain, v)
        for seed in cfg.seeds:
            rd = run_dir(cfg, v.name, seed)
            pcfg = dataclasses.replace(vcfg, seed=seed, out_dir=str(rd), resume=True)
            ecfg = dataclasses.replace(cfg.eval, out_dir=str(rd), seed=seed, data=eval_data_of(pcfg, v) or cfg.eval.data)
            want, asked = _eval_want(ecfg), _pretrain_asked(pcfg, v)
            res, key = _done(rd / "results.json", want, asked), json.dumps(asked, sort_keys=True)
            if res is None:
                if v.random_init_only:
                    res = _random_init_report(pcfg, ecfg)
                elif key in trained:
                    res = api.evaluate(trained[key][1], ecfg, write=False, random_init=False)
                    res["protocol"]["pretrained_by_row"] = trained[key][0]  # its weights are that row's
                else:
                    ckpt = _pretrain_supervised(pcfg) if v.supervised else _pretrain(api, pcfg)
                    res = api.evaluate(ckpt, ecfg, write=False, random_init=False)
                res["results"].update(_random_inits(out, pcfg, ecfg, pcfg.model.input != "rgb" and cfg.rgb_baseline))
                res["compare_eval_config"], res["compare_pretrain"] = want, asked
                res["variant"] = {"name": v.name, "flags": v.flags, "supervised": v.supervised,
                                  "random_init_only": v.random_init_only, "eval_data": v.eval_data}
                write_json(ensure_writable_dir(rd) / "results.json", res)
                log_eval_metrics(rd, res)
            if not v.random_init_only and key not in trained:
                own = rd / "checkpoints" / "last.pt"  # a moved folder keeps its own; a sharing row names the other's
                ckpt = own if own.is_file() else Path(res["protocol"].get("checkpoint", own))
                if ckpt.is_file():
                    trained[key] = (res["protocol"].get("pretrained_by_row", v.name), ckpt)
            if cfg.finetune is not None and not v.random_init_only:  # a run keeps every fine-tuning made of it
                entry = next((e for e in reversed(finetune_entries(res))
                              if _same_finetune(e.get("config", {}), cfg.finetune)), None)
                if entry is None:
                    entry = api.finetune_run(rd, cfg.finetune)
                    res = json.loads((rd / "results.json").read_text())
                res = {**res, "finetune": entry}  # the one asked now is the one summarised
            elif "finetune" in res:  # not asked for now: a fine-tuning made for another comparison is not shown
                res = {k: v for k, v in res.items() if k not in ("finetune", "finetunes")}
            runs.append({"method": v.name, "seed": seed, "run_dir": str(rd), "results": res})
    summary = summarise(runs)
    reference = cfg.reference or cfg.rows()[0].name
    report = {
        "protocol": {
            "what": "each row pretrained per seed, frozen backbone evaluated beside its own random init",
            "methods": [v.name for v in cfg.rows()], "seeds": list(cfg.seeds),
            "variants": None if cfg.variants is None else {v.name: dataclasses.asdict(v) for v in cfg.variants},
            "reference": reference,
            "per_run": [{"method": r["method"], "seed": r["seed"], "run_dir": r["run_dir"],
                         "protocol": r["results"]["protocol"]} for r in runs],
        },
        "config": {"pretrain": to_dict(cfg.pretrain), "eval": to_dict(cfg.eval),
                   "finetune": None if cfg.finetune is None else to_dict(cfg.finetune)},
        "summary": summary,
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    report["gains"] = gains(summary)
    report["paired"] = paired_differences(runs, reference) if len(cfg.rows()) > 1 else {}
    report["unpaired"] = unpaired_rows(runs, reference)
    write_json(out / "compare.json", report)
    with atomic_write(out / "compare.md", "w") as f:
        f.write(format_header(report, runs) + "\n\n" + format_table(summary) + "\n\n" + format_gains(summary) + "\n")
        if report["paired"] or report["unpaired"]:
            f.write("\n" + format_paired(report["paired"], reference, report["unpaired"]) + "\n")
    from vidssl.report import render_compare_html

    with atomic_write(out / "compare.html", "w") as f:
        f.write(render_compare_html(report, runs, [name for name, _ in METRICS] + ["fine-tuned"]))
    return report


def _same_finetune(recorded: dict[str, Any], ft: FinetuneConfig) -> bool:
    """Whether a recorded fine-tuning entry was made with ``ft`` (any setting but progress, saving and where it ran)."""
    from vidssl.report import finetune_settings

    return all(recorded.get(k) == v for k, v in finetune_settings(to_dict(ft)).items())


def _pretrain(api: Any, pcfg: PretrainConfig) -> Path:
    try:
        return api.pretrain(pcfg).checkpoint
    except ChangedRun as e:
        raise VidsslError(f"{pcfg.out_dir} holds a run pretrained with other settings than asked now ({e}); "
                          "delete that folder to redo it, or compare into another --out") from None


def _pretrain_supervised(pcfg: PretrainConfig) -> Path:
    """Spend the pretraining budget on labels; the backbone is saved in a pretraining checkpoint of ``pcfg``.

    Not resumable within the run (it restarts from step 0 when killed); the checkpoint records
    ``supervised_labels`` so that nobody mistakes it for a self-supervised one.
    """
    from vidssl import checkpoint
    from vidssl.data.loading import open_dataset
    from vidssl.engine import build_model
    from vidssl.eval.supervised import train_supervised

    ckpt_dir = ensure_writable_dir(Path(pcfg.out_dir) / "checkpoints")
    train, _ = open_dataset(pcfg.data, progress=False)
    t0 = time.perf_counter()
    label = next(iter(train.labels))  # the primary label set (the one the table reads)
    backbone = train_supervised(pcfg, train, label)
    elapsed = time.perf_counter() - t0
    model = build_model(pcfg)
    model.backbone.load_state_dict({k: t.cpu() for k, t in backbone.state_dict().items()})
    last = ckpt_dir / "last.pt"
    checkpoint.save(last, step=pcfg.steps, model=model.state_dict(), optimizer={}, arch=checkpoint.arch_of(pcfg),
                    config=to_dict(pcfg), elapsed_s=elapsed, supervised_labels=label)
    return last


def _random_init_report(pcfg: PretrainConfig, ecfg: EvalConfig) -> dict[str, Any]:
    """The results.json of a row that trains nothing (its random inits are added by the caller)."""
    data = ecfg.data or pcfg.data
    return {"protocol": {"dataset": data.dataset, "split": data.split, "clip_frames": data.clip_frames,
                         "stride": data.stride, "clips_per_video": ecfg.clips_per_video, "crop_size": data.crop_size,
                         "holdout": ecfg.holdout, "input": pcfg.model.input, "backbone": pcfg.model.backbone,
                         "width": pcfg.model.width, "pretrain_steps": 0, "pretrain_seconds": 0.0,
                         "pretrain_seed": pcfg.seed, "what": "random init only: nothing trained"},
            "pretrain_config": to_dict(pcfg), "eval_config": {**to_dict(ecfg), "data": to_dict(data)}, "results": {}}


def _random_inits(out: Path, pcfg: PretrainConfig, ecfg: EvalConfig, rgb: bool) -> dict[str, Any]:
    """Random init (same architecture and seed) in every form a fair comparison must beat; computed once.

    Re-estimating BatchNorm statistics helps a trained backbone but can weaken random init
    (measured on ucf101-9 validation folds: RGB random init 25.5 % linear with, 31.6 % without),
    so random init is evaluated both ways; with a non-RGB input, random init on RGB clips too.
    The table's reader compares with the strongest. A random init depends only on the
    network, the seed and the evaluation (not on the method: the backbone's weights are drawn
    first), so rows that share them share one evaluation, kept under ``out/baselines/``.
    """
    import hashlib

    from vidssl.api import evaluate_backbones
    from vidssl.data.loading import open_dataset
    from vidssl.engine import build_model
    from vidssl.eval.holdout import validation_folds
    from vidssl.eval.labelled import labelled_only

    data = ecfg.data or pcfg.data
    key = _plain({"model": to_dict(pcfg.model), "seed": pcfg.seed, "rgb": rgb,
                  "data": {k: v for k, v in to_dict(data).items() if k not in ("num_workers", "cache_dir", "frame_cache")},
                  "eval": {k: v for k, v in to_dict(ecfg).items() if k not in ("out_dir", "data", "progress", *_WHERE_IT_RUNS)}})
    path = out / "baselines" / (hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16] + ".json")
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return cached["results"]
    except (OSError, ValueError):
        pass
    train, test = labelled_only(*open_dataset(data, progress=False))
    folds = validation_folds(train, ecfg.seed)[0] if ecfg.holdout == "val" else None
    nets = {"random_init": pcfg}
    if rgb:
        nets["random_init_rgb"] = dataclasses.replace(pcfg, model=dataclasses.replace(pcfg.model, input="rgb"))
    results = {}
    for recal in (True, False):
        e = dataclasses.replace(ecfg, bn_recalibrate=recal)
        for name, c in nets.items():
            k = name + ("" if recal == ecfg.bn_recalibrate else ("_bn_recal" if recal else "_no_bn_recal"))
            results[k] = evaluate_backbones({k: build_model(c).backbone}, train, test, data, e, folds)[k]
    ensure_writable_dir(path.parent)
    write_json(path, {"key": key, "results": results})
    return results


def _metric(entry: dict[str, Any], path: tuple[str, str], label: str) -> float | None:
    m = entry.get("labels", {}).get(label, {})
    v = m.get(path[0], {}).get(path[1])  # absent: skipped, or a Recall@k not asked for (--recall-ks 1 10)
    return None if v is None else float(v)


def _primary_label(res: dict[str, Any]) -> str:
    first = res["results"].get("ssl") or next(iter(res["results"].values()))
    return next(iter(first["labels"]))  # the primary label set


_SCORED_VIDEOS = ("dataset", "root", "split", "classes", "group_pattern")  # what chooses the videos a run is scored on


def scored_videos(res: dict[str, Any]) -> str | None:
    """Which videos a run was scored on (its evaluation data but how clips are cut from them); None: not recorded."""
    d = res.get("eval_config", {}).get("data")
    if not d:
        return None
    keys = _SCORED_VIDEOS + (tuple(k for k in d if k.startswith("synthetic_")) if d.get("dataset") == "synthetic" else ())
    return json.dumps({k: d.get(k) for k in keys}, sort_keys=True)


def unpaired_rows(runs: list[dict[str, Any]], reference: str) -> list[str]:
    """Rows scored on other videos than ``reference`` (say, cross-testing's other half of the classes).

    A per-seed difference between two test sets measures nothing, so these rows are not paired.
    """
    ref = {scored_videos(r["results"]) for r in runs if r["method"] == reference} - {None}
    rows = dict.fromkeys(r["method"] for r in runs
                         if r["method"] != reference and ref and scored_videos(r["results"]) not in ref | {None})
    return list(rows)


def paired_differences(runs: list[dict[str, Any]], reference: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Per row and metric: the row minus ``reference``, seed by seed (seeds both have), in points.

    A trained row is read by its trained backbone. A row that trains nothing is read, metric by
    metric, by the *strongest* of its random inits (the highest mean over its seeds, the same
    one for every seed), as a user choosing that network would; ``against`` names it. ``mean``
    and ``std`` (ddof 1) are over the per-seed differences, ``se`` = std / sqrt(n), and the
    difference is ``clear`` only when n >= 2 and |mean| > 2 se. Rows scored on other videos than
    the reference (:func:`unpaired_rows`) are left out.
    """
    # row -> backbone -> seed -> metric -> points
    by_row: dict[str, dict[str, dict[int, dict[str, float]]]] = {}
    elsewhere = set(unpaired_rows(runs, reference))
    for r in runs:
        if r["method"] in elsewhere:
            continue
        res = r["results"]
        label = _primary_label(res)
        backbones = ["ssl"] if "ssl" in res["results"] else [b for b in res["results"] if b.startswith("random_init")]
        for b in backbones:
            vals = {name: 100 * v for name, path in METRICS if (v := _metric(res["results"][b], path, label)) is not None}
            ft = res.get("finetune", {}).get("results", {}).get("ssl") if b == "ssl" else None
            if ft is not None:
                vals["fine-tuned"] = 100 * ft["per_video_acc"]
            by_row.setdefault(r["method"], {}).setdefault(b, {})[r["seed"]] = vals
    ref = by_row.get(reference, {}).get("ssl", {})
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row, backbones in by_row.items():
        if row == reference:
            continue
        for name in [n for n, _ in METRICS] + ["fine-tuned"]:
            have = {b: sd for b, sd in backbones.items() if any(name in v for v in sd.values())}
            if not have:
                continue
            which = max(have, key=lambda b: np.mean([v[name] for v in have[b].values() if name in v]))
            seeds = have[which]
            common = sorted(s for s in seeds if s in ref and name in seeds[s] and name in ref[s])
            if not common:
                continue
            d = np.array([seeds[s][name] - ref[s][name] for s in common])
            std = float(np.std(d, ddof=1)) if len(d) > 1 else float("nan")
            se = std / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            out.setdefault(row, {})[name] = {
                "seeds": common, "differences": [round(float(x), 2) for x in d], "mean": float(d.mean()),
                "std": std, "se": se, "clear": bool(len(d) > 1 and abs(d.mean()) > 2 * se), "against": which}
    return out


def format_paired(paired: dict[str, dict[str, dict[str, Any]]], reference: str, unpaired: Sequence[str] = ()) -> str:
    """Markdown: each row minus the reference, mean ± std of the per-seed differences, and whether it is clear."""
    not_paired = f"Not paired (scored on other videos than {reference}): {', '.join(unpaired)}."
    if not paired:  # every other row was scored elsewhere: no empty table
        return not_paired if unpaired else ""
    cols = [n for n, _ in METRICS] + ["fine-tuned"]
    lines = [(f"Paired differences against **{reference}**, seed by seed (points; mean ± std over seeds; "
              "**clear** when |mean| > 2 standard errors):"), "",
             "| row | seeds | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    for row, m in paired.items():
        n = max(len(v["seeds"]) for v in m.values())
        cells = []
        for c in cols:
            if c not in m:
                cells.append("-")
                continue
            v = m[c]
            spread = f" ± {v['std']:.1f}" if len(v["seeds"]) > 1 else " (n=1)"
            cells.append(f"{'**' if v['clear'] else ''}{v['mean']:+.1f}{'**' if v['clear'] else ''}{spread}"
                         + (" clear" if v["clear"] else ""))
        lines.append(f"| {row} | {n} | " + " | ".join(cells) + " |")
    notes = read_by_random_init(paired)
    if notes:
        lines += ["", "A row that trains nothing is read by its strongest random init, metric by metric:"]
        lines += [f"- {n}" for n in notes]
    if unpaired:
        lines += ["", not_paired]
    return "\n".join(lines)


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (method, backbone): mean and std over seeds of every metric, in percent."""
    rows: dict[tuple[str, str], dict[str, list[float]]] = {}
    with_labels = set()  # rows whose trained backbone learnt from labels (a supervised variant)
    for r in runs:
        res = r["results"]
        label = _primary_label(res)
        if res.get("variant", {}).get("supervised"):
            with_labels.add(r["method"])
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
        shown = "supervised" if backbone == "ssl" and method in with_labels else backbone
        out.append({"method": method, "backbone": backbone, "shown_as": shown,
                    "seeds": max((len(v) for v in vals.values()), default=0),
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
    """Markdown: one row per (row, backbone), mean ± std over seeds."""
    cols = [name for name, _ in METRICS] + ["fine-tuned"]
    lines = ["| row | backbone | seeds | " + " | ".join(cols) + " |", "|---|---|---|" + "---|" * len(cols)]
    for row in summary:
        cells = [mean_std(row[c]) if c in row else "-" for c in cols]
        name = BACKBONE_NAMES.get(row.get("shown_as", row["backbone"]), row["backbone"])
        lines.append(f"| {row['method']} | {name} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_header(report: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    """The lines that let ``compare.md`` stand alone: what was compared, on what, at what budget, in what units."""
    first = runs[0]["results"] if runs else {}
    pr, pc = first.get("protocol", {}), first.get("pretrain_config", {})
    d = pc.get("data", {})
    budget = (f"{pc.get('time_budget')} of pretraining per run" if pc.get("time_budget")
              else f"{pc.get('steps')} pretraining steps of {pc.get('batch_size')} clips per run")
    steps = sorted({r["results"].get("protocol", {}).get("pretrain_steps") for r in runs} - {None, 0})
    trained = [r for r in runs if r["results"].get("protocol", {}).get("pretrain_steps")]  # not the random-init rows
    secs = [r["results"]["protocol"].get("pretrain_seconds") or 0 for r in trained] or [0]
    val = pr.get("holdout") == "val"
    where = "validation folds of train (recording groups whole)" if val else "the test split"
    videos = (f"{pr.get('train_videos', '?')} train videos, the test split unused" if val
              else f"{pr.get('train_videos', '?')} train / {pr.get('test_videos', '?')} test videos")
    return "\n".join([
        f"# vidssl compare: {_n(len(report['protocol']['methods']), 'row')} x {_n(len(report['protocol']['seeds']), 'seed')}",
        "",
        f"- Data: {d.get('dataset')}"
        + (f" split {d.get('split')}" if d.get("dataset") in ("ucf101", "hmdb51") else "")
        + f", {videos} (first row's evaluation);"
        f" clips of {d.get('clip_frames')} frames at stride {d.get('stride')}, {d.get('crop_size')} px,"
        f" {pr.get('clips_per_video')} clips per {'scored' if val else 'test'} video; input {pc.get('model', {}).get('input')} (rows may change"
        " these: see Rows).",
        (f"- Budget: {budget} (the runs took {', '.join(map(str, steps)) or '?'} steps,"
        f" {min(secs):.0f}-{max(secs):.0f} s each); seeds {', '.join(map(str, report['protocol']['seeds']))}."),
        (f"- Scored on {where}: linear probe, kNN and Recall@k on frozen features, in % of the scored videos;"
        " fine-tuned is per video. ± is the standard deviation over seeds; one seed shows (n=1)."),
        "- Rows: " + "; ".join(f"**{v}**: {_describe(report, v)}" for v in report["protocol"]["methods"]) + ".",
        ("- Every row is scored beside random inits of its own network (same seed, same probe); "
        "a gain is read against the strongest of them."),
    ])


def _n(k: int, word: str) -> str:
    return f"{k} {word}{'' if k == 1 else 's'}"


def _describe(report: dict[str, Any], row: str) -> str:
    variants = report["protocol"].get("variants")
    if not variants:
        return f"method {row}"
    v = variants[row]
    parts = [f"{k}={json.dumps(x)}" for k, x in v["flags"].items()]
    if v["supervised"]:
        parts.append("supervised with labels at the same budget")
    if v["random_init_only"]:
        parts.append("random init only, nothing trained")
    if v["eval_data"]:
        parts.append("evaluated on " + ", ".join(f"{k}={json.dumps(x)}" for k, x in v["eval_data"].items()))
    shared = {r["protocol"].get("pretrained_by_row") for r in report["protocol"].get("per_run", []) if r["method"] == row}
    if shared - {None}:
        parts.append(f"evaluates the weights of {', '.join(sorted(shared - {None}))} (the same pretraining, run once)")
    return ", ".join(parts) or "the command's settings as given"
