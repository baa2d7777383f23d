"""The colorization loss against its formula; colour conversion against published values; k-means."""

import math

import pytest
import torch

from vidssl.losses import colour_copy_loss
from vidssl.transforms.colour import kmeans, luma, rgb_to_lab


def reference(target, refs, ref_colours, target_colours, temperature):
    total, count = 0.0, 0
    for n in range(target.shape[0]):
        for i in range(target.shape[1]):
            logits = [float(target[n, i] @ refs[n, j]) / temperature for j in range(refs.shape[1])]
            top = max(logits)
            z = sum(math.exp(v - top) for v in logits)
            a = [math.exp(v - top) / z for v in logits]
            pred = [sum(a[j] * float(ref_colours[n, j, k]) for j in range(refs.shape[1]))
                    for k in range(ref_colours.shape[2])]
            total += -sum(float(target_colours[n, i, k]) * math.log(pred[k] + 1e-8) for k in range(len(pred)))
            count += 1
    return total / count


@pytest.mark.parametrize("temperature", [1.0, 0.3])
def test_colour_copy_loss_matches_the_formula(temperature):
    g = torch.Generator().manual_seed(0)
    target, refs = torch.randn(2, 3, 5, generator=g), torch.randn(2, 4, 5, generator=g)
    ref_colours = torch.rand(2, 4, 3, generator=g).softmax(-1)
    target_colours = torch.rand(2, 3, 3, generator=g).softmax(-1)
    got = colour_copy_loss(target, refs, ref_colours, target_colours, temperature=temperature)
    assert got.item() == pytest.approx(reference(target, refs, ref_colours, target_colours, temperature), rel=1e-5)


def test_pointing_at_the_right_reference_costs_nothing_and_at_the_wrong_one_a_lot():
    refs = torch.eye(2)[None] * 20  # two reference positions, far apart
    colours = torch.eye(2)[None]  # reference 0 is colour 0, reference 1 colour 1
    right = colour_copy_loss(refs[:, :1], refs, colours, colours[:, :1])
    wrong = colour_copy_loss(refs[:, :1], refs, colours, colours[:, 1:])
    assert right.item() < 1e-6 and wrong.item() > 15


def test_colour_copy_loss_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="must be"):
        colour_copy_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), torch.zeros(1, 2, 2), torch.zeros(1, 2, 2))


def test_lab_of_white_red_green_blue_and_black_are_the_published_values():
    rgb = torch.tensor([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], dtype=torch.float64).T.reshape(3, 5, 1)
    lab = rgb_to_lab(rgb)[:, :, 0].T
    want = torch.tensor([[100, 0, 0], [53.24, 80.09, 67.20], [87.73, -86.18, 83.18], [32.30, 79.19, -107.86],
                         [0, 0, 0]], dtype=torch.float64)
    torch.testing.assert_close(lab, want, rtol=0, atol=0.01)
    assert luma(torch.ones(2, 3, 4, 4)).shape == (2, 1, 4, 4)
    torch.testing.assert_close(luma(torch.ones(3, 1, 1)), torch.ones(1, 1, 1))


def test_kmeans_finds_three_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = kmeans(points, 3, torch.Generator().manual_seed(1))
    assert torch.cdist(centres, found).min(1).values.max() < 0.1
    with pytest.raises(ValueError, match="at least k = 3"):
        kmeans(points[:2], 3, g)
