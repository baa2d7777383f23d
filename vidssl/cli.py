"""``vidssl`` command line: a thin layer that fills config dataclasses and calls vidssl.api."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import shlex
import sys
import warnings
from typing import Any

from vidssl.config import (
    CHOICES,
    DEMO_DEFAULTS,
    PRESETS,
    AugConfig,
    DataConfig,
    DemoConfig,
    EvalConfig,
    FinetuneConfig,
    ModelConfig,
    PretrainConfig,
    TrackConfig,
    check_fields,
    load_recorded_config,
    to_dict,
)
from vidssl.errors import VidsslError

HELP = {
    "out_dir": "run directory (config, log, checkpoints, results)",
    "dataset": "which videos: synthetic (built-in, generated) | folder | ucf101 | hmdb51",
    "clip_frames": "frames per clip (m)",
    "stride": "temporal stride between sampled frames",
    "crop_size": "side of the square network input in pixels",
    "temporal_shift": "max random shift s of each view's start, in frames",
    "hflip_p": "probability of a horizontal flip (changes left/right motion!)",
    "framewise": "draw spatial augmentation per frame instead of once per clip",
    "backbone": "r3d18 | r3d10 | r3d34 (3D ResNets) | r2d18 (a 2D ResNet-18 on every frame, features averaged over "
                "time: the appearance-only baseline)",
    "width": "channel multiplier of the backbone (1.0 = reference R3D-18)",
    "steps": "optimiser steps (the training budget)",
    "resume": "continue the run in --out from its last checkpoint (refused if any setting but where and how it"
              " runs differs)",
    "extend_steps": "with --resume: allow a larger --steps (the cosine schedule then stretches from the checkpoint)",
    "deterministic": "use deterministic algorithms (bit-exact resume)",
    "threads": "torch CPU threads (0 = default)",
    "channels_last": "channels_last_3d memory layout for the 3D convolutions (same numbers; 1.1-1.3x faster on CPUs)",
    "device": "auto | cpu | cuda: where the network runs (auto: the GPU when one is visible)",
    "clips_per_video": "uniformly spaced test-time clips averaged per video",
    "method": "simclr | moco_v1 | moco_v2 | byol (contrastive and its kin) | rotnet | clip_order | arrow_of_time | "
              "order_verification | odd_one_out (pretext tasks) | masked_video | future_prediction | dpc "
              "(prediction) | colorization | audio_visual (correspondence; audio_visual needs videos with sound)",
    "temperature": "contrastive temperature; default: the method's own, recorded in config.json (simclr 0.1; "
                   "moco_v1 0.07 and moco_v2 0.2, as in their papers)",
    "ema_momentum": "momentum of the EMA encoder (moco, byol; byol's rises to 1 on a cosine); default: 0.99 for both, "
                    "recorded in config.json. Not the papers' 0.999 (MoCo) / 0.996 (BYOL): those runs take 10^5-10^6 "
                    "steps; over the few hundred to ~1,000 steps here a key encoder at 0.999 keeps 70 percent of its "
                    "random init after 350 steps (0.999^350), at 0.99 it follows within ~100 steps. MoCo's own "
                    "ablation found 0.99 within 0.4 points of 0.999",
    "proj_dim": "output size of the projection head (simclr, moco, byol); default: the method's own, recorded in "
                "config.json: moco 128 and byol 256 as in their papers; simclr 256 (its paper: 128, which it found "
                "to matter little; every videoSimCLR figure in the docs was measured at 256)",
    "weight_decay": "weight decay on weights (not norms and biases). With AdamW, 1e-4 is practically none (lr x wd = "
                    "1e-7 to 2e-7 per step at lr 1e-3 to 2e-3); kept because over the few hundred to ~1,000 steps here even "
                    "MAE-style AdamW decay (0.05) would shrink the weights by a few percent in all, and every docs "
                    "figure was measured with it. The papers' SGD/LARS values do not transfer to AdamW",
    "queue_size": "videoMoCo: number of negative keys K",
    "root": "folder of videos, or the UCF101/HMDB51 root with its split files",
    "split": "official split (1-3) for ucf101/hmdb51",
    "num_workers": "DataLoader worker processes",
    "input": "rgb | residual: the backbone sees frames or differences of consecutive frames",
    "time_budget": "train for this long (e.g. 30m, 1800s): the step count is set from the speed of the first"
                   " steps and recorded in config.json (repeat exactly with --steps)",
    "bg_mix_p": "probability of blending a frame of another video into a view (scene stops identifying a clip)",
    "bg_mix_max": "largest blending weight of that frame",
    "decoder": "pyav | decord: the library that decodes real video. decord needs pip install 'vidssl[decoders]'; "
               "its full-size frames equal PyAV's, resized ones differ by ~2 levels in 255 (own frame-cache entries); "
               "PyAV measured faster (docs/benchmarks.md)",
    "classes": "comma-separated class names to keep (video datasets), labels renumbered in this order; e.g. "
               "pretrain on some actions and evaluate on others (default: all)",
    "group_pattern": "--dataset folder without train/ and test/: regex on file names whose first group names the "
    "recording group, kept on one side of the split (default: UCF-style _gNN_cNN when every name has one)",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the usage block
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


@functools.cache
def _registry_choices() -> dict[str, tuple[str, ...]]:
    from vidssl.backbones import BACKBONES
    from vidssl.methods import METHODS

    return {"method": tuple(sorted(METHODS)), "backbone": tuple(sorted(BACKBONES))}


def _at_least(low: int) -> Any:
    """An argparse type: an integer >= ``low`` (a bad value is the usual one-line usage error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def _float_from(low: float, inclusive: bool) -> Any:
    """An argparse type: a finite number > ``low`` (>= with ``inclusive``)."""
    want = f"{'>=' if inclusive else '>'} {low:g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {want}, got {text!r}") from None
        if not ((value >= low if inclusive else value > low) and value < float("inf")):
            raise argparse.ArgumentTypeError(f"expected a finite number {want}, got {text}")
        return value

    parse.__name__ = f"number {want}"
    return parse


_positive_float, _non_negative_float = _float_from(0, False), _float_from(0, True)


def _add_fields(p: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (), suppress: bool = False) -> list[str]:
    """One ``--flag`` per dataclass field with a plain default; returns the field names added."""
    names = []
    for f in dataclasses.fields(cls):
        if f.name in skip or f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        if dataclasses.is_dataclass(default):
            continue
        flag = "--" + f.name.replace("_", "-")
        kw: dict[str, Any] = {"dest": f.name, "help": HELP.get(f.name, "")}
        choices = CHOICES.get(f"{cls.__name__}.{f.name}") or _registry_choices().get(f.name)
        if choices:
            kw["choices"] = choices
        if isinstance(default, bool):
            kw.update(action=argparse.BooleanOptionalAction)
        elif isinstance(default, tuple):
            kw.update(nargs=len(default) if f.name in ("crop_scale", "crop_ratio", "blur_sigma") else "+",
                      type=type(default[0]), metavar="X")
        elif default is None:  # optional: the annotation says which type ("float | None")
            kw.update(type={"float": float, "int": int}.get(str(f.type).split("|")[0].strip(), str))
        else:
            kw.update(type=type(default))
        kw["default"] = argparse.SUPPRESS if suppress else default
        if not suppress and not isinstance(default, bool) and "default:" not in kw["help"]:
            kw["help"] += f" (default: {default})"
        p.add_argument(flag, **kw)
        names.append(f.name)
    return names


def _pick(cls: type, ns: argparse.Namespace, **extra: Any) -> Any:
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in vars(ns).items() if k in fields}, **extra)


def _pretrain_config(ns: argparse.Namespace) -> PretrainConfig:
    return _pick(PretrainConfig, ns, data=_pick(DataConfig, ns), aug=_pick(AugConfig, ns), model=_pick(ModelConfig, ns))


def _where_flags(p: argparse.ArgumentParser) -> None:
    """--device and --threads, for commands without a config dataclass (the same as every other command's)."""
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help=HELP["device"] + " (default: auto)")
    p.add_argument("--threads", type=_at_least(0), default=0, help=HELP["threads"] + " (default: 0)")


def _recorded_defaults(path: str) -> dict[str, Any]:
    """Flag defaults that repeat the run recorded in ``path`` (all but where it writes and --resume)."""
    cfg = to_dict(load_recorded_config(path))
    flat = {k: v for k, v in cfg.items() if not isinstance(v, dict)}
    for part in ("data", "aug", "model"):
        flat.update(cfg[part])
    for k in ("out_dir", "resume"):
        flat.pop(k)
    return flat


def build_parser(preset: str | None = None, recorded: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="vidssl", description="Self-supervised learning of video representations.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def training_flags(p: argparse.ArgumentParser, out_default: str) -> None:
        _add_fields(p, PretrainConfig, skip=("out_dir",))
        _add_fields(p, DataConfig)
        _add_fields(p, AugConfig)
        _add_fields(p, ModelConfig)
        p.add_argument("--out", dest="out_dir", default=out_default, help=f"{HELP['out_dir']} (default: {out_default})")
        p.add_argument("--preset", choices=sorted(PRESETS), default=preset,
                       help="a named recipe that sets flag defaults (explicit flags still win): "
                       + "; ".join(f"{k}: " + " ".join(f"--{f.replace('_', '-')} {v}" for f, v in d.items())
                                   for k, d in PRESETS.items()))
        p.add_argument("--config", default=None, metavar="CONFIG_JSON",
                       help="repeat the run recorded in a run folder's config.json: its settings become the defaults "
                       "(flags given here still win; --out and --resume are not taken from it)")
        if preset is not None:
            p.set_defaults(**PRESETS[preset])
        if recorded is not None:
            p.set_defaults(**recorded)

    demo = sub.add_parser("demo", help="main job: built-in data, pretrain videoSimCLR, evaluate vs random init")
    training_flags(demo, "runs/demo")
    demo.set_defaults(**DEMO_DEFAULTS)
    for action in demo._actions:  # the help shows the demo's own defaults
        if action.dest in DEMO_DEFAULTS and action.help:
            action.help = action.help.rsplit(" (default:", 1)[0] + f" (default: {DEMO_DEFAULTS[action.dest]})"
    demo.add_argument("--clips-per-video", type=int, default=1, help=HELP["clips_per_video"])
    demo.add_argument("--report", action=argparse.BooleanOptionalAction, default=True,
                      help="write report.html with pictures at the end")

    pre = sub.add_parser("pretrain", help="self-supervised pretraining")
    training_flags(pre, "runs/pretrain")

    cmp = sub.add_parser("compare", help="methods x seeds at one budget, each beside random init: mean ± std table")
    training_flags(cmp, "runs/compare")
    cmp.add_argument("--methods", default="simclr", help="comma-separated methods (default: simclr)")
    cmp.add_argument("--variants", default=None, metavar="FILE",
                     help="a JSON (or TOML) file of named flag sets, one row each, instead of --methods: e.g. "
                     '{"recipe": {}, "framewise": {"framewise": true}, "moco": {"method": "moco_v1"}}; also '
                     '"supervised": true, "random_init_only": true, "eval_data": {...} (see vidssl.variants)')
    cmp.add_argument("--reference", default=None, metavar="ROW",
                     help="the row every other is paired against, seed by seed (default: the first)")
    cmp.add_argument("--seeds", type=_at_least(0), nargs="+", default=[0, 1, 2], help="seeds, one run each (default: 0 1 2)")
    cmp.add_argument("--clips-per-video", type=_at_least(1), default=4, help=HELP["clips_per_video"] + " (default: 4)")
    cmp.add_argument("--holdout", default="test", choices=("test", "val"),
                     help="score on the test split, or on validation folds of train (to choose settings)")
    cmp.add_argument("--bn-recalibrate", action=argparse.BooleanOptionalAction, default=True,
                     help="re-estimate BatchNorm statistics on unaugmented train clips before evaluating")
    cmp.add_argument("--finetune-steps", type=_at_least(0), default=0, help="fine-tune every run this many steps (0: none)")
    cmp.add_argument("--finetune-lr", type=_positive_float, default=1e-3, help="fine-tuning head lr (default: 1e-3)")
    cmp.add_argument("--finetune-batch-size", type=_at_least(1), default=32, help="fine-tuning batch size (default: 32)")
    cmp.add_argument("--finetune-backbone-lr-ratio", type=_non_negative_float, default=0.1,
                     help="SSL backbone lr = fine-tuning lr x this (default: 0.1)")
    cmp.add_argument("--finetune-scratch-lr", type=_positive_float, default=None,
                     help="supervised from scratch: head lr (default: --finetune-lr)")
    cmp.add_argument("--finetune-scratch-ratio", type=_non_negative_float, default=1.0,
                     help="supervised from scratch: backbone lr = its head lr x this (default: 1.0)")

    ev = sub.add_parser("eval", help="linear probe, kNN and retrieval of a checkpoint beside random init")
    ev.add_argument("checkpoint", help="a checkpoint written by vidssl pretrain (e.g. runs/x/checkpoints/last.pt)")
    _add_fields(ev, EvalConfig, skip=("out_dir", "data"))
    ev.add_argument("--out", dest="out_dir", default="runs/eval", help="where results.json goes (default: runs/eval)")
    _add_fields(ev, DataConfig, suppress=True)  # given flags override the checkpoint's data config
    ft = sub.add_parser("finetune", help="fine-tune a run's SSL backbone and its random init (supervised from scratch)")
    ft.add_argument("run_dir", help="a run folder with results.json and checkpoints/last.pt (e.g. runs/demo)")
    _add_fields(ft, FinetuneConfig)
    ft.add_argument("--label-set", default=None, help="which labels to fine-tune on (default: the primary)")

    trk = sub.add_parser("track", help="label propagation: carry the first frame's mask through each video by "
                         "feature affinity; J beside random init (built-in data), pictures for any data")
    trk.add_argument("checkpoint", help="a checkpoint written by vidssl pretrain (e.g. runs/x/checkpoints/last.pt)")
    _add_fields(trk, TrackConfig, skip=("out_dir", "data"))
    trk.add_argument("--out", dest="out_dir", default=None, help="where track.json and the pictures go (default: "
                     "RUN/track for a checkpoint in RUN/checkpoints/, where vidssl report shows them; else runs/track)")
    _add_fields(trk, DataConfig, suppress=True)  # given flags override the checkpoint's data config

    rep = sub.add_parser("report", help="(re)build RUN_DIR/report.html: metrics, pictures, baselines")
    rep.add_argument("run_dir")
    rep.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)

    emb = sub.add_parser("embed", help="write a checkpoint's embeddings of a split to an .npz file")
    emb.add_argument("checkpoint")
    emb.add_argument("--out", required=True, help="the .npz file to write")
    emb.add_argument("--split", default="train", choices=("train", "test", "all"))
    emb.add_argument("--clips-per-video", type=_at_least(1), default=1)
    emb.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    _where_flags(emb)

    ret = sub.add_parser("retrieve", help="the nearest videos of a query video in an embeddings file")
    ret.add_argument("video", help="a video file, or a source name stored in the embeddings file")
    ret.add_argument("--embeddings", required=True, help="an .npz written by vidssl embed")
    ret.add_argument("-k", type=_at_least(1), default=5)
    ret.add_argument("--label-set", default=None)
    ret.add_argument("--checkpoint", default=None, help="override the checkpoint recorded in the embeddings file")
    _where_flags(ret)

    exp = sub.add_parser("export", help="write a checkpoint's backbone (safetensors or TorchScript) plus a JSON "
                         "description, for use outside vidssl")
    exp.add_argument("checkpoint", help="a checkpoint written by vidssl pretrain")
    exp.add_argument("--out", required=True, help="the file to write, e.g. encoder.safetensors (encoder.json beside it)")
    exp.add_argument("--format", default=None, choices=("safetensors", "torchscript", "onnx"),
                     help="safetensors: weights only, loaded with vidssl.load_encoder; torchscript: weights and code, "
                     "loaded with torch.jit.load; onnx: an ONNX graph for onnxruntime (pip install 'vidssl[onnx]') "
                     "(default: onnx for an --out ending in .onnx, else safetensors)")
    exp.add_argument("--bn-recalibrate", action=argparse.BooleanOptionalAction, default=False,
                     help="re-estimate BatchNorm statistics on the checkpoint's train clips first, as vidssl eval does")
    exp.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)

    idx = sub.add_parser("index", help="scan a folder of videos: manifest plus a report of every bad file")
    idx.add_argument("path", help="folder of videos (searched recursively)")
    idx.add_argument("--out", default=None, help="manifest path (default: under the cache dir, reused by training)")
    idx.add_argument("--min-frames", type=_at_least(1), default=8, help="videos with fewer frames are reported too_short (default: 8)")
    idx.add_argument("--cache-dir", default=None, help="cache directory (default: ~/.cache/vidssl)")
    idx.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    return parser


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ns = build_parser().parse_args(argv)
    preset, config = getattr(ns, "preset", None), getattr(ns, "config", None)
    if preset or config:  # parse again with the preset's, then the recorded run's values as the defaults
        ns = build_parser(preset, _recorded_defaults(config) if config else None).parse_args(argv)
    return ns


def run(argv: list[str] | None = None) -> int:
    ns = parse(argv)
    from vidssl import api

    if ns.command == "pretrain":
        cfg = _pretrain_config(ns)
        cfg.validate()  # every flag checked before anything is written
        res = api.pretrain(cfg)
        if int(os.environ.get("RANK", "0")) == 0 and res.already_finished:  # under torchrun, one report
            print(f"the run in {res.out_dir} had already finished ({res.step} steps, {res.elapsed_s:.0f} s): nothing "
                  f"to train; checkpoint: {res.checkpoint} (train longer with --steps N --extend-steps)")
        elif int(os.environ.get("RANK", "0")) == 0:
            print(f"pretrained {res.step} steps in {res.elapsed_s:.0f} s, final loss {res.final_loss:.4f}; checkpoint: {res.checkpoint}")
    elif ns.command == "demo":
        pcfg = _pretrain_config(ns)
        cfg = DemoConfig(out_dir=ns.out_dir, pretrain=pcfg, report=ns.report,
                         eval=EvalConfig(clips_per_video=ns.clips_per_video, seed=pcfg.seed, progress=pcfg.progress))
        pcfg.validate()
        cfg.eval.validate()
        report = api.demo(cfg)
        print(api.format_table(report))
        pr = report["protocol"]
        print(f"\npretrained {pr['pretrain_steps']} steps in {pr['pretrain_seconds']:.0f} s; total {pr['demo_total_seconds']:.0f} s")
        extra = "report.html, " if ns.report else ""
        print(f"run folder: {ns.out_dir} ({extra}results.json, loss_curve.png, config.json, checkpoints/last.pt)")
    elif ns.command == "compare":
        from vidssl.compare import CompareConfig, compare, format_gains, format_paired, format_table

        pcfg = _pretrain_config(ns)
        ft = FinetuneConfig(steps=max(1, ns.finetune_steps), lr=ns.finetune_lr, batch_size=ns.finetune_batch_size,
                            backbone_lr_ratio=ns.finetune_backbone_lr_ratio, scratch_lr=ns.finetune_scratch_lr,
                            scratch_backbone_lr_ratio=ns.finetune_scratch_ratio,
                            clips_per_video=ns.clips_per_video, progress=pcfg.progress, device=pcfg.device,
                            threads=pcfg.threads)
        ft.validate()  # the fine-tuning flags are checked even when --finetune-steps is 0
        if ns.finetune_steps == 0:
            ft = None
        from vidssl.variants import load_variants

        variants = tuple(load_variants(ns.variants)) if ns.variants else None
        cfg = CompareConfig(out_dir=ns.out_dir, methods=tuple(m.strip() for m in ns.methods.split(",") if m.strip()),
                            seeds=tuple(ns.seeds), pretrain=pcfg, finetune=ft, variants=variants, reference=ns.reference,
                            eval=EvalConfig(clips_per_video=ns.clips_per_video, holdout=ns.holdout,
                                            bn_recalibrate=ns.bn_recalibrate, progress=pcfg.progress,
                                            device=pcfg.device, threads=pcfg.threads))
        cfg.validate()
        report = compare(cfg)
        print(format_table(report["summary"]))
        print("\n" + format_gains(report["summary"]))
        if report.get("paired") or report.get("unpaired"):
            print("\n" + format_paired(report["paired"], report["protocol"]["reference"], report.get("unpaired", ())))
        print(f"\nresults: {os.path.join(ns.out_dir, 'compare.json')}, compare.md and compare.html")
    elif ns.command == "finetune":
        ft = _pick(FinetuneConfig, ns)
        ft.validate()
        entry = api.finetune_run(ns.run_dir, ft, label_set=ns.label_set)
        for name, r in entry["results"].items():
            print(f"{name:12s} fine-tuned: per-clip {100 * r['per_clip_acc']:.1f}  per-video {100 * r['per_video_acc']:.1f}")
        print(f"results: {os.path.join(ns.run_dir, 'results.json')}")
    elif ns.command == "report":
        print(f"report: {api.report(ns.run_dir, progress=ns.progress)}")
    elif ns.command == "embed":
        path = api.embed(ns.checkpoint, ns.out, split=ns.split, clips_per_video=ns.clips_per_video, progress=ns.progress,
                         device=ns.device, threads=ns.threads)
        print(f"embeddings: {path}")
    elif ns.command == "retrieve":
        for n in api.retrieve(ns.video, ns.embeddings, ns.k, label_set=ns.label_set, checkpoint_path=ns.checkpoint,
                              device=ns.device, threads=ns.threads):
            print(f"{n.cosine:.3f}  {n.label}  {n.source}")
    elif ns.command == "export":
        from vidssl.export import export_encoder, sidecar_path

        fmt = ns.format or ("onnx" if ns.out.endswith(".onnx") else "safetensors")
        path = export_encoder(ns.checkpoint, ns.out, format=fmt, bn_recalibrate=ns.bn_recalibrate,
                              progress=ns.progress)
        print(f"encoder: {path} (description: {sidecar_path(path)}); load with vidssl.load_encoder")
    elif ns.command == "index":
        from vidssl.data.index import default_index_path, index_dataset

        report = index_dataset(ns.path, ns.out or default_index_path(ns.path, ns.cache_dir),
                               min_frames=ns.min_frames, progress=ns.progress)
        print(report.summary())
    elif ns.command in ("eval", "track"):
        cls = EvalConfig if ns.command == "eval" else TrackConfig
        if ns.command == "track" and ns.out_dir is None:  # beside the run, where its report looks
            ckpt = os.path.abspath(ns.checkpoint)
            in_run = os.path.basename(os.path.dirname(ckpt)) == "checkpoints"
            ns.out_dir = os.path.join(os.path.dirname(os.path.dirname(ckpt)), "track") if in_run else "runs/track"
        given = {f.name: getattr(ns, f.name) for f in dataclasses.fields(DataConfig) if hasattr(ns, f.name)}
        _pick(cls, ns).validate()  # the flags, before the checkpoint is read
        check_fields(DataConfig(**given))
        data = None
        if given:
            _, pcfg, _ = api.load_pretrain_checkpoint(ns.checkpoint)
            data = dataclasses.replace(pcfg.data, **given)
        cfg = _pick(cls, ns, data=data)
        if ns.command == "eval":
            report = api.evaluate(ns.checkpoint, cfg)
            print(api.format_table(report))
            print(f"\nresults: {os.path.join(ns.out_dir, 'results.json')}")
        else:
            report = api.track(ns.checkpoint, cfg)
            print(api.format_track_table(report))
            print(f"\nresults: {os.path.join(ns.out_dir, 'track.json')}"
                  + (f" and {len(report['pictures'])} pictures beside it" if report["pictures"] else ""))
    return 0


def _one_line_notices() -> None:
    """vidssl's notices (UserWarnings) print as one clean line, not Python's warning with its source line."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if not issubclass(category, UserWarning) or os.environ.get("VIDSSL_DEBUG"):
            return default(message, category, filename, lineno, file, line)
        print(f"vidssl: notice: {' '.join(str(message).split())}", file=file or sys.stderr)

    warnings.showwarning = show


def main(argv: list[str] | None = None) -> None:
    _one_line_notices()
    try:
        code = run(argv)
    except VidsslError as e:
        if os.environ.get("VIDSSL_DEBUG"):
            raise
        again = ""
        if getattr(e, "exit_code", 2) == 143 and "--resume" in str(e):  # stopped on SIGTERM: the exact command
            args = list(sys.argv[1:] if argv is None else argv)
            again = f": {shlex.join(['vidssl', *args, *(['--resume'] if '--resume' not in args else [])])}"
        print(f"vidssl: error: {e}{again}", file=sys.stderr)
        code = getattr(e, "exit_code", 2)
    except OSError as e:  # a write or read outside the paths that check their own (full disk, permissions)
        if os.environ.get("VIDSSL_DEBUG"):
            raise
        where = f" {e.filename}" if e.filename else ""
        print(f"vidssl: error: could not read or write{where} ({e.strerror or e}); check free disk space and "
              "permissions", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("vidssl: interrupted; a pretraining run continues from its last checkpoint with --resume", file=sys.stderr)
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
