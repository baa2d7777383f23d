"""BatchNorm recalibration before frozen-feature evaluation ("precise BN").

A backbone's running statistics were accumulated on pretraining inputs: two augmented
views (every method), 75 %-masked clips (masked video modelling), one-third-length
sub-clips (clip order), or nothing at all (random init, whose statistics are the
initial mean 0, variance 1). Evaluation feeds unaugmented centre clips, so each
backbone is given statistics of exactly those: the running means and variances are
reset and re-estimated as the plain average over batches of unaugmented training clips
(Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021, Sec. 3). No weight changes.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from vidssl.data.loading import EvalClips
from vidssl.runtime import module_device


@torch.no_grad()
def recalibrate_bn(backbone: nn.Module, dataset, data, batch_size: int = 64, progress: bool = False,
                   desc: str = "BN statistics") -> tuple[nn.Module, int]:
    """A copy of ``backbone`` whose BatchNorm statistics are re-estimated on one centre clip per video
    of ``dataset``; returns (copy in eval mode, number of clips seen). The caller's backbone is untouched."""
    bb = copy.deepcopy(backbone)
    norms = [m for m in bb.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return bb.eval(), 0
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    bb.train()
    seen = 0
    device = module_device(bb)  # the copy is where the caller's backbone is; batches go there
    loader = DataLoader(EvalClips(dataset, data, 1), batch_size=batch_size, num_workers=data.num_workers,
                        pin_memory=device.type == "cuda")
    for clips in tqdm(loader, desc=desc, disable=not progress, mininterval=1.0, leave=False):
        if clips.shape[0] < 2:
            continue  # batch statistics of one clip are not statistics
        bb(clips.flatten(0, 1).to(device, non_blocking=True))
        seen += clips.shape[0]
    for m, orig in zip(norms, (m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))):
        m.momentum = orig.momentum
    return bb.eval(), seen
