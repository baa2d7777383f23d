"""videoBYOL: an online network predicts an EMA target network's projection of the other view.

Grill et al., "Bootstrap Your Own Latent", NeurIPS 2020. Online: backbone, projector,
predictor (both 2-layer MLPs, Sec. 3.3). Target: EMA copies of backbone and projector,
run under no_grad. Loss: eq. 2, 2 - 2 cos(p, z'), symmetrised over the two views
(eq. 3). The EMA rate follows the paper's cosine schedule from ``ema_momentum`` up to 1
(``cosine_tau=False`` keeps it constant). Its base is 0.99, not the paper's 0.996: runs
here are a few hundred to ~1,000 steps, not BYOL's ~10^5 (docs/methods.md).
"""

from __future__ import annotations

import torch
from torch import nn

from vidssl.losses import byol_loss
from vidssl.modules.heads import mlp_head
from vidssl.modules.momentum import MomentumEncoders, cosine_momentum, momentum_copy


class VideoBYOL(MomentumEncoders, nn.Module):
    num_views = 2

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, proj_dim: int = 256, ema_momentum: float = 0.99,
                 cosine_tau: bool = True) -> None:
        super().__init__()
        if not 0 <= ema_momentum <= 1:
            raise ValueError(f"ema_momentum must be in [0, 1], got {ema_momentum}")
        self.backbone = backbone  # the online encoder: this is the one evaluated
        self.projector = mlp_head(backbone.feature_dim, head_hidden, proj_dim)
        self.predictor = mlp_head(proj_dim, head_hidden, proj_dim)
        self.target_backbone = momentum_copy(backbone)
        self.target_projector = momentum_copy(self.projector)
        self.ema_momentum, self.cosine_tau = ema_momentum, cosine_tau

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: two (N, C, T, H, W) batches. Returns the loss, in [0, 8]."""
        n = views[0].shape[0]
        x = torch.cat(views[:2])  # 2N x C x T x H x W
        p = self.predictor(self.projector(self.backbone(x)))  # 2N x D
        with torch.no_grad():
            z = self.target_projector(self.target_backbone(x))  # 2N x D
        return byol_loss(p[:n], z[n:]) + byol_loss(p[n:], z[:n])

    def momentum_pairs(self) -> list[tuple[nn.Module, nn.Module]]:
        """(target part, the online part it follows)."""
        return [(self.target_backbone, self.backbone), (self.target_projector, self.projector)]

    def momentum_at(self, step: int, total_steps: int) -> float:
        return cosine_momentum(self.ema_momentum, step, total_steps) if self.cosine_tau else self.ema_momentum
