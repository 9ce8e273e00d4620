"""Interferometric photonic neural networks: rectangular (Clements) meshes of Mach-Zehnder
interferometers (MZIs), the electro-optic activation between them, and the Fourier input encoding
of the DAT paper (Zheng et al., "Dual adaptive training of photonic neural networks",
Nat. Mach. Intell. 2023).

Conventions (used by the mesh, the decomposition and the physical twin alike):

- A field on n waveguides is a complex vector; a batch is ``complex [B, n]``; a mesh applies
  y = U x per sample, i.e. ``y = x @ U.T``.
- Directional coupler with split-ratio error e (e = 0: ideal 50:50; unitary for |e| < 1)::

      B(e) = 1/√2 [[√(1+e), i√(1−e)], [i√(1−e), √(1+e)]]

- MZI on waveguides (k, k+1), light travelling right to left in the product::

      T(θ, φ) = B(e2) · diag(e^{iθ}, 1) · B(e1) · diag(e^{iφ}, 1)

  φ (external) is a phase shifter on the *upper input* arm, applied first; θ (internal) sits on
  the upper arm between the couplers. Ideal couplers give
  T = i e^{iθ/2} [[e^{iφ} sin(θ/2), cos(θ/2)], [e^{iφ} cos(θ/2), −sin(θ/2)]]: θ = π is the bar
  state, θ = 0 the cross state. (With the external phase on the input side and a phase screen on the
  output, the mesh is universal, as in Clements et al., Optica 3, 1460 (2016), Fig. 1.)
- Rectangular mesh on n waveguides: n columns; column c holds the MZIs on pairs (k, k+1) with
  k ≡ c (mod 2), k + 1 < n; n(n−1)/2 MZIs in total. Parameters are ordered column by column
  (column 0 first), top to bottom within a column. After the last column an output phase screen
  diag(e^{iγ}) completes the mesh: U = diag(e^{iγ}) · M_{n−1} ··· M_1 · M_0.
- Phases are in radians; split-ratio errors are dimensionless.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor, nn

from quaton.models.memory import ADAM_COPIES, COMPLEX64, FLOAT32
from quaton.models.protocol import BuildContext, Memory, register_model
from quaton.registry import Options

KIND = "mzi"  # model.kind

if TYPE_CHECKING:
    from quaton.config import Config
    from quaton.hardware import Readout

__all__ = [
    "ClementsMesh",
    "ElectroOpticActivation",
    "MZIConfig",
    "MZINetwork",
    "MeshErrors",
    "beamsplitter",
    "clements_decompose",
    "draw_mesh_errors",
    "fourier_encode",
    "mesh_columns",
    "mzi_matrix",
    "normalized_intensity",
]

FieldMap = Callable[[Tensor], Tensor]


def _complex_of(real_dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if real_dtype == torch.float64 else torch.complex64


def _real_of(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype in (torch.float64, torch.complex128) else torch.float32


# ---------------------------------------------------------------------------------------------
# Pure functions: couplers, MZIs, mesh layout
# ---------------------------------------------------------------------------------------------


def beamsplitter(error: Tensor) -> Tensor:
    """Directional coupler with split-ratio error ``error`` (real [...], dimensionless, |e| < 1).

    Returns complex [..., 2, 2]: B = 1/√2 [[√(1+e), i√(1−e)], [i√(1−e), √(1+e)]], unitary for any
    |e| < 1; e = 0 is the ideal 50:50 coupler. complex128 for float64 errors, else complex64.
    """
    error = torch.as_tensor(error)
    if not error.is_floating_point():
        error = error.float()
    bar = torch.sqrt((1 + error) / 2)
    cross = torch.sqrt((1 - error) / 2)
    zero = torch.zeros_like(bar)
    bar_c, cross_c = torch.complex(bar, zero), torch.complex(zero, cross)
    return torch.stack([torch.stack([bar_c, cross_c], -1), torch.stack([cross_c, bar_c], -1)], -2)


def _phase_upper(phase: Tensor) -> Tensor:
    """diag(e^{i·phase}, 1) as complex [..., 2, 2]."""
    one = torch.ones_like(phase)
    zero = torch.zeros_like(phase)
    upper = torch.polar(one, phase)
    c_one, c_zero = torch.complex(one, zero), torch.complex(zero, zero)
    return torch.stack([torch.stack([upper, c_zero], -1), torch.stack([c_zero, c_one], -1)], -2)


def mzi_matrix(theta: Tensor, phi: Tensor, bs_errors: Tensor | None = None) -> Tensor:
    """Transfer matrix of MZIs: T = B(e2) · diag(e^{iθ}, 1) · B(e1) · diag(e^{iφ}, 1).

    theta, phi: real [...] (rad); bs_errors: real [..., 2] split-ratio errors (e1 of the input-side
    coupler, e2 of the output-side one) or None for ideal couplers. Returns complex [..., 2, 2]
    acting on (upper, lower) amplitudes; complex128 when theta is float64, else complex64.
    """
    theta, phi = torch.broadcast_tensors(torch.as_tensor(theta), torch.as_tensor(phi))
    if bs_errors is None:
        bs_errors = torch.zeros(*theta.shape, 2, dtype=theta.dtype, device=theta.device)
    bs_errors = bs_errors.to(theta.dtype)
    first, second = beamsplitter(bs_errors[..., 0]), beamsplitter(bs_errors[..., 1])
    return second @ _phase_upper(theta) @ first @ _phase_upper(phi)


def mesh_columns(n: int) -> list[tuple[int, int]]:
    """Layout of the rectangular mesh on n waveguides: per column c, (first top waveguide p = c mod 2,
    number of MZIs m). Column c's MZIs couple (p + 2j, p + 2j + 1), j = 0..m−1."""
    return [(c % 2, (n - c % 2) // 2) for c in range(n)]


def _mzi_slots(n: int) -> dict[tuple[int, int], int]:
    """(column, top waveguide) -> index of that MZI in the parameter vectors."""
    slots, index = {}, 0
    for column, (first, count) in enumerate(mesh_columns(n)):
        for j in range(count):
            slots[(column, first + 2 * j)] = index
            index += 1
    return slots


# ---------------------------------------------------------------------------------------------
# Fabrication errors
# ---------------------------------------------------------------------------------------------


@dataclass
class MeshErrors:
    """Systematic errors of one mesh (fixed per device realisation).

    bs: real [n_mzi, 2] split-ratio errors e of the input-side and output-side couplers;
    theta, phi: real [n_mzi] additive phase-shifter errors (rad); gamma: real [n] additive errors of
    the output phase screen (rad; zeros in the DAT error model).
    """

    bs: Tensor
    theta: Tensor
    phi: Tensor
    gamma: Tensor

    def to(self, *args, **kwargs) -> MeshErrors:
        """A copy moved/cast like ``Tensor.to``."""
        return MeshErrors(*(t.to(*args, **kwargs) for t in (self.bs, self.theta, self.phi, self.gamma)))


def draw_mesh_errors(
    n: int,
    sigma_bs: float = 0.0,
    sigma_ps: float = 0.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> MeshErrors:
    """One realisation of the DAT error model for an n-waveguide rectangular mesh: every coupler's
    split error e ~ N(0, σ_bs²) (amplitudes scaled by √(1 ± e); clipped to |e| ≤ 1 − 1e-6 so the coupler
    stays physical), every θ and φ gets an additive N(0, σ_ps²) error (rad); the output screen is
    error-free. Drawn in the order bs, theta, phi from ``generator`` (CPU)."""
    n_mzi = n * (n - 1) // 2
    bs = torch.randn(n_mzi, 2, generator=generator, dtype=torch.float64) * sigma_bs
    theta = torch.randn(n_mzi, generator=generator, dtype=torch.float64) * sigma_ps
    phi = torch.randn(n_mzi, generator=generator, dtype=torch.float64) * sigma_ps
    bs = bs.clamp(-1 + 1e-6, 1 - 1e-6)
    return MeshErrors(bs.to(dtype), theta.to(dtype), phi.to(dtype), torch.zeros(n, dtype=dtype))


# ---------------------------------------------------------------------------------------------
# The mesh
# ---------------------------------------------------------------------------------------------


class ClementsMesh(nn.Module):
    """Rectangular MZI mesh (Clements et al. 2016) on n waveguides: a universal n × n unitary.

    Parameters (float32 unless the module is cast): ``theta`` [n_mzi], ``phi`` [n_mzi] (rad, mesh order:
    column by column, top to bottom), ``gamma`` [n] output phase screen (rad).

    init: "uniform" draws θ, φ, γ uniform in [0, 2π); "haar" loads a Haar-random unitary (θ, φ, γ from
    its Clements decomposition). Randomness comes from ``generator`` if given, else from a generator
    seeded with ``seed``.
    """

    _mzi_entries: Tensor  # buffers: flat indices of the MZI blocks' entries, of the idle waveguides' ones
    _idle_entries: Tensor

    def __init__(
        self, n: int, *, seed: int = 0, generator: torch.Generator | None = None, init: str = "uniform"
    ) -> None:
        super().__init__()
        if n < 1:
            raise ValueError(f"a mesh needs at least one waveguide, got n={n}")
        self.n = n
        self.n_mzi = n * (n - 1) // 2
        self.columns = mesh_columns(n)
        if generator is None:
            generator = torch.Generator().manual_seed(seed)
        if init == "uniform":
            values = torch.rand(2 * self.n_mzi + n, generator=generator, dtype=torch.float64) * (2 * math.pi)
            theta, phi, gamma = values.split([self.n_mzi, self.n_mzi, n])
        elif init == "haar":
            theta, phi, gamma = (torch.from_numpy(a) for a in clements_decompose(_haar_unitary(n, generator)))
        else:
            raise ValueError(f"init must be 'uniform' or 'haar', got {init!r}")
        self.theta = nn.Parameter(theta.float())
        self.phi = nn.Parameter(phi.float())
        self.gamma = nn.Parameter(gamma.float())
        # Flat positions in the stacked column matrices [n_columns, n, n] of the MZI entries (t00, t01, t10, t11
        # of every MZI, in mesh order) and of the unit diagonal of waveguides a column leaves alone.
        column = torch.tensor([c for c, (_, count) in enumerate(self.columns) for _ in range(count)], dtype=torch.long)
        top = torch.tensor([first + 2 * j for first, count in self.columns for j in range(count)], dtype=torch.long)
        base = column * n * n + top * n + top
        self.register_buffer("_mzi_entries", torch.cat([base, base + 1, base + n, base + n + 1]), persistent=False)
        idle = [
            c * n * n + r * (n + 1)
            for c, (first, count) in enumerate(self.columns)
            for r in range(n)
            if not first <= r < first + 2 * count
        ]
        self.register_buffer("_idle_entries", torch.tensor(idle, dtype=torch.long), persistent=False)

    def extra_repr(self) -> str:
        return f"n={self.n}, n_mzi={self.n_mzi}"

    def matrix(
        self, errors: MeshErrors | None = None, dtype: torch.dtype | None = None, method: str = "auto"
    ) -> Tensor:
        """The mesh's transfer matrix U, complex [n, n] (y = U x), differentiable w.r.t. θ, φ, γ.

        Built from the identity, so its cost does not depend on the batch size. dtype: complex64 or
        complex128 (default: complex128 if the parameters are float64, else complex64). method:
        "columns" applies the columns one after the other to the identity (O(n³) work, n small steps);
        "tree" builds every column as a dense matrix and multiplies them pairwise in log₂(n) batched
        matmuls (O(n⁴) work, few steps: faster on a GPU and, for n ≤ 64, on a CPU); "auto" picks "tree"
        on CUDA or for n ≤ 64, else "columns". Both give the same U.
        """
        if method not in ("auto", "columns", "tree"):
            raise ValueError(f"method must be 'auto', 'columns' or 'tree', got {method!r}")
        real = _real_of(dtype) if dtype is not None else self.theta.dtype
        if self.theta.dtype == torch.float64:
            real = torch.float64
        device = self.theta.device
        theta, phi, gamma = self.theta.to(real), self.phi.to(real), self.gamma.to(real)
        bs = None
        if errors is not None:
            errors = errors.to(device=device, dtype=real)
            theta, phi, gamma, bs = theta + errors.theta, phi + errors.phi, gamma + errors.gamma, errors.bs
        transfer = mzi_matrix(theta, phi, bs)  # [n_mzi, 2, 2]
        if method == "auto":
            method = "tree" if device.type == "cuda" or self.n <= 64 else "columns"
        unitary = self._multiply_columns(transfer) if method == "tree" else self._apply_columns(transfer)
        return torch.polar(torch.ones_like(gamma), gamma)[:, None] * unitary

    def _apply_columns(self, transfer: Tensor) -> Tensor:
        """M_{n−1} ··· M_0 by applying the columns in turn to the identity; transfer: [n_mzi, 2, 2]."""
        unitary = torch.eye(self.n, dtype=transfer.dtype, device=transfer.device)
        start = 0
        for first, count in self.columns:
            if count == 0:
                continue
            block = unitary[first : first + 2 * count].reshape(count, 2, self.n)
            mixed = (transfer[start : start + count] @ block).reshape(2 * count, self.n)
            unitary = torch.cat([unitary[:first], mixed, unitary[first + 2 * count :]])
            start += count
        return unitary

    def _multiply_columns(self, transfer: Tensor) -> Tensor:
        """M_{n−1} ··· M_0 by a pairwise product tree of the dense column matrices; transfer: [n_mzi, 2, 2]."""
        n = self.n
        entries = transfer.permute(1, 2, 0).reshape(-1)  # t00 of all MZIs, then t01, t10, t11
        flat = torch.zeros(n * n * n, dtype=transfer.dtype, device=transfer.device)
        flat = flat.index_fill(0, self._idle_entries, 1).index_put((self._mzi_entries,), entries)
        matrices = flat.view(n, n, n)
        while matrices.shape[0] > 1:
            if matrices.shape[0] % 2:
                eye = torch.eye(n, dtype=transfer.dtype, device=transfer.device)
                matrices = torch.cat([matrices, eye[None]])
            matrices = matrices[1::2] @ matrices[0::2]  # later columns act after earlier ones
        return matrices[0]

    def forward(self, x: Tensor, errors: MeshErrors | None = None) -> Tensor:
        """Fields complex [B, n] -> complex [B, n], y = U x per sample (x @ U.T); complex128 in, complex128 out."""
        dtype = torch.complex128 if x.dtype == torch.complex128 else None
        unitary = self.matrix(errors, dtype=dtype)
        return x.to(unitary.dtype) @ unitary.T

    @torch.no_grad()
    def load_phases(self, theta: np.ndarray, phi: np.ndarray, gamma: np.ndarray) -> None:
        """Set θ, φ [n_mzi] and γ [n] (rad, mesh order), cast to the parameters' dtype."""
        for name, values in (("theta", theta), ("phi", phi), ("gamma", gamma)):
            parameter = getattr(self, name)
            tensor = torch.as_tensor(np.asarray(values, dtype=np.float64))
            if tensor.shape != parameter.shape:
                raise ValueError(
                    f"{name} must have shape {tuple(parameter.shape)} for an n={self.n} mesh, got {tuple(tensor.shape)}"
                )
            parameter.copy_(tensor.to(parameter.dtype))

    def load_unitary(self, unitary: np.ndarray) -> None:
        """Set the phases so that the error-free mesh implements ``unitary`` (complex [n, n])."""
        self.load_phases(*clements_decompose(unitary))


# ---------------------------------------------------------------------------------------------
# Clements decomposition
# ---------------------------------------------------------------------------------------------


def _null_by_column(a: complex, b: complex) -> tuple[float, float]:
    """θ, φ of T such that [a, b] · T^{-1} has a zero first entry (mixing columns m, m+1)."""
    theta = 2 * math.atan2(abs(b), abs(a))
    phi = float(np.angle(-a * np.conj(b))) if abs(a) > 0 and abs(b) > 0 else 0.0
    return theta, phi


def _null_by_row(a: complex, b: complex) -> tuple[float, float]:
    """θ, φ of T such that T · [a, b]ᵀ has a zero second entry (mixing rows m, m+1)."""
    theta = 2 * math.atan2(abs(a), abs(b))
    phi = float(np.angle(b * np.conj(a))) if abs(a) > 0 and abs(b) > 0 else 0.0
    return theta, phi


def _ideal_mzi(theta: float, phi: float) -> np.ndarray:
    s, c = math.sin(theta / 2), math.cos(theta / 2)
    e = np.exp(1j * phi)
    return 1j * np.exp(1j * theta / 2) * np.array([[e * s, c], [e * c, -s]])


def clements_decompose(unitary: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phases of the rectangular mesh implementing ``unitary`` (complex [n, n]), Clements et al.,
    Optica 3, 1460 (2016): null the lower triangle by alternately mixing columns (T⁻¹ on the right)
    and rows (T on the left) along anti-diagonals, then move the left-hand MZIs through the remaining
    diagonal using T⁻¹ D = D' T' (θ' = θ, e^{iφ'} = d₁/d₂, D' = −e^{−iθ} d₂ diag(e^{−iφ}, 1)).

    Returns (theta [n_mzi], phi [n_mzi], gamma [n]) as float64 radians in the mesh's parameter order.
    """
    u = np.array(unitary, dtype=np.complex128)
    n = u.shape[0]
    if u.shape != (n, n):
        raise ValueError(f"expected a square matrix, got shape {u.shape}")
    if not np.allclose(u @ u.conj().T, np.eye(n), atol=1e-8):
        raise ValueError("the matrix is not unitary (U U† ≠ I to 1e-8)")
    right: list[tuple[int, float, float]] = []  # applied to the input first, in order
    left: list[tuple[int, float, float]] = []  # T_L1, T_L2, ... as applied on the left
    for i in range(n - 1):
        if i % 2 == 0:
            for j in range(i + 1):
                row, mode = n - 1 - j, i - j
                theta, phi = _null_by_column(u[row, mode], u[row, mode + 1])
                u[:, mode : mode + 2] = u[:, mode : mode + 2] @ _ideal_mzi(theta, phi).conj().T
                right.append((mode, theta, phi))
        else:
            for j in range(1, i + 2):
                row, col = n + j - i - 2, j - 1
                theta, phi = _null_by_row(u[row - 1, col], u[row, col])
                u[row - 1 : row + 1, :] = _ideal_mzi(theta, phi) @ u[row - 1 : row + 1, :]
                left.append((row - 1, theta, phi))
    diagonal = np.diag(u).copy()
    # U = T_L1⁻¹ ··· T_Lk⁻¹ D T_Rm ··· T_R1; push D leftwards through T_Lk⁻¹, ..., T_L1⁻¹.
    moved: list[tuple[int, float, float]] = []
    for mode, theta, phi in reversed(left):
        d1, d2 = diagonal[mode], diagonal[mode + 1]
        factor = -np.exp(-1j * theta) * d2
        diagonal[mode], diagonal[mode + 1] = factor * np.exp(-1j * phi), factor
        moved.append((mode, theta, float(np.angle(d1 / d2))))
    # Application order: right MZIs, then the moved ones in the order T'_k, ..., T'_1.
    sequence = right + moved
    slots = _mzi_slots(n)
    last_column = [-1] * n
    theta_out, phi_out = np.zeros(len(slots)), np.zeros(len(slots))
    for mode, theta, phi in sequence:
        column = max(last_column[mode], last_column[mode + 1]) + 1
        column += (column - mode) % 2
        index = slots.get((column, mode))
        if index is None:  # pragma: no cover - the Clements ordering always fits the rectangle
            raise RuntimeError(f"MZI on modes ({mode}, {mode + 1}) does not fit the rectangular mesh")
        theta_out[index], phi_out[index] = theta, phi
        last_column[mode] = last_column[mode + 1] = column
    gamma = np.angle(diagonal)
    return np.mod(theta_out, 2 * np.pi), np.mod(phi_out, 2 * np.pi), np.mod(gamma, 2 * np.pi)


def _haar_unitary(n: int, generator: torch.Generator) -> np.ndarray:
    """Haar-random unitary [n, n] (QR of a complex Gaussian matrix with the phases of R fixed; Mezzadri 2007)."""
    gaussian = torch.randn(n, n, 2, generator=generator, dtype=torch.float64).numpy()
    q, r = np.linalg.qr((gaussian[..., 0] + 1j * gaussian[..., 1]) / math.sqrt(2))
    d = np.diag(r)
    return q * (d / np.abs(d))


# ---------------------------------------------------------------------------------------------
# Activation, read-out, encoding
# ---------------------------------------------------------------------------------------------


class ElectroOpticActivation(nn.Module):
    """Electro-optic activation (Williamson et al., IEEE JSTQE 26, 7700412 (2020; arXiv 2019); as in the DAT code):
    a fraction α of the power is tapped to a detector whose signal drives an MZI phase, giving

        Δ = ½·g·|x|² + ½·φ_b,   f(x) = √(1−α) · cos(Δ) · e^{−iΔ} · x

    per waveguide (x: complex [..., n]). g (rad per unit intensity) and φ_b (rad) are fixed.
    """

    def __init__(self, alpha: float = 0.1, gain: float = 0.05 * math.pi, bias: float = math.pi) -> None:
        super().__init__()
        self.alpha, self.gain, self.bias = alpha, gain, bias

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gain={self.gain:.4g}, bias={self.bias:.4g}"

    def forward(self, x: Tensor) -> Tensor:
        power = x.real.square() + x.imag.square()  # not x.abs(): its gradient is undefined at 0
        delta = 0.5 * self.gain * power + 0.5 * self.bias
        return math.sqrt(1 - self.alpha) * torch.polar(torch.cos(delta), -delta) * x


def normalized_intensity(fields: Tensor) -> Tensor:
    """|E|² L2-normalised over ports per sample (the DAT code's CNormSq): complex [B, n] -> real [B, n]."""
    return F.normalize(fields.real.square() + fields.imag.square(), dim=-1)


def fourier_encode(images: Tensor, ports: int = 64) -> Tensor:
    """Images real [..., H, W] -> complex [..., ports]: the DAT input encoding.

    2-D FFT, fftshift, the central √ports × √ports block (rows/cols H//2 − s//2 ... H//2 − s//2 + s − 1,
    i.e. 10..17 for 28 × 28 and s = 8), flattened row-major; the DC term lands at port
    (s//2)·s + s//2 (36 for 64 ports). Each sample is divided by the mean |amplitude| of its ports
    (the authors' ``norm_inputs``), i.e. its L1 norm of |amplitudes| equals ``ports``, mean 1. The
    scale matters because the activation is intensity dependent. An all-zero sample stays zero.
    complex128 for float64 images, else complex64.
    """
    side = math.isqrt(ports)
    if side * side != ports:
        raise ValueError(f"ports must be a perfect square (the encoding crops a square spectrum block), got {ports}")
    height, width = images.shape[-2:]
    if side > min(height, width):
        raise ValueError(f"ports={ports} needs images of at least {side} × {side}, got {height} × {width}")
    real = torch.float64 if images.dtype == torch.float64 else torch.float32
    spectrum = torch.fft.fftshift(torch.fft.fft2(images.to(real)), dim=(-2, -1))
    top, left = height // 2 - side // 2, width // 2 - side // 2
    block = spectrum[..., top : top + side, left : left + side].reshape(*images.shape[:-2], ports)
    scale = block.abs().mean(dim=-1, keepdim=True).clamp_min(torch.finfo(real).tiny)
    return block / scale


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------


class MZIConfig(Options):
    """An interferometric network (DAT paper): Clements meshes on ``ports`` waveguides."""

    ports: int = Field(
        64, ge=4, le=1024, description="waveguides; inputs are the central √ports × √ports Fourier coefficients"
    )
    meshes: int = Field(3, ge=1, le=16, description="ports x ports meshes, an electro-optic activation between them")
    activation_alpha: float = Field(
        0.1, ge=0, lt=1, allow_inf_nan=False, description="power fraction tapped by the electro-optic activation"
    )
    activation_gain: float = Field(
        0.05 * math.pi, ge=0, allow_inf_nan=False, description="activation phase per unit tapped intensity (rad)"
    )
    activation_bias: float = Field(
        0.0,
        allow_inf_nan=False,
        description="activation bias phase φ_b (rad); the DAT code uses π, with which quaton's network does not "
        "train (README)",
    )

    def activation(self) -> dict[str, float]:
        return {"alpha": self.activation_alpha, "gain": self.activation_gain, "bias": self.activation_bias}

    @field_validator("ports")
    @classmethod
    def _square(cls, value: int) -> int:
        if math.isqrt(value) ** 2 != value:
            raise ValueError(
                "ports must be a perfect square (the input is a √ports x √ports block of Fourier coefficients)"
            )
        return value


class MZINetwork(nn.Module):
    """DAT's MZI network: ``meshes`` Clements meshes on ``ports`` waveguides with the electro-optic
    activation between them; the read-out is |E|² L2-normalised over ports, the first ``classes``
    ports are the class scores.

    fields complex [B, ports] -> intensities real [B, ports]. Mesh l is initialised from one generator
    seeded with ``seed`` (meshes drawn in order). From images (``task_input``), the class scores are
    ``temperature`` · the first ``classes`` port powers L2-normalised over all ports (the DAT
    authors' read-out; ``task.temperature``).
    """

    def __init__(
        self,
        ports: int = 64,
        meshes: int = 3,
        classes: int = 10,
        seed: int = 0,
        init: str = "uniform",
        activation: dict[str, float] | None = None,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        if meshes < 1:
            raise ValueError(f"meshes must be >= 1, got {meshes}")
        if not 1 <= classes <= ports:
            raise ValueError(f"classes must be between 1 and ports={ports}, got {classes}")
        self.ports, self.classes = ports, classes
        self.temperature = temperature
        generator = torch.Generator().manual_seed(seed)
        self.meshes = nn.ModuleList(ClementsMesh(ports, generator=generator, init=init) for _ in range(meshes))
        self.activation = ElectroOpticActivation(**(activation or {}))  # alpha, gain, bias

    def stages(
        self,
        fields: Tensor,
        errors: Sequence[MeshErrors | None] | None = None,
        correction: Sequence[FieldMap | None] | None = None,
        replace: Sequence[FieldMap | None] | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """Forward pass exposing the fields after each mesh.

        fields: complex [B, ports]; errors: one MeshErrors (or None) per mesh; correction: callables c_l,
        applied as x = x + c_l(x) right after mesh l (DAT's error-prediction networks); replace:
        callables r_l, x = r_l(x) right after the correction (e.g. to substitute measured amplitudes).
        Returns (normalised intensities [B, ports], [complex [B, ports] after mesh l, correction and
        replacement, for every mesh]); the activation acts between meshes.
        """
        count = len(self.meshes)
        for name, items in (("errors", errors), ("correction", correction), ("replace", replace)):
            if items is not None and len(items) != count:
                raise ValueError(f"{name} must have one entry per mesh ({count}), got {len(items)}")
        x = fields
        after: list[Tensor] = []
        for index, mesh in enumerate(self.meshes):
            x = mesh(x, errors[index] if errors is not None else None)
            corrector = correction[index] if correction is not None else None
            if corrector is not None:
                x = x + corrector(x)
            replacer = replace[index] if replace is not None else None
            if replacer is not None:
                x = replacer(x)
            after.append(x)
            if index < count - 1:
                x = self.activation(x)
        return normalized_intensity(x), after

    def forward(self, fields: Tensor, errors: Sequence[MeshErrors | None] | None = None) -> Tensor:
        """Fields complex [B, ports] -> normalised output intensities [B, ports]."""
        return self.stages(fields, errors)[0]

    # --- quaton.models.MeasurableModel: a photodiode per port after each mesh ---

    def encode(self, images: Tensor) -> Tensor:
        """Images [B, s, s] -> Fourier-encoded fields complex [B, ports]."""
        return fourier_encode(images, self.ports)

    def plane_states(
        self, fields: Tensor, correction: list[Any] | None = None, replace: list[Any] | None = None
    ) -> list[Tensor]:
        """The fields complex [B, ports] after every mesh (``stages``' second result)."""
        return self.stages(fields, correction=correction, replace=replace)[1]

    @property
    def measured_planes(self) -> int:
        return len(self.meshes)

    @property
    def plane_shape(self) -> tuple[int, int]:
        side = math.isqrt(self.ports)
        return (side, side)

    def output_scores(self, power: Tensor) -> Tensor:
        """``temperature`` · the port powers L2-normalised over all ports, ports 0 … classes − 1."""
        return self.temperature * F.normalize(power, dim=1)[:, : self.classes]

    def scores(self, intensities: Tensor) -> Tensor:
        """Class scores: the first ``classes`` output ports, [B, classes]."""
        return intensities[..., : self.classes]

    def device_params(self) -> list[dict[str, np.ndarray]]:
        """What a physical system is loaded with: per mesh {"theta": [n_mzi], "phi": [n_mzi], "gamma": [ports]},
        float64 radians in mesh order."""
        return [
            {name: getattr(mesh, name).detach().cpu().double().numpy().copy() for name in ("theta", "phi", "gamma")}
            for mesh in self.meshes
        ]

    def load_device_params(self, params: Sequence[dict[str, np.ndarray]]) -> None:
        """Set every mesh's phases from ``device_params()``-shaped dicts."""
        if len(params) != len(self.meshes):
            raise ValueError(f"the network has {len(self.meshes)} meshes, got parameters for {len(params)}")
        for mesh, phases in zip(self.meshes, params):
            cast(ClementsMesh, mesh).load_phases(phases["theta"], phases["phi"], phases["gamma"])

    # --- quaton.models.OpticalModel: the output ports are the detectors; no masks to fabricate ---

    def task_input(self, images: Tensor, readout: Readout | None = None, full_scale: Tensor | float = 1.0) -> Tensor:
        """Class scores [B, classes] of images [B, s, s] (Fourier-encoded on ``ports`` waveguides);
        the port powers go through ``readout`` (one photodiode per port) when given."""
        powers = self(self.encode(images))
        if readout is not None:
            powers = readout(powers)
        return self.output_scores(powers)

    def sensor_intensity(self, images: Tensor) -> Tensor:
        """The ideal normalised port powers [B, ports] of images [B, s, s]."""
        return self(self.encode(images))

    def phases(self) -> list[Tensor]:
        """None: the phase shifters are device parameters (``device_params``), not masks."""
        return []

    @property
    def mask_pitch(self) -> None:
        return None

    def design_fields(self) -> dict[str, Any]:
        return {}


def _memory(config: Config, batch: int, training: bool, device: torch.device) -> int:
    """MZI network: ``meshes`` Clements meshes on n = ports waveguides, each built as its n × n
    unitary from the identity, independent of the batch.

    On CUDA or for n ≤ 64 the mesh is a product tree of the n dense column matrices, [n, n, n]
    complex64: about three of them at a time in evaluation, and about 2.5 per mesh kept for the
    backward pass in training (measured: 15.9 MB for 3 meshes at n = 64, 2.1 MB per [n, n, n]). On
    the CPU for n > 64 the columns are applied in turn: n steps of [n, n] each, kept for backward
    in training (about 1.1 per mesh, measured at n = 100 and 144); evaluation holds a few [n, n].
    Either way the MZI transfer matrices [n_mzi, 2, 2] pass through about eight complex64
    temporaries (couplers, phase screens, products). The batch part is small: the input images'
    spectra and a few [B, n] fields per mesh.
    """
    n, meshes = config.model.mzi.ports, config.model.mzi.meshes
    cube = n**3 * COMPLEX64
    transfer = 8 * (n * (n - 1) // 2) * 4 * COMPLEX64
    tree = device.type == "cuda" or n <= 64
    unitaries: float
    if tree:
        unitaries = meshes * 3 * cube if training else 3 * cube
    else:
        unitaries = meshes * 1.5 * cube if training else 4 * n * n * COMPLEX64
    size = config.input.object_size
    batch_part = batch * (3 * size * size * COMPLEX64 + 4 * meshes * n * COMPLEX64)
    parameters = meshes * (n * n) * FLOAT32 * (ADAM_COPIES if training else 1)
    return int(unitaries) + transfer + batch_part + parameters


def _memory_knobs(config: Config) -> str:
    return f"model.mzi.ports (now {config.model.mzi.ports}) or model.mzi.meshes (now {config.model.mzi.meshes})"


def _check_ports(config: Config) -> None:
    ports = config.model.mzi.ports
    if config.input.object_size**2 < ports:
        raise ValueError(
            f"input.object_size ({config.input.object_size}) is too small for {ports} Fourier coefficients"
        )


def _system_fields(config: Config) -> dict[str, Any]:
    """What the MZI twin (or a lab's mesh) builds its device from."""
    mzi = config.model.mzi
    return {"ports": mzi.ports, "meshes": mzi.meshes, "activation": mzi.activation()}


@register_model(
    KIND,
    output="logits",
    options=MZIConfig,
    section="mzi",
    display="MZI network",
    quantized=lambda c: False,
    check=_check_ports,
    memory=Memory(_memory, _memory_knobs),
    physical=True,
    system_loop=True,
    twin="mesh-errors",
    system_fields=_system_fields,
    example={"model": {"mzi": {"ports": 16, "meshes": 2}}, "input": {"object_size": 4}},
)
def build_mzi(config: Config, context: BuildContext) -> MZINetwork:
    """Clements meshes of MZIs with electro-optic activations between them (model.mzi); trained by train.dat."""
    mzi = config.model.mzi
    return MZINetwork(
        ports=mzi.ports,
        meshes=mzi.meshes,
        classes=context.classes,
        seed=config.seed,
        activation=mzi.activation(),
        temperature=config.task.temperature,
    )
