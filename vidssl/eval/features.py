"""Frozen-backbone features: one vector per video, averaged over uniformly spaced clips."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vidssl.data.loading import eval_batch, eval_loader
from vidssl.runtime import module_device


@torch.no_grad()
def extract_features(backbone: nn.Module, dataset, data, clips_per_video: int = 1, batch_size: int = 64,
                     progress: bool = True, desc: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Returns (per-video features (N, D), per-clip features (N, K, D)), float32.

    Computed on the device the backbone is on; each batch of clips is moved there.
    """
    backbone.eval()
    device = module_device(backbone)
    loader = eval_loader(dataset, data, clips_per_video, max(1, batch_size // clips_per_video), device)
    out = []
    for batch in tqdm(loader, desc=desc, disable=not progress, mininterval=1.0, leave=False):
        clips = eval_batch(batch, data, device)  # B x K x 3 x T x S x S: uint8 handed over, made float here
        b, k = clips.shape[:2]
        f = backbone(clips.flatten(0, 1))  # (B*K) x D
        out.append(f.view(b, k, -1).float().cpu())
    per_clip = torch.cat(out).numpy().astype(np.float32)
    return per_clip.mean(1), per_clip
