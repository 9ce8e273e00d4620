"""The relief model (WPM, quaton.optics.relief) against exact solutions and against a rigorous
solver quaton does not write (meent's RCWA, a test-only dependency)."""

import math

import numpy as np
import pytest
import torch

from quaton.optics.relief import order_efficiencies, relief_transmit, thin_transmit
from tests.optics.rcwa_reference import rcwa_efficiencies

WAVELENGTH, N_GLASS, N_AIR = 1.0e-6, 1.5, 1.0
FRESNEL_T = 2 * N_GLASS / (N_GLASS + N_AIR)  # amplitude, glass to air, normal incidence


def test_a_uniform_slab_delays_a_plane_wave_by_its_optical_path():
    """A flat relief of height h: every pixel is material from 0 to h, so a plane wave leaves with
    t·exp(i·2π·n·h/λ₀) (the slab's optical path; the exit surface's Fresnel transmission)."""
    height = 1.37e-6
    field = torch.ones(64, 64, dtype=torch.complex128)
    out = relief_transmit(
        field, torch.full((64, 64), height), wavelength=WAVELENGTH, pitch=0.5e-6, n_material=N_GLASS, n_medium=N_AIR
    )
    expected = FRESNEL_T * np.exp(1j * 2 * math.pi * N_GLASS * height / WAVELENGTH)
    assert torch.allclose(out, torch.full_like(out, complex(expected)), atol=1e-9)


def test_no_relief_is_the_bare_surface():
    field = torch.randn(3, 32, dtype=torch.complex128)
    out = relief_transmit(field, torch.zeros(32), wavelength=WAVELENGTH, pitch=1e-6, n_material=N_GLASS)
    assert torch.allclose(out, FRESNEL_T * field)


def test_a_wide_binary_pi_grating_sends_four_over_pi_squared_into_each_first_order():
    """Pixels of 10.2 λ: the thin-element limit. A π step (h = λ/2(n − n₀)) puts 4/π² of the
    transmitted power into each ±1 order and none into the 0th (scalar theory)."""
    heights = torch.tensor([0.0, WAVELENGTH / (2 * (N_GLASS - N_AIR))])
    pitch, upsample = 10.2 * WAVELENGTH, 64
    out = relief_transmit(
        torch.ones(2, dtype=torch.complex128),
        heights,
        wavelength=WAVELENGTH,
        pitch=pitch,
        n_material=N_GLASS,
        upsample=upsample,
    )
    eta = order_efficiencies(out, wavelength=WAVELENGTH, pitch=pitch / upsample, n_in=N_GLASS, n_out=N_AIR)
    transmitted = N_AIR / N_GLASS * FRESNEL_T**2  # 0.96 of the power
    assert eta[1] == pytest.approx(4 / math.pi**2 * transmitted, rel=0.01)
    assert eta[-1] == pytest.approx(eta[1], rel=1e-6) and eta[0] < 0.002
    assert sum(eta.values()) <= transmitted + 1e-9  # forward-only: no power is made


# (levels, pixel pitch in wavelengths): 1-D random reliefs of about 12 λ period, where the thin
# element fails (pixels of 0.5-2 λ). RCWA's own energy balance is checked before it is believed.
CASES = [(2, 0.53), (4, 1.03), (4, 2.07), (8, 0.53)]


@pytest.mark.parametrize(("levels", "pixel"), CASES)
def test_the_relief_model_matches_rcwa_where_the_thin_element_does_not(levels, pixel):
    pytest.importorskip("meent")
    rng = np.random.default_rng(levels * 100 + int(pixel * 10))
    count = max(6, round(12 / pixel))
    heights = rng.integers(0, levels, count) * (WAVELENGTH / (N_GLASS - N_AIR)) / levels
    pitch, upsample = pixel * WAVELENGTH, 32
    reference, transmitted, reflected = rcwa_efficiencies(heights, pitch, WAVELENGTH, N_GLASS, N_AIR)
    assert transmitted + reflected == pytest.approx(1.0, abs=1e-3)
    field = torch.ones(count, dtype=torch.complex128)
    kwargs = {"wavelength": WAVELENGTH, "n_material": N_GLASS, "n_medium": N_AIR}
    relief = relief_transmit(field, torch.tensor(heights), pitch=pitch, upsample=upsample, **kwargs)
    thin = thin_transmit(field.repeat_interleave(upsample), torch.tensor(heights).repeat_interleave(upsample), **kwargs)

    def error(field_out: torch.Tensor) -> float:
        eta = order_efficiencies(field_out, wavelength=WAVELENGTH, pitch=pitch / upsample, n_in=N_GLASS, n_out=N_AIR)
        return max(abs(eta.get(m, 0.0) - reference.get(m, 0.0)) for m in set(eta) | set(reference))

    relief_error, thin_error = error(relief), error(thin)
    # measured: (2, 0.53 λ) 0.013 against the thin element's 0.040, (4, 1.03) 0.009 / 0.043,
    # (4, 2.07) 0.003 / 0.041, (8, 0.53) 0.044 / 0.101 (largest difference of any order's efficiency)
    assert relief_error < 0.05, (relief_error, thin_error)
    assert relief_error <= 0.5 * thin_error, (relief_error, thin_error)


def test_with_a_soft_edge_the_field_is_differentiable_in_the_heights():
    """The gradient of a detected power with respect to the heights (edge > 0) matches central
    finite differences, and the soft relief converges to the sharp one as the edge narrows."""
    torch.manual_seed(0)
    heights = (torch.rand(8, dtype=torch.float64) * 1.5e-6).requires_grad_(True)
    field = torch.ones(8, dtype=torch.complex128)
    weights = torch.rand(16, dtype=torch.float64)
    kwargs = {"wavelength": WAVELENGTH, "pitch": 0.8e-6, "n_material": N_GLASS, "upsample": 2, "thickness": 2e-6}

    def power(h: torch.Tensor, edge: float) -> torch.Tensor:
        return (relief_transmit(field, h, edge=edge, **kwargs).abs() ** 2 * weights).sum()

    power(heights, 0.05e-6).backward()
    step = 1e-10
    for index in (0, 3, 7):
        shift = torch.zeros_like(heights)
        shift[index] = step
        numeric = (power(heights.detach() + shift, 0.05e-6) - power(heights.detach() - shift, 0.05e-6)) / (2 * step)
        assert float(heights.grad[index]) == pytest.approx(float(numeric), rel=1e-4, abs=1e-3)
    sharp = relief_transmit(field, heights.detach(), **kwargs)
    assert torch.allclose(relief_transmit(field, heights.detach(), edge=1e-12, **kwargs), sharp, atol=1e-6)
