"""Multi-process training helpers on PyTorch's own engine (torchrun + DDP).

Nothing here is needed for one process: every helper is the identity when
``torch.distributed`` is not initialised, so single-process code paths stay plain.
"""

from __future__ import annotations

import os
import warnings

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def init_from_env(device: torch.device) -> bool:
    """Join the process group that torchrun describes in the environment (WORLD_SIZE > 1).

    Uses NCCL on CUDA and gloo on the CPU. Returns whether this is a multi-process run.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return is_distributed()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def _all_reduce_sum(x: torch.Tensor) -> torch.Tensor:
    """Differentiable all-reduce: the backward pass all-reduces the gradient too."""
    with warnings.catch_warnings():  # the autograd-aware collectives are public but marked deprecated
        warnings.simplefilter("ignore", FutureWarning)
        return dist_fn.all_reduce(x)


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (n, ...) from every process in rank order -> (world * n, ...).

    Gradients flow back to each process's own slice: the backward pass sums, over
    processes, the gradient every process computed for that slice. With every process
    computing the same global loss L, a slice thus receives world * dL/dx, and DDP's
    gradient averaging over processes cancels the factor: the parameters get exactly
    the single-process gradient of L on the concatenated batch.
    """
    if not is_distributed():
        return x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(dist_fn.all_gather(x))


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every process, without gradients (e.g. keys for a queue)."""
    if not is_distributed():
        return x
    out = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out)


class GlobalBatchNorm(_BatchNorm):
    """Batch normalisation over the batch of *all* processes, on any device (gloo included).

    ``torch.nn.SyncBatchNorm`` runs on GPUs only; this module all-reduces per-channel
    sums (differentiably) so the statistics, outputs and gradients equal those of one
    BatchNorm over the concatenated batch. In one process it is an ordinary BatchNorm.
    State-dict names are BatchNorm's, so checkpoints move freely between the two.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        c = x.shape[1]
        shape = [1, c] + [1] * (x.dim() - 2)
        count = torch.full((1,), x.numel() / c, dtype=x.dtype, device=x.device)
        # two passes (mean, then centred squares), as numerically stable as BatchNorm's own
        s1 = _all_reduce_sum(torch.cat([x.sum(dims), count]))
        n = s1[-1]
        mean = s1[:c] / n
        var = _all_reduce_sum(((x - mean.view(shape)) ** 2).sum(dims)) / n  # biased, used to normalise
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1))
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def convert_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm by a cross-process one: SyncBatchNorm on CUDA, GlobalBatchNorm elsewhere."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, _BatchNorm) and not isinstance(child, GlobalBatchNorm):
            new = GlobalBatchNorm(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            if child.affine:  # the same Parameter objects: keeps requires_grad (False in EMA encoders)
                new.weight, new.bias = child.weight, child.bias
            for name_b in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(new, name_b, getattr(child, name_b))
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_batchnorm(child, device)
    return module
