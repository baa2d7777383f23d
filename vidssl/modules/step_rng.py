"""Randomness inside a method's forward that survives a resume.

The data pipeline is a pure function of (seed, step) (see vidssl.data.loading). A method
that draws its own random numbers (rotations, permutations, masks, the MoCo batch
shuffle) would break that if it used torch's global generator, which no checkpoint
saves. ``StepRNG`` keeps a seed and a call counter as buffers, so they are saved with
the weights, and hands out a fresh generator seeded by (seed, calls) on every call.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class StepRNG(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # drawn from the global generator, which build_model seeds with cfg.seed
        self.register_buffer("seed", torch.randint(0, 2**62, ()))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def next(self) -> torch.Generator:
        """A CPU generator for this call; advances the counter."""
        state = np.random.SeedSequence([int(self.seed), int(self.calls)]).generate_state(2, np.uint64)
        self.calls += 1
        return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def balanced_labels(n: int, classes: int, g: torch.Generator) -> torch.Tensor:
    """n labels in [0, classes), each class as often as n allows, in random order."""
    return torch.randperm(n, generator=g) % classes
