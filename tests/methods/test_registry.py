"""Every registered method, through the registry: one AdamW step on a tiny batch, then after_step."""

import copy
import dataclasses

import pytest
import torch

from vidssl.backbones.r3d import ResNet3d
from vidssl.config import ModelConfig, PretrainConfig
from vidssl.engine import build_model, make_optimizer
from vidssl.methods import METHODS


def tiny_config(method: str) -> PretrainConfig:
    return PretrainConfig(method=method, model=ModelConfig(width=0.0625, head_hidden=32, proj_dim=16), queue_size=16,
                          ema_momentum=0.9)


def forward(model, views: list[torch.Tensor], seed: int = 0) -> torch.Tensor:
    """The method's loss on ``views``, with each clip's audio (a log-mel second) for a method that listens."""
    if not getattr(model, "wants_audio", False):
        return model(views)
    g = torch.Generator().manual_seed(seed + 100)
    return model(views, audio=torch.randn(views[0].shape[0], 1, 40, 100, generator=g))


def clips(num_views: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    # N x C x T x H x W: T = 12, divisible by 3 (clip_order, odd_one_out) and >= 10 (order_verification: 5 x 2)
    return [torch.randn(4, 3, 12, 16, 16, generator=g) for _ in range(num_views)]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_one_step_trains_and_moves_momentum_encoders_by_ema(name):
    cfg = tiny_config(name)
    model = build_model(cfg)
    assert model.num_views in (1, 2)
    assert isinstance(model.backbone, ResNet3d)  # the encoder that evaluation uses
    unused = model.untrained_parameters() if hasattr(model, "untrained_parameters") else set()  # declared, below
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad and n not in unused}
    frozen = {n: p for n, p in model.named_parameters() if not p.requires_grad}
    backbone_ids = {id(p) for n, p in model.named_parameters() if n.startswith("backbone.") and n not in unused}
    assert backbone_ids <= {id(p) for p in trained.values()}
    assert all(n.startswith(("backbone.stages.2.", "backbone.stages.3.")) for n in unused)  # the stem and stages 1-2 train
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = make_optimizer(model, cfg)

    model.train()
    loss = forward(model, clips(model.num_views))
    assert loss.ndim == 0 and torch.isfinite(loss)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    for n, p in trained.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{n} got no finite gradient"
    for n, p in frozen.items():
        assert p.grad is None, f"momentum parameter {n} received a gradient"
    for n in unused:  # what a method says it leaves untouched, it does
        assert dict(model.named_parameters())[n].grad is None, n
    opt.step()
    for n, p in trained.items():
        assert not torch.equal(p, before[n]), f"trained parameter {n} did not change"
    for n, p in frozen.items():
        assert torch.equal(p, before[n]), f"momentum parameter {n} was moved by the optimiser"

    if not hasattr(model, "momentum_pairs"):
        assert not frozen and not hasattr(model, "after_step")
        return
    step, total = 3, 10
    m = model.momentum_at(step, total)
    assert 0.9 <= m < 1
    pairs = model.momentum_pairs()
    assert {id(p) for t, _ in pairs for p in t.parameters()} == {id(p) for p in frozen.values()}
    expected = [[m * k.clone() + (1 - m) * q.detach().clone() for k, q in zip(t.parameters(), o.parameters())]
                for t, o in pairs]
    model.after_step(step, total)  # theta_k <- m theta_k + (1 - m) theta_q, with theta_q after the step
    for (t, _), exp in zip(pairs, expected):
        for p, e in zip(t.parameters(), exp):
            torch.testing.assert_close(p, e, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_same_seed_same_loss_and_the_state_round_trips(name):
    """The method's own randomness is saved with its weights, so a resumed run draws the same numbers."""
    cfg = tiny_config(name)
    a, b = build_model(cfg), build_model(cfg)
    views = clips(a.num_views, seed=1)
    with torch.no_grad():
        forward(a, views)  # advances a's random state (and fills a MoCo queue)
        b.load_state_dict(copy.deepcopy(a.state_dict()))
        assert torch.equal(forward(a, views), forward(b, views))


def test_each_method_resolves_its_own_defaults():
    from vidssl.methods import method_defaults, resolve_defaults

    assert {name: method_defaults(name) for name in METHODS} == {
        "simclr": {"temperature": 0.1, "proj_dim": 256},  # unchanged: the demo and real-video figures
        "moco_v1": {"temperature": 0.07, "ema_momentum": 0.99, "proj_dim": 128},  # MoCo v1: tau 0.07, 128-d
        "moco_v2": {"temperature": 0.2, "ema_momentum": 0.99, "proj_dim": 128},  # MoCo v2: tau 0.2, 128-d
        "byol": {"ema_momentum": 0.99, "proj_dim": 256},  # BYOL: 256-d
        "rotnet": {}, "clip_order": {}, "arrow_of_time": {}, "masked_video": {},
        "order_verification": {}, "odd_one_out": {}, "future_prediction": {},
        "colorization": {"temperature": 1.0},  # Vondrick et al.: softmax of raw dot products
        "dpc": {"temperature": 1.0},  # Han et al.: raw dot products
        "audio_visual": {},
    }
    for name in METHODS:  # what build_model makes of None is what resolve_defaults records
        cfg = PretrainConfig(method=name, model=ModelConfig(width=0.0625, head_hidden=32), queue_size=16)
        built, resolved = build_model(cfg), resolve_defaults(cfg)
        assert getattr(built, "temperature", None) == resolved.temperature
        assert getattr(built, "ema_momentum", None) == resolved.ema_momentum
        if resolved.model.proj_dim is not None:  # the last layer of the (target) projection head
            last = [m for m in built.modules() if isinstance(m, torch.nn.Linear)][-1]
            assert last.out_features == resolved.model.proj_dim
        given = resolve_defaults(dataclasses.replace(cfg, temperature=0.3, ema_momentum=0.9, model=ModelConfig(proj_dim=8)))
        assert (given.temperature, given.ema_momentum, given.model.proj_dim) == (0.3, 0.9, 8)  # given values win


def test_help_states_the_resolved_defaults():
    from vidssl.cli import HELP
    from vidssl.methods import method_defaults

    d = {name: method_defaults(name) for name in ("simclr", "moco_v1", "moco_v2", "byol")}
    for name in ("simclr", "moco_v1", "moco_v2"):
        assert f"{name} {d[name]['temperature']}" in HELP["temperature"]
    assert d["moco_v1"]["proj_dim"] == d["moco_v2"]["proj_dim"]
    for name, key in (("simclr", "simclr"), ("moco_v1", "moco"), ("byol", "byol")):
        assert f"{key} {d[name]['proj_dim']}" in HELP["proj_dim"]
    assert d["moco_v1"]["ema_momentum"] == d["moco_v2"]["ema_momentum"] == d["byol"]["ema_momentum"]
    assert f"default: {d['byol']['ema_momentum']} for both" in HELP["ema_momentum"]
    assert PretrainConfig().weight_decay == 1e-4 and "1e-4 is practically none" in HELP["weight_decay"]


@pytest.mark.parametrize("name", sorted(n for n in METHODS if not hasattr(METHODS[n], "momentum_at")))
def test_one_step_lowers_the_loss_on_a_fixed_batch(name):
    """The same batch and the same random draws (a method's own randomness rewound) score lower after one
    optimiser step: the loss is what the step descends."""
    cfg = tiny_config(name)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)  # small enough to descend, large enough to show
    views = clips(model.num_views, seed=2)
    rngs = [m for m in model.modules() if type(m).__name__ == "StepRNG"]
    calls = [r.calls.clone() for r in rngs]
    loss = forward(model, views)
    opt.zero_grad()
    loss.backward()
    opt.step()
    for r, c in zip(rngs, calls):  # the same labels, permutations and masks as the first pass
        r.calls.copy_(c)
    with torch.no_grad():
        after = forward(model, views)
    assert after < loss.detach(), (name, float(loss), float(after))
