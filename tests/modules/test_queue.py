"""MoCo's key queue: FIFO order, wrap-around, and the state it saves."""

import pytest
import torch
import torch.nn.functional as F

from vidssl.modules.queue import KeyQueue


def batch(start: int, b: int, dim: int = 3) -> torch.Tensor:
    """b distinguishable unit keys: key i has i in its first coordinate before normalising."""
    k = torch.zeros(b, dim)
    k[:, 0] = torch.arange(start, start + b, dtype=torch.float32)
    k[:, 1] = 1.0
    return F.normalize(k, dim=1)


def ids(keys: torch.Tensor) -> list[int]:
    return [round(v) for v in (keys[:, 0] / keys[:, 1]).tolist()]


def test_starts_full_of_unit_keys_and_saves_its_state():
    q = KeyQueue(8, 5)
    assert q.keys.shape == (8, 5) and torch.allclose(q.keys.norm(dim=1), torch.ones(8))
    assert set(q.state_dict()) == {"keys", "ptr", "ids"} and q.ids.tolist() == [-1] * 8


def test_fifo_order_with_wrap_around():
    q = KeyQueue(5, 3)
    seen: list[int] = []
    start = 0
    for b in [2, 2, 2, 3, 1, 4, 5]:  # wraps several times, ends on a batch the size of the queue
        out = q.dequeue_and_enqueue(batch(start, b))
        if len(seen) >= 5:  # once the random initial keys are gone, the dequeued keys are the oldest ones
            assert ids(out) == seen[-5:][:b]
        seen += list(range(start, start + b))
        start += b
        if len(seen) >= 5:
            assert ids(q.oldest_first()) == seen[-5:]  # oldest first, newest last
        assert int(q.ptr) == len(seen) % 5


def test_a_batch_larger_than_the_queue_keeps_its_newest_keys():
    q = KeyQueue(4, 3)
    q.dequeue_and_enqueue(batch(0, 3))
    out = q.dequeue_and_enqueue(batch(3, 6))  # as if keys 3..8 were enqueued one at a time
    assert ids(q.oldest_first()) == [5, 6, 7, 8]
    assert int(q.ptr) == 9 % 4
    assert ids(out[1:]) == [0, 1, 2]  # everything that was in the queue left it, oldest first


def test_rejects_keys_of_the_wrong_dimension_and_an_empty_queue():
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        KeyQueue(4, 3).dequeue_and_enqueue(torch.randn(2, 4))
    with pytest.raises(ValueError, match=">= 1"):
        KeyQueue(0, 3)
