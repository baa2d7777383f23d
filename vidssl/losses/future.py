"""The pixel loss of future prediction.

Srivastava, Mansimov and Salakhutdinov, "Unsupervised Learning of Video Representations
using LSTMs", ICML 2015 (the future predictor), and next-frame prediction after it (Mathieu
et al., ICLR 2016, who predict frames with an l2 or l1 loss): the mean squared error between
predicted and true future frames. Predicting the change from the last seen frame (the
residual) rather than the frame keeps a network from scoring well by copying what it saw.
"""

from __future__ import annotations

import torch


def future_prediction_loss(pred: torch.Tensor, future: torch.Tensor, last: torch.Tensor | None = None) -> torch.Tensor:
    """pred, future: (N, C, F, H, W) predicted and true next F frames; last: (N, C, 1, H, W), the last frame
    seen, or None. With ``last``, ``pred`` is the change from it: mean (pred - (future - last))^2, else
    mean (pred - future)^2, over every value."""
    if pred.shape != future.shape:
        raise ValueError(f"pred and future must have one shape, got {tuple(pred.shape)} and {tuple(future.shape)}")
    target = future if last is None else future - last
    return ((pred - target) ** 2).mean()
