"""videoSimCLR: two augmented views of one clip, NT-Xent over the 2N views."""

from __future__ import annotations

import torch
from torch import nn

from vidssl.losses import nt_xent
from vidssl.modules.distributed import gather_with_grad
from vidssl.modules.heads import mlp_head


class VideoSimCLR(nn.Module):
    num_views = 2

    def __init__(self, backbone: nn.Module, head_hidden: int = 512, proj_dim: int = 256, temperature: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.head = mlp_head(backbone.feature_dim, head_hidden, proj_dim)
        self.temperature = temperature

    def forward(self, views: list[torch.Tensor]) -> torch.Tensor:
        """views: two (N, C, T, H, W) batches. Returns the loss."""
        n = views[0].shape[0]
        z = self.head(self.backbone(torch.cat(views)))  # 2N x D, one pass keeps BN statistics shared
        # multi-process: negatives from the global batch; every process computes the same global loss
        return nt_xent(gather_with_grad(z[:n]), gather_with_grad(z[n:]), temperature=self.temperature)
