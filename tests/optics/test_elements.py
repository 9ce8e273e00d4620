"""Elements and detectors: physical behaviour of masks, apertures and detector regions."""

import math

import pytest
import torch

from quaton.config import build_config
from quaton.errors import ConfigError
from quaton.models import D2NN
from quaton.optics import Aperture, FreeSpace, IntensityDetector, PhaseMask, default_regions, propagate
from quaton.optics.elements import reflect_phase, wrap_phase

WAVELENGTH = 0.5e-6


def gaussian(grid: int, pitch: float, waist: float) -> torch.Tensor:
    r = (torch.arange(grid, dtype=torch.float64) - grid / 2) * pitch
    return torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / waist**2).to(torch.complex128)


def centroid_x(intensity: torch.Tensor, pitch: float) -> float:
    grid = intensity.shape[-1]
    x = (torch.arange(grid, dtype=torch.float64) - grid / 2) * pitch
    profile = intensity.sum(dim=0)
    return float((profile * x).sum() / profile.sum())


def test_phase_mask_wraps_and_is_lossless():
    mask = PhaseMask((16, 16))
    with torch.no_grad():
        mask.raw.copy_(torch.linspace(-20, 20, 256).reshape(16, 16))
    phase = mask.phase()
    assert phase.min() >= 0 and phase.max() < 2 * math.pi
    assert torch.allclose(torch.exp(1j * phase.double()), torch.exp(1j * mask.raw.detach().double()), atol=1e-5)
    field = torch.randn(2, 16, 16, dtype=torch.complex64)
    assert torch.allclose(mask(field).abs(), field.abs(), atol=1e-5)


def test_phase_mask_gradient_reaches_raw_parameters():
    mask = PhaseMask((8, 8))
    out = mask(torch.ones(8, 8, dtype=torch.complex64))
    out.real.sum().backward()
    assert mask.raw.grad is not None and mask.raw.grad.abs().sum() > 0


def test_linear_phase_ramp_steers_the_beam_by_the_grating_angle():
    """A phase 2π·f·x deflects a beam by sin θ = λ·f: the centroid moves by z·tan θ."""
    grid, pitch, z = 256, 1e-6, 400e-6
    frequency = 1 / (40 * pitch)
    x = (torch.arange(grid, dtype=torch.float64) - grid / 2) * pitch
    mask = PhaseMask((grid, grid))
    with torch.no_grad():
        mask.raw.copy_((2 * math.pi * frequency * x)[None, :].expand(grid, grid))
    field = mask(gaussian(grid, pitch, 15e-6)).detach()
    out = propagate(field, wavelength=WAVELENGTH, pitch=pitch, distance=z)
    sin_theta = WAVELENGTH * frequency
    expected = z * sin_theta / math.sqrt(1 - sin_theta**2)
    assert centroid_x(out.abs().square(), pitch) == pytest.approx(expected, rel=0.01)


def test_aperture_transmits_only_the_open_area():
    aperture = Aperture.rectangle((32, 32), (8, 4))
    out = aperture(torch.ones(32, 32, dtype=torch.complex64))
    assert out.abs().square().sum().item() == pytest.approx(32)
    assert out[16, 16] == 1 and out[0, 0] == 0


def test_default_layout_is_three_four_three_and_disjoint():
    regions = default_regions(64, 10, size=8)
    assert len(regions) == 10
    rows = sorted({r[0] for r in regions})
    assert [sum(r[0] == row for r in regions) for row in rows] == [3, 4, 3]
    masks = IntensityDetector(regions, (64, 64)).masks
    assert masks.sum(dim=0).max() == 1  # disjoint
    assert torch.equal(masks.sum(dim=(1, 2)), torch.full((10,), 64.0))
    with pytest.raises(ValueError, match="grid"):
        default_regions(16, 10, size=8)


def test_detector_region_energies_are_integrals_of_intensity():
    detector = IntensityDetector([(0, 0, 2, 3), (4, 4, 8, 8)], (8, 8))
    field = torch.randn(3, 8, 8, dtype=torch.complex64)
    image = detector(field)
    energies = detector.region_energies(image)
    assert torch.allclose(energies[:, 0], image[:, 0:2, 0:3].sum(dim=(1, 2)))
    assert torch.allclose(energies[:, 1], image[:, 4:8, 4:8].sum(dim=(1, 2)))
    with pytest.raises(ValueError, match="does not fit"):
        IntensityDetector([(0, 0, 9, 2)], (8, 8))


def test_d2nn_with_flat_masks_is_free_space_over_the_total_distance():
    grid, pitch = 128, 1e-6
    model = D2NN(grid=grid, pitch=pitch, wavelength=WAVELENGTH, distances=[50e-6, 80e-6, 70e-6], init="zeros").double()
    field = gaussian(grid, pitch, 8e-6)[None]
    expected = propagate(field, wavelength=WAVELENGTH, pitch=pitch, distance=200e-6)
    assert torch.allclose(model(field), expected, atol=1e-8)


def test_d2nn_conserves_energy_when_light_stays_on_the_grid():
    grid, pitch = 128, 1e-6
    model = D2NN(grid=grid, pitch=pitch, wavelength=WAVELENGTH, distances=[30e-6] * 3, seed=1)
    with torch.no_grad():  # smooth masks keep the beam on the grid
        for mask in model.masks:
            mask.raw.mul_(0.0).add_(gaussian(grid, pitch, 30e-6).real.float())
    field = gaussian(grid, pitch, 10e-6).to(torch.complex64)[None]
    out = model(field)
    assert out.abs().square().sum().item() == pytest.approx(field.abs().square().sum().item(), rel=1e-4)
    assert isinstance(model.propagations[0], FreeSpace)


def test_a_reflected_phase_is_the_identity_on_0_to_2pi_and_never_jumps():
    """model.phase_mapping reflect: the loaded phase is the parameter on [0, 2π] and moves by no more
    than the parameter does anywhere (a wrapped phase jumps by 2π at every multiple of 2π)."""
    raw = torch.linspace(-20.0, 20.0, 40001, dtype=torch.float64)
    reflected = reflect_phase(raw)
    inside = (raw >= 0) & (raw <= 2 * math.pi)
    assert torch.allclose(reflected[inside], raw[inside])
    assert float(reflected.min()) >= 0 and float(reflected.max()) <= 2 * math.pi + 1e-12
    step = float(raw[1] - raw[0])
    assert float(reflected.diff().abs().max()) <= step * (1 + 1e-9)
    assert float(wrap_phase(raw).diff().abs().max()) > 6.0


def test_reflect_is_refused_for_quantized_masks_with_the_setting_to_change():
    with pytest.raises(ConfigError, match="model.phase_mapping reflect applies to a D2NN's full-precision masks"):
        build_config({}, ["model.phase_mapping=reflect", "quantization.method=psq", "quantization.levels=4"])
