"""Propagation against analytic optics: Fresnel integrals, Gaussian beams, conservation laws."""

import math

import numpy as np
import pytest
import torch
from scipy.special import fresnel

from quaton.optics import FreeSpace, padded_shape, propagate

WAVELENGTH = 0.5e-6


def square_aperture_field(grid: int, width_px: int) -> tuple[torch.Tensor, np.ndarray]:
    """Centred open square of ``width_px`` pixels; returns the field [N, N] and pixel centres (px)."""
    centres = np.arange(grid) - (grid - 1) / 2
    line = (np.abs(centres) < width_px / 2).astype(float)
    return torch.tensor(np.outer(line, line), dtype=torch.complex128), centres


def fresnel_square_intensity(x: np.ndarray, half_width: float, wavelength: float, z: float) -> np.ndarray:
    """Fresnel diffraction of a unit plane wave by a square of half-width a, at distance z.

    U(x, y) ∝ F(x)·F(y), F(x) = [C(β2) − C(β1) + i(S(β2) − S(β1))]/√2 with
    β1 = −√(2/λz)(a + x), β2 = √(2/λz)(a − x)  (Goodman, Introduction to Fourier Optics, §4.5.1).
    """
    scale = math.sqrt(2.0 / (wavelength * z))
    s2, c2 = fresnel(scale * (half_width - x))
    s1, c1 = fresnel(-scale * (half_width + x))
    line = ((c2 - c1) + 1j * (s2 - s1)) / math.sqrt(2.0)
    return np.abs(np.outer(line, line)) ** 2


# (Fresnel number, grid, aperture width in px): the aperture is sampled finely enough that its
# edges' ringing is resolved (the analytic solution is not band-limited), the window wide enough
# that the pattern at low Fresnel numbers stays inside it.
CASES = [(5.0, 256, 96), (1.0, 256, 64), (0.25, 256, 32)]


@pytest.mark.parametrize("method", ["asm", "fresnel"])
@pytest.mark.parametrize("fresnel_number,grid,width_px", CASES)
def test_square_aperture_matches_fresnel_integrals(method, fresnel_number, grid, width_px):
    pitch = 8 * WAVELENGTH  # paraxial: the analytic solution is the Fresnel approximation
    half_width = width_px / 2 * pitch
    z = half_width**2 / (WAVELENGTH * fresnel_number)
    field, centres = square_aperture_field(grid, width_px)
    out = propagate(field, wavelength=WAVELENGTH, pitch=pitch, distance=z, method=method)
    numeric = out.abs().square().numpy()
    analytic = fresnel_square_intensity(centres * pitch, half_width, WAVELENGTH, z)
    error = np.linalg.norm(numeric - analytic) / np.linalg.norm(analytic)
    assert error < 0.02


def gaussian(grid: int, pitch: float, waist: float, dtype=torch.complex128) -> torch.Tensor:
    r = (torch.arange(grid, dtype=torch.float64) - grid / 2) * pitch
    return torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / waist**2).to(dtype)


def second_moment_width(intensity: torch.Tensor, pitch: float) -> float:
    """1/e² radius w = 2·sqrt(<x²>) of an intensity [N, N] (m)."""
    grid = intensity.shape[-1]
    x = (torch.arange(grid, dtype=torch.float64) - grid / 2) * pitch
    px = intensity.sum(dim=0).double()
    mean = (px * x).sum() / px.sum()
    return float(2.0 * torch.sqrt((px * (x - mean) ** 2).sum() / px.sum()))


@pytest.mark.parametrize("method", ["asm", "fresnel"])
@pytest.mark.parametrize("z_over_zr", [0.5, 1.0, 2.0])
def test_gaussian_beam_width(method, z_over_zr):
    grid, pitch, waist = 256, 1e-6, 10e-6
    rayleigh = math.pi * waist**2 / WAVELENGTH
    out = propagate(
        gaussian(grid, pitch, waist), wavelength=WAVELENGTH, pitch=pitch, distance=z_over_zr * rayleigh, method=method
    )
    expected = waist * math.sqrt(1 + z_over_zr**2)
    assert second_moment_width(out.abs().square(), pitch) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("dtype,tol", [(torch.complex128, 1e-9), (torch.complex64, 1e-5)])
@pytest.mark.parametrize("method", ["asm", "fresnel"])
def test_energy_is_conserved_for_a_band_limited_field(method, dtype, tol):
    grid, pitch, waist = 128, 1e-6, 8e-6
    field = gaussian(grid, pitch, waist, dtype)
    out = propagate(field, wavelength=WAVELENGTH, pitch=pitch, distance=300e-6, method=method)
    before = field.abs().square().sum().item()
    after = out.abs().square().sum().item()
    assert after == pytest.approx(before, rel=tol)
    assert out.dtype == dtype


def test_asm_and_fresnel_agree_in_the_paraxial_regime():
    generator = torch.Generator().manual_seed(0)
    grid, pitch = 128, 10 * WAVELENGTH  # largest angle on the grid: λ/(2·pitch) = 0.05 rad
    noise = torch.randn(grid, grid, dtype=torch.complex128, generator=generator)
    field = noise * gaussian(grid, pitch, 20 * pitch)
    z = 2e-3
    asm = propagate(field, wavelength=WAVELENGTH, pitch=pitch, distance=z, method="asm")
    fres = propagate(field, wavelength=WAVELENGTH, pitch=pitch, distance=z, method="fresnel")
    assert (torch.linalg.norm(asm - fres) / torch.linalg.norm(asm)).item() < 0.02


@pytest.mark.parametrize("method", ["asm", "fresnel"])
def test_propagation_composes(method):
    grid, pitch = 128, 1e-6
    field = gaussian(grid, pitch, 6e-6) * torch.exp(1j * torch.linspace(0, 3, grid, dtype=torch.float64))[None, :]
    kwargs = dict(wavelength=WAVELENGTH, pitch=pitch, method=method)
    two_steps = propagate(propagate(field, distance=150e-6, **kwargs), distance=250e-6, **kwargs)
    one_step = propagate(field, distance=400e-6, **kwargs)
    assert (torch.linalg.norm(two_steps - one_step) / torch.linalg.norm(one_step)).item() < 1e-6


def test_zero_distance_is_identity_and_backward_undoes_forward():
    grid, pitch = 64, 1e-6
    field = gaussian(grid, pitch, 5e-6)
    same = propagate(field, wavelength=WAVELENGTH, pitch=pitch, distance=0.0)
    assert torch.allclose(same, field, atol=1e-12)
    there = propagate(field, wavelength=WAVELENGTH, pitch=pitch, distance=100e-6)
    back = propagate(there, wavelength=WAVELENGTH, pitch=pitch, distance=-100e-6)
    assert torch.allclose(back, field, atol=1e-6)


def test_shape_dtype_and_batch_are_kept():
    field = torch.randn(3, 2, 40, 50, dtype=torch.complex64)
    out = propagate(field, wavelength=WAVELENGTH, pitch=1e-6, distance=50e-6)
    assert out.shape == field.shape and out.dtype == torch.complex64
    real = torch.rand(40, 50)
    assert propagate(real, wavelength=WAVELENGTH, pitch=1e-6, distance=50e-6).dtype == torch.complex64
    batch = propagate(field, wavelength=WAVELENGTH, pitch=1e-6, distance=50e-6, method="fresnel")
    single = propagate(field[1, 0], wavelength=WAVELENGTH, pitch=1e-6, distance=50e-6, method="fresnel")
    assert torch.allclose(batch[1, 0], single, atol=1e-5)


def test_padded_shape_is_fast_and_never_smaller_than_asked():
    for side in [28, 50, 64, 97, 100, 200]:
        for factor in [1.0, 1.5, 2.0]:
            p, q = padded_shape((side, side + 1), factor)
            assert p >= math.ceil(side * factor) and q >= math.ceil((side + 1) * factor)
            for n in (p, q):
                for prime in (2, 3, 5, 7, 11):
                    while n % prime == 0:
                        n //= prime
                assert n == 1
    with pytest.raises(ValueError):
        padded_shape((8, 8), 0.5)


def test_freespace_builds_its_kernel_once(monkeypatch):
    from quaton.optics import elements

    calls = []
    original = elements.transfer_function
    monkeypatch.setattr(elements, "transfer_function", lambda *a, **k: calls.append(1) or original(*a, **k))
    space = FreeSpace(wavelength=WAVELENGTH, pitch=1e-6, distance=100e-6)
    field = gaussian(64, 1e-6, 5e-6, torch.complex64)
    first = space(field)
    second = space(field)
    assert len(calls) == 1 and torch.equal(first, second)
    space(field.to(torch.complex128))
    assert len(calls) == 2
    expected = propagate(field, wavelength=WAVELENGTH, pitch=1e-6, distance=100e-6)
    assert torch.allclose(first, expected)
