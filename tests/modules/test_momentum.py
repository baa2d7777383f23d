"""EMA encoders: the update formula and BYOL's cosine schedule."""

import copy
import math

import pytest
import torch
from torch import nn

from vidssl.modules.momentum import cosine_momentum, ema_update, momentum_copy


def test_momentum_copy_is_a_frozen_independent_copy():
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    target = momentum_copy(online)
    for t, o in zip(target.parameters(), online.parameters()):
        assert torch.equal(t, o) and t.data_ptr() != o.data_ptr()
        assert not t.requires_grad and o.requires_grad


@pytest.mark.parametrize("m", [0.0, 0.9, 0.999, 1.0])
def test_ema_update_formula(m):
    torch.manual_seed(0)
    online, target = nn.Linear(4, 3), nn.Linear(4, 3)
    before = copy.deepcopy(target)
    ema_update(target, online, m)
    for t, b, o in zip(target.parameters(), before.parameters(), online.parameters()):
        torch.testing.assert_close(t, m * b + (1 - m) * o, rtol=1e-6, atol=1e-7)


def test_ema_update_rejects_different_modules():
    with pytest.raises(ValueError, match="not copies"):
        ema_update(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), 0.9)


def test_cosine_schedule_goes_from_base_to_one():
    assert cosine_momentum(0.99, 0, 100) == pytest.approx(0.99, abs=1e-15)
    assert cosine_momentum(0.99, 50, 100) == pytest.approx(0.995, abs=1e-15)
    assert cosine_momentum(0.99, 100, 100) == pytest.approx(1.0, abs=1e-15)
    steps = [cosine_momentum(0.996, k, 30) for k in range(31)]
    assert steps == sorted(steps)
    k, total = 7, 30  # Grill et al. 2020, Sec. 3.3: 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2
    assert cosine_momentum(0.996, k, total) == pytest.approx(1 - 0.004 * (math.cos(math.pi * k / total) + 1) / 2)
