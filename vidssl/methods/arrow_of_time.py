"""Arrow of time: is the clip playing forwards or backwards?

Wei et al., "Learning and Using the Arrow of Time", CVPR 2018: a binary classifier on the
backbone's features, trained on clips of which a random half are reversed in time. One
view; exactly half of each (even) batch is reversed. Keep the augmentation's reverse_p at
0 for this method: a view the data pipeline already reversed would get a wrong label.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.modules.step_rng import StepRNG, balanced_labels


class ArrowOfTime(nn.Module):
    num_views = 1

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(backbone.feature_dim, 2)
        self.rng = StepRNG()

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: one (N, C, T, H, W) batch. Returns the loss."""
        x = views[0]
        y = balanced_labels(x.shape[0], 2, self.rng.next()).to(x.device)  # 1 = reversed
        x = torch.where(y.bool()[:, None, None, None, None], x.flip(2), x)  # flip along T
        return F.cross_entropy(self.classifier(self.backbone(x)), y)
