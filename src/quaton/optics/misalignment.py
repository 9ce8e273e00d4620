"""Misaligned optics as differentiable functions of the misalignment: a mask moved by a sub-pixel
lateral shift and rotated in plane, and a free-space kernel whose distance is a tensor.

These let a model of a physical system be fitted to its measurements by gradient descent
(quaton.systems.calibrate) and drawn at random in training (quaton.systems.robust). Shifts are in
pixels (rows, cols), angles in radians, distances in metres; the conventions are those of the
simulated twin (quaton.systems.d2nn_twin): a shift (dr, dc) moves the mask's content by +dr rows
and +dc columns, a positive angle turns it about the grid centre as ``affine_grid`` does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def affine_theta(shift: torch.Tensor, angle: torch.Tensor, size: int) -> torch.Tensor:
    """The ``affine_grid`` matrix [1, 2, 3] (float64) that samples a [size, size] image moved by
    ``shift`` (tensor [2]: rows, cols; px) and rotated by ``angle`` (scalar tensor, rad).

    Output pixel x samples the input at R·x − 2·shift/size in normalised coordinates
    (x: columns, y: rows), so the content moves by +shift."""
    shift = shift.to(torch.float64)
    angle = angle.to(torch.float64)
    cos, sin = torch.cos(angle), torch.sin(angle)
    row_x = torch.stack([cos, -sin, -2 * shift[1] / size])
    row_y = torch.stack([sin, cos, -2 * shift[0] / size])
    return torch.stack([row_x, row_y])[None]


def move_transmission(transmission: torch.Tensor, shift: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """A mask's complex transmission [N, N] moved by ``shift`` (tensor [2], px, fractional allowed)
    and rotated by ``angle`` (scalar tensor, rad); beyond the moved mask the light passes (t = 1).

    Bilinear interpolation of the complex transmission: for a pure shift along one axis this is
    exactly the transmission of the pixelated mask averaged over each simulation pixel
    ((1 − s)·t_i + s·t_{i−1} for 0 ≤ s < 1), the sub-pixel model of a mask that is not aligned to
    the sampling grid. It is differentiable in ``shift`` and ``angle`` (piecewise linear in the
    shift, so the gradient exists wherever the shift is not an integer). At zero shift and angle
    it returns the transmission unchanged. Returns complex [N, N] of the input's dtype."""
    n = transmission.shape[-1]
    real = torch.float64 if transmission.dtype == torch.complex128 else torch.float32
    theta = affine_theta(shift, angle, n).to(real)
    grid = F.affine_grid(theta, [1, 2, n, n], align_corners=False)
    deviation = transmission - 1  # zero padding of the deviation is an unmodulated surround
    stacked = torch.stack([deviation.real, deviation.imag])[None].to(real)
    moved = F.grid_sample(stacked, grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
    return (torch.complex(moved[0], moved[1]) + 1).to(transmission.dtype)


def axial_frequency(padded: tuple[int, int], *, wavelength: float, pitch: float, method: str = "asm") -> torch.Tensor:
    """w(fy, fx) = (1/2π)·∂(phase of the transfer function)/∂z, float64 [P, Q], FFT-ordered (cycles/m):
    sqrt(1/λ² − fx² − fy²) for ``asm`` (0 for evanescent waves), 1/λ − λ(fx² + fy²)/2 for ``fresnel``.

    With it, the kernel of distance z + δ is the kernel of z times exp(i·2π·δ·w) (both
    transfer functions are exponentials linear in z), see :func:`refocus`."""
    p, q = padded
    fy = torch.fft.fftfreq(p, d=pitch, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(q, d=pitch, dtype=torch.float64)[None, :]
    f2 = fx**2 + fy**2
    if method == "asm":
        return torch.sqrt((1.0 / wavelength**2 - f2).clamp_min(0.0))
    if method == "fresnel":
        return 1.0 / wavelength - 0.5 * wavelength * f2
    raise ValueError(f"unknown propagation method {method!r}; choose 'asm' or 'fresnel'")


def refocus(kernel: torch.Tensor, axial: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """The transfer function ``kernel`` [P, Q] of a distance z moved to z + ``delta`` (scalar tensor, m),
    differentiable in ``delta``: kernel·exp(i·2π·δ·w), ``axial`` = w from :func:`axial_frequency`.

    The band limit stays that of z (a few percent of distance change moves the limit of
    Matsushima & Shimobaba's eq. (13) by as little), so only the phase follows δ."""
    real = torch.float64 if kernel.dtype == torch.complex128 else torch.float32
    phase = (2 * math.pi * delta.to(torch.float64) * axial).to(real)
    return kernel * torch.polar(torch.ones_like(phase), phase).to(kernel.dtype)
