"""BYOL's loss against a NumPy loop written from Grill et al. 2020, eq. 2."""

import numpy as np
import pytest
import torch

from vidssl.losses import byol_loss


def reference_byol(p: np.ndarray, z: np.ndarray) -> float:
    """eq. 2 as written: || p/||p|| - z/||z|| ||^2, summed over coordinates, averaged over pairs."""
    total = 0.0
    for pi, zi in zip(p, z):
        pn, zn = np.sqrt(sum(v * v for v in pi)), np.sqrt(sum(v * v for v in zi))
        total += sum((a / pn - b / zn) ** 2 for a, b in zip(pi, zi))
    return total / len(p)


@pytest.mark.parametrize("n", [1, 3, 16])
@pytest.mark.parametrize("d", [2, 9])
def test_matches_eq_2(n, d):
    rng = np.random.default_rng(10 * n + d)
    p, z = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    assert byol_loss(torch.tensor(p), torch.tensor(z)).item() == pytest.approx(reference_byol(p, z), rel=1e-10)


def test_exact_values_aligned_opposite_orthogonal():
    z = torch.randn(5, 4, dtype=torch.float64)
    assert byol_loss(3 * z, z).item() == pytest.approx(0.0, abs=1e-12)
    assert byol_loss(-z, z).item() == pytest.approx(4.0, rel=1e-12)
    e = torch.eye(4, dtype=torch.float64)
    assert byol_loss(e, e.roll(1, 1)).item() == pytest.approx(2.0, rel=1e-12)


def test_symmetric_and_scale_invariant():
    g = torch.Generator().manual_seed(0)
    p, z = torch.randn(6, 5, generator=g, dtype=torch.float64), torch.randn(6, 5, generator=g, dtype=torch.float64)
    assert torch.allclose(byol_loss(p, z), byol_loss(z, p))
    assert torch.allclose(byol_loss(p, z), byol_loss(0.2 * p, 5 * z))


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    p, z = (torch.randn(4, 3, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(byol_loss, (p, z))


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        byol_loss(torch.randn(3, 4), torch.randn(3, 5))


def test_scale_invariant_down_to_tiny_norms():
    """2 - 2 cos(p, z) does not depend on |p|: a prediction of norm 1e-10 scores as a unit one."""
    g = torch.Generator().manual_seed(2)
    p, z = torch.randn(5, 8, generator=g, dtype=torch.float64), torch.randn(5, 8, generator=g, dtype=torch.float64)
    tiny = 1e-10 * p / p.norm(dim=1, keepdim=True)
    assert byol_loss(tiny, z).item() == pytest.approx(byol_loss(p, z).item(), rel=1e-9)


def test_bf16_autocast_leaves_the_loss_as_in_float64():
    g = torch.Generator().manual_seed(4)
    p, z = torch.randn(16, 256, generator=g, dtype=torch.float64), torch.randn(16, 256, generator=g, dtype=torch.float64)
    ref = (2 - 2 * (p * z).sum(1) / (p.norm(dim=1) * z.norm(dim=1))).mean().item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = byol_loss(p.float(), z.float())
    assert low.dtype == torch.float32 and low.item() == pytest.approx(ref, abs=1e-6)
