"""videoMoCo specifics: what the queue holds when the loss is computed, and the batch shuffle."""

import pytest
import torch
import torch.nn.functional as F

from vidssl.backbones import create_backbone
from vidssl.methods import moco
from vidssl.methods.moco import VideoMoCo, VideoMoCoV1


def make(cls=VideoMoCo, **kw):
    torch.manual_seed(0)
    return cls(create_backbone("r3d10", width=0.0625), head_hidden=32, proj_dim=16, queue_size=8, **kw)


def views(seed: int, n: int = 4):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, 3, 4, 16, 16, generator=g) for _ in range(2)]


@pytest.mark.parametrize("cls", [VideoMoCo, VideoMoCoV1])
def test_queue_never_holds_the_current_positive_at_loss_time(cls, monkeypatch):
    model = make(cls).train()
    seen = []
    real = moco.info_nce

    def spy(q, k, queue, *, temperature, **kw):
        seen.append((k.clone(), queue.clone()))
        return real(q, k, queue, temperature=temperature, **kw)

    monkeypatch.setattr(moco, "info_nce", spy)
    for step in range(3):  # 3 x 4 keys through a queue of 8: it wraps
        queue_before = model.queue.keys.clone()
        model(views(step)).backward()
        k, queue_at_loss = seen[-1]
        assert torch.equal(queue_at_loss, queue_before)  # the loss saw only earlier batches' keys
        assert (k @ queue_at_loss.T).max() < 1 - 1e-4  # none of them is a current positive
        assert torch.allclose(model.queue.oldest_first()[-4:], k)  # enqueued afterwards, newest last
        assert torch.allclose(k.norm(dim=1), torch.ones(4))


def test_eval_mode_leaves_the_queue_alone():
    model = make().eval()
    before = model.queue.state_dict()
    with torch.no_grad():
        model(views(0))
    assert all(torch.equal(v, model.queue.state_dict()[n]) for n, v in before.items())


def test_shuffled_keys_are_put_back_in_order(monkeypatch):
    # with one BN group the shuffle cannot change any key, so keys must match an unshuffled pass row for row
    model = make(bn_groups=1).train()
    captured = {}
    real = moco.info_nce

    def spy(q, k, queue, *, temperature, **kw):
        captured["k"] = k
        return real(q, k, queue, temperature=temperature)

    monkeypatch.setattr(moco, "info_nce", spy)
    x = views(5, n=6)
    with torch.no_grad():
        model(x)
        plain = F.normalize(model.key_head(model.key_backbone(x[1])), dim=1)
    torch.testing.assert_close(captured["k"], plain, rtol=1e-4, atol=1e-5)


def test_v1_head_is_linear_and_v2_head_is_an_mlp():
    assert isinstance(make(VideoMoCoV1).head, torch.nn.Linear)
    assert len(make(VideoMoCo).head) == 4


def test_queue_remembers_each_keys_video_and_masks_it():
    model = make().train()
    model(views(0), video_ids=torch.tensor([0, 1, 2, 3]))
    assert model.queue.ids.tolist() == [0, 1, 2, 3, -1, -1, -1, -1]
    seen = {}
    real = moco.info_nce

    def spy(q, k, queue, **kw):
        seen.update(kw)
        return real(q, k, queue, **kw)

    moco.info_nce, saved = spy, moco.info_nce
    try:
        model(views(1), video_ids=torch.tensor([2, 5, 6, 7]))
    finally:
        moco.info_nce = saved
    assert seen["query_ids"].tolist() == [2, 5, 6, 7] and seen["queue_ids"].tolist()[:4] == [0, 1, 2, 3]
    assert model.queue.ids.tolist() == [0, 1, 2, 3, 2, 5, 6, 7]
    # a checkpoint from before keys carried ids still loads, with unknown ids
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("queue.ids")}
    fresh = make()
    fresh.load_state_dict(state)
    assert fresh.queue.ids.tolist() == [-1] * 8
