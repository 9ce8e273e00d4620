"""Lenses and the 4f system against analytic optics: plane waves, focal spots, gratings, the Airy disc, energy."""

import math

import numpy as np
import pytest
import torch

from quaton.optics.fourier import (
    FourFGeometry,
    FourFSystem,
    FourierElement,
    centered_coordinates,
    check_sampling,
    lens_transform,
)

WAVELENGTH, F = 532e-9, 0.1


def geometry(**changes) -> FourFGeometry:
    values = dict(
        wavelength=WAVELENGTH,
        input_pitch=8e-6,
        input_size=5,
        focal_length_1=F,
        focal_length_2=F,
        element_pitch=40e-6,
        element_pixels=64,
        sensor_pitch=8e-6,
        sensor_shape=(48, 48),
        element_oversampling=2,
        sensor_oversampling=2,
    )
    values.update(changes)
    return FourFGeometry(**values)


def point_source(n: int) -> torch.Tensor:
    """One bright pixel of unit energy on the axis (n odd), complex128 [1, n, n]."""
    field = torch.zeros(1, n, n, dtype=torch.complex128)
    field[0, n // 2, n // 2] = 1.0
    return field


def element_with_phase(phase: torch.Tensor) -> FourierElement:
    element = FourierElement(phase.shape[-1], "phase")
    with torch.no_grad():
        element.mask.raw.copy_(phase)
    return element


def centroid(image: torch.Tensor, pitch: float) -> tuple[float, float]:
    y = centered_coordinates(image.shape[0], pitch)
    x = centered_coordinates(image.shape[1], pitch)
    total = image.sum()
    return float((image.sum(1) * y).sum() / total), float((image.sum(0) * x).sum() / total)


def test_lens_maps_a_point_source_to_a_tilted_plane_wave():
    pitch, n = 10e-6, 9
    field = torch.zeros(1, n, n, dtype=torch.complex128)
    field[0, n // 2, n // 2 + 3] = 1.0  # a point 30 µm off axis
    out = lens_transform(field, pitch=pitch, wavelength=WAVELENGTH, focal_length=F, out_pitch=50e-6, out_shape=(1, 64))[
        0, 0
    ]
    u = centered_coordinates(64, 50e-6)
    # a plane wave: constant amplitude Δ²/(λf) apart from the pixel's sinc, phase slope −2π·x0/(λf)
    expected = pitch**2 / (WAVELENGTH * F) * torch.sinc(pitch * u / (WAVELENGTH * F)).abs()
    assert torch.allclose(out.abs(), expected, rtol=1e-9)
    slope = np.diff(np.unwrap(out.angle().numpy())) / 50e-6
    assert np.allclose(slope, -2 * math.pi * 30e-6 / (WAVELENGTH * F), rtol=1e-9)


@pytest.mark.parametrize("cycles", [3, -5])
def test_lens_focuses_a_plane_wave_at_lambda_f_nu(cycles):
    pitch, n = 8e-6, 64
    nu = cycles / (n * pitch)  # spatial frequency of the tilted plane wave (1/m)
    x = centered_coordinates(n, pitch)
    field = torch.exp(2j * math.pi * nu * x)[None, None, :].expand(1, 1, n).to(torch.complex128)
    out_pitch = 2e-6
    out = lens_transform(
        field, pitch=pitch, wavelength=WAVELENGTH, focal_length=F, out_pitch=out_pitch, out_shape=(1, 2001)
    )[0, 0]
    spot = float(centered_coordinates(2001, out_pitch)[out.abs().argmax()])
    assert spot == pytest.approx(WAVELENGTH * F * nu, abs=out_pitch)


@pytest.mark.parametrize("wavelength", [532e-9, 633e-9])
def test_a_linear_phase_ramp_on_the_element_moves_the_psf_by_lambda_f2_nu(wavelength):
    g = geometry(wavelength=wavelength, focal_length_2=0.12, sensor_pitch=8e-6 * 1.2)
    u = centered_coordinates(g.element_pixels, g.element_pitch)
    a = 3.0 / (g.element_pixels * g.element_pitch)  # three cycles across the element (1/m)
    ramp = (2 * math.pi * a * u)[None, :].expand(g.element_pixels, -1)
    with torch.no_grad():
        flat = FourFSystem(g, element_with_phase(torch.zeros(g.element_pixels, g.element_pixels))).double()(
            point_source(5)
        )[0]
        tilted = FourFSystem(g, element_with_phase(torch.remainder(ramp, 2 * math.pi))).double()(point_source(5))[0]
    y0, x0 = centroid(flat, g.sensor_pitch)
    y1, x1 = centroid(tilted, g.sensor_pitch)
    assert abs(x0) < 1e-9 and abs(y1 - y0) < 1e-9
    assert x1 - x0 == pytest.approx(g.deflection(a), rel=0.02)


@pytest.mark.parametrize("coherent", [True, False])
@pytest.mark.parametrize("kind", ["phase", "amplitude", "complex"])
def test_sensor_energy_never_exceeds_the_input_energy(kind, coherent):
    g = geometry(sensor_shape=(128, 128))
    generator = torch.Generator().manual_seed(0)
    element = FourierElement(g.element_pixels, kind, generator=generator)
    t = element.transmission(torch.complex128)
    assert float(t.abs().max()) <= 1.0
    system = FourFSystem(g, element, coherent).double()
    inputs = torch.rand(4, 5, 5, dtype=torch.float64, generator=generator).to(torch.complex128)
    with torch.no_grad():
        out = system(inputs).sum(dim=(1, 2))
    assert torch.all(out <= (inputs.abs() ** 2).sum(dim=(1, 2)) * (1 + 1e-9))
    assert torch.all(out > 0)


def test_clear_pupil_images_an_input_pixel_inverted_with_the_energy_its_spectrum_puts_through_the_stop():
    # phase 0, the element's square as the stop: an off-axis pixel is imaged at −M·x, and the energy
    # reaching the sensor is the part of the pixel's sinc² spectrum inside the stop
    g = geometry(focal_length_2=0.2, sensor_pitch=16e-6, element_pitch=20e-6, element_pixels=128, sensor_shape=(64, 64))
    check_sampling(g)
    field = torch.zeros(1, 5, 5, dtype=torch.complex128)
    field[0, 2, 4] = 1.0  # unit energy, 16 µm right of the axis
    with torch.no_grad():
        image = FourFSystem(g, element_with_phase(torch.zeros(128, 128))).double()(field)[0]
    y, x = centroid(image, g.sensor_pitch)
    assert x == pytest.approx(-2 * 16e-6, abs=0.5e-6) and abs(y) < 1e-9
    half = g.element_width / 2 * g.input_pitch / (g.wavelength * g.focal_length_1)  # stop edge in units of 1/Δ
    v = torch.linspace(-half, half, 200001, dtype=torch.float64)
    through = float(torch.trapezoid(torch.sinc(v) ** 2, v)) ** 2
    assert float(image.sum()) == pytest.approx(through, rel=0.03)


def test_binary_phase_grating_diffraction_orders():
    # a 0/π grating of period Λ (50 % duty): no zero order, orders ±1 with 4/π² each, ±3 with 4/(9π²), no even orders
    g = geometry(
        element_pitch=20e-6, element_pixels=128, sensor_shape=(32, 160), input_pitch=2e-6
    )  # a small pixel: flat spectrum
    period_pixels = 16
    index = torch.arange(g.element_pixels)
    phase = (math.pi * ((index // (period_pixels // 2)) % 2)).to(torch.float32)[None, :].expand(g.element_pixels, -1)
    with torch.no_grad():
        image = FourFSystem(g, element_with_phase(phase)).double()(point_source(5))[0].sum(0)
    x = centered_coordinates(image.shape[0], g.sensor_pitch)
    spacing = g.wavelength * g.focal_length_2 / (period_pixels * g.element_pitch)

    def order(m: int) -> float:
        return float(image[(x - m * spacing).abs() < spacing / 2].sum())

    total = float(image.sum())
    assert order(0) / total < 0.03 and order(2) / total < 0.03  # only the ±1 orders' sinc tails (ideal: 0 vs 0.41)
    assert order(1) == pytest.approx(order(-1), rel=0.02)
    assert order(1) / order(3) == pytest.approx(9.0, rel=0.15)
    assert (order(1) + order(-1)) / total == pytest.approx(
        8 / math.pi**2 / (8 / math.pi**2 + 8 / (9 * math.pi**2) + 8 / (25 * math.pi**2)), rel=0.08
    )


def test_circular_stop_gives_the_airy_disc():
    diameter = 2.0e-3
    g = geometry(
        element_pitch=10e-6,
        element_pixels=256,
        element_aperture=diameter,
        element_oversampling=1,
        sensor_pitch=2e-6,
        sensor_shape=(1, 64),
        sensor_oversampling=1,
        input_pitch=4e-6,
    )
    with torch.no_grad():
        profile = FourFSystem(g, element_with_phase(torch.zeros(256, 256))).double()(point_source(5))[0, 0]
    x = centered_coordinates(64, g.sensor_pitch)
    right = profile[x > 0]
    first_zero = float(x[x > 0][torch.argmin(right[: len(right) // 2 + 8])])
    assert first_zero == pytest.approx(1.22 * g.wavelength * g.focal_length_2 / diameter, rel=0.08)


def test_incoherent_image_is_the_sum_of_mutually_incoherent_pixel_images():
    g = geometry(input_size=4, element_pixels=32, sensor_shape=(16, 16), element_pitch=80e-6)
    element = FourierElement(32, "complex", generator=torch.Generator().manual_seed(2))
    coherent, incoherent = FourFSystem(g, element, True).double(), FourFSystem(g, element, False).double()
    power = torch.rand(1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    single = torch.eye(16, dtype=torch.complex128).reshape(16, 4, 4)
    with torch.no_grad():
        expected = (power.reshape(16, 1, 1) * coherent(single)).sum(0)
        got = incoherent(power.sqrt().to(torch.complex128))[0]
    assert torch.allclose(got, expected, rtol=1e-9, atol=1e-12 * float(expected.max()))


def test_sampling_checks_name_what_to_change():
    with pytest.raises(ValueError, match="element pitch"):
        check_sampling(geometry(element_pitch=200e-6))  # replica period λf2/p_e = 0.27 mm < 0.38 mm sensor
    with pytest.raises(ValueError, match="first order|diffraction orders"):
        check_sampling(geometry(element_pixels=256))  # 10.2 mm element > λf1/Δ = 6.65 mm
    with pytest.raises(ValueError, match="oversampling"):
        check_sampling(geometry(sensor_oversampling=1, element_pixels=150))
    with pytest.raises(ValueError, match="oversampling"):
        check_sampling(geometry(element_oversampling=1, sensor_shape=(164, 164)))
