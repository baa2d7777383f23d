"""Supervised-from-scratch baseline: the pretraining budget spent on labels instead.

The same backbone, initial weights, optimiser, learning-rate schedule, step count, batch
size and augmentation as :func:`vidssl.engine.pretrain`, one augmented view per clip, a
linear classifier on the pooled features and cross-entropy on the train labels. It is the
upper reference a self-supervised method's linear probe is read against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from vidssl import runtime
from vidssl.backbones import create_backbone
from vidssl.config import PretrainConfig
from vidssl.data.loading import StepBatchSampler, ViewDataset
from vidssl.engine import lr_at, make_optimizer
from vidssl.errors import VidsslError
from vidssl.eval.classifier import Classifier, LabelledViews


def train_supervised(cfg: PretrainConfig, train_dataset, label_set: str = "class",
                     on_step: Callable[[int, float], None] | None = None) -> nn.Module:
    """Train ``cfg.model.backbone`` from scratch with cross-entropy on ``train_dataset.labels[label_set]``.

    The backbone starts from the weights :func:`vidssl.engine.build_model` gives it (seed
    ``cfg.seed``); batches and augmentation draws are the ones a one-view method sees at
    each step. ``cfg.method`` is ignored. ``on_step(step, loss)`` is called after every
    optimiser step. Trains on ``cfg.device`` with ``cfg.threads``. Returns the trained backbone
    (in eval mode, on that device).
    """
    cfg.validate()
    if label_set not in train_dataset.labels:
        have = ", ".join(train_dataset.labels)
        raise VidsslError(f"no label set {label_set!r} in {train_dataset.name}; it has {have}")
    runtime.set_threads(cfg.threads)
    device = runtime.resolve_device(cfg.device)
    labels = train_dataset.labels[label_set]
    if (labels >= 0).sum() == 0:
        raise VidsslError(f"{train_dataset.name} has no {label_set!r} labels to train on")
    torch.manual_seed(cfg.seed)  # as build_model: the same starting backbone as every method and random init
    backbone = create_backbone(cfg.model.backbone, width=cfg.model.width, input=cfg.model.input)
    model = Classifier(backbone, int(labels.max()) + 1).to(device)
    opt = make_optimizer(model, cfg)
    views = LabelledViews(ViewDataset(train_dataset, cfg.aug, cfg.data, 1, cfg.seed), labels)
    sampler = StepBatchSampler(len(train_dataset), cfg.batch_size, cfg.seed, 0, cfg.steps)
    loader = DataLoader(views, batch_sampler=sampler, num_workers=cfg.data.num_workers,
                        pin_memory=device.type == "cuda")
    model.train()
    for step, (x, y) in enumerate(loader):  # x: B x 3 x T x S x S, y: B
        if not (y >= 0).any():
            continue  # no labelled clip in this batch: nothing to learn from
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y, ignore_index=-1)
        if not torch.isfinite(loss):
            raise VidsslError(f"supervised loss became {loss.item()} at step {step}; lower --lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step, loss.item())
    return backbone.eval()
