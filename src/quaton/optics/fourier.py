"""Lenses as Fourier transforms and the 4f correlator: pure functions, then the module that wraps them.

A thin lens of focal length f maps the field U(x) in its front focal plane to

    U_f(u) = 1/(iλf) ∫ U(x) exp(−i2π x·u/(λf)) dx            (Goodman, Introduction to Fourier Optics, eq. 5-19)

in its back focal plane: position u there is spatial frequency ν = u/(λf). A 4f system (lens f1, an
element t(u) in the shared focal plane, lens f2) images the input inverted with magnification
M = f2/f1 and convolves it with the point-spread function the element's transmission makes: a
linear phase t(u) = exp(i2π a·u) moves the image by λ·f2·a on the sensor.

Every transform here is a *matrix* Fourier transform (Soummer et al., Opt. Express 15, 15935 (2007)):
the exponentials are evaluated between exactly the sample positions of the two planes, so every
plane keeps its own pitch (input SLM Δ, element p_e, sensor p_s) and no FFT padding decides where
light lands. Three piecewise-constant approximations, each exact for the device it models:

- the input is a pixelated modulator: pixel i (pitch Δ, full fill) contributes Δ²·sinc(Δu/(λf1))
  (the pixel's box), so its higher diffraction orders are part of the spectrum;
- the element is pixelated: each element pixel is ``oversampling`` × ``oversampling`` Fourier-plane
  cells of width δu = p_e/oversampling, and the field in the Fourier plane is taken constant over a
  cell, so lens 2 integrates boxes: a sinc(δu·x'/(λf2)) envelope on the sensor;
- the sensor integrates intensity over each pixel: ``sensor_oversampling``² points per pixel.

Sampling the Fourier plane at δu makes the sensor-plane field periodic with period λf2/δu; the
element's pixel grid itself repeats the PSF every λf2/p_e (its diffraction orders).
:func:`check_sampling` states which layouts these allow.

Coherent light: the camera sees |U ∗ h|². Spatially incoherent light (mutually incoherent input
pixels): the intensity PSF |h|² convolves the pixel powers; computed as the autocorrelation of the
pupil (the optical transfer function), equal to the average of the coherent image over random
pixel phases.

Units: lengths in metres; a field's |a|² per input pixel is its energy (e.g. photons) per exposure,
so sensor values are energies per sensor pixel, and a passive element (|t| ≤ 1) never makes more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from quaton.optics.elements import PhaseMask, PhaseQuantizer

ElementKind = Literal["phase", "amplitude", "complex"]
ELEMENT_KINDS: tuple[str, ...] = ("phase", "amplitude", "complex")


def centered_coordinates(samples: int, pitch: float) -> torch.Tensor:
    """Sample centres float64 [samples] (m), symmetric about the optical axis: (i − (samples − 1)/2)·pitch."""
    return (torch.arange(samples, dtype=torch.float64) - (samples - 1) / 2.0) * pitch


def lens_matrix(inputs: torch.Tensor, outputs: torch.Tensor, wavelength: float, focal_length: float) -> torch.Tensor:
    """One axis of a lens transform: exp(−i2π·out·in/(λf)), complex128 [len(outputs), len(inputs)]."""
    phase = -2.0 * math.pi * outputs[:, None] * inputs[None, :] / (wavelength * focal_length)
    return torch.polar(torch.ones_like(phase), phase)


def lens_transform(
    field: torch.Tensor,
    *,
    pitch: float,
    wavelength: float,
    focal_length: float,
    out_pitch: float,
    out_shape: tuple[int, int],
) -> torch.Tensor:
    """The field in a lens's back focal plane from the field in its front focal plane.

    ``field``: complex [..., H, W], the field U (amplitude per √m², e.g. √(photons)/m) constant over
    each input pixel of ``pitch`` (m), centred on the axis. Returns U_f = 1/(iλf) ∫ U(x) e^{−i2πx·u/(λf)} dx
    at the centres of an ``out_shape`` grid of pitch ``out_pitch`` (m), complex [..., P, Q]; the
    pixel box gives each output the factor Δ²·sinc(Δu_y/(λf))·sinc(Δu_x/(λf)).
    """
    h, w = field.shape[-2:]
    scale = wavelength * focal_length
    rows, cols = centered_coordinates(out_shape[0], out_pitch), centered_coordinates(out_shape[1], out_pitch)
    ey = (
        lens_matrix(centered_coordinates(h, pitch), rows, wavelength, focal_length)
        * torch.sinc(pitch * rows / scale)[:, None]
    )
    ex = (
        lens_matrix(centered_coordinates(w, pitch), cols, wavelength, focal_length)
        * torch.sinc(pitch * cols / scale)[:, None]
    )
    dtype = field.dtype if field.is_complex() else torch.complex64
    ey, ex = ey.to(dtype=dtype, device=field.device), ex.to(dtype=dtype, device=field.device)
    return (pitch**2 / (1j * scale)) * (ey @ field.to(dtype) @ ex.transpose(0, 1))


@dataclass(frozen=True)
class FourFGeometry:
    """A 4f optical correlator, every length in metres.

    ``input_size`` pixels per side at ``input_pitch`` Δ (the SLM or object); lens ``focal_length_1``;
    an element of ``element_pixels``² pixels of ``element_pitch`` p_e in the Fourier plane, each
    simulated as ``element_oversampling``² cells, behind a circular stop of diameter
    ``element_aperture`` (None: the element's square edge is the stop); lens ``focal_length_2``; a
    sensor of ``sensor_shape`` (rows, columns) pixels of ``sensor_pitch`` p_s, centred on the axis,
    each integrated over ``sensor_oversampling``² points.
    """

    wavelength: float
    input_pitch: float
    input_size: int
    focal_length_1: float
    focal_length_2: float
    element_pitch: float
    element_pixels: int
    sensor_pitch: float
    sensor_shape: tuple[int, int]
    element_oversampling: int = 2
    sensor_oversampling: int = 2
    element_aperture: float | None = None

    @property
    def magnification(self) -> float:
        """|M| = f2/f1 (the image is inverted)."""
        return self.focal_length_2 / self.focal_length_1

    @property
    def cell(self) -> float:
        """Fourier-plane sample pitch δu = p_e / element_oversampling (m)."""
        return self.element_pitch / self.element_oversampling

    @property
    def fourier_samples(self) -> int:
        """Fourier-plane samples per side: element_pixels · element_oversampling."""
        return self.element_pixels * self.element_oversampling

    @property
    def element_width(self) -> float:
        """Side of the element (m)."""
        return self.element_pixels * self.element_pitch

    @property
    def stop_width(self) -> float:
        """Widest extent of the Fourier-plane stop (m): the element or its circular aperture."""
        return (
            self.element_width
            if self.element_aperture is None
            else min(self.element_aperture, self.element_width * math.sqrt(2.0))
        )

    @property
    def first_order(self) -> float:
        """λf1/Δ (m): where the input modulator's first diffraction order lies in the Fourier plane."""
        return self.wavelength * self.focal_length_1 / self.input_pitch

    @property
    def replica_period(self) -> float:
        """λf2/p_e (m): the element's pixel grid repeats its PSF with this period on the sensor."""
        return self.wavelength * self.focal_length_2 / self.element_pitch

    @property
    def simulation_period(self) -> float:
        """λf2/δu (m): sampling the Fourier plane at δu makes the sensor field periodic with this period."""
        return self.wavelength * self.focal_length_2 / self.cell

    @property
    def sensor_extent(self) -> tuple[float, float]:
        """(height, width) of the sensor (m)."""
        return self.sensor_shape[0] * self.sensor_pitch, self.sensor_shape[1] * self.sensor_pitch

    def deflection(self, frequency: float) -> float:
        """Sensor-plane shift (m) of the PSF by a linear phase exp(i2π·frequency·u) on the element: λ·f2·frequency."""
        return self.wavelength * self.focal_length_2 * frequency


def check_sampling(geometry: FourFGeometry) -> None:
    """Raise ValueError (one message, what to change) if the geometry cannot work as simulated.

    - reach and replicas: the element's pixel grid repeats every PSF with period λf2/p_e on the
      sensor, so the tiled sensor must fit in one period, else a tile's replica lands on another
      tile (and tiles beyond ±λf2/(2p_e) are out of the element's reach);
    - simulation period λf2/δu: the sensor and the inverted image of the input must fit in it;
    - the Fourier-plane stop must not pass the input modulator's first diffraction order at λf1/Δ,
      else the element would act on the modulator's pixel structure rather than on the image;
    - the sensor's integration points must sample the intensity (bandwidth stop/(λf2)) at Nyquist.
    """
    g = geometry
    height, width = g.sensor_extent
    extent = max(height, width)
    mm, um = 1e3, 1e6
    if g.replica_period < extent:
        raise ValueError(
            f"the element's pixel pitch {g.element_pitch * um:.4g} µm repeats the point-spread function "
            f"every λf2/p_e = {g.replica_period * mm:.4g} mm on the sensor, "
            f"less than the tiled sensor ({extent * mm:.4g} mm): replicas of one tile would fall on others "
            f"and the outer tiles are out of the element's reach (±{g.replica_period / 2 * mm:.4g} mm); "
            f"use an element pitch ≤ λf2/width = {g.wavelength * g.focal_length_2 / extent * um:.4g} µm, "
            "fewer tile columns, a longer focal length or a longer wavelength"
        )
    image = g.input_size * g.input_pitch * g.magnification
    if g.simulation_period < extent + image:
        raise ValueError(
            f"the Fourier-plane sampling (δu = p_e/{g.element_oversampling}) makes the simulated sensor field "
            f"periodic every {g.simulation_period * mm:.4g} mm, "
            f"less than the sensor plus the input's image ({(extent + image) * mm:.4g} mm): "
            "raise the element oversampling"
        )
    if g.stop_width > g.first_order:
        raise ValueError(
            f"the Fourier-plane element ({g.stop_width * mm:.4g} mm across) is wider than "
            f"λf1/Δ = {g.first_order * mm:.4g} mm, the distance between the input modulator's diffraction orders: "
            "it would pass the modulator's pixel structure; use fewer element pixels, "
            "a smaller element pitch or aperture, a longer f1 or a longer wavelength"
        )
    nyquist = g.wavelength * g.focal_length_2 / (2.0 * g.stop_width)
    if g.sensor_pitch / g.sensor_oversampling > nyquist * (1 + 1e-9):
        raise ValueError(
            f"the sensor's integration points ({g.sensor_pitch / g.sensor_oversampling * um:.4g} µm apart) "
            f"undersample the intensity, whose finest period is λf2/stop = {2 * nyquist * um:.4g} µm: "
            f"raise the sensor oversampling to at least {math.ceil(g.sensor_pitch / nyquist - 1e-9)}"
        )


def element_cells(transmission: torch.Tensor, oversampling: int) -> torch.Tensor:
    """Element pixels complex [M, M] -> Fourier-plane cells [M·s, M·s]: each pixel repeated s × s times."""
    return transmission.repeat_interleave(oversampling, dim=-2).repeat_interleave(oversampling, dim=-1)


def stop_mask(geometry: FourFGeometry) -> torch.Tensor:
    """The Fourier-plane stop float64 [N, N]: 1 on cells whose centre is inside the circular aperture
    (all cells when there is none), 0 elsewhere."""
    n = geometry.fourier_samples
    if geometry.element_aperture is None:
        return torch.ones(n, n, dtype=torch.float64)
    u = centered_coordinates(n, geometry.cell)
    return ((u[:, None] ** 2 + u[None, :] ** 2) <= (geometry.element_aperture / 2.0) ** 2).to(torch.float64)


def pupil_weights(geometry: FourFGeometry) -> torch.Tensor:
    """Real weights float64 [N, N] that every Fourier-plane cell carries apart from the element: the
    stop and the input pixel's box, sinc(Δu_y/(λf1))·sinc(Δu_x/(λf1))."""
    u = centered_coordinates(geometry.fourier_samples, geometry.cell)
    box = torch.sinc(geometry.input_pitch * u / (geometry.wavelength * geometry.focal_length_1))
    return stop_mask(geometry) * box[:, None] * box[None, :]


def sensor_points(geometry: FourFGeometry) -> tuple[torch.Tensor, torch.Tensor]:
    """Integration points (m) on the sensor: rows float64 [H·q], columns [W·q], q = sensor_oversampling."""
    q = geometry.sensor_oversampling
    rows, cols = geometry.sensor_shape
    return centered_coordinates(rows * q, geometry.sensor_pitch / q), centered_coordinates(
        cols * q, geometry.sensor_pitch / q
    )


def _envelope(points: torch.Tensor, geometry: FourFGeometry) -> torch.Tensor:
    """The cell box's sinc(δu·x'/(λf2)) at sensor points, float64."""
    return torch.sinc(geometry.cell * points / (geometry.wavelength * geometry.focal_length_2))


def coherent_matrices(geometry: FourFGeometry) -> tuple[torch.Tensor, ...]:
    """(input->Fourier rows, columns, Fourier->sensor rows, columns), complex128, and the scalar
    Δ·δu²/(i²λ²f1f2) of :func:`four_f_coherent`. The cell envelope is folded into the sensor matrices."""
    g = geometry
    x = centered_coordinates(g.input_size, g.input_pitch)
    u = centered_coordinates(g.fourier_samples, g.cell)
    rows, cols = sensor_points(g)
    to_fourier = lens_matrix(x, u, g.wavelength, g.focal_length_1)
    to_rows = lens_matrix(u, rows, g.wavelength, g.focal_length_2) * _envelope(rows, g)[:, None]
    to_cols = lens_matrix(u, cols, g.wavelength, g.focal_length_2) * _envelope(cols, g)[:, None]
    scale = -g.input_pitch * g.cell**2 / (g.wavelength**2 * g.focal_length_1 * g.focal_length_2)
    return to_fourier, to_fourier, to_rows, to_cols, torch.tensor(scale, dtype=torch.complex128)


def incoherent_matrices(geometry: FourFGeometry) -> tuple[torch.Tensor, ...]:
    """(input->lag rows, columns, lag->sensor rows, columns), complex128, for the 2N − 1 pupil lags
    l·δu, and the scalar (Δ·δu²/(λ²f1f2))² of :func:`four_f_incoherent`; envelope² folded in."""
    g = geometry
    n = g.fourier_samples
    x = centered_coordinates(g.input_size, g.input_pitch)
    lags = torch.arange(-(n - 1), n, dtype=torch.float64) * g.cell
    rows, cols = sensor_points(g)
    to_lags = lens_matrix(x, lags, g.wavelength, g.focal_length_1)
    to_rows = lens_matrix(lags, rows, g.wavelength, g.focal_length_2) * _envelope(rows, g)[:, None] ** 2
    to_cols = lens_matrix(lags, cols, g.wavelength, g.focal_length_2) * _envelope(cols, g)[:, None] ** 2
    scale = (g.input_pitch * g.cell**2 / (g.wavelength**2 * g.focal_length_1 * g.focal_length_2)) ** 2
    return to_lags, to_lags, to_rows, to_cols, torch.tensor(scale, dtype=torch.complex128)


def four_f_coherent(amplitude: torch.Tensor, pupil: torch.Tensor, matrices: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Sensor-plane field of a coherent 4f system at the sensor's integration points.

    ``amplitude``: complex [B, n, n], per input pixel, |a|² its energy (the field is a/Δ over the
    pixel). ``pupil``: complex [N, N], the element's cells times :func:`pupil_weights`.
    ``matrices``: :func:`coherent_matrices` on the amplitude's dtype and device.
    Returns U_s complex [B, H·q, W·q] (√energy/m).
    """
    to_fourier_rows, to_fourier_cols, to_rows, to_cols, scale = matrices
    spectrum = to_fourier_rows @ amplitude @ to_fourier_cols.transpose(0, 1)
    return scale * (to_rows @ (spectrum * pupil) @ to_cols.transpose(0, 1))


def pupil_autocorrelation(pupil: torch.Tensor) -> torch.Tensor:
    """A[l] = Σ_j P_{j+l}·conj(P_j) for lags l = −(N−1) … N−1 per axis: complex [2N − 1, 2N − 1]
    (the unnormalised optical transfer function), by FFT with enough zero padding to be linear."""
    n = pupil.shape[-1]
    size = 2 * n - 1
    spectrum = torch.fft.fft2(pupil, s=(size, size))
    circular = torch.fft.ifft2(spectrum * spectrum.conj())
    return torch.fft.fftshift(circular, dim=(-2, -1))


def four_f_incoherent(power: torch.Tensor, pupil: torch.Tensor, matrices: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Sensor-plane intensity of a 4f system under spatially incoherent light (mutually incoherent
    input pixels): Σ_i P_i·|h(x' + M·x_i)|², i.e. the mean of the coherent intensity over random
    pixel phases.

    ``power``: float [B, n, n], energy per input pixel. ``pupil`` as in :func:`four_f_coherent`.
    ``matrices``: :func:`incoherent_matrices`. Returns intensity float [B, H·q, W·q] (energy/m²).
    """
    to_lag_rows, to_lag_cols, to_rows, to_cols, scale = matrices
    dtype = to_rows.dtype
    spectrum = to_lag_rows @ power.to(dtype) @ to_lag_cols.transpose(0, 1)
    transfer = pupil_autocorrelation(pupil.to(dtype))
    intensity = scale * (to_rows @ (spectrum * transfer) @ to_cols.transpose(0, 1))
    return intensity.real.clamp_min(0.0)  # real and ≥ 0 up to rounding (a sum of |h|² terms)


def integrate_pixels(intensity: torch.Tensor, oversampling: int, pixel_pitch: float) -> torch.Tensor:
    """Intensity at integration points [..., H·q, W·q] (energy/m²) -> energy per pixel [..., H, W]."""
    *batch, hq, wq = intensity.shape
    q = oversampling
    blocks = intensity.reshape(*batch, hq // q, q, wq // q, q)
    return blocks.mean(dim=(-3, -1)) * pixel_pitch**2


def tile_centres(tiles: int, columns: int, tile_pixels: int, sensor_pitch: float) -> torch.Tensor:
    """Centres (y, x) float64 [tiles, 2] (m) of tiles of ``tile_pixels``² sensor pixels, row-major,
    ``columns`` per row, on a sensor of ceil(tiles/columns)·tile × columns·tile pixels centred on the axis."""
    rows = math.ceil(tiles / columns)
    index = torch.arange(tiles)
    y = (index // columns - (rows - 1) / 2.0) * tile_pixels * sensor_pitch
    x = (index % columns - (columns - 1) / 2.0) * tile_pixels * sensor_pitch
    return torch.stack([y, x], dim=1).to(torch.float64)


def tiled_transmission(
    kernels: torch.Tensor, centres: torch.Tensor, tap_pitch: float, geometry: FourFGeometry
) -> torch.Tensor:
    """The complex transmission, at the element's pixel centres, whose PSF is kernel k's taps placed
    around ``centres[k]`` on the sensor: T(u) = Σ_k Σ_taps h_k[p] exp(i2π·u·(c_k + d_p)/(λf2)),
    a sum of linear phase ramps, each deflecting light by λf2·ν = c_k + d_p.

    ``kernels``: complex [K, k, k] tap amplitudes; ``centres``: float [K, 2] (m); ``tap_pitch``: the
    taps' spacing on the sensor (m). Returns complex128 [M, M] (not normalised; its phase alone is
    the kinoform of a phase-only element).
    """
    k = kernels.shape[-1]
    taps = centered_coordinates(k, tap_pitch)
    u = centered_coordinates(geometry.element_pixels, geometry.element_pitch)
    scale = geometry.wavelength * geometry.focal_length_2
    y = centres[:, 0, None] + taps[None, :]  # [K, k]
    x = centres[:, 1, None] + taps[None, :]
    ey = torch.exp(2j * math.pi * u[None, None, :] * y[..., None] / scale)  # [K, k, M]
    ex = torch.exp(2j * math.pi * u[None, None, :] * x[..., None] / scale)
    return torch.einsum("kab,kau,kbv->uv", kernels.to(torch.complex128), ey, ex)


class FourierElement(nn.Module):
    """A passive element of ``pixels``² pixels in the Fourier plane, transmission |t| ≤ 1.

    ``kind``: "phase" (a DOE or phase SLM: exp(iφ), φ from a :class:`PhaseMask`, quantized by
    ``quantizer`` like a D2NN layer), "amplitude" (an amplitude SLM: sigmoid(raw) in (0, 1), real),
    or "complex" (both). ``init``: complex [M, M], the transmission to start from (its phase, and its
    amplitude scaled to a maximum of 1).
    """

    def __init__(
        self,
        pixels: int,
        kind: ElementKind = "phase",
        *,
        init: torch.Tensor | None = None,
        quantizer: PhaseQuantizer | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if kind not in ELEMENT_KINDS:
            raise ValueError(f"unknown element kind {kind!r}; choose one of {ELEMENT_KINDS}")
        self.kind = kind
        self.pixels = pixels
        self.mask: PhaseMask | None = None
        self.raw_amplitude: nn.Parameter | None = None
        if kind in ("phase", "complex"):
            self.mask = PhaseMask((pixels, pixels), init="uniform", quantizer=quantizer, generator=generator)
            if init is not None:
                with torch.no_grad():
                    self.mask.raw.copy_(torch.remainder(init.angle(), 2 * math.pi).to(torch.float32))
                if quantizer is not None and hasattr(quantizer, "initialize"):
                    quantizer.initialize(self.mask.raw)  # its own parameters (GS logits) follow the designed phases
        if kind in ("amplitude", "complex"):
            if init is None:
                amplitude = torch.full((pixels, pixels), 0.5)
            elif kind == "amplitude":  # a biased real hologram: (1 + Re T/max|T|)/2
                amplitude = 0.5 + 0.5 * init.real / init.abs().max().clamp_min(1e-30)
            else:
                amplitude = init.abs() / init.abs().max().clamp_min(1e-30)
            amplitude = amplitude.to(torch.float32).clamp(0.02, 0.98)
            self.raw_amplitude = nn.Parameter(torch.log(amplitude / (1 - amplitude)))

    def transmission(self, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
        """t complex [M, M], |t| ≤ 1; quantized phases in eval mode."""
        t = self.mask.transmission(dtype) if self.mask is not None else None
        if self.raw_amplitude is not None:
            amplitude = torch.sigmoid(self.raw_amplitude).to(dtype)
            t = amplitude if t is None else t * amplitude
        assert t is not None, "every element kind has a phase mask or an amplitude"  # checked in __init__
        return t

    @torch.no_grad()
    def phase(self) -> torch.Tensor | None:
        """The element's phases in [0, 2π), float [M, M], as evaluated; None for an amplitude element."""
        return None if self.mask is None else self.mask.phase().detach().clone()


class FourFSystem(nn.Module):
    """A 4f system with a learnable Fourier-plane element: input amplitudes [B, n, n] -> sensor
    energies [B, H, W] (coherent) or input powers -> sensor energies (incoherent).

    The geometry is checked (:func:`check_sampling`); the transform matrices are built once per
    (dtype, device) and cached.
    """

    weights: torch.Tensor  # buffer: pupil_weights, float32 [N, N]

    def __init__(self, geometry: FourFGeometry, element: FourierElement, coherent: bool = True) -> None:
        super().__init__()
        check_sampling(geometry)
        if element.pixels != geometry.element_pixels:
            raise ValueError(
                f"the element has {element.pixels} pixels per side, the geometry {geometry.element_pixels}"
            )
        self.geometry = geometry
        self.element = element
        self.coherent = coherent
        self.register_buffer("weights", pupil_weights(geometry).to(torch.float32), persistent=False)
        self._matrices: dict[tuple, tuple[torch.Tensor, ...]] = {}

    def matrices(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
        key = (self.coherent, dtype, device)
        if key not in self._matrices:
            build = coherent_matrices if self.coherent else incoherent_matrices
            self._matrices[key] = tuple(m.to(dtype=dtype, device=device) for m in build(self.geometry))
        return self._matrices[key]

    def pupil(self, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
        """The Fourier-plane cells: element × stop × input pixel box, complex [N, N]."""
        cells = element_cells(self.element.transmission(dtype), self.geometry.element_oversampling)
        return cells * self.weights.to(device=cells.device, dtype=cells.real.dtype)

    def forward(self, amplitude: torch.Tensor) -> torch.Tensor:
        """``amplitude`` complex [B, n, n] (|a|² = energy per input pixel) -> energy per sensor pixel float [B, H, W].
        Incoherent: only |a|² matters."""
        g = self.geometry
        dtype = torch.complex128 if amplitude.dtype in (torch.float64, torch.complex128) else torch.complex64
        matrices = self.matrices(dtype, amplitude.device)
        pupil = self.pupil(dtype)
        if self.coherent:
            intensity = four_f_coherent(amplitude.to(dtype), pupil, matrices).abs().square()
        else:
            intensity = four_f_incoherent(amplitude.abs().square(), pupil, matrices)
        return integrate_pixels(intensity, g.sensor_oversampling, g.sensor_pitch)

    def extra_repr(self) -> str:
        g = self.geometry
        return (
            f"λ={g.wavelength:.4g} m, f1={g.focal_length_1:.4g} m, f2={g.focal_length_2:.4g} m, "
            f"element {g.element_pixels}² × {g.element_pitch:.4g} m ({self.element.kind}), "
            f"sensor {g.sensor_shape} × {g.sensor_pitch:.4g} m, "
            f"{'coherent' if self.coherent else 'incoherent'}"
        )
