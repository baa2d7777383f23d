"""NT-Xent against a NumPy loop written straight from SimCLR's Algorithm 1."""

import math

import numpy as np
import pytest
import torch

from vidssl.losses import nt_xent


def reference_nt_xent(z1: np.ndarray, z2: np.ndarray, t: float) -> float:
    """Chen et al. 2020, Algorithm 1, as loops: views 2k and 2k+1 are a positive pair."""
    n = len(z1)
    z = np.empty((2 * n, z1.shape[1]))
    z[0::2], z[1::2] = z1, z2
    s = lambda i, j: z[i] @ z[j] / (np.linalg.norm(z[i]) * np.linalg.norm(z[j]))

    def ell(i, j):
        den = sum(math.exp(s(i, k) / t) for k in range(2 * n) if k != i)
        return -math.log(math.exp(s(i, j) / t) / den)

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


@pytest.mark.parametrize("n", [2, 3, 8, 17])
@pytest.mark.parametrize("t", [0.05, 0.1, 0.5, 1.0])
def test_matches_algorithm_1(n, t):
    rng = np.random.default_rng(n * 100 + int(t * 100))
    z1, z2 = rng.normal(size=(n, 5)), rng.normal(size=(n, 5))
    got = nt_xent(torch.tensor(z1), torch.tensor(z2), temperature=t).item()
    assert got == pytest.approx(reference_nt_xent(z1, z2, t), rel=1e-9)


@pytest.mark.parametrize("n", [2, 4, 32])
def test_identical_embeddings_exact_value(n):
    # all 2N views equal: every similarity is 1, so the loss is -log(1 / (2N - 1))
    z = torch.ones(n, 7, dtype=torch.float64)
    assert nt_xent(z, z.clone(), temperature=0.3).item() == pytest.approx(math.log(2 * n - 1), rel=1e-12)


def test_symmetric_in_views_and_invariant_to_scale():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64)
    a = nt_xent(z1, z2, temperature=0.2)
    assert torch.allclose(a, nt_xent(z2, z1, temperature=0.2))
    assert torch.allclose(a, nt_xent(3 * z1, 0.5 * z2, temperature=0.2))  # embeddings are L2-normalised
    perm = torch.randperm(6, generator=g)
    assert torch.allclose(a, nt_xent(z1[perm], z2[perm], temperature=0.2))


def test_aligned_pairs_beat_mismatched_pairs():
    z = torch.eye(4, dtype=torch.float64)
    assert nt_xent(z, z, temperature=0.1) < nt_xent(z, z.roll(1, 0), temperature=0.1)


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    z2 = torch.randn(4, 3, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, temperature=0.5), (z1, z2))


def test_rejects_a_single_clip_and_mismatched_shapes():
    with pytest.raises(ValueError, match="at least 2"):
        nt_xent(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        nt_xent(torch.randn(3, 4), torch.randn(2, 4))


def test_nt_xent_and_byol_stay_float32_under_bf16_autocast():
    from vidssl.losses import byol_loss

    torch.manual_seed(0)
    z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low, b = nt_xent(z1, z2, temperature=0.1), byol_loss(z1, z2)
    assert low.dtype == torch.float32 and b.dtype == torch.float32
    assert torch.allclose(low, nt_xent(z1, z2, temperature=0.1), atol=1e-6)
    assert torch.allclose(b, byol_loss(z1, z2), atol=1e-6)


def test_refusals_word_for_word():
    with pytest.raises(ValueError, match=r"^NT-Xent needs at least 2 clips: the other clips are the negatives$"):
        nt_xent(torch.randn(1, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match=r"^z1 and z2 must both be \(N, D\), got \(3, 4\) and \(3, 5\)$"):
        nt_xent(torch.randn(3, 4), torch.randn(3, 5))


def test_default_temperature_is_0_1():
    g = torch.Generator().manual_seed(5)
    z1, z2 = torch.randn(6, 8, generator=g, dtype=torch.float64), torch.randn(6, 8, generator=g, dtype=torch.float64)
    assert nt_xent(z1, z2).item() == pytest.approx(reference_nt_xent(z1.numpy(), z2.numpy(), 0.1), rel=1e-9)


def test_half_precision_embeddings_are_scored_in_float32():
    g = torch.Generator().manual_seed(6)
    z1, z2 = torch.randn(6, 32, generator=g), torch.randn(6, 32, generator=g)
    low = nt_xent(z1.bfloat16(), z2.bfloat16())
    assert low.dtype == torch.float32
    ref = reference_nt_xent(z1.bfloat16().double().numpy(), z2.bfloat16().double().numpy(), 0.1)
    assert low.item() == pytest.approx(ref, abs=1e-5)
