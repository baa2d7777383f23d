"""InfoNCE with a queue of negatives, the loss of MoCo.

He et al., "Momentum Contrast for Unsupervised Visual Representation Learning", CVPR 2020,
eq. 1 (after van den Oord et al. 2018): for a query q with positive key k+ and negatives
k_1..k_K,  L_q = -log( exp(q.k+ / t) / (exp(q.k+ / t) + sum_i exp(q.k_i / t)) ),
i.e. a (K+1)-way cross-entropy with the positive at index 0, averaged over the N queries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidssl.losses.ntxent import _at_least_f32


def info_nce(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, *, temperature: float = 0.07,
             query_ids: torch.Tensor | None = None, queue_ids: torch.Tensor | None = None) -> torch.Tensor:
    """q, k: (N, D) queries and their positive keys; queue: (K, D) negative keys, K >= 0.

    All three are L2-normalised here. Gradients flow into whatever requires them; MoCo
    computes k under no_grad and passes a detached copy of its queue. With ``query_ids``
    (N,) and ``queue_ids`` (K,), a queued key of the query's own video is no negative: its
    logit is dropped, exactly as if the key were not in the queue. Similarities and the
    loss are float32 even under bf16 autocast. Returns a scalar.
    """
    if q.ndim != 2 or q.shape != k.shape:
        raise ValueError(f"q and k must both be (N, D), got {tuple(q.shape)} and {tuple(k.shape)}")
    if queue.ndim != 2 or queue.shape[1] != q.shape[1]:
        raise ValueError(f"queue must be (K, {q.shape[1]}), got {tuple(queue.shape)}")
    if (query_ids is None) != (queue_ids is None):
        raise ValueError("pass both query_ids and queue_ids, or neither")
    with torch.autocast(q.device.type, enabled=False):
        q, k, queue = (F.normalize(_at_least_f32(x), dim=1) for x in (q, k, queue))
        pos = (q * k).sum(1, keepdim=True)  # N x 1
        neg = q @ queue.T  # N x K
        if query_ids is not None:
            same = query_ids.to(neg.device)[:, None] == queue_ids.to(neg.device)[None, :]  # N x K
            neg = neg.masked_fill(same, float("-inf"))
        logits = torch.cat([pos, neg], dim=1) / temperature  # N x (1 + K)
        target = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)  # the positive is at index 0
        return F.cross_entropy(logits, target)
