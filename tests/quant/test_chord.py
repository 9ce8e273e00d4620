"""Chord relaxation: why phase gradients cannot train binary masks, and that chord gradients can.

A pixel of a {0, π} mask switches t = ±1 -> ∓1, a move of −2t along the real axis; the phase
gradient measures the response to iδ·t, orthogonal to that move. The chord (secant between the
levels) is the move itself, so its first-order prediction of a switch is good where the phase
gradient's is no better than chance.
"""

import math

import pytest
import torch

from quaton.builder import build_model, build_task, encode_batch
from quaton.config import build_config
from quaton.optics.elements import PhaseMask, chord_transmission
from quaton.quant import QUANTIZERS, Schedule, level_values

TWO_PI = 2 * math.pi


@pytest.mark.parametrize("levels", [2, 3, 4, 8])
@pytest.mark.parametrize("value_range", [None, (0.0, 1.5 * math.pi)])
def test_chord_is_exact_on_every_level_and_passive_between(levels, value_range):
    values = level_values(levels, value_range, dtype=torch.float64)
    on_levels = chord_transmission(values, levels, value_range)
    assert torch.allclose(on_levels, torch.polar(torch.ones_like(values), values), atol=1e-12)
    phase = torch.linspace(-1.0, 8.0, 2001, dtype=torch.float64)
    t = chord_transmission(phase, levels, value_range)
    assert t.abs().max() <= 1 + 1e-12  # a passive element never amplifies
    # between two neighbouring levels the transmission lies on the straight segment joining them
    step = float(values[1] - values[0])
    inside = (phase > values[0]) & (phase < values[1])
    f = (phase[inside] - values[0]) / step
    expected = (1 - f) * torch.polar(torch.ones_like(f), values[0].expand_as(f)) + f * torch.polar(
        torch.ones_like(f), values[1].expand_as(f)
    )
    assert torch.allclose(t[inside], expected, atol=1e-12)


def _switch_predictions(relaxation: str, pixels: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """True loss change of switching each pixel of a random binary mask, and the first-order
    prediction of the relaxation's gradient; loss = detector energy of a random optical system."""
    generator = torch.Generator().manual_seed(seed)
    system = torch.randn(8, pixels, dtype=torch.complex128, generator=generator)
    field = torch.polar(
        torch.ones(pixels, dtype=torch.float64), torch.rand(pixels, generator=generator, dtype=torch.float64) * TWO_PI
    )
    levels = torch.randint(0, 2, (pixels,), generator=generator).to(torch.float64) * math.pi

    def loss(t: torch.Tensor) -> torch.Tensor:
        return (system @ (field * t)).abs().square()[:4].sum()

    raw = levels.clone().requires_grad_(True)
    t = chord_transmission(raw, 2, None) if relaxation == "chord" else torch.polar(torch.ones_like(raw), raw)
    loss(t).backward()
    base = float(loss(torch.polar(torch.ones_like(levels), levels)))
    true = torch.empty(pixels, dtype=torch.float64)
    for k in range(pixels):
        flipped = levels.clone()
        flipped[k] += math.pi
        true[k] = float(loss(torch.polar(torch.ones_like(flipped), flipped))) - base
    return true, raw.grad * math.pi


def test_chord_gradient_predicts_a_binary_switch_and_the_phase_gradient_does_not():
    correlation = {}
    for relaxation in ("chord", "arc"):
        true, predicted = _switch_predictions(relaxation)
        correlation[relaxation] = float(torch.corrcoef(torch.stack([true, predicted]))[0, 1])
    assert correlation["chord"] > 0.9
    assert abs(correlation["arc"]) < 0.3


def _binary_device_loss_after_training(relaxation: str, steps: int = 40, method: str = "ste") -> float:
    config = build_config(
        {
            "model": {"grid": 24, "layers": 2, "distances": 40e-6},
            "input": {"object_size": 12},
            "detector": {"size": 4, "gap": 1},
            "quantization": {"method": method, "levels": 2, "relaxation": relaxation},
        }
    )
    torch.manual_seed(0)
    model = build_model(config)
    task = build_task(config, 2)
    generator = torch.Generator().manual_seed(1)
    # two classes of phase objects: a bright bar left or right of centre
    x = torch.zeros(64, 12, 12)
    y = torch.randint(0, 2, (64,), generator=generator)
    for i in range(64):
        column = 2 + int(y[i]) * 6 + int(torch.randint(0, 3, (1,), generator=generator))
        x[i, :, column] = 1.0
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        loss = task.loss(model.intensity(encode_batch(config, x)), task.target(x, y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        return float(task.loss(model.intensity(encode_batch(config, x)), task.target(x, y)))


def test_binary_masks_train_on_the_chord_and_not_on_the_arc():
    chord = _binary_device_loss_after_training("chord")
    arc = _binary_device_loss_after_training("arc")
    assert chord < arc - 0.05, (chord, arc)


def test_binary_gs_gets_no_gradient_on_the_arc_and_trains_on_the_mixture():
    """GS at 2 levels on the arc mixes the phases on the circle: the phase of y₀ − y₁ is exactly 0 or π,
    so the logits' gradient is zero (up to rounding) (binary GS was at chance on MNIST). On the chord the
    mask trains the mixture y₀·e^{i0} + y₁·e^{iπ}, which carries the gradient."""
    gradients = {}
    for relaxation in ("arc", "chord"):
        torch.manual_seed(0)
        quantizer = QUANTIZERS["gs"](2, None)
        quantizer.relaxation = relaxation
        mask = PhaseMask((8, 8), quantizer=quantizer)
        mask.train()
        target = torch.polar(torch.ones(8, 8), torch.rand(8, 8, generator=torch.Generator().manual_seed(2)) * 6)
        (mask.transmission() - target).abs().square().sum().backward()
        gradients[relaxation] = quantizer.weights.grad.abs().max().item()
    assert gradients["chord"] > 0.1
    assert gradients["arc"] < 1e-3 * gradients["chord"]  # zero up to float32's sin(π) ≈ −9e-8
    gs_chord = _binary_device_loss_after_training("chord", method="gs")
    gs_arc = _binary_device_loss_after_training("arc", method="gs")
    assert gs_chord < gs_arc - 0.05, (gs_chord, gs_arc)


def test_the_gs_mixture_is_the_hard_device_in_value():
    """With hard samples the trained transmission's value is a level's (the one-hot sample's)."""
    torch.manual_seed(0)
    quantizer = QUANTIZERS["gs"](4, None)
    mask = PhaseMask((6, 6), quantizer=quantizer)
    mask.train()
    t = mask.transmission(torch.complex128)
    assert torch.allclose(t.abs(), torch.ones(6, 6, dtype=torch.float64), atol=1e-6)
    on_level = torch.remainder(t.angle(), 2 * math.pi) / (math.pi / 2)
    assert (on_level - on_level.round()).abs().max() < 1e-5


def test_psq_warm_up_trains_full_precision_phases():
    quantizer = QUANTIZERS["psq"](2, None, Schedule(start=1.0, end=20.0, epochs=4, warmup_epochs=1))
    mask = PhaseMask((4, 4), quantizer=quantizer)
    quantizer.update(0.0, 0)
    assert not quantizer.uses_chord()
    assert torch.allclose(mask.transmission(torch.complex128).abs(), torch.ones(4, 4, dtype=torch.float64))
    quantizer.update(0.5, 2)
    assert quantizer.uses_chord()
