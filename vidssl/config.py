"""One dataclass per command. The CLI fills them; the Python API takes them."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vidssl.errors import VidsslError

INF = float("inf")
# Every numeric field of every config dataclass, in one place: (low, high, low is open). None values
# (a method's own default) are not checked; tuples are checked element by element. A test asserts
# that no numeric field lacks a rule, so a new flag cannot slip through unchecked.
RANGES: dict[str, tuple[float, float, bool]] = {
    # DataConfig
    "DataConfig.split": (1, 3, False), "DataConfig.cache_short_side": (8, INF, False),
    "DataConfig.clip_frames": (1, INF, False), "DataConfig.stride": (1, INF, False),
    "DataConfig.crop_size": (8, INF, False), "DataConfig.num_workers": (0, 64, False),
    "DataConfig.synthetic_train_per_class": (1, INF, False), "DataConfig.synthetic_test_per_class": (1, INF, False),
    "DataConfig.synthetic_frames": (2, INF, False), "DataConfig.synthetic_size": (8, INF, False),
    "DataConfig.synthetic_seed": (0, 2**32 - 1, False),
    # AugConfig
    "AugConfig.temporal_shift": (0, INF, False), "AugConfig.reverse_p": (0, 1, False),
    "AugConfig.shuffle_p": (0, 1, False), "AugConfig.crop_scale": (0, 1, True), "AugConfig.crop_ratio": (0, INF, True),
    "AugConfig.hflip_p": (0, 1, False), "AugConfig.jitter_p": (0, 1, False), "AugConfig.brightness": (0, 1, False),
    "AugConfig.contrast": (0, 1, False), "AugConfig.saturation": (0, 1, False), "AugConfig.hue": (0, 0.5, False),
    "AugConfig.gray_p": (0, 1, False), "AugConfig.blur_p": (0, 1, False), "AugConfig.blur_sigma": (0, INF, True),
    "AugConfig.bg_mix_p": (0, 1, False), "AugConfig.bg_mix_max": (0, 1, False),
    # ModelConfig
    "ModelConfig.width": (0, INF, True), "ModelConfig.head_hidden": (1, INF, False), "ModelConfig.proj_dim": (1, INF, False),
    # PretrainConfig
    "PretrainConfig.temperature": (0, INF, True), "PretrainConfig.queue_size": (1, INF, False),
    "PretrainConfig.ema_momentum": (0, 1, False), "PretrainConfig.lr": (0, INF, True),
    "PretrainConfig.weight_decay": (0, INF, False), "PretrainConfig.momentum": (0, 1, False),
    "PretrainConfig.batch_size": (1, INF, False), "PretrainConfig.steps": (1, INF, False),  # batch 1: validate() says why
    "PretrainConfig.warmup_steps": (0, INF, False), "PretrainConfig.checkpoint_every": (1, INF, False),
    "PretrainConfig.log_every": (1, INF, False), "PretrainConfig.seed": (0, 2**32 - 1, False),
    "PretrainConfig.threads": (0, 1024, False),
    # EvalConfig
    "EvalConfig.clips_per_video": (1, INF, False), "EvalConfig.batch_size": (1, INF, False),
    "EvalConfig.probe_cs": (0, INF, True), "EvalConfig.probe_val_fraction": (0, 1, True),
    "EvalConfig.knn_k": (1, INF, False), "EvalConfig.recall_ks": (1, INF, False),
    "EvalConfig.seed": (0, 2**32 - 1, False), "EvalConfig.threads": (0, 1024, False),
    # FinetuneConfig
    "FinetuneConfig.steps": (1, INF, False), "FinetuneConfig.batch_size": (1, INF, False),
    "FinetuneConfig.lr": (0, INF, True), "FinetuneConfig.backbone_lr_ratio": (0, INF, False),
    "FinetuneConfig.scratch_backbone_lr_ratio": (0, INF, False), "FinetuneConfig.scratch_lr": (0, INF, True),
    "FinetuneConfig.weight_decay": (0, INF, False), "FinetuneConfig.clips_per_video": (1, INF, False),
    "FinetuneConfig.seed": (0, 2**32 - 1, False), "FinetuneConfig.threads": (0, 1024, False),
    "FinetuneConfig.checkpoint_every": (1, INF, False),
    # TrackConfig
    "TrackConfig.videos": (0, INF, False), "TrackConfig.frames": (2, INF, False), "TrackConfig.stages": (1, 4, False),
    "TrackConfig.context": (0, INF, False), "TrackConfig.topk": (1, INF, False),
    "TrackConfig.temperature": (0, INF, True), "TrackConfig.radius": (0, INF, False),
    "TrackConfig.pictures": (0, INF, False), "TrackConfig.threads": (0, 1024, False),
}
# Every text field with a fixed set of values (method and backbone names live in their registries; the
# command line offers those as choices, and building the model refuses an unknown one).
CHOICES: dict[str, tuple[str, ...]] = {
    "DataConfig.dataset": ("synthetic", "folder", "ucf101", "hmdb51"), "DataConfig.decoder": ("pyav", "decord"),
    "DataConfig.synthetic_background": ("drift", "plain", "texture"), "ModelConfig.input": ("rgb", "residual"),
    "PretrainConfig.optimizer": ("adamw", "sgd"), "PretrainConfig.device": ("auto", "cpu", "cuda"),
    "EvalConfig.holdout": ("test", "val"), "EvalConfig.device": ("auto", "cpu", "cuda"),
    "FinetuneConfig.holdout": ("test", "val"), "FinetuneConfig.device": ("auto", "cpu", "cuda"),
    "TrackConfig.holdout": ("test", "val"), "TrackConfig.device": ("auto", "cpu", "cuda"),
}


# method name -> its clip_error(frames, crop, input): why it cannot cut such clips (None: it can). Filled by
# vidssl.methods, which imports this module (never the other way round); importing any part of vidssl
# imports vidssl.methods first (vidssl/__init__.py), so the checks are always here.
CLIP_CHECKS: dict[str, Callable[[int, int, str], str | None]] = {}

# methods whose labels come from the order of the frames: a view reversed or shuffled by the data pipeline
# would get wrong labels
ORDER_METHODS = ("clip_order", "order_verification", "odd_one_out", "future_prediction")


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def describe_range(lo: float, hi: float, open_lo: bool) -> str:
    low = f"> {lo:g}" if open_lo else f">= {lo:g}"
    return low if hi == INF else f"{'in (' if open_lo else 'in ['}{lo:g}, {hi:g}]"


def check_fields(cfg: Any) -> None:
    """Refuse (one line, naming the flag) any numeric field out of its range or not finite, and any text
    field outside its choices, in ``cfg`` and the config dataclasses it holds (:data:`RANGES`, :data:`CHOICES`)."""
    cls = type(cfg).__name__
    for f in dataclasses.fields(cfg):
        value, key = getattr(cfg, f.name), f"{cls}.{f.name}"
        if dataclasses.is_dataclass(value):
            check_fields(value)
            continue
        if key in CHOICES and value not in CHOICES[key]:
            names = CHOICES[key]
            raise VidsslError(f"{flag(f.name)} must be {', '.join(names[:-1])} or {names[-1]}, got {value!r}")
        if key not in RANGES or value is None:
            continue
        lo, hi, open_lo = RANGES[key]
        for v in value if isinstance(value, (tuple, list)) else (value,):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            ok = ok and (v > lo if open_lo else v >= lo) and v <= hi
            if not ok:
                extra = "; UCF101 and HMDB51 have splits 1-3" if key == "DataConfig.split" else ""
                finite = "" if isinstance(v, (int, float)) and math.isfinite(v) else "a finite number "
                raise VidsslError(f"{flag(f.name)} must be {finite}{describe_range(lo, hi, open_lo)}, "
                                  f"got {value!r}{extra}")


@dataclass
class DataConfig:
    """Which videos, and how clips are cut from them."""

    dataset: str = "synthetic"  # synthetic | folder | ucf101 | hmdb51
    root: str | None = None  # folder of videos, or the dataset root with its split files
    split: int = 1  # official split k (1-3) for ucf101 / hmdb51
    frame_cache: bool = True  # decode each video once into an on-disk uint8 cache
    cache_short_side: int = 64  # real video is resized to this short side (cached or decoded on the fly)
    decoder: str = "pyav"  # pyav | decord (optional: pip install 'vidssl[decoders]'); see vidssl.data.decoders
    clip_frames: int = 8  # m: frames per clip
    stride: int = 1  # take every stride-th frame
    crop_size: int = 32  # side of the square network input
    num_workers: int = 0  # DataLoader worker processes
    cache_dir: str | None = None  # where generated or cached data lives (default ~/.cache/vidssl)
    group_pattern: str | None = None  # folder split: regex on file names, group 1 = recording group (default: UCF _gNN_cNN)
    classes: str | None = None  # video datasets: comma-separated class names to keep (labels renumbered in this order)
    # built-in generated data (dataset="synthetic")
    synthetic_train_per_class: int = 150
    synthetic_test_per_class: int = 50
    synthetic_frames: int = 16
    synthetic_size: int = 32
    synthetic_seed: int = 0
    synthetic_background: str = "drift"  # drift | plain | texture (see vidssl.data.synthetic)


@dataclass
class AugConfig:
    """Temporal then spatial augmentation strengths (see vidssl.transforms)."""

    temporal_shift: int = 8  # s: each view's start moves by U[-s, s] frames
    frame_drop: bool = False  # keep m random frames of a 2m window
    reverse_p: float = 0.0  # probability of playing a view backwards
    shuffle_p: float = 0.0  # probability of shuffling a view's frames
    crop_scale: tuple[float, float] = (0.6, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 1.3333)
    hflip_p: float = 0.0  # off by default: a flip turns "moves right" into "moves left"
    jitter_p: float = 1.0
    brightness: float = 0.5
    contrast: float = 0.5
    saturation: float = 0.8
    hue: float = 0.5
    gray_p: float = 0.5
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 1.0)
    framewise: bool = False  # draw spatial parameters per frame instead of per clip
    bg_mix_p: float = 0.0  # probability of blending a frame of another video into every frame of a view
    bg_mix_max: float = 0.5  # blending weight ~ U[0, bg_mix_max]
    on_device: bool = False  # colour jitter, grey and blur batched on the training device (GPU)


@dataclass
class ModelConfig:
    backbone: str = "r3d18"
    width: float = 0.25  # channel multiplier: 1.0 is the reference R3D-18 (512-d features)
    input: str = "rgb"  # rgb | residual (differences of consecutive frames, computed inside the backbone)
    head_hidden: int = 512
    proj_dim: int | None = None  # None: the method's own (simclr 256, moco 128 as in its paper, byol 256 as in its paper)


@dataclass
class PretrainConfig:
    out_dir: str = "runs/pretrain"
    method: str = "simclr"
    data: DataConfig = field(default_factory=DataConfig)
    aug: AugConfig = field(default_factory=AugConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    # None below: the method's own default (vidssl.methods.method_defaults), resolved and recorded in config.json
    temperature: float | None = None  # simclr 0.1; moco_v1 0.07, moco_v2 0.2 (their papers)
    queue_size: int = 1024  # videoMoCo: negative keys kept (K)
    ema_momentum: float | None = None  # moco and byol 0.99, not the papers' 0.999 / 0.996: see docs/methods.md
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 2e-3
    weight_decay: float = 1e-4  # practically none with AdamW (lr x wd = 2e-7 per step): see docs/methods.md
    momentum: float = 0.9  # sgd only
    batch_size: int = 64
    steps: int = 350
    time_budget: str | None = None  # e.g. "30m": sets steps from the speed of the first steps (see engine)
    warmup_steps: int = 30
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0
    deterministic: bool = False
    resume: bool = False
    extend_steps: bool = False  # --resume with a larger --steps: allowed only with this (the cosine stretches)
    threads: int = 0  # torch threads; 0 = torch's default
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA (ignored on the CPU)
    channels_last: bool = True  # channels_last_3d memory layout for 3D convolutions (same results, faster on CPU)
    sync_bn: bool = True  # multi-process runs: BatchNorm statistics over the global batch
    progress: bool = True

    def validate(self) -> None:
        check_fields(self)
        d = self.data
        if d.clip_frames < 1:
            raise VidsslError(f"--clip-frames must be >= 1, got {d.clip_frames}")
        if d.stride < 1:
            raise VidsslError(f"--stride must be >= 1, got {d.stride}")
        if d.crop_size < 8:
            raise VidsslError(f"--crop-size must be >= 8, got {d.crop_size}")
        if self.batch_size < 2:
            raise VidsslError(
                f"--batch-size {self.batch_size} is too small: a contrastive loss needs at least 2 clips"
                " per batch (the other clips are the negatives)"
            )
        if self.steps < 1:
            raise VidsslError(f"--steps must be >= 1, got {self.steps}")
        if self.time_budget is not None:
            parse_duration(self.time_budget)
        if self.model.input not in ("rgb", "residual"):
            raise VidsslError(f"unknown --input {self.model.input!r}; choose rgb or residual")
        if self.model.input == "residual" and self.data.clip_frames < 2:
            raise VidsslError("--input residual needs --clip-frames >= 2 (it feeds differences of consecutive frames)")
        if not 0 <= self.aug.bg_mix_max <= 1:
            raise VidsslError(f"--bg-mix-max must be in [0, 1], got {self.aug.bg_mix_max}")
        if self.temperature is not None and self.temperature <= 0:
            raise VidsslError(f"--temperature must be > 0, got {self.temperature}")
        if self.lr <= 0:
            raise VidsslError(f"--lr must be > 0, got {self.lr}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise VidsslError(f"unknown device {self.device!r}; choose auto, cpu or cuda")
        if self.optimizer not in ("adamw", "sgd"):
            raise VidsslError(f"unknown optimizer {self.optimizer!r}; choose adamw or sgd")
        if self.model.width <= 0:
            raise VidsslError(f"--width must be > 0, got {self.model.width}")
        a = self.aug
        if a.on_device and a.framewise:
            raise VidsslError("--on-device augmentation is clip-consistent only; drop --framewise or --on-device")
        if self.method == "arrow_of_time" and (a.reverse_p > 0 or a.shuffle_p > 0):
            raise VidsslError("arrow_of_time learns playback direction from frame order: it needs --reverse-p 0 "
                              "and --shuffle-p 0 (they would corrupt its labels)")
        if self.method == "audio_visual" and self.data.dataset == "synthetic":
            raise VidsslError("audio_visual learns whether a sound goes with a clip: it needs videos with audio "
                              "(--dataset folder, ucf101 or hmdb51); the built-in data has none")
        if self.method == "audio_visual" and a.on_device:
            raise VidsslError("audio_visual hands each clip's audio beside its views: drop --on-device")
        clip_check = CLIP_CHECKS.get(self.method)  # clips the method cannot cut, refused with the flags
        if clip_check is not None and (msg := clip_check(d.clip_frames, d.crop_size, self.model.input)):
            raise VidsslError(msg)
        if self.method in ORDER_METHODS and (a.reverse_p > 0 or a.shuffle_p > 0):
            raise VidsslError(f"{self.method} learns from the order of frames: it needs --reverse-p 0 and "
                              "--shuffle-p 0 (they would corrupt its labels)")
        if not (0 < a.crop_scale[0] <= a.crop_scale[1] <= 1):
            raise VidsslError(f"crop scale must satisfy 0 < min <= max <= 1, got {a.crop_scale}")


@dataclass
class EvalConfig:
    out_dir: str = "runs/eval"
    data: DataConfig | None = None  # None: the data the checkpoint was pretrained on
    clips_per_video: int = 1  # uniformly spaced test-time clips, features averaged per video
    batch_size: int = 64
    probe_cs: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)  # inverse L2 strengths tried
    probe_val_fraction: float = 0.2  # held-out part of train that picks C
    knn_k: int = 20
    recall_ks: tuple[int, ...] = (1, 5, 10, 20)
    bn_recalibrate: bool = True  # re-estimate BatchNorm statistics on unaugmented train clips (every backbone)
    holdout: str = "test"  # test | val: score on a validation part of train (whole groups) to choose settings
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda: where features are computed
    threads: int = 0  # torch CPU threads; 0 = torch's default
    progress: bool = True

    def validate(self) -> None:
        check_fields(self)
        if self.clips_per_video < 1:
            raise VidsslError(f"--clips-per-video must be >= 1, got {self.clips_per_video}")
        if self.data is not None and self.data.clip_frames < 1:
            raise VidsslError(f"--clip-frames must be >= 1, got {self.data.clip_frames}")
        if self.knn_k < 1:
            raise VidsslError(f"--knn-k must be >= 1, got {self.knn_k}")
        if self.holdout not in ("test", "val"):
            raise VidsslError(f"--holdout must be test or val, got {self.holdout!r}")


@dataclass
class FinetuneConfig:
    """Full fine-tuning (``vidssl finetune``): whole network, backbone lr = head lr x ratio."""

    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3  # the head's peak learning rate (AdamW)
    backbone_lr_ratio: float = 0.1  # backbone lr = lr * ratio (the pretrained backbone)
    scratch_backbone_lr_ratio: float = 1.0  # the same for random init (supervised from scratch): nothing to protect
    scratch_lr: float | None = None  # random init's head lr (None: lr); each init may get its own best setting
    weight_decay: float = 1e-4  # on weights, not on norms and biases
    clips_per_video: int = 4  # K uniformly spaced test clips per video
    holdout: str = "test"  # test | val: train on 4/5 of train, score on the other fifth (groups whole) to choose lr
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch CPU threads; 0 = torch's default
    checkpoint_every: int = 50  # steps between saves of the fine-tuning state (a killed run continues from there)
    progress: bool = True

    def validate(self) -> None:
        check_fields(self)
        if self.holdout not in ("test", "val"):
            raise VidsslError(f"fine-tune holdout must be test or val, got {self.holdout!r}")
        if self.steps < 1:
            raise VidsslError(f"fine-tune steps must be >= 1, got {self.steps}")
        if self.checkpoint_every < 1:
            raise VidsslError(f"fine-tune checkpoint interval must be >= 1, got {self.checkpoint_every}")
        if self.batch_size < 1:
            raise VidsslError(f"fine-tune batch size must be >= 1, got {self.batch_size}")
        if self.lr <= 0 or (self.scratch_lr is not None and self.scratch_lr <= 0):
            raise VidsslError(f"fine-tune lr must be > 0, got {self.lr} (scratch: {self.scratch_lr})")
        if self.backbone_lr_ratio < 0:
            raise VidsslError(f"backbone lr ratio must be >= 0 (0 freezes the backbone), got {self.backbone_lr_ratio}")
        if self.clips_per_video < 1:
            raise VidsslError(f"clips per video must be >= 1, got {self.clips_per_video}")


@dataclass
class TrackConfig:
    """Label propagation (``vidssl track``): the first frame's mask carried through each video by feature
    affinity, scored by J where the data has masks (the built-in data); see :mod:`vidssl.eval.track`."""

    out_dir: str = "runs/track"
    data: DataConfig | None = None  # None: the data the checkpoint was pretrained on
    holdout: str = "test"  # test | val: score on train videos (nothing is trained here) to choose settings
    videos: int = 0  # videos tracked, evenly spaced over the split (0: all)
    frames: int = 16  # frames tracked per video, at the data's --stride (fewer in a shorter video)
    stages: int = 1  # the feature map after the stem and this many stages (1-4)
    context: int = 4  # previous frames attended to, beside the first
    topk: int = 3  # reference positions each position takes its label from
    temperature: float = 0.07  # of the softmax over those positions' cosine similarities
    radius: int = 0  # keep reference positions within this many feature cells on each axis (0: no limit)
    pictures: int = 4  # videos drawn as animated pictures (frames | first frame's colours carried | mask)
    bn_recalibrate: bool = True  # re-estimate BatchNorm statistics on train clips first, as vidssl eval does
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # torch CPU threads; 0 = torch's default
    progress: bool = True

    def validate(self) -> None:
        check_fields(self)  # and its data config, when it has one


# The demo's pretraining budget, where it differs from PretrainConfig's defaults (chosen on
# validation data, the built-in data drawn with generator seed 1: bench/bench_demo.py --choose).
DEMO_DEFAULTS: dict[str, Any] = {"steps": 200, "batch_size": 64}


@dataclass
class DemoConfig:
    """The main job: generate data, pretrain videoSimCLR, evaluate it beside random init."""

    out_dir: str = "runs/demo"
    pretrain: PretrainConfig = field(default_factory=lambda: PretrainConfig(**DEMO_DEFAULTS))
    eval: EvalConfig = field(default_factory=EvalConfig)
    report: bool = True  # write run_dir/report.html (pictures, tables) at the end


# Named recipes (``--preset NAME``): flag defaults, each still overridable by its flag.
# "real-video" was chosen on validation folds of ucf101-9 split-1 train, never on test
# (docs/benchmarks.md, "Real video: features that beat random init"; bench/bench_real.py).
PRESETS: dict[str, dict[str, Any]] = {
    "real-video": {"input": "residual", "clip_frames": 8, "stride": 8, "crop_size": 32, "cache_short_side": 40,
                   "batch_size": 32, "lr": 2e-3, "time_budget": "30m"},
}


def parse_duration(text: str) -> float:
    """Seconds in ``"90s"``, ``"30m"``, ``"1.5h"`` or a plain number of seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    t = str(text).strip().lower()
    try:
        value = float(t[:-1]) * units[t[-1]] if t and t[-1] in units else float(t)
    except ValueError:
        value = float("nan")
    if not 0 < value < 10 * 365 * 86400:  # also refuses inf and nan
        raise VidsslError(f"--time-budget {text!r} is not a positive duration; write e.g. 30m, 1800s or 0.5h")
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def from_dict(cls: type, d: dict[str, Any]) -> Any:
    """Rebuild a (nested) config dataclass from :func:`to_dict` output; unknown keys are errors."""
    kwargs = {}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for k, v in d.items():
        if k not in fields:
            raise VidsslError(f"unknown config key {k!r} for {cls.__name__}")
        t = fields[k].type
        sub = {"DataConfig": DataConfig, "AugConfig": AugConfig, "ModelConfig": ModelConfig}.get(str(t))
        if sub is not None and isinstance(v, dict):
            v = from_dict(sub, v)
        elif isinstance(v, list):
            v = tuple(v)
        kwargs[k] = v
    return cls(**kwargs)


def load_recorded_config(path: str | Path) -> PretrainConfig:
    """The :class:`PretrainConfig` a run recorded in its ``config.json`` (or a bare config dict in a JSON file).

    A run whose time budget was resolved to a step count comes back as that step count
    without the budget, so that it repeats exactly (``steps_resolved`` in ``config.json``).
    """
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as e:
        raise VidsslError(f"cannot read --config {path} ({e.strerror or e}); pass a run's config.json") from e
    except ValueError as e:
        raise VidsslError(f"--config {path} is not JSON; pass a run's config.json") from e
    recorded = doc.get("config", doc) if isinstance(doc, dict) else None
    if not isinstance(recorded, dict):
        raise VidsslError(f"--config {path} holds no pretraining config; pass a run's config.json")
    try:
        cfg = from_dict(PretrainConfig, recorded)
    except (VidsslError, TypeError) as e:
        raise VidsslError(f"--config {path}: {e}; it was written by another version of vidssl or edited") from e
    if doc.get("steps_resolved") and cfg.time_budget is not None:
        cfg = dataclasses.replace(cfg, time_budget=None)
    return cfg
