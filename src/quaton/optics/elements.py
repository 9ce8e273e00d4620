"""Optical elements as modules: free space, phase masks, amplitude apertures."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

import torch
from torch import nn

from quaton.optics.propagation import PaddedBuffer, complex_dtype_for, fast_propagate, padded_shape, transfer_function

TWO_PI = 2.0 * math.pi


class PhaseQuantizer(Protocol):
    """What a phase mask asks of its quantizer (quaton.quant.Quantizer is one; optics imports no quant)."""

    levels: int
    value_range: tuple[float, float] | None  # (lo, hi) rad, or None for circular levels on [0, 2π)
    values: torch.Tensor  # the n levels (rad) [n]
    straight_through: bool

    def __call__(self, raw: torch.Tensor) -> torch.Tensor: ...
    def uses_chord(self) -> bool: ...
    def relaxed(self, raw: torch.Tensor) -> torch.Tensor: ...
    def mixture(self, raw: torch.Tensor) -> torch.Tensor | None: ...
    def hard(self, raw: torch.Tensor) -> torch.Tensor: ...
    def initialize(self, raw: torch.Tensor) -> None: ...


def wrap_phase(phase: torch.Tensor) -> torch.Tensor:
    """Phase wrapped to [0, 2π) (radians); gradient 1 everywhere but on the cut."""
    return torch.remainder(phase, TWO_PI)


def reflect_phase(raw: torch.Tensor) -> torch.Tensor:
    """A triangle wave of period 4π in [0, 2π]: the identity on [0, 2π], then back down, so that the
    phase moves continuously with ``raw`` (no jump between 0 and 2π, where the loaded value of a
    device matters, e.g. to pixel crosstalk). Same shape as ``raw``, rad."""
    u = torch.remainder(raw / TWO_PI, 2.0)
    return TWO_PI * (1.0 - (u - 1.0).abs())


PHASE_MAPPINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"wrap": wrap_phase, "reflect": reflect_phase}


def chord_transmission(
    phase: torch.Tensor,
    levels: int,
    value_range: tuple[float, float] | None,
    response: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Transmission [H, W] of a phase [H, W] (rad) between the device's levels, on the chord.

    With θ_m ≤ φ < θ_m+1 the two levels that enclose φ and f = (φ − θ_m)/Δ, the transmission is
    (1 − f)·exp(iθ_m) + f·exp(iθ_m+1): equal to exp(iφ) on every level, and between levels the
    straight line in the complex plane that a switch from one level to the next travels. Its
    derivative in φ is the secant (exp(iθ_m+1) − exp(iθ_m))/Δ, the direction in which the device
    really changes when a pixel moves a level, where exp(iφ)'s tangent iexp(iφ) is orthogonal to
    it for two levels (a {0, π} switch turns t into −t, along the real axis, while the tangent
    at 0 or π is imaginary): phase gradients cannot train binary masks, chord gradients can.
    ``response`` (the modulator's phase response) is applied to the two levels.
    """
    if value_range is None:
        lo, delta, top = 0.0, TWO_PI / levels, None
    else:
        lo, delta, top = value_range[0], (value_range[1] - value_range[0]) / (levels - 1), levels - 2
    position = (phase - lo) / delta
    index = torch.floor(position).detach()
    if top is not None:
        index = index.clamp(0, top)
    fraction = position - index
    if top is not None:
        # Beyond an explicit range the device stays at its end level (a passive element cannot
        # extrapolate); a 1 % straight-through leak keeps a gradient that pulls the phase back in.
        outside = (fraction < 0) | (fraction > 1)
        fraction = fraction.clamp(0, 1) + torch.where(
            outside, 0.01 * (fraction - fraction.detach()), torch.zeros_like(fraction)
        )
    below, above = lo + index * delta, lo + (index + 1) * delta
    if response is not None:
        below, above = response(below), response(above)
    one = torch.ones_like(phase)
    return (1 - fraction) * torch.polar(one, below) + fraction * torch.polar(one, above)


class FreeSpace(nn.Module):
    """Propagation over a fixed ``distance`` (m); see :func:`quaton.optics.propagate`.

    The transfer function is built once per (grid, dtype, device) and reused on every forward
    pass; pitch, wavelength, distance and method are fixed at construction, so they key the
    module itself.
    """

    def __init__(
        self,
        *,
        wavelength: float,
        pitch: float,
        distance: float,
        method: str = "asm",
        pad_factor: float = 2.0,
    ) -> None:
        super().__init__()
        self.wavelength = float(wavelength)
        self.pitch = float(pitch)
        self.distance = float(distance)
        self.method = method
        self.pad_factor = float(pad_factor)
        self._kernels: dict[tuple, torch.Tensor] = {}
        # The padded FFT input, reused between calls; modules that run one after another may share one.
        self.workspace = PaddedBuffer()

    def kernel(self, shape: tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Cached transfer function [P, Q] for a grid ``shape`` (H, W)."""
        key = (tuple(shape), dtype, device)
        kernel = self._kernels.get(key)
        if kernel is None:
            kernel = transfer_function(
                padded_shape(shape, self.pad_factor),
                wavelength=self.wavelength,
                pitch=self.pitch,
                distance=self.distance,
                method=self.method,
                dtype=dtype,
                device=device,
            )
            self._kernels[key] = kernel
        return kernel

    def kernel_adjoint(self, shape: tuple[int, int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Cached conjugate transfer function [P, Q]: the backward pass propagates by it."""
        key = ("adjoint", tuple(shape), dtype, device)
        adjoint = self._kernels.get(key)
        if adjoint is None:
            adjoint = self.kernel(shape, dtype, device).conj().resolve_conj()
            self._kernels[key] = adjoint
        return adjoint

    def forward(self, field: torch.Tensor, transmission: torch.Tensor | None = None) -> torch.Tensor:
        """field: complex [..., H, W] -> complex [..., H, W], propagated after multiplying by an
        optional mask ``transmission`` complex [H, W] (fused into the propagation: one autograd
        node with a hand-written backward, :func:`quaton.optics.propagation.fast_propagate`)."""
        field = field.to(complex_dtype_for(field))
        shape = (field.shape[-2], field.shape[-1])
        if transmission is not None:
            transmission = transmission.to(field.dtype)
        return fast_propagate(
            field,
            self.kernel(shape, field.dtype, field.device),
            self.kernel_adjoint(shape, field.dtype, field.device),
            transmission,
            self.workspace,
        )

    def extra_repr(self) -> str:
        return (
            f"distance={self.distance:.4g} m, wavelength={self.wavelength:.4g} m, "
            f"pitch={self.pitch:.4g} m, method={self.method}"
        )


class PhaseMask(nn.Module):
    """A learnable phase-only mask: t(x, y) = exp(i·φ(x, y)), φ in [0, 2π).

    ``raw`` [H, W] holds unconstrained parameters (radians). ``quantizer`` (optional) maps raw
    parameters to the phases the device would have; it decides what happens in training and in
    evaluation (see ``quaton.quant``). Without one, the phase is the raw value wrapped (``mapping``
    "wrap") or reflected into [0, 2π] (``mapping`` "reflect", :func:`reflect_phase`).
    """

    def __init__(
        self,
        shape: tuple[int, int],
        *,
        init: str = "uniform",
        quantizer: PhaseQuantizer | None = None,
        generator: torch.Generator | None = None,
        mapping: str = "wrap",
    ) -> None:
        super().__init__()
        if mapping not in PHASE_MAPPINGS:
            raise ValueError(f"unknown phase mapping {mapping!r}; choose one of {sorted(PHASE_MAPPINGS)}")
        if mapping != "wrap" and quantizer is not None:
            raise ValueError("a quantized mask wraps its phases: phase mapping 'reflect' is for full precision")
        self.mapping = PHASE_MAPPINGS[mapping]
        if init == "uniform":
            raw = torch.rand(shape, generator=generator) * TWO_PI
        elif init == "zeros":
            raw = torch.zeros(shape)
        else:
            raise ValueError(f"unknown phase init {init!r}; choose 'uniform' or 'zeros'")
        self.raw = nn.Parameter(raw)
        self.quantizer = quantizer
        # In training, run at the hard device's levels in value with the training form's gradient
        # (set by :func:`device_operating_point` where the model is compared with a measured device).
        self.at_device = False
        self.response: Callable[[torch.Tensor], torch.Tensor] | None = (
            None  # the modulator's phase response, if modelled
        )
        if quantizer is not None and hasattr(quantizer, "initialize"):
            quantizer.initialize(self.raw)
            # A quantizer with its own parameters (Gumbel-softmax logits) replaces the raw phases.
            self.raw.requires_grad_(not getattr(quantizer, "replaces_raw", False))

    def phase(self) -> torch.Tensor:
        """Phase of the mask in [0, 2π) ([0, 2π] reflected), float [H, W]; hard-quantized in eval mode."""
        if self.quantizer is None:
            return self.mapping(self.raw)
        return wrap_phase(self.quantizer(self.raw))

    def transmission(self, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
        """exp(i·response(φ)), complex [H, W]; in training with a quantizer that relaxes on the chord,
        the secant between the two levels that enclose φ (see :func:`chord_transmission`), or for
        one that trains a distribution over the levels (GS) the mixture of their transmissions."""
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        quantizer = self.quantizer
        if self.at_device and self.training and quantizer is not None:
            trained = self._training_transmission(real)
            return (self._unit_phasor(quantizer.hard(self.raw), real) + (trained - trained.detach())).to(dtype)
        return self._training_transmission(real).to(dtype)

    def _training_transmission(self, real: torch.dtype) -> torch.Tensor:
        """:meth:`transmission` in the mask's current mode, complex in ``real``'s precision."""
        quantizer = self.quantizer
        if self.training and quantizer is not None and quantizer.uses_chord():
            weights = quantizer.mixture(self.raw)
            if weights is not None:
                # a distribution over the levels: the mixture Σ_k w_k·exp(i·response(θ_k))
                levels = quantizer.values.to(real)
                levels = levels if self.response is None else self.response(levels)
                phasors = torch.polar(torch.ones_like(levels), levels)
                return (weights.to(real) * phasors).sum(dim=-1)
            relaxed = chord_transmission(
                quantizer.relaxed(self.raw).to(real), quantizer.levels, quantizer.value_range, self.response
            )
            if not quantizer.straight_through:
                return relaxed
            # the hard device's value, the chord's gradient
            return self._unit_phasor(quantizer.hard(self.raw), real) + (relaxed - relaxed.detach())
        return self._unit_phasor(self.phase(), real)

    def _unit_phasor(self, phase: torch.Tensor, real: torch.dtype) -> torch.Tensor:
        """exp(i·response(phase)) for a phase float [H, W] (rad), computed in ``real`` precision."""
        phase = (phase if self.response is None else self.response(phase)).to(real)
        return torch.polar(torch.ones_like(phase), phase)

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        """field: complex [..., H, W] -> complex [..., H, W]."""
        return field * self.transmission(field.dtype)


@contextmanager
def device_operating_point(module: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Within the block, every :class:`PhaseMask` of ``module`` in training runs at its hard device's
    levels in value, with its training form's gradient (where the model's output is compared with a
    measured device, which is loaded with those levels); masks without a quantizer are unchanged."""
    masks = [m for m in module.modules() if isinstance(m, PhaseMask)]
    saved = [m.at_device for m in masks]
    for mask in masks:
        mask.at_device = enabled
    try:
        yield
    finally:
        for mask, value in zip(masks, saved):
            mask.at_device = value


class Aperture(nn.Module):
    """A fixed amplitude transmission ``amplitude`` [H, W] (no parameters, a buffer)."""

    amplitude: torch.Tensor  # buffer, float32 [H, W]

    def __init__(self, amplitude: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("amplitude", amplitude.to(torch.float32))

    @classmethod
    def rectangle(cls, shape: tuple[int, int], size: tuple[int, int]) -> Aperture:
        """A centred open rectangle of ``size`` (rows, cols) pixels in an opaque ``shape`` grid."""
        amplitude = torch.zeros(shape)
        r0 = (shape[0] - size[0]) // 2
        c0 = (shape[1] - size[1]) // 2
        amplitude[r0 : r0 + size[0], c0 : c0 + size[1]] = 1.0
        return cls(amplitude)

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        return field * self.amplitude.to(field.device)
