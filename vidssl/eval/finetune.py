"""Full fine-tuning: the whole backbone plus a linear head, trained on the train labels.

The protocol of the self-supervised video papers' "fine-tune" tables (e.g. Qian et al.,
"Spatiotemporal Contrastive Video Representation Learning", CVPR 2021, Sec. 4.3): every
weight is trained with cross-entropy on one augmented clip per video and step; the
backbone learns ``backbone_lr_ratio`` times as fast as the freshly initialised head (so
the pretrained features are adapted, not overwritten, in the first steps); the learning
rate follows a cosine from ``lr`` to 0 over ``steps``. At test time K uniformly spaced
centre-cropped clips of each video are classified; per-clip accuracy scores every clip
on its own, per-video accuracy the mean of the K clips' softmax probabilities.

Baselines come from the same function: pass the random-init backbone (the pretrained
model's exact starting weights) to get *supervised from scratch*, i.e. fine-tuning from
random init with the same schedule, steps, batches and augmentation.
"""

from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vidssl import checkpoint, runtime
from vidssl.config import FinetuneConfig, to_dict
from vidssl.data.loading import StepBatchSampler, ViewDataset, eval_batch, eval_loader
from vidssl.errors import VidsslError
from vidssl.eval.classifier import Classifier, LabelledViews
from vidssl.stop import Stopped, sigterm_requests_stop


@dataclass
class FinetuneResult:
    per_clip_acc: float  # top-1 over every test clip on its own, in [0, 1]
    per_video_acc: float  # top-1 of the K-clip averaged probabilities, in [0, 1]
    steps: int
    seconds: float  # training and testing wall time
    predictions: list[int]  # predicted class of every test video (from the K-clip average)
    label_set: str = ""
    clips_per_video: int = 1
    final_loss: float = float("nan")
    model: nn.Module | None = field(default=None, repr=False)  # the fine-tuned Classifier

    def summary(self) -> dict:
        """The numbers for results.json (no predictions, no weights)."""
        return {"per_clip_acc": self.per_clip_acc, "per_video_acc": self.per_video_acc, "steps": self.steps,
                "seconds": round(self.seconds, 1), "label_set": self.label_set,
                "clips_per_video": self.clips_per_video,
                "final_loss": round(self.final_loss, 5) if math.isfinite(self.final_loss) else None}


def make_optimizer(model: Classifier, cfg: FinetuneConfig) -> torch.optim.AdamW:
    """AdamW with four groups (backbone/head x decay/no decay); each carries its ``lr_scale``."""
    groups = []
    for part, scale in ((model.backbone, cfg.backbone_lr_ratio), (model.head, 1.0)):
        params = [p for p in part.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]  # no weight decay on norms and biases
        groups.append({"params": decay, "weight_decay": cfg.weight_decay, "lr_scale": scale})
        groups.append({"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "lr_scale": scale})
    for g in groups:
        g["lr"] = cfg.lr * g["lr_scale"]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr)


def cosine_lr(step: int, cfg: FinetuneConfig) -> float:
    """The head's learning rate at ``step``: cosine from ``cfg.lr`` to 0 over ``cfg.steps``."""
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))


def _check_labels(train, test, label_set: str) -> tuple[np.ndarray, np.ndarray, int]:
    if label_set not in train.labels:
        raise VidsslError(f"no label set {label_set!r} in {train.name}; it has {', '.join(train.labels) or 'none'}")
    if len(test) == 0:
        raise VidsslError(f"the test split {test.name} is empty; fine-tuning is scored on labelled test videos")
    y_tr, y_te = np.asarray(train.labels[label_set]), np.asarray(test.labels[label_set])
    if (y_tr >= 0).sum() == 0:
        raise VidsslError(f"{train.name} has no {label_set!r} labels to fine-tune on")
    if (y_te >= 0).sum() == 0:
        raise VidsslError(f"{test.name} has no {label_set!r} labels to score the fine-tuned model on")
    n_classes = max(len(train.class_names.get(label_set, [])), int(y_tr.max()) + 1, int(y_te.max()) + 1)
    return y_tr, y_te, n_classes


@torch.no_grad()
def predict_clips(model: nn.Module, test, data_cfg, clips_per_video: int, batch_size: int = 32,
                  progress: bool = False) -> torch.Tensor:
    """Softmax probabilities of every test clip: (N videos, K clips, num_classes), on the CPU.

    Computed on the device the model is on; each batch of clips is moved there."""
    model.eval()
    device = runtime.module_device(model)
    loader = eval_loader(test, data_cfg, clips_per_video, max(1, batch_size // clips_per_video), device)
    out = []
    for batch in tqdm(loader, desc="fine-tune: test clips", disable=not progress, mininterval=1.0, leave=False):
        clips = eval_batch(batch, data_cfg, device)  # B x K x 3 x T x S x S
        b, k = clips.shape[:2]
        logits = model(clips.flatten(0, 1))
        out.append(logits.float().softmax(-1).view(b, k, -1).cpu())
    return torch.cat(out)


def finetune(backbone: nn.Module, train, test, data_cfg, aug_cfg, ft_cfg: FinetuneConfig,
             label_set: str, *, state_path: str | Path | None = None, tag: dict | None = None) -> FinetuneResult:
    """Fine-tune a copy of ``backbone`` with a new linear head on ``train.labels[label_set]``.

    The caller's backbone is not modified; the fine-tuned network is ``result.model`` (on
    ``ft_cfg.device``, where training and testing ran).
    Batches and augmentation draws are a pure function of ``(ft_cfg.seed, step)``
    (:class:`vidssl.data.loading.StepBatchSampler`, one view per clip), so SSL-init and
    random-init (= supervised from scratch) runs see exactly the same clips. Videos
    labelled -1 are drawn but do not count in the loss or the accuracies.

    With ``state_path`` the weights, optimiser state and step are saved there (atomically)
    every ``ft_cfg.checkpoint_every`` steps, at the end and on SIGTERM, and a run that finds
    a state of the same settings (``ft_cfg`` and ``tag``, e.g. the pretrained checkpoint's
    fingerprint) continues from it: to the same weights as an uninterrupted run.
    """
    ft_cfg.validate()
    device = runtime.resolve_device(ft_cfg.device)
    runtime.set_threads(ft_cfg.threads)
    y_tr, y_te, n_classes = _check_labels(train, test, label_set)
    t0 = time.perf_counter()
    torch.manual_seed(ft_cfg.seed)  # the head's initial weights
    model = Classifier(copy.deepcopy(backbone), n_classes).to(device)
    opt = make_optimizer(model, ft_cfg)
    same = {"config": {k: v for k, v in to_dict(ft_cfg).items() if k not in ("progress", "checkpoint_every", "device", "threads")},
            "label_set": label_set, "classes": n_classes, **(tag or {})}
    start, loss_val, before = _resume(state_path, same, model, opt) if state_path else (0, float("nan"), 0.0)

    def save(at: int) -> None:
        if state_path is not None:
            checkpoint.save(state_path, step=at, model=model.state_dict(), optimizer=opt.state_dict(), same=same,
                            loss=loss_val, seconds=before + time.perf_counter() - t0)

    views = LabelledViews(ViewDataset(train, aug_cfg, data_cfg, 1, ft_cfg.seed), y_tr)
    sampler = StepBatchSampler(len(train), ft_cfg.batch_size, ft_cfg.seed, start, ft_cfg.steps)
    loader = DataLoader(views, batch_sampler=sampler, num_workers=data_cfg.num_workers,
                        pin_memory=device.type == "cuda")
    model.train()
    bar = tqdm(total=ft_cfg.steps, initial=start, desc="fine-tune", disable=not ft_cfg.progress, mininterval=1.0,
               leave=False)
    with sigterm_requests_stop() as asked_to_stop:
        for step, (x, y) in enumerate(loader, start):  # x: B x 3 x T x S x S, y: B
            lr = cosine_lr(step, ft_cfg)
            for g in opt.param_groups:
                g["lr"] = lr * g["lr_scale"]
            if (y >= 0).sum() > 0:  # else a batch of unlabelled videos only
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                loss = F.cross_entropy(model(x), y, ignore_index=-1)
                if not torch.isfinite(loss):
                    bar.close()
                    raise VidsslError(f"fine-tune loss became {loss.item()} at step {step}; lower the fine-tune lr")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_val = loss.item()
            bar.update(1)
            done = step + 1
            if done % ft_cfg.checkpoint_every == 0 or done == ft_cfg.steps:
                save(done)
            if asked_to_stop() and done < ft_cfg.steps:
                bar.close()
                if state_path is None:
                    raise Stopped(f"fine-tuning stopped by SIGTERM at step {done}; nothing was saved")
                if done % ft_cfg.checkpoint_every:
                    save(done)
                raise Stopped(f"fine-tuning stopped by SIGTERM at step {done} of {ft_cfg.steps}; its state is in "
                              f"{state_path}; run the same command again to continue")
    bar.close()

    probs = predict_clips(model, test, data_cfg, ft_cfg.clips_per_video, ft_cfg.batch_size, ft_cfg.progress)
    # probs: N x K x C
    labelled = torch.as_tensor(y_te >= 0)
    y = torch.as_tensor(y_te)
    clip_hit = (probs.argmax(-1) == y[:, None])[labelled]  # n x K
    video_pred = probs.mean(1).argmax(-1)  # N
    return FinetuneResult(
        per_clip_acc=float(clip_hit.float().mean()),
        per_video_acc=float((video_pred == y)[labelled].float().mean()),
        steps=ft_cfg.steps, seconds=before + time.perf_counter() - t0, predictions=video_pred.tolist(),
        label_set=label_set, clips_per_video=ft_cfg.clips_per_video, final_loss=loss_val, model=model.eval(),
    )


def _resume(path: str | Path, same: dict, model: nn.Module, opt) -> tuple[int, float, float]:
    """(step, last loss, seconds so far) of a saved fine-tuning state of the same settings, loaded into
    ``model`` and ``opt``; (0, nan, 0) when there is none. A damaged or foreign state is set aside
    with a one-line warning (fine-tuning then starts over)."""
    path = Path(path)
    if not path.exists():
        return 0, float("nan"), 0.0
    try:
        st = checkpoint.load(path)
    except VidsslError as e:
        warnings.warn(f"{e}; fine-tuning starts over", stacklevel=3)
        return 0, float("nan"), 0.0
    if st.get("same") != same:
        return 0, float("nan"), 0.0  # another run's state (other settings or checkpoint): overwritten
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["optimizer"])
    return int(st["step"]), float(st["loss"]), float(st["seconds"])
