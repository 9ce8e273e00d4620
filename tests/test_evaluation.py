"""The diffraction efficiency (power in the detector regions / input power), against cases whose
answer is known without quaton: a network that does nothing, and a Gaussian beam in free space."""

import json
import math
from pathlib import Path

import pytest
import torch

from quaton.config import build_config, load_config
from quaton.data import encode
from quaton.evaluation import evaluate
from quaton.models.d2nn import D2NN
from quaton.report import run_report
from quaton.tasks import Classification
from quaton.train.loop import train

SMOKE = Path(__file__).parents[1] / "configs" / "smoke.yaml"
WAVELENGTH, PITCH = 532e-9, 1e-6


def _efficiency(model: D2NN, regions: list[tuple[int, int, int, int]], count: int = 4) -> float:
    task = Classification(regions, (model.grid, model.grid))
    images = torch.rand(count, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.zeros(count, dtype=torch.int64)
    return evaluate(build_config({}), model, task, images, labels)["diffraction_efficiency"]


def test_a_network_that_does_nothing_sends_the_regions_their_area_fraction():
    grid = 32
    # 1 pm of free space is the identity (its angular spectrum's phase is 2π·z/λ ≈ 1e-5 rad); phase
    # masks change no intensity; a phase-encoded image is a uniform field over the whole grid
    model = D2NN(
        grid=grid,
        pitch=PITCH,
        wavelength=WAVELENGTH,
        distances=[1e-12, 1e-12, 1e-12],
        encoder=lambda images: encode(images, grid, "phase"),
    )
    regions = [(0, 0, 8, 8), (16, 8, 32, 16), (4, 20, 7, 31)]  # 64 + 128 + 33 px of 1024
    assert _efficiency(model, regions) == pytest.approx((64 + 128 + 33) / grid**2, abs=1e-5)
    tiles = [(row, col, row + 16, col + 16) for row in (0, 16) for col in (0, 16)]  # the whole plane
    assert _efficiency(model, tiles) == pytest.approx(1.0, abs=1e-5)


def _square_fraction(width: float, grid: int, half: int) -> float:
    """The power of a Gaussian beam exp(−2(x² + y²)/w²), sampled at the pixel centres of the grid,
    in the central square of 2·half pixels a side (the sum separates into x and y)."""
    samples = [math.exp(-2 * ((i - (grid - 1) / 2) * PITCH / width) ** 2) for i in range(grid)]
    return (sum(samples[grid // 2 - half : grid // 2 + half]) / sum(samples)) ** 2


def test_a_gaussian_beam_keeps_its_power_and_spreads_as_the_paraxial_beam():
    grid, waist, z = 128, 8e-6, 200e-6
    centre = (torch.arange(grid, dtype=torch.float64) - (grid - 1) / 2) * PITCH
    radius2 = centre[:, None] ** 2 + centre[None, :] ** 2
    beam = torch.exp(-radius2 / waist**2).to(torch.complex64)  # |E|² = exp(−2r²/w₀²)
    model = D2NN(
        grid=grid,
        pitch=PITCH,
        wavelength=WAVELENGTH,
        distances=[z / 2, z / 2],
        init="zeros",
        encoder=lambda images: beam.expand(len(images), grid, grid),
    )
    assert _efficiency(model, [(0, 0, grid, grid)]) == pytest.approx(1.0, abs=1e-4)  # nothing leaves the grid
    # Siegman, Lasers (1986), eq. 17.5-17: the beam stays Gaussian, of width w(z) = w₀·√(1 + (z/z_R)²),
    # z_R = π·w₀²/λ (paraxial: w₀ = 15 λ); its power inside |x|, |y| < a tends to erf(√2·a/w)²
    width = waist * math.sqrt(1 + (z * WAVELENGTH / (math.pi * waist**2)) ** 2)
    half = 8
    square = [(grid // 2 - half, grid // 2 - half, grid // 2 + half, grid // 2 + half)]
    expected = _square_fraction(width, grid, half)
    assert _efficiency(model, square) == pytest.approx(expected, abs=2e-4)
    assert expected == pytest.approx(math.erf(math.sqrt(2) * half * PITCH / width) ** 2, abs=2e-3)
    assert expected < _square_fraction(waist, grid, half) - 0.05  # the beam did spread (0.853 from 0.912)


def test_a_run_reports_its_diffraction_efficiency(tmp_path):
    overrides = ["train.progress=false", "data.train_size=64", "data.test_size=32", "train.epochs=1"]
    train(load_config(SMOKE, overrides), tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    efficiency = metrics["test_diffraction_efficiency"]
    assert 0 < efficiency < 1  # random phases scatter light out of the grid and between the regions
    page = run_report(tmp_path / "run").read_text()
    assert f"{100 * efficiency:.2f} % of the input power in the detector regions" in page
