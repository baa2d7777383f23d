"""DPC's dense InfoNCE against its formula, entry by entry."""

import math

import pytest
import torch

from vidssl.losses import dense_info_nce


def reference(pred, target, temperature):
    n, f, _, h, w = pred.shape
    items = [(i, b, y, x) for i in range(n) for b in range(f) for y in range(h) for x in range(w)]
    total = 0.0
    for a in items:
        scores = [float(pred[a[0], a[1], :, a[2], a[3]] @ target[o[0], o[1], :, o[2], o[3]]) / temperature for o in items]
        top = max(scores)
        log_z = top + math.log(sum(math.exp(s - top) for s in scores))
        total += log_z - scores[items.index(a)]
    return total / len(items)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_dense_info_nce_matches_the_formula(temperature):
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 2, 4, 2, 3, generator=g), torch.randn(2, 2, 4, 2, 3, generator=g)
    got = dense_info_nce(pred, target, temperature=temperature)
    assert got.item() == pytest.approx(reference(pred, target, temperature), rel=1e-5)


def test_a_prediction_equal_to_its_own_target_far_from_the_others_costs_nothing():
    target = torch.eye(8).view(8, 8, 1, 1)[:, None] * 30  # 8 clips, 1 block, orthogonal features
    assert dense_info_nce(target, target).item() < 1e-6
    with pytest.raises(ValueError, match="both be"):
        dense_info_nce(target, target[:4])
