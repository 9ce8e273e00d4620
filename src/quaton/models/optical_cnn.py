"""A mixed-signal optical CNN: a 4f optical convolution layer, a camera read-out, a digital head.

The optical layer is a 4f system: lens (focal length f), a learnable complex mask in the Fourier
plane, lens. A lens maps the input field U(x) to U_f(x_f) = Û(x_f/(λf))/(iλf) in its back focal
plane, so a mask M(x_f) there multiplies the spectrum at spatial frequency ν = x_f/(λf), and the
second lens gives the convolution U ∗ h (inverted, a sign quaton drops) with h the inverse
transform of M. The K kernels are tiled on one sensor: kernel k's point-spread function is placed
at its tile's offset, i.e. its Fourier mask carries the linear phase of that shift, and the sum of
the K shifted transfer functions is one mask.

Sampling conditions relied on (documented in README.md):
- the input is an n × n field at pitch Δ (the SLM/object pitch) and each kernel has k × k taps at
  the same pitch; each tile is m = n + k − 1 pixels wide, so tiles never overlap and each holds the
  full linear convolution;
- the Fourier-plane mask is sampled on m × m pixels of pitch λf/(mΔ) per tile spectrum, spanning
  the aperture λf/Δ that passes every frequency the input grid carries (|ν| ≤ 1/(2Δ));
- the sensor has the input's pitch (unit magnification, equal focal lengths).

Coherent illumination: the camera sees |U ∗ h_k|². Incoherent: the intensity PSF |h_k|² convolves
the input intensity |U|².
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class OpticalConv4f(nn.Module):
    """K learnable complex kernels applied by a 4f system: field [B, n, n] -> sensor intensities [B, K, m, m]."""

    def __init__(
        self,
        size: int,
        kernels: int = 16,
        kernel_size: int = 7,
        *,
        wavelength: float = 532e-9,
        pitch: float = 8e-6,
        focal_length: float = 0.1,
        coherent: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.size, self.kernels, self.kernel_size = size, kernels, kernel_size
        self.wavelength, self.pitch, self.focal_length, self.coherent = wavelength, pitch, focal_length, coherent
        self.tile = size + kernel_size - 1
        generator = torch.Generator().manual_seed(seed)
        scale = 1.0 / kernel_size
        self.real = nn.Parameter(torch.randn(kernels, kernel_size, kernel_size, generator=generator) * scale)
        self.imag = nn.Parameter(torch.randn(kernels, kernel_size, kernel_size, generator=generator) * scale)

    @property
    def fourier_pitch(self) -> float:
        """Pitch of the Fourier-plane mask (m): λf/(mΔ)."""
        return self.wavelength * self.focal_length / (self.tile * self.pitch)

    def psf(self) -> torch.Tensor:
        """Amplitude point-spread functions h_k, complex [K, k, k]."""
        return torch.complex(self.real, self.imag)

    def fourier_mask(self) -> torch.Tensor:
        """Each kernel's Fourier-plane transmission M_k = FFT(h_k) on the tile's m × m frequency grid, complex [K, m, m]."""
        psf = self.psf()
        kernel = psf if self.coherent else psf.abs().square().to(psf.dtype)
        return torch.fft.fft2(kernel, s=(self.tile, self.tile))

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        """Input field complex [B, n, n] -> intensities [B, K, m, m] (full linear convolutions)."""
        m = self.tile
        source = field if self.coherent else field.abs().square().to(field.dtype)
        spectrum = torch.fft.fft2(source, s=(m, m))[:, None]
        out = torch.fft.ifft2(spectrum * self.fourier_mask()[None])
        return out.abs().square() if self.coherent else out.real.clamp_min(0)


def tile(maps: torch.Tensor, columns: int) -> torch.Tensor:
    """Feature maps [B, K, m, m] -> one sensor image [B, rows·m, columns·m] (row-major tiles, zero-filled)."""
    b, k, m, _ = maps.shape
    rows = math.ceil(k / columns)
    padded = F.pad(maps, (0, 0, 0, 0, 0, rows * columns - k))
    return padded.reshape(b, rows, columns, m, m).permute(0, 1, 3, 2, 4).reshape(b, rows * m, columns * m)


def untile(sensor: torch.Tensor, kernels: int, m: int) -> torch.Tensor:
    """Inverse of :func:`tile`: [B, rows·m, columns·m] -> [B, K, m, m]."""
    b, height, width = sensor.shape
    rows, columns = height // m, width // m
    return sensor.reshape(b, rows, m, columns, m).permute(0, 1, 3, 2, 4).reshape(b, rows * columns, m, m)[:, :kernels]


class DigitalHead(nn.Module):
    """Average pooling, then Linear -> ReLU -> Linear to class logits."""

    def __init__(self, channels: int, size: int, hidden: int = 128, classes: int = 10, pool: int = 2) -> None:
        super().__init__()
        self.pool = pool
        pooled = size // pool
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(channels * pooled * pooled, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(F.avg_pool2d(features, self.pool))


class OpticalCNN(nn.Module):
    """Optical convolution -> camera (tiled sensor, read-out chain) -> digital head.

    ``forward(images, readout)``: images float [B, n, n] in [0, 1], amplitude-encoded -> logits [B, C].
    The read-out (``quaton.hardware.Readout``) sees the whole sensor, so crosstalk acts across
    tile borders as on a real camera; the sensor values are divided by the calibrated full scale
    (known to the electronics) before the digital layers, with or without the read-out.
    """

    def __init__(self, size: int, kernels: int = 16, kernel_size: int = 7, hidden: int = 128, classes: int = 10, columns: int = 4, **optics) -> None:
        super().__init__()
        self.optics = OpticalConv4f(size, kernels, kernel_size, **optics)
        self.columns = columns
        self.head = DigitalHead(kernels, self.optics.tile, hidden, classes)

    def sensor(self, images: torch.Tensor) -> torch.Tensor:
        """Ideal sensor intensities [B, rows·m, columns·m]."""
        return tile(self.optics(images.to(torch.complex64)), self.columns)

    def forward(self, images: torch.Tensor, readout: nn.Module | None = None, full_scale: torch.Tensor | float = 1.0) -> torch.Tensor:
        """``readout`` None: the ideal sensor (naive training); either way the sensor values are divided
        by the calibrated ``full_scale``, so that the head sees the same units in training and on the device."""
        sensor = self.sensor(images)
        if readout is not None:
            sensor = readout(sensor)
        return self.head(untile(sensor / full_scale, self.optics.kernels, self.optics.tile))


class DigitalCNN(nn.Module):
    """The purely digital baseline: a K-channel convolution (full padding) and ReLU, then the same head."""

    def __init__(self, size: int, kernels: int = 16, kernel_size: int = 7, hidden: int = 128, classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, kernels, kernel_size, padding=kernel_size - 1)
        self.head = DigitalHead(kernels, size + kernel_size - 1, hidden, classes)

    def forward(self, images: torch.Tensor, readout: nn.Module | None = None, full_scale: torch.Tensor | float = 1.0) -> torch.Tensor:
        return self.head(F.relu(self.conv(images[:, None])))
