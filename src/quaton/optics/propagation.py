"""Scalar free-space propagation: band-limited angular spectrum and Fresnel transfer functions.

Every method is three small steps, as in chromatix: choose the padded window
(:func:`padded_shape`), build the transfer function (:func:`transfer_function`, a pure
function of grid, pitch, wavelength and distance), and apply it (:func:`kernel_propagate`,
shared by all methods). Building apart from applying is what lets :class:`FreeSpace` cache
the kernel.

All lengths are in metres, frequencies in cycles per metre.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from scipy.fft import next_fast_len

Method = Literal["asm", "fresnel"]
METHODS: tuple[str, ...] = ("asm", "fresnel")


def padded_shape(shape: tuple[int, int], pad_factor: float) -> tuple[int, int]:
    """Padded FFT window for a grid ``shape`` = (H, W).

    Each side is at least ``ceil(side * pad_factor)`` and is rounded up to the next length
    that the FFT handles fast (a product of 2, 3, 5, 7 and 11, ``scipy.fft.next_fast_len``).
    It is never smaller than asked. A pad factor of 2 makes the circular convolution of the
    FFT equal to the linear convolution over the grid (no wrap-around between opposite edges).
    """
    if pad_factor < 1.0:
        raise ValueError(f"pad_factor must be >= 1, got {pad_factor}")
    return tuple(int(next_fast_len(math.ceil(side * pad_factor - 1e-9))) for side in shape)  # type: ignore[return-value]


def _frequencies(n: int, pitch: float) -> torch.Tensor:
    """FFT-ordered spatial frequencies [n] (float64, cycles/m) of a window of n samples."""
    return torch.fft.fftfreq(n, d=pitch, dtype=torch.float64)


def bandlimit(window: float, wavelength: float, distance: float, method: str) -> float:
    """Largest spatial frequency (cycles/m) along one axis whose transfer-function phase is sampled
    without aliasing in a padded window of width ``window`` (m).

    ASM: Matsushima & Shimobaba, Opt. Express 17, 19662 (2009), eq. (13):
    u_limit = 1 / (λ·sqrt((2·Δu·z)² + 1)), Δu = 1/window.
    Fresnel: the local frequency of exp(-iπλz·u²) is λ·z·u, which must stay below 1/(2Δu):
    u_limit = window / (2·λ·|z|), capped at 1/λ (no propagating wave beyond it).
    """
    du = 1.0 / window
    z = abs(distance)
    if method == "asm":
        return 1.0 / (wavelength * math.sqrt((2.0 * du * z) ** 2 + 1.0))
    if method == "fresnel":
        if z == 0.0:
            return 1.0 / wavelength
        return min(window / (2.0 * wavelength * z), 1.0 / wavelength)
    raise ValueError(f"unknown propagation method {method!r}; choose one of {METHODS}")


def transfer_function(
    padded: tuple[int, int],
    *,
    wavelength: float,
    pitch: float,
    distance: float,
    method: str = "asm",
    dtype: torch.dtype = torch.complex64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Band-limited transfer function H(fy, fx), complex ``dtype`` [P, Q], FFT-ordered.

    ``asm``: H = exp(i·2π·z·sqrt(1/λ² − fx² − fy²)), evanescent waves set to 0.
    ``fresnel``: H = exp(i·k·z)·exp(−iπ·λ·z·(fx² + fy²)).
    Both are zero outside the rectangular band limit of :func:`bandlimit` for the padded
    window, so that the kernel's chirp never aliases. The phase is computed in float64 and
    then cast, so float32 fields lose no accuracy to the large k·z.
    """
    p, q = padded
    fy = _frequencies(p, pitch)[:, None]
    fx = _frequencies(q, pitch)[None, :]
    limit_y = bandlimit(p * pitch, wavelength, distance, method)
    limit_x = bandlimit(q * pitch, wavelength, distance, method)
    inside = (fy.abs() <= limit_y) & (fx.abs() <= limit_x)
    f2 = fx**2 + fy**2
    if method == "asm":
        arg = (1.0 / wavelength**2) - f2
        inside = inside & (arg > 0)
        phase = 2.0 * math.pi * distance * torch.sqrt(arg.clamp_min(0.0))
    elif method == "fresnel":
        phase = 2.0 * math.pi * distance / wavelength - math.pi * wavelength * distance * f2
    else:
        raise ValueError(f"unknown propagation method {method!r}; choose one of {METHODS}")
    kernel = torch.polar(inside.to(torch.float64), phase)
    return kernel.to(dtype=dtype, device=device)


def kernel_propagate(field: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Apply a transfer function ``kernel`` [P, Q] to ``field`` [..., H, W] (H ≤ P, W ≤ Q).

    The field is zero-padded at the end of each axis by the FFT itself (``s=``) and the result
    cropped back to [..., H, W]. Placing the field in a corner instead of the centre gives the
    same linear convolution: input and output windows shift together, so the differences
    between their coordinates, which are all the kernel sees, are unchanged. The crop is copied
    (``contiguous``) so that autograd keeps [..., H, W] rather than the whole padded buffer: about
    a third less memory in training for a copy that costs little next to the FFTs.
    """
    h, w = field.shape[-2:]
    spectrum = torch.fft.fft2(field, s=tuple(kernel.shape))
    return torch.fft.ifft2(spectrum.mul_(kernel))[..., :h, :w].contiguous()


def complex_dtype_for(field: torch.Tensor) -> torch.dtype:
    """complex128 for double-precision fields, complex64 otherwise."""
    return torch.complex128 if field.dtype in (torch.float64, torch.complex128) else torch.complex64


def propagate(
    field: torch.Tensor,
    *,
    wavelength: float,
    pitch: float,
    distance: float,
    method: str = "asm",
    pad_factor: float = 2.0,
) -> torch.Tensor:
    """Propagate a scalar ``field`` [..., H, W] over ``distance`` (m) in a homogeneous medium.

    ``wavelength`` is the wavelength in the medium (m), ``pitch`` the sample spacing (m).
    ``method`` is ``"asm"`` (band-limited angular spectrum, exact for scalar waves) or
    ``"fresnel"`` (paraxial Fresnel transfer function, band-limited the same way).
    Returns the field on the same grid: same shape, complex dtype (complex64 by default,
    complex128 for double inputs) and device.
    """
    if field.ndim < 2:
        raise ValueError(f"field must have shape [..., H, W], got {tuple(field.shape)}")
    dtype = complex_dtype_for(field)
    field = field.to(dtype)
    kernel = transfer_function(
        padded_shape((field.shape[-2], field.shape[-1]), pad_factor),
        wavelength=wavelength,
        pitch=pitch,
        distance=distance,
        method=method,
        dtype=dtype,
        device=field.device,
    )
    return kernel_propagate(field, kernel)


class PaddedBuffer:
    """One reusable FFT input [..., P, Q] that is zero outside its [:H, :W] corner.

    Propagations write only the corner (the field, or its product with a mask) and transform the
    buffer out of place, so its border stays zero from one use to the next: no padded buffer is
    allocated and zero-filled per FFT. One buffer serves any number of propagations that run one
    after another (a D2NN shares one between its planes, forward and backward). It holds the
    latest (batch shape, grid, padded window, dtype, device) only, so a change of batch size
    replaces it rather than adding one.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._buffer: torch.Tensor | None = None

    def get(self, field: torch.Tensor, padded: tuple[int, int]) -> torch.Tensor:
        """The buffer for ``field`` [..., H, W] in a ``padded`` (P, Q) window; its corner is stale."""
        key = (tuple(field.shape), tuple(padded), field.dtype, field.device)
        if key != self._key or self._buffer is None:
            self._buffer = None  # free the old one before allocating
            self._buffer = field.new_zeros((*field.shape[:-2], *padded))
            self._key = key
        return self._buffer

    def __deepcopy__(self, memo: dict) -> PaddedBuffer:
        return PaddedBuffer()  # a copy shares nothing and needs no copied zeros

    def __getstate__(self) -> dict:
        return {"_key": None, "_buffer": None}


def _pad_into(
    field: torch.Tensor, transmission: torch.Tensor | None, padded: tuple[int, int], workspace: PaddedBuffer | None
) -> torch.Tensor:
    """``field``·``transmission`` in the [:H, :W] corner of a [..., P, Q] buffer that is zero
    elsewhere: the mask product is written straight into the FFT's input."""
    h, w = field.shape[-2:]
    if workspace is not None:
        buffer = workspace.get(field, padded)
    else:
        buffer = field.new_empty((*field.shape[:-2], *padded))
        buffer[..., h:, :].zero_()
        buffer[..., :h, w:].zero_()
    corner = buffer[..., :h, :w]
    if transmission is None:
        corner.copy_(field)
    else:
        torch.mul(field, transmission, out=corner)
    return buffer


def _convolve(
    field: torch.Tensor, transmission: torch.Tensor | None, kernel: torch.Tensor, workspace: PaddedBuffer | None
) -> torch.Tensor:
    """crop(IFFT(FFT(pad(field·transmission))·kernel)) as a view [..., H, W] of the padded result.

    The FFTs are out of place: ``out=`` would not save memory, torch computes into a new tensor
    and copies it over (one more pass over the padded buffer per FFT)."""
    h, w = field.shape[-2:]
    spectrum = torch.fft.fft2(_pad_into(field, transmission, (kernel.shape[-2], kernel.shape[-1]), workspace))
    return torch.fft.ifft2(spectrum.mul_(kernel))[..., :h, :w]


class _MaskedPropagation(torch.autograd.Function):
    """out = crop(IFFT(FFT(pad(field·t))·H)) with its reverse written by hand.

    The map field ↦ out is linear, A = C·F⁻¹·diag(H)·F·P (P zero-pads, C crops, F the unnormalised
    DFT). Its adjoint, which is what autograd's backward applies to the output gradient, is
    Aᴴ = Pᴴ·Fᴴ·diag(H̄)·F⁻ᴴ·Cᴴ = C·F⁻¹·diag(H̄)·F·P, because Pᴴ = C, Cᴴ = P and Fᴴ = n·F⁻¹,
    F⁻ᴴ = F/n: pad, FFT, multiply by the conjugate kernel, inverse FFT, crop. Then
    grad_field = conj(t)·Aᴴg and grad_t = Σ_batch conj(field)·Aᴴg. Compared with autograd's
    composition this saves no intermediates but the input, writes no zero-filled padded gradient
    of the crop, and writes the mask product straight into the padded FFT input.
    """

    @staticmethod
    def forward(ctx, field, transmission, kernel, kernel_adjoint, workspace):
        ctx.set_materialize_grads(False)
        ctx.kernel_adjoint = kernel_adjoint
        ctx.workspace = workspace
        field_grad, transmission_grad = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(field if transmission_grad else None, transmission if field_grad else None)
        # The cropped view keeps its padded buffer alive; the copy frees it (a third less memory).
        return _convolve(field, transmission, kernel, workspace).clone(memory_format=torch.contiguous_format)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        if grad is None:
            return None, None, None, None, None
        field, transmission = ctx.saved_tensors
        back = _convolve(grad, None, ctx.kernel_adjoint, ctx.workspace)  # Aᴴ·g, a view [..., H, W]
        grad_field = grad_transmission = None
        if ctx.needs_input_grad[0]:
            grad_field = (
                back.clone(memory_format=torch.contiguous_format)
                if transmission is None
                else back * transmission.conj().resolve_conj()
            )
        if ctx.needs_input_grad[1]:
            product = back * field.conj().resolve_conj()
            grad_transmission = product.sum(dim=tuple(range(product.ndim - 2))) if product.ndim > 2 else product
        return grad_field, grad_transmission, None, None, None


def fast_propagate(
    field: torch.Tensor,
    kernel: torch.Tensor,
    kernel_adjoint: torch.Tensor | None = None,
    transmission: torch.Tensor | None = None,
    workspace: PaddedBuffer | None = None,
) -> torch.Tensor:
    """``kernel_propagate(field * transmission, kernel)`` in one autograd node with a hand-written
    backward (see :class:`_MaskedPropagation`); equal to it to float rounding.

    field: complex [..., H, W]; transmission: complex [H, W] or None (no mask); kernel: complex
    [P, Q] (P ≥ H, Q ≥ W), the same dtype as ``field``; ``kernel_adjoint``: ``kernel.conj()``,
    passed in so that a caller that caches the kernel caches it too; ``workspace``: a
    :class:`PaddedBuffer` to pad into (None: a new buffer per FFT). Returns complex [..., H, W].
    """
    if kernel_adjoint is None:
        kernel_adjoint = kernel.conj().resolve_conj()
    if transmission is not None and tuple(transmission.shape) != tuple(field.shape[-2:]):
        return kernel_propagate(field * transmission, kernel)
    return _MaskedPropagation.apply(field, transmission, kernel, kernel_adjoint, workspace)
