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
from tqdm import tqdm

from vidssl.data.loading import eval_batch, eval_loader
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
    loader = eval_loader(dataset, data, 1, batch_size, device)
    for batch in tqdm(loader, desc=desc, disable=not progress, mininterval=1.0, leave=False):
        if len(batch) < 2:
            continue  # batch statistics of one clip are not statistics
        clips = eval_batch(batch, data, device)  # B x 1 x 3 x T x S x S
        bb(clips.flatten(0, 1))
        seen += clips.shape[0]
    for m, orig in zip(norms, (m for m in backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))):
        m.momentum = orig.momentum
    return bb.eval(), seen
