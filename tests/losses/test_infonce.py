"""InfoNCE against a NumPy loop written from MoCo's eq. 1, plus exact values."""

import math

import numpy as np
import pytest
import torch

from vidssl.losses import info_nce


def reference_info_nce(q: np.ndarray, k: np.ndarray, queue: np.ndarray, t: float) -> float:
    """He et al. 2020, eq. 1, one query at a time: -log(exp(q.k+/t) / (exp(q.k+/t) + sum_i exp(q.k_i/t)))."""
    unit = lambda v: v / np.linalg.norm(v)
    total = 0.0
    for qi, ki in zip(q, k):
        pos = math.exp(unit(qi) @ unit(ki) / t)
        neg = sum(math.exp(unit(qi) @ unit(kj) / t) for kj in queue)
        total += -math.log(pos / (pos + neg))
    return total / len(q)


@pytest.mark.parametrize("n", [1, 2, 7])
@pytest.mark.parametrize("k", [0, 1, 5, 33])
@pytest.mark.parametrize("t", [0.07, 0.2, 1.0])
def test_matches_eq_1(n, k, t):
    rng = np.random.default_rng(n * 1000 + k * 10 + int(t * 100))
    q, key, queue = rng.normal(size=(n, 6)), rng.normal(size=(n, 6)), rng.normal(size=(k, 6))
    got = info_nce(torch.tensor(q), torch.tensor(key), torch.tensor(queue), temperature=t).item()
    assert got == pytest.approx(reference_info_nce(q, key, queue, t), rel=1e-9, abs=1e-12)


def test_empty_queue_is_zero():
    # the positive is the only class: cross-entropy of a 1-way softmax is exactly 0
    q, k = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    assert info_nce(q, k, torch.empty(0, 4, dtype=torch.float64), temperature=0.1).item() == 0.0


@pytest.mark.parametrize("k", [1, 16, 100])
def test_queue_equal_to_the_positive_gives_log_k_plus_1(k):
    # every logit equal: the softmax is uniform over K + 1 classes
    q = torch.ones(3, 5, dtype=torch.float64)
    got = info_nce(q, 2 * q, 0.5 * torch.ones(k, 5, dtype=torch.float64), temperature=0.07).item()
    assert got == pytest.approx(math.log(k + 1), rel=1e-12)


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_orthogonal_queue_exact_value(t):
    # q = k+, every negative orthogonal: -log(e^{1/t} / (e^{1/t} + K)) = log(1 + K e^{-1/t})
    q = torch.eye(4, dtype=torch.float64)[:1]
    queue = torch.eye(4, dtype=torch.float64)[1:]
    expected = math.log1p(3 * math.exp(-1 / t))
    assert info_nce(q, q.clone(), queue, temperature=t).item() == pytest.approx(expected, rel=1e-12)


def test_invariant_to_scale_and_to_queue_order():
    g = torch.Generator().manual_seed(0)
    q, k, queue = (torch.randn(s, 8, generator=g, dtype=torch.float64) for s in (4, 4, 10))
    a = info_nce(q, k, queue, temperature=0.2)
    assert torch.allclose(a, info_nce(3 * q, 0.1 * k, 7 * queue, temperature=0.2))
    assert torch.allclose(a, info_nce(q, k, queue[torch.randperm(10, generator=g)], temperature=0.2))


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    q, k, queue = (torch.randn(s, 3, generator=g, dtype=torch.float64, requires_grad=True) for s in (4, 4, 6))
    assert torch.autograd.gradcheck(lambda a, b, c: info_nce(a, b, c, temperature=0.3), (q, k, queue))


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        info_nce(torch.randn(3, 4), torch.randn(2, 4), torch.randn(5, 4))
    with pytest.raises(ValueError, match=r"queue must be \(K, 4\)"):
        info_nce(torch.randn(3, 4), torch.randn(3, 4), torch.randn(5, 3))


def test_own_video_keys_in_the_queue_are_no_negatives():
    torch.manual_seed(0)
    q, k, queue = torch.randn(3, 8, dtype=torch.float64), torch.randn(3, 8, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    query_ids, queue_ids = torch.tensor([10, 11, 12]), torch.tensor([7, 11, 8, 10, 9, 6])
    masked = info_nce(q, k, queue, temperature=0.2, query_ids=query_ids, queue_ids=queue_ids)
    # per query: the loss with its own video's keys removed from the queue
    ref = torch.stack([info_nce(q[i : i + 1], k[i : i + 1], queue[queue_ids != query_ids[i]], temperature=0.2)
                       for i in range(3)]).mean()
    assert torch.allclose(masked, ref, atol=1e-12)
    assert not torch.allclose(masked, info_nce(q, k, queue, temperature=0.2))  # the mask did something
    with pytest.raises(ValueError, match="both"):
        info_nce(q, k, queue, query_ids=query_ids)


def test_similarities_are_float32_under_bf16_autocast():
    torch.manual_seed(0)
    q, k, queue = torch.randn(4, 16), torch.randn(4, 16), torch.randn(32, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = info_nce(q, k, queue, temperature=0.1)
    assert low.dtype == torch.float32
    assert torch.allclose(low, info_nce(q, k, queue, temperature=0.1), atol=1e-6)


def test_bf16_autocast_leaves_the_loss_as_in_float32_against_the_reference():
    """Under bf16 autocast the similarities must not be taken in bf16 (its 8-bit mantissa moves the loss by
    ~1e-3 here): the loss matches the float64 reference as closely as plain float32 does."""
    rng = np.random.default_rng(3)
    q, k, queue = rng.normal(size=(8, 64)), rng.normal(size=(8, 64)), rng.normal(size=(256, 64))
    ref = reference_info_nce(q, k, queue, 0.07)
    q32, k32, queue32 = (torch.tensor(x, dtype=torch.float32) for x in (q, k, queue))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = info_nce(q32, k32, queue32, temperature=0.07)
    assert low.dtype == torch.float32 and low.item() == pytest.approx(ref, abs=1e-5)


def test_ids_given_for_one_side_only_are_refused_in_words():
    q = torch.randn(2, 4)
    for kw in ({"query_ids": torch.tensor([0, 1])}, {"queue_ids": torch.tensor([0, 1, 2])}):
        with pytest.raises(ValueError, match=r"^pass both query_ids and queue_ids, or neither$"):
            info_nce(q, q, torch.randn(3, 4), **kw)


def test_default_temperature_is_mocos_0_07():
    rng = np.random.default_rng(4)
    q, k, queue = rng.normal(size=(3, 8)), rng.normal(size=(3, 8)), rng.normal(size=(5, 8))
    got = info_nce(*(torch.tensor(x) for x in (q, k, queue)))
    assert got.item() == pytest.approx(reference_info_nce(q, k, queue, 0.07), rel=1e-9)
