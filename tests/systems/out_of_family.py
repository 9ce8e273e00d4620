"""A physical D2NN twin outside the calibrated model's family, written in numpy with its own optics,
and a noisy read-out for any twin: physical systems for the calibration tests that the fitted model
(quaton.systems.calibrate.ParametricD2NN) does not share formulas with.

:class:`NumpyD2NN` propagates with its own band-limited angular spectrum (numpy FFTs in float64;
Matsushima & Shimobaba, Opt. Express 17, 19662 (2009), eq. 13 for the band limit) and has two
errors the parametric model cannot represent:

- the mask's gray level -> transmission curve of a phase modulator with an amplitude dip: a loaded
  phase φ in [0, 2π) shows |t| = 1 − dip·exp(−((φ − π)/dip_width)²) (the fly-back region of a
  liquid-crystal SLM; the model's masks are phase-only);
- a sub-pixel lateral shift of each mask applied by Fourier interpolation (a band-limited, periodic
  shift of the transmission: the model moves masks by bilinear, pixel-averaged interpolation with
  an unmodulated surround);

plus a detector gain (in the family, so that calibration has something to find). Both follow the
protocol of quaton.systems.d2nn_twin: ``load(params)``, ``measure(inputs)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def fast_length(n: int) -> int:
    """The smallest 2^a·3^b·5^c·7^d·11^e ≥ n (the padded window quaton's FFTs use, so that both see
    the same periodic window; the band limit below is computed for it)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5, 7, 11):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def angular_spectrum_kernel(padded: int, pitch: float, wavelength: float, distance: float) -> np.ndarray:
    """exp(i2πz·sqrt(1/λ² − fx² − fy²)) on a [padded, padded] FFT grid, zero for evanescent waves and
    beyond the band limit 1/(λ·sqrt((2z/window)² + 1)) per axis (Matsushima & Shimobaba eq. 13)."""
    f = np.fft.fftfreq(padded, d=pitch)
    fy, fx = np.meshgrid(f, f, indexing="ij")
    limit = 1.0 / (wavelength * math.sqrt((2.0 * distance / (padded * pitch)) ** 2 + 1.0))
    argument = 1.0 / wavelength**2 - fx**2 - fy**2
    inside = (np.abs(fx) <= limit) & (np.abs(fy) <= limit) & (argument > 0)
    return np.where(inside, np.exp(2j * np.pi * distance * np.sqrt(np.clip(argument, 0.0, None))), 0.0)


def fourier_shift(image: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """``image`` complex [N, N] moved by ``shift`` (rows, cols; px, fractional) by a phase ramp on its
    DFT: band-limited interpolation, periodic over the grid."""
    n = image.shape[-1]
    f = np.fft.fftfreq(n)
    ramp = np.exp(-2j * np.pi * (f[:, None] * shift[0] + f[None, :] * shift[1]))
    return np.fft.ifft2(np.fft.fft2(image) * ramp)


class NumpyD2NN:
    """A D2NN of a quaton design (``grid``, ``pitch``, ``wavelength``, ``distances``; ASM with pad
    factor 2) with the errors of the module doc: ``dip`` (0-1) and ``dip_width`` (rad) of the
    amplitude dip, ``shift`` σ (px) of the per-layer Fourier shifts drawn from ``seed``, ``gain``."""

    def __init__(
        self,
        design: dict[str, Any],
        *,
        dip: float = 0.0,
        dip_width: float = 0.6,
        shift: float = 0.0,
        gain: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.grid = int(design["grid"][0])
        self.padded = fast_length(2 * self.grid)
        self.kernels = [
            angular_spectrum_kernel(self.padded, design["pitch"], design["wavelength"], d) for d in design["distances"]
        ]
        rng = np.random.default_rng(seed)
        self.shifts = [tuple(rng.normal(0.0, shift, 2)) if shift else (0.0, 0.0) for _ in design["distances"][1:]]
        self.dip, self.dip_width, self.gain = dip, dip_width, gain
        self.transmissions: list[np.ndarray] = []

    def load(self, params: list[np.ndarray]) -> None:
        """Phase masks [N, N] (rad), one per layer."""
        self.transmissions = []
        for phase, shift in zip(params, self.shifts):
            phi = np.remainder(np.asarray(phase, dtype=np.float64), 2 * np.pi)
            amplitude = 1.0 - self.dip * np.exp(-(((phi - np.pi) / self.dip_width) ** 2))
            transmission = amplitude * np.exp(1j * phi)
            if shift != (0.0, 0.0):
                transmission = fourier_shift(transmission, shift)
            self.transmissions.append(transmission)

    def _propagate(self, field: np.ndarray, kernel: np.ndarray) -> np.ndarray:
        n = self.grid
        spectrum = np.fft.fft2(field, s=(self.padded, self.padded))
        return np.fft.ifft2(spectrum * kernel)[..., :n, :n]

    def measure(self, inputs: torch.Tensor) -> dict[str, Any]:
        """Input fields complex [B, N, N] -> {"output": detector intensities float32 [B, N, N]}."""
        if not self.transmissions:
            raise RuntimeError("load(params) before measure(inputs)")
        field = self._propagate(inputs.detach().cpu().numpy().astype(np.complex128), self.kernels[0])
        for transmission, kernel in zip(self.transmissions, self.kernels[1:]):
            field = self._propagate(field * transmission, kernel)
        output = self.gain * np.abs(field) ** 2
        return {"output": torch.as_tensor(output, dtype=torch.float32, device=inputs.device)}


def numpy_d2nn(design: dict[str, Any], **options: Any) -> NumpyD2NN:
    """Factory for ``physical.system: "tests.systems.out_of_family:numpy_d2nn"``."""
    return NumpyD2NN(design, **options)


class NoisyReadout:
    """A physical system read by a camera with shot and read noise: the ``system``'s intensities are
    scaled so that the mean pixel of each measured image collects ``photons`` photo-electrons,
    Poisson-sampled, added to Gaussian read noise of ``read_noise`` electrons RMS, and scaled back.
    Fresh noise at every ``measure`` (numpy generator seeded with ``seed``); ``load`` passes through."""

    def __init__(self, system: Any, *, photons: float, read_noise: float, seed: int = 0) -> None:
        self.system, self.photons, self.read_noise = system, photons, read_noise
        self.rng = np.random.default_rng(seed)

    def load(self, params: list[np.ndarray]) -> None:
        self.system.load(params)

    def true_parameters(self) -> dict[str, Any]:
        return self.system.true_parameters()

    def measure(self, inputs: torch.Tensor) -> dict[str, Any]:
        clean = self.system.measure(inputs)["output"]
        intensity = clean.detach().cpu().double().numpy()
        per_electron = intensity.mean(axis=(-2, -1), keepdims=True) / self.photons
        electrons = self.rng.poisson(intensity / per_electron) + self.rng.normal(0.0, self.read_noise, intensity.shape)
        noisy = torch.as_tensor(electrons * per_electron, dtype=clean.dtype, device=clean.device)
        return {"output": noisy}
