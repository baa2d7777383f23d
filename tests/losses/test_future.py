"""Future prediction's pixel loss against its formula, value by value."""

import itertools

import pytest
import torch

from vidssl.losses import future_prediction_loss


def reference(pred, future, last=None):
    total, count = 0.0, 0
    for idx in itertools.product(*(range(s) for s in pred.shape)):
        n, c, _, h, w = idx
        target = future[idx] - (last[n, c, 0, h, w] if last is not None else 0)
        total += float(pred[idx] - target) ** 2
        count += 1
    return total / count


def test_future_loss_is_the_mean_squared_error_of_frames_or_of_their_change_from_the_last_seen():
    g = torch.Generator().manual_seed(0)
    pred, future, last = (torch.randn(2, 3, 2, 3, 4, generator=g, dtype=torch.float64) for _ in range(3))
    last = last[:, :, :1]
    assert future_prediction_loss(pred, future).item() == pytest.approx(reference(pred, future), rel=1e-12)
    assert future_prediction_loss(pred, future, last).item() == pytest.approx(reference(pred, future, last), rel=1e-12)
    assert future_prediction_loss(future - last, future, last).item() == 0  # the true change scores 0


def test_future_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="one shape"):
        future_prediction_loss(torch.zeros(1, 3, 2, 4, 4), torch.zeros(1, 3, 1, 4, 4))
