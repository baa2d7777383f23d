"""Projection heads."""

from __future__ import annotations

from torch import nn


def mlp_head(in_dim: int, hidden_dim: int = 512, out_dim: int = 256) -> nn.Sequential:
    """SimCLR's 2-layer projection head: Linear-BN-ReLU-Linear."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim, bias=False),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim),
    )
