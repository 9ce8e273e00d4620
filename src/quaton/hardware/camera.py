"""The camera's light budget: photons -> photo-electrons -> digital numbers, with an auto-exposure
that stops at the longest exposure time and the highest gain.

Without a light budget the read-out's full scale is the ``percentile`` of the ideal intensities
(``Readout.calibrate``): a device 1000× dimmer reads out bit-identically. With one, the intensities
(the model's units: an input pixel of unit intensity, |E|² = 1, sends ``photon_rate`` photons per
second) become photo-electrons in the linear camera model of EMVA Standard 1288 (Release 3.1,
Sect. 2, the linear signal and noise model: mean photo-electrons μ_e = η·μ_p, shot noise of
variance μ_e, dark noise σ_d added, then a conversion gain K to digital numbers):

- photons of a pixel of intensity I in an exposure t: I·Φ·t (Φ = ``photon_rate``, s⁻¹);
- photo-electrons: μ_e = η·I·Φ·t (η = ``quantum_efficiency``), Poisson; clipped at the full well;
- read noise: Gaussian, σ = ``read_noise_e`` electrons;
- digital number: DN = g·(levels − 1)/full_well · electrons: at gain g = 1 the full well fills the
  ADC's range, at gain g the full scale is full_well/g electrons (the ADC itself is the ``adc``
  effect, after this one: it clips and rounds the full scale S into ``levels`` levels).

Everything stays in the read-out's units, DN·S/(levels − 1) (S: the full scale, intensity units),
so the effects after this one and the task see the same units as without a budget. The exposure
follows from the full scale S alone (:meth:`Camera.exposure`): a run or design that stores only
its full scale is read out again with the exposure it was calibrated with, and one read out under
less light than it was calibrated for (``quaton eval --set hardware.camera.photon_rate=...``) runs
at the longest exposure and the highest gain and reads dimmer, as a camera at its limits would.

Auto-exposure (:meth:`Camera.auto_expose`): the longest useful exposure first (a longer exposure
adds signal, gain only amplifies it), then gain. It puts the calibration percentile I_p at full
scale, S = I_p, while it can: exposure t = full_well/(η·Φ·I_p) up to ``max_exposure_s``, then gain
g = full_well/(η·Φ·t·I_p) up to ``max_gain``. Dimmer than that, S stays at its floor
full_well/(g_max·η·Φ·t_max) > I_p: the image stays dim relative to full scale, and its relative
noise grows as 1/√(photons) (shot-noise limited) or 1/photons (read-noise limited).

Shot noise: Poisson (``torch.poisson``) at evaluation, the exact statistics; in training its
Gaussian limit of variance = mean electrons, so that the read-out is differentiable (both pass the
gradient straight through the noise, as ``ReadNoise`` does).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pydantic import Field
from torch import nn

from quaton.hardware.noise import normal_like
from quaton.registry import Options

PLANCK = 6.62607015e-34  # J s (exact, SI 2019)
LIGHT_SPEED = 299_792_458.0  # m/s (exact)


def photon_rate(power_w: float, vacuum_wavelength: float, pixels: int) -> float:
    """Photons per second per input pixel (s⁻¹) of a source of ``power_w`` (W) at ``vacuum_wavelength``
    (m, λ₀: the photon energy is h·c/λ₀) spread evenly over ``pixels`` input pixels: P·λ₀/(h·c·N)."""
    return power_w * vacuum_wavelength / (PLANCK * LIGHT_SPEED * pixels)


class CameraOptions(Options):
    """The camera's light budget (``hardware.camera``); SI units, electrons (e⁻) for charge.

    The defaults are those of a CMOS machine-vision sensor (QE 0.7 in the green, 10 ke⁻ full well,
    2.5 e⁻ read noise, up to 24 dB analog gain)."""

    photon_rate: float = Field(
        gt=0,
        allow_inf_nan=False,
        description="photons per second (s⁻¹) that one input pixel of unit intensity (|E|² = 1) sends into the "
        "system: a source of power P (W) at vacuum wavelength λ₀ (m) spread over N input pixels gives "
        "P·λ₀/(h·c·N) (quaton.hardware.photon_rate; 1 nW at 532 nm over 64² pixels: 6.5e5 s⁻¹)",
    )
    max_exposure_s: float = Field(0.1, gt=0, allow_inf_nan=False, description="longest exposure time (s)")
    max_gain: float = Field(
        16.0,
        ge=1,
        allow_inf_nan=False,
        description="highest analog gain, over the gain at which full_well_e electrons fill the ADC's range "
        "(1: no gain; 16 = 24 dB)",
    )
    quantum_efficiency: float = Field(
        0.7, gt=0, le=1, allow_inf_nan=False, description="photo-electrons per photon (η, at the wavelength)"
    )
    full_well_e: float = Field(
        10_000.0, gt=0, allow_inf_nan=False, description="full-well capacity (electrons); a pixel clips there"
    )
    read_noise_e: float = Field(
        2.5, ge=0, allow_inf_nan=False, description="read (dark) noise σ (electrons rms), Gaussian, per read-out"
    )


@dataclass(frozen=True)
class Exposure:
    """The camera's setting for a full scale: ``time_s`` (s), ``gain`` (≥ 1, over the full-well gain),
    ``electrons_per_unit`` (k = η·Φ·t, electrons per unit intensity) and ``full_scale_e`` (electrons
    at full scale: full_well / gain)."""

    time_s: float
    gain: float
    electrons_per_unit: float
    full_scale_e: float


class Camera(nn.Module):
    """Intensity -> photo-electrons (shot noise, full well, read noise) -> intensity units again.

    A read-out effect: ``forward(image, full_scale, generator)``; ``auto_expose`` is what the
    read-out's calibration asks it for the full scale. See the module docstring for the physics."""

    def __init__(
        self,
        photon_rate: float,
        max_exposure_s: float = 0.1,
        max_gain: float = 16.0,
        quantum_efficiency: float = 0.7,
        full_well_e: float = 10_000.0,
        read_noise_e: float = 2.5,
    ) -> None:
        super().__init__()
        if min(photon_rate, max_exposure_s, quantum_efficiency, full_well_e) <= 0 or max_gain < 1 or read_noise_e < 0:
            raise ValueError(
                "a camera needs photon_rate, max_exposure_s, quantum_efficiency, full_well_e > 0, max_gain >= 1 "
                "and read_noise_e >= 0"
            )
        self.photon_rate = photon_rate
        self.max_exposure_s = max_exposure_s
        self.max_gain = max_gain
        self.quantum_efficiency = quantum_efficiency
        self.full_well_e = full_well_e
        self.read_noise_e = read_noise_e

    @property
    def max_electrons_per_unit(self) -> float:
        """η·Φ·t_max: photo-electrons per unit intensity at the longest exposure."""
        return self.quantum_efficiency * self.photon_rate * self.max_exposure_s

    @property
    def dimmest_full_scale(self) -> float:
        """The full scale at the longest exposure and the highest gain (intensity units):
        full_well / (g_max·η·Φ·t_max). Auto-exposure cannot make full scale any dimmer."""
        return self.full_well_e / (self.max_gain * self.max_electrons_per_unit)

    def auto_expose(self, percentile: float) -> float:
        """The full scale S (intensity units) auto-exposure reaches for a calibration ``percentile``
        I_p: I_p itself while the exposure limits allow, else the dimmest full scale."""
        return max(percentile, self.dimmest_full_scale)

    def setting(self, full_scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(k, g) of the exposure that has full scale S (intensity units, > 0): k = η·Φ·t =
        min(η·Φ·t_max, full_well/S) electrons per unit intensity (the exposure time fills the full
        well at full scale while it can) and the gain g = min(full_well/(k·S), g_max) that does the
        rest. Below the dimmest full scale g stops at g_max and full scale is more than S."""
        k = torch.clamp(self.full_well_e / full_scale, max=self.max_electrons_per_unit)
        return k, torch.clamp(self.full_well_e / (k * full_scale), max=self.max_gain)

    def exposure(self, full_scale: float | torch.Tensor) -> Exposure:
        """The exposure time and gain that give full scale S (intensity units, > 0)."""
        k, gain = (float(value) for value in self.setting(torch.as_tensor(full_scale, dtype=torch.float64)))
        return Exposure(
            time_s=k / (self.quantum_efficiency * self.photon_rate),
            gain=gain,
            electrons_per_unit=k,
            full_scale_e=self.full_well_e / gain,
        )

    def forward(
        self, image: torch.Tensor, full_scale: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Intensity [B, ...] -> read-out values [B, ...], electrons·S/(full_well/g) (electrons / k when
        the gain is within its limit): shot noise (Poisson in eval mode, Gaussian in training mode),
        clipped at the full well, plus read noise."""
        k, gain = self.setting(full_scale)
        electrons = image * k
        mean = electrons.detach().clamp_min(0)
        if self.training:
            shot = mean.sqrt() * normal_like(mean, generator)
        else:
            shot = torch.poisson(mean, generator=generator) - mean
        electrons = torch.clamp(electrons + shot, max=self.full_well_e)
        if self.read_noise_e:
            electrons = electrons + self.read_noise_e * normal_like(electrons, generator)
        return electrons * (gain * full_scale / self.full_well_e)
