"""GS initialisation: the initial GS device is the device the other methods start from."""

import math

import pytest
import torch

from quaton.quant import GumbelSoftmaxQuantizer, StraightThroughQuantizer


@pytest.mark.parametrize(
    ("levels", "value_range"), [(4, None), (8, None), (4, (0.0, math.pi)), (5, (0.5, 4.0)), (3, (0.0, 2 * math.pi))]
)
def test_the_initial_gs_device_is_the_hard_device_of_the_initial_phases(levels, value_range):
    """Within an explicit range the other methods clamp; GS's logits must pick the same level. With
    the circular distance a phase just below 2π went to the range's lower end (5.9 rad -> 0 in
    [0, π], where clamping gives π), and levels at 0 and 2π tied."""
    raw = torch.cat(
        [
            torch.rand(2000, generator=torch.Generator().manual_seed(0)) * 2 * math.pi,
            torch.tensor([5.9, 6.2, 0.01, 3.5]),
        ]
    )
    raw = raw[None]  # [1, P]: a mask of pixels
    gs = GumbelSoftmaxQuantizer(levels, value_range)
    gs.initialize(raw)
    expected = StraightThroughQuantizer(levels, value_range).hard(raw)
    assert torch.equal(gs.hard(raw), expected)


def test_the_initial_logits_prefer_the_nearer_level_within_a_range():
    """logit_k = −(d/Δ)²: in [0, π] with 4 levels (Δ = π/3) a phase of 1.0 rad is 1.0 from level 0
    and π/3 − 1.0 from level 1; a phase above the range is nearest to the top level."""
    gs = GumbelSoftmaxQuantizer(4, (0.0, math.pi))
    gs.initialize(torch.tensor([1.0, 5.9]))
    delta = math.pi / 3
    assert gs.weights[0, 0].item() == pytest.approx(-((1.0 / delta) ** 2), rel=1e-5)
    assert gs.weights[0, 1].item() == pytest.approx(-(((delta - 1.0) / delta) ** 2), rel=1e-5)
    assert gs.weights[1].argmax().item() == 3 and gs.weights[1, 3].item() == 0.0
