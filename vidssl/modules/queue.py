"""The negative-key queue of MoCo (He et al., "Momentum Contrast for Unsupervised Visual
Representation Learning", CVPR 2020, Sec. 3.2): a FIFO ring buffer of the K most recent
keys. The newest batch is enqueued and the oldest is dequeued in one step, after the loss
of that step has been computed, so the queue never holds the current positive keys.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class KeyQueue(nn.Module):
    """K x D L2-normalised keys in registered buffers (they travel with the checkpoint).

    ``keys[ptr]`` is the oldest key and the next slot to be overwritten. It starts filled
    with random unit vectors, as in MoCo's reference code.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"queue size must be >= 1, got {size}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))  # K x D
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("ids", torch.full((size,), -1, dtype=torch.long))  # the video of each key; -1: none

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before keys carried video ids: treat their keys as of no known video
        state_dict.setdefault(prefix + "ids", torch.full((self.keys.shape[0],), -1, dtype=torch.long))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __len__(self) -> int:
        return self.keys.shape[0]

    def oldest_first(self) -> torch.Tensor:
        """K x D, the keys from oldest to newest."""
        return self.keys.roll(-int(self.ptr), 0)

    @torch.no_grad()
    def dequeue_and_enqueue(self, k: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        """Enqueue k (B x D, normalised by the caller), with the video ``ids`` (B,) they come from
        (None: unknown, -1), and dequeue the B oldest keys.

        Returns the dequeued keys (min(B, K) x D, oldest first). When B > K only the
        newest K keys of k fit, as if they had been enqueued one at a time (the rest of k
        passes straight through and is not returned).
        """
        size, b = len(self), k.shape[0]
        if k.ndim != 2 or k.shape[1] != self.keys.shape[1]:
            raise ValueError(f"keys must be (B, {self.keys.shape[1]}), got {tuple(k.shape)}")
        k = k[-size:].detach().to(self.keys.dtype)
        n = k.shape[0]
        ids = torch.full((n,), -1, dtype=torch.long) if ids is None else ids[-size:].to(torch.long)
        ids = ids.to(self.ids.device)
        start = (int(self.ptr) + b - n) % size  # the slot of the oldest key that is replaced
        dequeued = self.oldest_first()[:n].clone()
        first = min(n, size - start)  # slices, not index_copy_: deterministic on every device
        self.keys[start : start + first] = k[:first]
        self.keys[: n - first] = k[first:]
        self.ids[start : start + first] = ids[:first]
        self.ids[: n - first] = ids[first:]
        self.ptr.fill_((int(self.ptr) + b) % size)
        return dequeued
