"""A backbone with a linear classifier, and labelled training views, for supervised training."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.utils.data import Dataset

from vidssl.data.loading import ViewDataset


class Classifier(nn.Module):
    """Backbone plus a linear head: (N, 3, T, S, S) -> (N, num_classes) logits."""

    def __init__(self, backbone: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(backbone.feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


class LabelledViews(Dataset):
    """``(index, step, slot)`` -> (one augmented view (3, T, S, S), label of video ``index``); -1 = unlabelled."""

    def __init__(self, views: ViewDataset, labels) -> None:
        if views.aug.on_device:  # one view per clip, made in the workers (the same views; see make_views)
            views = ViewDataset(views.ds, dataclasses.replace(views.aug, on_device=False), views.data,
                                views.num_views, views.seed)
        self.views, self.labels = views, torch.as_tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, key: tuple[int, int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        used, views = self.views.item(key)  # an unreadable video is replaced by a readable one: its label
        return views[0], self.labels[used]
