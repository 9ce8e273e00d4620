"""Read-out models: ADC levels, noise in ADC steps, distortions, calibration, reproducibility."""

import math

import pytest
import torch

from quaton.builder import build_readout
from quaton.config import build_config
from quaton.hardware import ADC, Crosstalk, GainOffset, Nonlinearity, ReadNoise, Readout, slm_response


def test_adc_has_exactly_the_levels_and_a_straight_through_gradient():
    adc = ADC(4)
    x = torch.linspace(-0.5, 1.5, 1001, requires_grad=True)
    y = adc(x, torch.tensor(1.0))
    assert torch.allclose(torch.unique(y.detach()), torch.tensor([0.0, 1 / 3, 2 / 3, 1.0]))
    assert (y - x.clamp(0, 1)).abs().max() <= 1 / 6 + 1e-6
    y.sum().backward()
    inside = (x > 0) & (x < 1)
    outside = (x < 0) | (x > 1)
    assert torch.all(x.grad[inside] == 1.0) and torch.all(x.grad[outside] == 0.0)  # saturated pixels pass no gradient


def test_noise_is_in_adc_steps_and_fresh_every_read_out():
    noise = ReadNoise(sigma=0.5, levels=16)
    image = torch.full((200_000,), 0.5)
    out = noise(image, torch.tensor(3.0))
    step = 3.0 / 15
    assert (out - image).std().item() == pytest.approx(0.5 * step, rel=0.02)
    assert not torch.equal(out, noise(image, torch.tensor(3.0)))
    ideal = ReadNoise(sigma=0.1, levels=None)
    assert (ideal(image, torch.tensor(3.0)) - image).std().item() == pytest.approx(0.3, rel=0.02)


def test_shot_noise_variance_grows_with_the_signal():
    noise = ReadNoise(photons=1000.0)
    for level in (0.1, 0.9):
        image = torch.full((200_000,), level)
        variance = (noise(image, torch.tensor(1.0)) - image).var().item()
        assert variance == pytest.approx(level / 1000.0, rel=0.03)


def test_distortions_are_deterministic_and_physical():
    scale = torch.tensor(2.0)
    image = torch.rand(3, 16, 16) * 2
    crosstalk = Crosstalk(0.1)
    blurred = crosstalk(image, scale)
    assert blurred[:, 1:-1, 1:-1].sum() == pytest.approx(image[:, 1:-1, 1:-1].sum().item(), rel=0.05)
    assert torch.equal(blurred, crosstalk(image, scale))
    point = torch.zeros(1, 5, 5)
    point[0, 2, 2] = 1
    spread = crosstalk(point, scale)[0]
    assert (
        spread[2, 2] == pytest.approx(0.6) and spread[1, 2] == pytest.approx(0.1) and spread.sum() == pytest.approx(1.0)
    )
    gamma = Nonlinearity(gamma=0.5)(torch.tensor([0.5, 2.0]), scale)
    assert torch.allclose(gamma, torch.tensor([1.0, 2.0]))
    saturated = Nonlinearity(saturation=0.5)(torch.tensor([100.0]), scale)
    assert saturated.item() == pytest.approx(1.0)
    assert torch.allclose(GainOffset(1.1, 0.05)(torch.tensor([1.0]), scale), torch.tensor([1.2]))
    phase = torch.linspace(0, 6, 50)
    assert torch.allclose(slm_response(phase, 1.0), phase)
    assert torch.allclose(slm_response(torch.tensor([math.pi]), 2.0), torch.tensor([math.pi / 2]))


def test_calibration_sets_full_scale_from_a_percentile():
    readout = Readout({"adc": ADC(4)}, percentile=90.0)
    readout.calibrate(torch.arange(1001, dtype=torch.float32))
    assert readout.full_scale.item() == pytest.approx(900.0)
    assert readout(torch.tensor([5000.0])).item() == pytest.approx(900.0)


def test_config_builds_the_chain_in_physical_order_and_evaluation_noise_is_reproducible():
    config = build_config(
        {
            "hardware": {
                "readout": {"levels": 16, "noise": 0.5},
                "distortion": {"crosstalk": 0.05, "gamma": 0.8, "gain": 1.1},
            }
        }
    )
    readout = build_readout(config)
    assert list(readout.effects) == ["crosstalk", "nonlinearity", "gain_offset", "noise", "adc"]
    image = torch.rand(2, 8, 8)
    readout.eval()
    readout.reseed()
    first = readout(image)
    readout.reseed()
    assert torch.equal(first, readout(image))
    assert build_readout(build_config({})).ideal


def test_training_noise_is_fresh_independent_of_evaluation_and_resumable():
    readout = Readout({"noise": ReadNoise(sigma=1.0)}, seed=3)
    image = torch.zeros(1000)
    readout.eval()
    evaluation = readout(image)
    readout.train()
    saved = readout.noise_state()
    first = readout(image)
    readout.eval()
    readout.reseed()  # an evaluation between two training read-outs must not restart the training noise
    assert torch.equal(readout(image), evaluation)
    readout.train()
    second = readout(image)
    assert not torch.equal(first, second)
    for drawn in (first, second):  # the training stream is not the evaluation stream, nor shifted by a draw
        assert not torch.equal(drawn, evaluation) and not torch.equal(drawn[:-1], evaluation[1:])
    readout.set_noise_state(saved)
    assert torch.equal(readout(image), first)
    other_run = Readout({"noise": ReadNoise(sigma=1.0)}, seed=3)
    other_run.seed_training(run_seed=1)
    assert not torch.equal(other_run(image), first)
