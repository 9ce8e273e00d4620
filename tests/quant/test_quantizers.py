"""Quantizers: hard levels in evaluation, circular wrap, PSQ's limit, gradients, schedules."""

import math

import pytest
import torch

from quaton.builder import build_model
from quaton.config import build_config
from quaton.quant import (
    QUANTIZERS,
    Schedule,
    circular_distance,
    hard_quantize,
    level_values,
    sigmoid_staircase,
)

TWO_PI = 2 * math.pi


def test_circular_levels_and_the_wrap():
    values = level_values(4)
    assert torch.allclose(values, torch.tensor([0, math.pi / 2, math.pi, 3 * math.pi / 2]))
    phases = torch.tensor([TWO_PI - 1e-3, -1e-3, 0.76, 0.80, math.pi, 7 * math.pi / 4 + 1e-3, 5 * TWO_PI + 0.1])
    assert torch.allclose(hard_quantize(phases, 4), torch.tensor([0.0, 0.0, 0.0, math.pi / 2, math.pi, 0.0, 0.0]))


def test_explicit_range_includes_both_endpoints_and_clamps():
    values = level_values(3, (0.0, 1.5 * math.pi))
    assert torch.allclose(values, torch.tensor([0.0, 0.75 * math.pi, 1.5 * math.pi]))
    phases = torch.tensor([-1.0, 0.3, 2.0, 10.0])
    assert torch.allclose(
        hard_quantize(phases, 3, (0.0, 1.5 * math.pi)), torch.tensor([0.0, 0.0, 0.75 * math.pi, 1.5 * math.pi])
    )


@pytest.mark.parametrize("levels", [2, 3, 4, 8, 16])
@pytest.mark.parametrize("value_range", [None, (0.0, 1.8 * math.pi)])
def test_psq_at_very_high_temperature_is_hard_quantization(levels, value_range):
    raw = torch.linspace(-7, 13, 4001)
    # stay away from the step centres, where any finite τ gives 1/2
    delta = TWO_PI / levels if value_range is None else (value_range[1] - value_range[0]) / (levels - 1)
    offset = torch.remainder(raw - (0 if value_range is None else value_range[0]), delta) / delta
    keep = (offset - 0.5).abs() > 1e-3
    if value_range is not None:
        keep &= (raw > value_range[0]) & (raw < value_range[1])
    soft = sigmoid_staircase(raw[keep], levels, value_range, torch.tensor(1e6))
    hard = hard_quantize(raw[keep], levels, value_range)
    assert circular_distance(soft, hard).max() < 1e-4


def test_psq_at_low_temperature_is_smooth_and_has_gradients_everywhere():
    raw = torch.linspace(0.01, TWO_PI - 0.01, 500, requires_grad=True)
    sigmoid_staircase(raw, 4, None, torch.tensor(1.0)).sum().backward()
    assert raw.grad.min() > 0.05


@pytest.mark.parametrize("levels", [2, 3, 4, 8, 16])
@pytest.mark.parametrize("temperature", [0.3, 1.0, 5.0, 20.0])
def test_psq_staircase_is_continuous_on_the_circle(levels, temperature):
    """exp(iQ) has no jump at the 0/2π wrap at any temperature (the old form jumped by 1.1–1.4 rad
    at τ = 1), and Q(x + 2π) = Q(x) + 2π everywhere: the staircase of every turn is the same."""
    tau = torch.tensor(temperature, dtype=torch.float64)
    edge = torch.tensor([TWO_PI - 1e-9, 1e-9, -1e-9], dtype=torch.float64)
    q = sigmoid_staircase(edge, levels, None, tau)
    assert circular_distance(q[0], q[1]) < 1e-3 and circular_distance(q[1], q[2]) < 1e-3
    raw = torch.linspace(-3.0, 9.0, 997, dtype=torch.float64)
    shifted = sigmoid_staircase(raw + TWO_PI, levels, None, tau) - sigmoid_staircase(raw, levels, None, tau)
    assert torch.allclose(shifted, torch.full_like(shifted, TWO_PI), atol=1e-3)


def make(method: str, levels: int = 4, shape=(6, 6)):
    cls = QUANTIZERS[method]
    quantizer = cls(levels, None, Schedule(start=1.0, end=20.0, epochs=3)) if method != "psq-lt" else cls(levels)
    raw = torch.rand(shape) * 20 - 10
    quantizer.initialize(raw)
    return quantizer, raw


@pytest.mark.parametrize("method", list(QUANTIZERS))
@pytest.mark.parametrize("levels", [2, 3, 8])
def test_every_method_evaluates_to_at_most_n_levels(method, levels):
    quantizer, raw = make(method, levels)
    quantizer.eval()
    phases = quantizer(raw)
    allowed = level_values(levels)
    assert len(torch.unique(phases)) <= levels
    assert all(torch.isclose(allowed, p).any() for p in phases.flatten())


@pytest.mark.parametrize("method", list(QUANTIZERS))
def test_every_method_passes_a_gradient_in_training(method):
    quantizer, raw = make(method)
    raw.requires_grad_(True)
    quantizer.train()
    loss = torch.cos(quantizer(raw)).sum()
    loss.backward()
    grads = [p.grad for p in [raw, *quantizer.parameters()] if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_ste_forward_is_hard_and_gradient_is_identity():
    quantizer, raw = make("ste")
    raw.requires_grad_(True)
    out = quantizer(raw)
    assert torch.equal(out.detach(), hard_quantize(raw, 4))
    out.sum().backward()
    assert torch.equal(raw.grad, torch.ones_like(raw))


def test_pq_trains_in_full_precision():
    quantizer, raw = make("pq")
    assert torch.equal(quantizer(raw), raw)


def test_psq_lt_temperature_is_learned_and_penalised():
    quantizer, raw = make("psq-lt")
    assert float(quantizer.current_temperature().detach()) == pytest.approx(1 / 0.055)
    quantizer.update(0.0, epoch=0)
    first = float(quantizer.regularization())
    quantizer.update(0.5, epoch=10)  # the penalty weight doubles every 5 epochs
    assert float(quantizer.regularization()) == pytest.approx(4 * first)
    quantizer.regularization().backward()
    assert quantizer.k.grad > 0  # the penalty pushes k to 0, i.e. the temperature up


@pytest.mark.parametrize("kind", ["linear", "exponential"])
def test_schedules_run_from_start_to_end(kind):
    per_epoch = Schedule(start=1.0, end=20.0, kind=kind, per="epoch", epochs=5)
    assert per_epoch.value(0.0, 0) == pytest.approx(1.0) and per_epoch.value(1.0, 4) == pytest.approx(20.0)
    assert per_epoch.value(0.1, 0) == per_epoch.value(0.19, 0)  # constant within an epoch
    per_step = Schedule(start=1.0, end=20.0, kind=kind, per="step", epochs=5)
    assert per_step.value(0.1, 0) < per_step.value(0.19, 0) < per_step.value(1.0, 4) == pytest.approx(20.0)
    warm = Schedule(start=1.0, end=20.0, epochs=5, warmup_epochs=2)
    assert warm.value(0.3, 1) == 1.0 and warm.value(1.0, 4) == pytest.approx(20.0)
    if kind == "exponential":
        assert per_epoch.value(0.5, 2) == pytest.approx(math.sqrt(20.0))


@pytest.mark.parametrize("method", ["pq", "ste", "gs", "psq", "psq-lt"])
def test_d2nn_evaluates_the_hard_device_with_per_layer_levels(method):
    config = build_config(
        {
            "model": {"grid": 16, "layers": 3, "distances": 50e-6},
            "input": {"object_size": 8},
            "detector": {"size": 2, "gap": 1},
            "quantization": {"method": method, "levels": [2, 4, 8]},
        }
    )
    model = build_model(config).eval()
    for phases, levels in zip(model.phases(), [2, 4, 8]):
        assert len(torch.unique(phases)) <= levels
        assert circular_distance(phases, hard_quantize(phases, levels)).max() < 1e-6
