"""Masked reconstruction loss against a NumPy loop written from MAE's definition."""

import numpy as np
import pytest
import torch

from vidssl.losses import masked_reconstruction_loss


def reference_masked(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, norm_pix: bool) -> float:
    """MSE per patch, averaged over masked patches only (He et al. 2022, Sec. 3); optional per-patch normalisation."""
    total, count = 0.0, 0
    for n in range(pred.shape[0]):
        for i in range(pred.shape[1]):
            if not mask[n, i]:
                continue
            y = target[n, i]
            if norm_pix:
                mu = sum(y) / len(y)
                var = sum((v - mu) ** 2 for v in y) / (len(y) - 1)
                y = [(v - mu) / np.sqrt(var + 1e-6) for v in y]
            total += sum((a - b) ** 2 for a, b in zip(pred[n, i], y)) / len(y)
            count += 1
    return total / count


@pytest.mark.parametrize("norm_pix", [False, True])
@pytest.mark.parametrize("shape", [(1, 4, 3), (3, 10, 12)])
def test_matches_reference(norm_pix, shape):
    rng = np.random.default_rng(sum(shape) + norm_pix)
    pred, target = rng.normal(size=shape), rng.normal(size=shape) * 3 + 1
    mask = rng.random(shape[:2]) < 0.6
    mask[0, 0] = True
    got = masked_reconstruction_loss(torch.tensor(pred), torch.tensor(target), torch.tensor(mask), norm_pix=norm_pix)
    assert got.item() == pytest.approx(reference_masked(pred, target, mask, norm_pix), rel=1e-10)


def test_visible_patches_do_not_count():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 6, 5, generator=g, dtype=torch.float64)
    mask = torch.tensor([[1, 0, 1, 0, 0, 0], [0, 0, 0, 0, 0, 1]])
    loss = masked_reconstruction_loss(pred, target, mask)
    loss.backward()
    assert (pred.grad[mask == 0] == 0).all() and (pred.grad[mask == 1] != 0).all()
    changed = target.clone()
    changed[mask == 0] += 100.0
    assert masked_reconstruction_loss(pred, changed, mask).item() == pytest.approx(loss.item(), rel=1e-12)


def test_exact_values():
    t = torch.randn(2, 3, 4, dtype=torch.float64)
    ones = torch.ones(2, 3)
    assert masked_reconstruction_loss(t, t, ones).item() == 0.0
    assert masked_reconstruction_loss(t + 2, t, ones).item() == pytest.approx(4.0, rel=1e-12)  # all masked: plain MSE


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    pred, target = (torch.randn(2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2))
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: masked_reconstruction_loss(a, b, mask, norm_pix=True), (pred, target))


def test_rejects_empty_mask_and_bad_shapes():
    with pytest.raises(ValueError, match="no patch is masked"):
        masked_reconstruction_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"mask must be \(N, L\)"):
        masked_reconstruction_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.zeros(3, 2))


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"^pred and target must both be \(N, L, P\), got \(2, 3, 4\) and \(2, 3, 5\)$"):
        masked_reconstruction_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 5), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"got \(2, 3\) and \(2, 3\)$"):  # the right shapes alike, but not 3-d
        masked_reconstruction_loss(torch.randn(2, 3), torch.randn(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"^mask must be \(N, L\) = \(2, 3\), got \(2, 3, 4\)$"):
        masked_reconstruction_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.ones(2, 3, 4))
    with pytest.raises(ValueError, match=r"^no patch is masked: the loss is only defined on masked patches$"):
        masked_reconstruction_loss(torch.randn(2, 3, 4), torch.randn(2, 3, 4), torch.zeros(2, 3))


def test_loss_keeps_the_predictions_dtype_whatever_the_masks():
    pred, target = torch.randn(2, 3, 4), torch.randn(2, 3, 4)
    for mask in (torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.bool)):
        assert masked_reconstruction_loss(pred, target, mask).dtype == torch.float32
