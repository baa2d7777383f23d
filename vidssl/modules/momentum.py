"""Momentum (EMA) encoders, as in MoCo (He et al. 2020, eq. 2) and BYOL (Grill et al. 2020, Sec. 3.1)."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def momentum_copy(online: nn.Module) -> nn.Module:
    """A deep copy of ``online`` whose parameters take no gradient: they move only by EMA."""
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, m: float) -> None:
    """theta_t <- m * theta_t + (1 - m) * theta_o for every parameter.

    Buffers (BatchNorm running statistics) are left alone: the target's own forward
    passes in train mode update them, as in MoCo's reference code.
    """
    pt, po = list(target.parameters()), list(online.parameters())
    if len(pt) != len(po):
        raise ValueError(f"target has {len(pt)} parameters, online {len(po)}: not copies of each other")
    for t, o in zip(pt, po):
        t.mul_(m).add_(o.detach(), alpha=1 - m)


def cosine_momentum(base: float, step: int, total_steps: int) -> float:
    """BYOL's schedule: tau = 1 - (1 - base) * (cos(pi * step / total) + 1) / 2, from base up to 1."""
    return 1 - (1 - base) * (math.cos(math.pi * step / max(1, total_steps)) + 1) / 2


class MomentumEncoders:
    """Mixin for methods with EMA encoders: they define ``momentum_pairs()`` and
    ``momentum_at(step, total_steps)``; the engine calls ``after_step`` after every
    optimiser step."""

    def after_step(self, step: int, total_steps: int) -> None:
        m = self.momentum_at(step, total_steps)
        for target, online in self.momentum_pairs():
            ema_update(target, online, m)
