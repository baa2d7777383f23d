"""Where and how a command runs: the device it computes on and the CPU threads it uses.

Pretraining, evaluation, fine-tuning, the supervised baseline, embeddings, retrieval and
comparisons take ``device`` and ``threads`` (``--device``, ``--threads``) and resolve them
here, so that they mean the same thing in every command.
"""

from __future__ import annotations

import torch
from torch import nn

from vidssl.errors import VidsslError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` is the GPU when one is visible, else the CPU; ``cuda`` without a GPU is an error."""
    if name not in DEVICES:
        raise VidsslError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise VidsslError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    return torch.device(name)


def set_threads(threads: int) -> None:
    """Use ``threads`` torch CPU threads; 0 keeps torch's default (or what an earlier call set)."""
    if threads < 0:
        raise VidsslError(f"--threads must be >= 0 (0 = torch's default), got {threads}")
    if threads:
        torch.set_num_threads(threads)


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for a module with neither)."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")
