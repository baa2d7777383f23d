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

from vidssl import checkpoint, runtime
from vidssl.checkpoint import load_pretrain_checkpoint  # re-exported: vidssl.api.load_pretrain_checkpoint
from vidssl.config import DemoConfig, EvalConfig, TrackConfig, from_dict, to_dict
from vidssl.data.loading import open_dataset
from vidssl.engine import TrainResult, build_model, pretrain
from vidssl.errors import VidsslError
from vidssl.eval.bn import recalibrate_bn
from vidssl.eval.features import extract_features
from vidssl.eval.holdout import validation_folds
from vidssl.eval.labelled import LabelledView, labelled_only
from vidssl.eval.protocols import knn_classify, linear_probe, retrieval_recall, source_groups
from vidssl.eval.tables import RANDOM_INIT_OTHER_BN, run_backbone_name, strongest_random_init
from vidssl.io import ensure_writable_dir, write_json
from vidssl.lock import holds_out_dir
from vidssl.runlog import log_eval_metrics

__all__ = ["demo", "evaluate", "load_pretrain_checkpoint", "pretrain", "track"]


def evaluate_backbones(backbones: dict[str, nn.Module], train, test, data, cfg: EvalConfig,
                       folds: list[tuple[np.ndarray, np.ndarray]] | None = None) -> dict[str, Any]:
    """Every protocol for every backbone and every label set of the data.

    With ``folds`` (index pairs into ``train``; ``test`` is then unused) every metric is
    the mean over the folds of the protocol scored on each fold's validation part.
    Features are computed on ``cfg.device`` (each backbone is moved there).
    """
    device = runtime.resolve_device(cfg.device)
    results: dict[str, Any] = {}
    all_groups = source_groups([train.source(i) for i in range(len(train))])  # UCF-style recording groups, if any
    for name, bb in backbones.items():
        bb = bb.to(device)
        bn_clips = 0
        if cfg.bn_recalibrate:
            bb, bn_clips = recalibrate_bn(bb, train, data, cfg.batch_size, cfg.progress, f"{name}: BN statistics")
        f_tr, _ = extract_features(bb, train, data, cfg.clips_per_video, cfg.batch_size, cfg.progress, f"{name}: train features")
        if folds is None:
            f_te, _ = extract_features(bb, test, data, cfg.clips_per_video, cfg.batch_size, cfg.progress, f"{name}: test features")
        per_label = {}
        for n, label in enumerate(train.labels):
            try:
                if folds is None:
                    per_label[label] = _protocols(f_tr, train.labels[label], f_te, test.labels[label], all_groups, cfg)
                else:
                    y = train.labels[label]
                    per_label[label] = _mean_metrics([
                        _protocols(f_tr[a], y[a], f_tr[v], y[v], None if all_groups is None else all_groups[a], cfg)
                        for a, v in folds])
            except VidsslError as e:
                if n == 0:  # the primary label set must evaluate; secondary ones may not fit the split
                    raise
                per_label[label] = {"skipped": str(e)}
        results[name] = {"feature_dim": int(f_tr.shape[1]), "bn_recalibration_clips": bn_clips, "labels": per_label}
    return results


def _protocols(f_tr, y_tr, f_te, y_te, groups, cfg: EvalConfig) -> dict[str, Any]:
    probe = linear_probe(f_tr, y_tr, f_te, y_te, cfg.probe_cs, cfg.probe_val_fraction, cfg.seed, groups=groups)
    return {
        "linear_probe": probe.summary(),
        "knn": {"k": cfg.knn_k, "accuracy": knn_classify(f_tr, y_tr, f_te, y_te, cfg.knn_k)},
        "retrieval": retrieval_recall(f_tr, y_tr, f_te, y_te, cfg.recall_ks),
        "chance": float(np.bincount(y_te).max() / len(y_te)),
    }


def _mean_metrics(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of every number over the folds' metric dicts (same keys); ``folds`` says how many."""
    def mean(xs):
        if isinstance(xs[0], dict):
            return {k: mean([x[k] for x in xs]) for k in xs[0]}
        if isinstance(xs[0], (int, float)) and not isinstance(xs[0], bool) and all(x is not None for x in xs):
            return float(np.mean(xs))
        return xs[0]

    return {**mean(runs), "folds": len(runs)}


def _start(checkpoint_path: str | Path, cfg: EvalConfig | TrackConfig, write: bool) -> tuple:
    """What an evaluation of a checkpoint starts with, once its flags are checked: (device, the output folder
    or None, the checkpoint's model, its config and raw dict, the data: the config's or the checkpoint's)."""
    cfg.validate()
    runtime.set_threads(cfg.threads)
    device = runtime.resolve_device(cfg.device)
    out = ensure_writable_dir(cfg.out_dir) if write else None
    model, pcfg, ck = load_pretrain_checkpoint(checkpoint_path)
    return device, out, model, pcfg, ck, cfg.data or pcfg.data


@holds_out_dir("eval", lambda checkpoint_path, cfg=None, *, write=True, random_init=True:
               (cfg or EvalConfig()).out_dir if write else None)
def evaluate(checkpoint_path: str | Path, cfg: EvalConfig | None = None, *, write: bool = True,
             random_init: bool = True) -> dict[str, Any]:
    """Evaluate a pretrained checkpoint beside the random-init backbone of the same architecture.

    Random init is scored twice, with BatchNorm statistics re-estimated on the train videos
    and with its initial ones (``random_init`` follows ``cfg.bn_recalibrate``; the other is
    ``random_init_no_bn_recal`` or ``random_init_bn_recal``): neither is always the stronger,
    and a gain is read against the stronger. ``random_init=False`` scores the trained backbone
    alone (``vidssl compare`` evaluates the random inits once per seed and network and shares
    them between rows).

    Returns the results dict that is also written to ``cfg.out_dir/results.json``, with
    the full protocol (data, split sizes, clip length and stride, clips per video, crop
    size, pretraining budget, seeds, resolved configs).
    """
    cfg = cfg or EvalConfig()
    device, out, model, pcfg, ck, data = _start(checkpoint_path, cfg, write)
    train, test = labelled_only(*open_dataset(data, progress=cfg.progress))
    holdout_rule, folds = "the dataset's test split", None
    if cfg.holdout == "val":  # choosing a setting: score on validation parts of train, never on test
        folds, holdout_rule = validation_folds(train, cfg.seed)
    backbones = {"ssl": model.backbone}
    if random_init:
        backbones["random_init"] = build_model(pcfg).backbone  # the trained model's exact starting weights
    t0 = time.perf_counter()
    results = evaluate_backbones(backbones, train, test, data, cfg, folds)
    if random_init:  # random init with the other BN statistics too: a gain is read against the stronger of the two
        other = RANDOM_INIT_OTHER_BN[cfg.bn_recalibrate]
        results[other] = evaluate_backbones({other: build_model(pcfg).backbone}, train, test, data,
                                            dataclasses.replace(cfg, bn_recalibrate=not cfg.bn_recalibrate), folds)[other]
    report = {
        "protocol": {
            "dataset": data.dataset, "train_split": train.name, "test_split": test.name,
            "split_rule": getattr(train, "split_rule", None),
            "videos": {"train": getattr(train, "accounting", None), "test": getattr(test, "accounting", None)},
            "train_videos": len(train), "test_videos": len(test) if folds is None else 0,
            "clip_frames": data.clip_frames, "stride": data.stride, "clips_per_video": cfg.clips_per_video,
            "crop_size": data.crop_size, "test_view": "centre square resized to crop_size",
            "holdout": cfg.holdout, "holdout_rule": holdout_rule, "input": pcfg.model.input,
            "bn_recalibration": ("BatchNorm statistics re-estimated on one unaugmented centre clip per train video, "
                                 "every backbone" if cfg.bn_recalibrate else "off: pretraining's running statistics"),
            "features": "backbone global-average-pooled, averaged over clips of a video",
            "checkpoint": str(checkpoint_path), "pretrain_steps": ck["step"],
            "checkpoint_fingerprint": checkpoint.fingerprint(ck),
            "pretrain_seconds": round(ck["elapsed_s"], 1), "pretrain_seed": pcfg.seed,
            "eval_seconds": None, "device": str(device),
            "software": {"vidssl": _version(), "torch": torch.__version__, "numpy": np.__version__,
                         "torch_threads": torch.get_num_threads()},
        },
        "pretrain_config": to_dict(pcfg),
        "eval_config": {**to_dict(cfg), "data": to_dict(data)},
        "results": results,
    }
    report["protocol"]["eval_seconds"] = round(time.perf_counter() - t0, 1)
    if out is not None:
        _keep_finetune(out / "results.json", report)
        write_json(out / "results.json", report)
        log_eval_metrics(out, report)
    return report


def _keep_finetune(path: Path, report: dict[str, Any]) -> None:
    """Carry the fine-tuning entries of the same checkpoint over when results.json is rewritten: same path,
    and the step and weights that each entry was measured on (:func:`vidssl.checkpoint.fingerprint`)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    from vidssl.report import finetune_entries

    same_path = old.get("protocol", {}).get("checkpoint") == report["protocol"]["checkpoint"]
    kept = [e for e in finetune_entries(old) if _same_weights(e, report)] if same_path else []
    if kept:
        report["finetunes"], report["finetune"] = kept, kept[-1]


def _same_weights(finetune_entry: dict[str, Any], report: dict[str, Any]) -> bool:
    """Whether a fine-tuning entry was measured on the checkpoint a report evaluates (older entries
    without a fingerprint cannot tell, and are dropped)."""
    recorded = finetune_entry.get("checkpoint_fingerprint")
    return recorded is not None and recorded == report["protocol"].get("checkpoint_fingerprint")


def _version() -> str:
    from vidssl import __version__

    return __version__


def format_table(report: dict[str, Any]) -> str:
    """A plain-text table: one row per (backbone, label set)."""
    rows = [("backbone", "labels", "linear", "kNN", "R@1", "R@5", "R@10", "R@20", "chance")]
    for name, r in report["results"].items():
        for label, m in r["labels"].items():
            if "skipped" in m:
                continue
            rec = m["retrieval"]
            rows.append((run_backbone_name(name, r), label, f"{100 * m['linear_probe']['accuracy']:.1f}", f"{100 * m['knn']['accuracy']:.1f}",
                         *(f"{100 * rec[k]:.1f}" if k in rec else "-" for k in ("R@1", "R@5", "R@10", "R@20")),
                         f"{100 * m['chance']:.1f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    res = report["results"]
    if "ssl" in res:  # the gain on the primary label set, against the stronger random init
        label = next(iter(res["ssl"]["labels"]))
        base = strongest_random_init(res, label)
        if base is not None and "linear_probe" in res["ssl"]["labels"][label]:
            gain = 100 * (res["ssl"]["labels"][label]["linear_probe"]["accuracy"]
                          - res[base]["labels"][label]["linear_probe"]["accuracy"])
            lines.append(f"linear probe gain on {label}: {gain:+.1f} points over the stronger random init, "
                         f"{run_backbone_name(base, res[base])}")
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


@holds_out_dir("demo", lambda cfg=None: (cfg or DemoConfig()).out_dir)
def demo(cfg: DemoConfig | None = None) -> dict[str, Any]:
    """The main job on the built-in data: pretrain videoSimCLR, evaluate it and random init."""
    cfg = cfg or DemoConfig()
    run = ensure_writable_dir(cfg.out_dir)
    # resume=True: running the demo again continues (or, when finished, just re-evaluates) the same run
    pcfg = dataclasses.replace(cfg.pretrain, out_dir=str(run), resume=True)
    ecfg = dataclasses.replace(cfg.eval, out_dir=str(run))
    t0 = time.perf_counter()
    res: TrainResult = pretrain(pcfg)
    report = evaluate(res.checkpoint, ecfg, write=False)  # written once, below, with the total time
    plot_loss_curve(run)
    report["protocol"]["demo_total_seconds"] = round(time.perf_counter() - t0, 1)
    _keep_finetune(run / "results.json", report)
    write_json(run / "results.json", report)
    log_eval_metrics(run, report)
    if cfg.report:
        from vidssl.report import build_report

        build_report(run, progress=ecfg.progress)
    return report


# ---------------------------------------------------------------- tracking (label propagation)


@holds_out_dir("track", lambda checkpoint_path, cfg=None, *, write=True: (cfg or TrackConfig()).out_dir if write else None)
def track(checkpoint_path: str | Path, cfg: TrackConfig | None = None, *, write: bool = True) -> dict[str, Any]:
    """Label propagation with a checkpoint's frozen encoder, beside random init (both BN statistics), the
    frames themselves as features (pooled onto the encoder's grid) and a tracker that never moves (the first
    mask copied): J where the data has masks (the built-in data), and animated pictures of a few videos
    (see :mod:`vidssl.eval.track`).

    Returns the dict also written to ``cfg.out_dir/track.json``, with the protocol (data and split,
    frames and stride, crop size, the propagation settings, the checkpoint's step and fingerprint).
    """
    from vidssl.eval import track as T

    cfg = cfg or TrackConfig()
    device, out, model, pcfg, ck, data = _start(checkpoint_path, cfg, write)
    train, test = open_dataset(data, progress=cfg.progress)
    videos = test if cfg.holdout == "test" else train  # val: train videos, which tracking never trains on
    indices = T.evenly_spaced(len(videos), cfg.videos)
    has_masks = getattr(videos, "masks", None) is not None
    tracked = [len(T.frame_indices(videos.num_frames(int(i)), cfg.frames, data.stride)) for i in indices]
    t0 = time.perf_counter()

    def prepared(backbone: nn.Module, recalibrate: bool) -> tuple[nn.Module, int]:
        backbone = backbone.to(device)
        if recalibrate:  # on train clips, as vidssl eval does
            return recalibrate_bn(backbone, train, data, progress=cfg.progress)
        return backbone.eval(), 0

    other = RANDOM_INIT_OTHER_BN[cfg.bn_recalibrate]
    prepared_ = {"ssl": prepared(model.backbone, cfg.bn_recalibrate),
                 "random_init": prepared(build_model(pcfg).backbone, cfg.bn_recalibrate),  # the run's starting weights
                 other: prepared(build_model(pcfg).backbone, not cfg.bn_recalibrate)}
    backbones = {name: bb for name, (bb, _) in prepared_.items()}
    results: dict[str, Any] = {}
    if has_masks:  # ssl first: the frames are pooled onto its grid for the pixels row
        results = T.score_tracking(backbones, videos, indices, data, cfg, progress=cfg.progress)
        for name, (_, clips) in prepared_.items():
            results[name]["bn_recalibration_clips"] = clips
    pictures = []
    if out is not None and cfg.pictures:
        shown = ["ssl", max(("random_init", other), key=lambda k: results[k]["J"]) if has_masks else "random_init"]
        for i in T.evenly_spaced(len(videos), cfg.pictures):
            for name in shown:
                path = T.track_picture(backbones[name], videos, int(i), data, cfg, out / f"track_{name}_{int(i)}.webp")
                pictures.append({"backbone": name, "bn_recalibration_clips": prepared_[name][1],
                                 "video": videos.source(int(i)), "file": path.name})
    report = {
        "protocol": {
            "dataset": data.dataset, "holdout": cfg.holdout, "videos_from": videos.name, "videos": len(indices),
            "frames": cfg.frames, "frames_tracked": [min(tracked), max(tracked)], "stride": data.stride,
            "crop_size": data.crop_size,
            "view": "centre square resized to crop_size; masks cut and resized (nearest) the same way",
            "features": f"the map after the stem and {cfg.stages} stage(s), one slice per frame (vidssl.eval.track)",
            "propagation": {**T.propagation_settings(cfg), "reference_frames": "the first plus the context before t"},
            "score": ("J: IoU of the propagated and the true mask, frames after the first, mean over frames then "
                      "videos" if has_masks else "none: these videos have no masks; see the pictures"),
            "bn_recalibration": "on one unaugmented centre clip per train video" if cfg.bn_recalibrate else "off",
            "checkpoint": str(checkpoint_path), "pretrain_steps": ck["step"],
            "checkpoint_fingerprint": checkpoint.fingerprint(ck), "pretrain_seed": pcfg.seed,
            "track_seconds": None, "device": str(device),
            "software": {"vidssl": _version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads()},
        },
        "track_config": {**to_dict(cfg), "data": to_dict(data)},
        "pretrain_config": to_dict(pcfg),
        "results": results,
        "pictures": pictures,
    }
    report["protocol"]["track_seconds"] = round(time.perf_counter() - t0, 1)
    if out is not None:
        write_json(out / "track.json", report)
    return report


def format_track_table(report: dict[str, Any]) -> str:
    """The printed J table of :func:`track`."""
    res = report["results"]
    if not res:
        return f"no masks in {report['protocol']['videos_from']}: nothing to score; see the pictures"
    p = report["protocol"]
    lines = [(f"label propagation on {p['videos']} videos of {p['videos_from']} "
              "(J: mean IoU with the true mask, frames after the first)"), f"{'backbone':38s} {'J':>6s}"]
    for name, r in res.items():
        shown = {"first_mask_copy": "first mask copied (no motion)",
                 "pixels": "pixels (no network, same grid)"}.get(name) or run_backbone_name(name, r)
        lines.append(f"{shown:38s} {100 * r['J']:6.1f}")
    return "\n".join(lines)


# ---------------------------------------------------------------- report, embeddings, retrieval, fine-tuning


@holds_out_dir("report", lambda run_dir, **kw: run_dir, create=False)
def report(run_dir: str | Path, *, progress: bool = False) -> Path:
    """Write ``run_dir/report.html``: one self-contained page (see :mod:`vidssl.report`); returns its path."""
    from vidssl.report import build_report

    return build_report(run_dir, progress=progress)


def embed(checkpoint_path: str | Path, out: str | Path, *, split: str = "train", clips_per_video: int = 1,
          data=None, batch_size: int = 64, progress: bool = True, device: str = "auto", threads: int = 0) -> Path:
    """Embed the ``split`` ("train", "test" or "all") videos with a checkpoint's backbone into ``out`` (.npz).

    The gallery of :func:`retrieve`. ``data`` defaults to the data the checkpoint was
    pretrained on. Features are computed on ``device`` ("auto", "cpu" or "cuda") with
    ``threads`` CPU threads (0: torch's default). File format: :mod:`vidssl.eval.embed`.
    """
    from vidssl.eval import embed as emb

    if split not in ("train", "test", "all"):
        raise VidsslError(f"unknown split {split!r}; choose train, test or all")
    runtime.set_threads(threads)
    dev = runtime.resolve_device(device)
    model, pcfg, _ = load_pretrain_checkpoint(checkpoint_path)
    model.to(dev)
    data = data or pcfg.data
    train, test = open_dataset(data, progress=progress)
    out = Path(out)
    ensure_writable_dir(out.parent)
    meta = {"checkpoint": str(Path(checkpoint_path).resolve()), "split": split, "data": to_dict(data),
            "arch": checkpoint.arch_of(pcfg)}
    parts = [emb.compute_embeddings(model.backbone, ds, data, clips_per_video, batch_size=batch_size,
                                    progress=progress, meta=meta)
             for ds in {"train": [train], "test": [test], "all": [train, test]}[split]]
    return emb.save_embeddings(emb.concat(parts), out)


def retrieve(video: str, embeddings: str | Path, k: int = 5, *, label_set: str | None = None,
             checkpoint_path: str | Path | None = None, progress: bool = False, device: str = "auto",
             threads: int = 0):
    """The ``k`` videos of an embeddings file nearest to ``video``: list of (source, label, cosine).

    ``video`` is either a source already in the file (e.g. ``synthetic-.../test#3``; it is
    left out of its own results) or a video file, embedded with the checkpoint and the
    protocol recorded in the file (``checkpoint_path`` overrides the checkpoint), on
    ``device`` with ``threads`` CPU threads.
    """
    from vidssl.config import DataConfig
    from vidssl.data.base import ArrayVideoDataset
    from vidssl.data.decoders import get_decoder
    from vidssl.eval import embed as emb

    coll = emb.load_embeddings(embeddings)
    if video in coll.sources:
        return emb.nearest(coll, coll.features[coll.sources.index(video)], k, label_set=label_set, exclude=video)
    if not Path(video).is_file():
        raise VidsslError(f"{video} is neither a video file nor a source in {embeddings}; pass a video path")
    ck = checkpoint_path or coll.meta.get("checkpoint")
    if not ck:
        raise VidsslError(f"{embeddings} does not name its checkpoint; pass checkpoint_path")
    runtime.set_threads(threads)
    dev = runtime.resolve_device(device)
    model, pcfg, _ = load_pretrain_checkpoint(ck)
    model.to(dev)
    data = from_dict(DataConfig, coll.meta["data"]) if "data" in coll.meta else pcfg.data
    frames = get_decoder(data.decoder).read_all(video, data.cache_short_side)  # T x H x W x 3, as in training
    if min(frames.shape[1:3]) < data.crop_size:
        raise VidsslError(f"{video} is {frames.shape[2]}x{frames.shape[1]}, smaller than the {data.crop_size} px crop")
    query = ArrayVideoDataset(frames[None], {}, {}, name=str(video))
    f, _ = extract_features(model.backbone, query, data, coll.meta.get("clips_per_video", 1), 64, progress, "query")
    return emb.nearest(coll, f[0], k, label_set=label_set, exclude=str(video))


@holds_out_dir("finetune", lambda run_dir, *a, **kw: run_dir, create=False)
def finetune_run(run_dir: str | Path, cfg=None, *, aug=None, label_set: str | None = None) -> dict[str, Any]:
    """Fine-tune the run's self-supervised backbone and its random init (= supervised from scratch).

    Both start a copy of their backbone with the same :class:`vidssl.eval.finetune.FinetuneConfig`
    schedule, batches and augmentation (``aug`` defaults to the pretraining augmentation).
    The numbers go to ``results.json["finetune"]`` (``config``, ``label_set``, ``results``:
    per backbone :meth:`FinetuneResult.summary`), where :func:`report` reads them; returns that entry.
    ``results.json["finetunes"]`` keeps every fine-tuning of the run, one per set of settings (a new
    one replaces an entry with the same settings), so that runs compared at several learning rates
    keep them all.
    With ``cfg.holdout == "val"`` both train on 4/5 of train and are scored on the other fifth
    (recording groups whole); the entry is returned, not written (results.json keeps test figures).
    """
    from vidssl.eval.finetune import FinetuneConfig, finetune
    from vidssl.report import (
        check_same_checkpoint,
        finetune_entries,
        finetune_settings,
        primary_label_set,
        read_results,
        run_checkpoint,
    )

    run_dir = Path(run_dir)
    cfg = cfg or FinetuneConfig()
    cfg.validate()
    runtime.set_threads(cfg.threads)
    results = read_results(run_dir)
    ckpt = run_checkpoint(run_dir, results)
    model, pcfg, ck = load_pretrain_checkpoint(ckpt)
    check_same_checkpoint(run_dir, results, ck, ckpt)  # the fine-tuning sits beside the evaluation of the same weights
    recorded = results.get("eval_config", {}).get("data")  # the data the results were measured on
    data = from_dict(type(pcfg.data), recorded) if recorded else pcfg.data
    aug = aug or pcfg.aug
    label_set = label_set or primary_label_set(results)
    train, test = labelled_only(*open_dataset(data, progress=cfg.progress), label_set)
    if cfg.holdout == "val":  # choose settings without test: train on 4/5 of train, score on the other fifth
        folds, rule = validation_folds(train, cfg.seed)
        train, test = LabelledView(train, folds[0][0]), LabelledView(train, folds[0][1])
    # random init (= supervised from scratch) trains its backbone at its own ratio: no features to protect
    runs = {"ssl": (model.backbone, cfg),
            "random_init": (build_model(pcfg).backbone,
                            dataclasses.replace(cfg, backbone_lr_ratio=cfg.scratch_backbone_lr_ratio,
                                                lr=cfg.scratch_lr or cfg.lr))}
    # each run's state is saved as it trains: a killed fine-tuning continues where it stopped
    states = {name: ensure_writable_dir(run_dir / "checkpoints") / f"finetune-{name}.pt" for name in runs}
    tag = {"checkpoint_fingerprint": checkpoint.fingerprint(ck), "data": to_dict(data), "aug": to_dict(aug)}
    out = {name: finetune(bb, train, test, data, aug, c, label_set, state_path=states[name],
                          tag={**tag, "backbone": name}).summary()
           for name, (bb, c) in runs.items()}
    entry = {"label_set": label_set, "config": {**to_dict(cfg), "aug": to_dict(aug)}, "results": out,
             "checkpoint_fingerprint": checkpoint.fingerprint(ck)}
    if cfg.holdout == "val":  # a validation score chooses settings; results.json keeps test figures only
        entry["holdout_rule"] = f"fold 1 of {rule}: trained on {len(train)} videos, scored on {len(test)}"
    else:
        same = finetune_settings(entry["config"])  # a fine-tuning with the same settings replaces its entry
        older = [e for e in finetune_entries(results) if finetune_settings(e.get("config", {})) != same]
        results["finetunes"], results["finetune"] = older + [entry], entry
        write_json(run_dir / "results.json", results)
    for path in states.values():  # the results are written: a new fine-tuning starts over
        path.unlink(missing_ok=True)
    return entry
