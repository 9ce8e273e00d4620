"""Memory a run needs, estimated before anything large is allocated.

Two phases are estimated, and the larger must fit: a training step (forward, backward, Adam) at
``train.batch_size`` and an evaluation pass (no gradients) at ``train.eval_batch_size``, each with
the model's persistent tensors (parameters, optimizer state, cached kernels or transform matrices).
Every model kind has its own estimate (D2NN, optical CNN, digital CNN, MZI network). The figures
below were measured with ``torch.profiler``'s memory events (the peak of the bytes torch holds,
from building the model to the end of the step; tests/train/test_memory.py measures the same way
and keeps every estimate between 1× and 2.5× of the measured peak on small configs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from quaton.config import Config
from quaton.errors import TrainingError
from quaton.optics import padded_shape

COMPLEX64 = 8  # bytes
FLOAT32 = 4
ADAM_COPIES = 4  # parameter, gradient, Adam's two moments


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak bytes of the two phases of a run."""

    training: int  # a training step at train.batch_size, with the model's persistent tensors
    evaluation: int  # an evaluation pass at train.eval_batch_size, with the model's persistent tensors

    @property
    def peak(self) -> int:
        return max(self.training, self.evaluation)


def _d2nn(config: Config, batch: int, training: bool) -> int:
    """D2NN, complex64 fields [B, N, N] padded to [B, P, Q] for each of the L + 1 propagations.

    An FFT, the kernel product and the inverse FFT hold about three padded buffers at a time, in
    training and in evaluation alike. Autograd keeps one [B, N, N] field per propagation (the input
    of the next mask product; the crop is a copy, so the padded buffers are freed). Persistent:
    L + 1 cached kernels [P, Q] (built through a few float64/complex128 temporaries) and the phase
    parameters (with GS's per-level logits), four copies each in training (parameter, gradient, two
    Adam moments). A soft quantizer (PSQ, GS, ...) keeps a few [levels, N, N] float32 tensors per
    layer for its backward pass. Measured at N = 256, L = 5, B = 32, PSQ: 293 MB for the step's
    tensors against 3·67.1 + 6·16.8 = 302 MB for the batch terms; evaluation 201 MB (exactly three
    padded buffers).
    """
    n, layers = config.model.grid, config.model.layers
    p, q = padded_shape((n, n), config.optics.pad_factor)
    padded = batch * p * q * COMPLEX64
    field = batch * n * n * COMPLEX64
    kernels = (layers + 1) * p * q * COMPLEX64 + 3 * p * q * 2 * COMPLEX64
    method = config.quantization.method
    # each layer's level count (one value or one per layer; 0 for full precision)
    levels = [count or 0 for count in config.quantization.layer_levels(layers)]
    logits = sum(levels) if method == "gs" else 0  # GS's per-level logits, besides the phases
    parameters = (layers + logits) * n * n * FLOAT32 * (ADAM_COPIES if training else 1)
    quantizer = 0 if method == "none" else sum(n * n * FLOAT32 * (4 * count if training else 4) for count in levels)
    work = 3 * padded + ((layers + 1) * field if training else field)
    return kernels + parameters + quantizer + work


def _optical_cnn(config: Config, batch: int, training: bool) -> int:
    """Optical CNN: a 4f system computed by matrix products (quaton.optics.fourier).

    Per image, complex64: the spectrum on the M × M Fourier-plane cells (M = element_pixels ×
    element_oversampling; incoherent light works on the 2M − 1 pupil lags instead) and its product
    with the element, the half-way [Hq, M] product and the [Hq, Wq] sensor field at the integration
    points (q = sensor_oversampling). Evaluation keeps about as much alive as training (the
    broadcast matrix products materialise their operands per image), so both use the same
    per-image figure: 2·M² + Hq·M + 2·Hq·Wq complex64, 1.2 to 1.7× the measured one (coherent and
    incoherent, M = 128 and 256). Persistent: the transform matrices, built in complex128 and cast,
    the pupil autocorrelation (incoherent), and the digital head (four copies of its parameters in
    training).
    """
    cnn = config.model.cnn
    geometry = cnn.geometry(config.optics.wavelength, config.optics.pitch, config.input.object_size)
    optics = geometry.optics()
    cells = optics.fourier_samples if cnn.coherent else 2 * optics.fourier_samples - 1
    rows, columns = (side * optics.sensor_oversampling for side in optics.sensor_shape)
    size = config.input.object_size
    per_image = (2 * cells * cells + rows * cells + 2 * rows * columns) * COMPLEX64 + size * size * FLOAT32
    matrices = 3 * (2 * cells * size + (rows + columns) * cells) * COMPLEX64
    autocorrelation = 0 if cnn.coherent else 4 * cells * cells * COMPLEX64
    pooled = (geometry.tile // 2) ** 2 * geometry.kernels
    head = (pooled * cnn.hidden + cnn.hidden * 10) * FLOAT32 * (ADAM_COPIES if training else 1)
    element = geometry.element_pixels**2 * FLOAT32 * (ADAM_COPIES if training else 1)
    return batch * per_image + matrices + autocorrelation + head + element


def _digital_cnn(config: Config, batch: int, training: bool) -> int:
    """Digital CNN baseline: K float32 feature maps of (n + k − 1)² per image, a few copies each
    (convolution output, ReLU, pooling; kept for backward in training), and the head."""
    cnn = config.model.cnn
    side = config.input.object_size + cnn.kernel_size - 1
    maps = batch * cnn.kernels * side * side * FLOAT32
    head = (cnn.kernels * (side // 2) ** 2 * cnn.hidden + cnn.hidden * 10) * FLOAT32 * (ADAM_COPIES if training else 1)
    return (4 if training else 2) * maps + head + batch * config.input.object_size**2 * 3 * COMPLEX64


def _mzi(config: Config, batch: int, training: bool, device: torch.device) -> int:
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


def estimate(config: Config, device: torch.device | str = "cpu") -> MemoryEstimate:
    """Estimated peak bytes of a training step and of an evaluation pass of the configured model."""
    device = torch.device(device)
    kind = config.model.kind

    def phase(batch: int, training: bool) -> int:
        if kind == "optical_cnn":
            return _optical_cnn(config, batch, training)
        if kind == "digital_cnn":
            return _digital_cnn(config, batch, training)
        if kind == "mzi":
            return _mzi(config, batch, training, device)
        return _d2nn(config, batch, training)

    return MemoryEstimate(
        training=phase(config.train.batch_size, True), evaluation=phase(config.train.eval_batch_size, False)
    )


def training_bytes(config: Config, device: torch.device | str = "cpu") -> int:
    """Estimated peak bytes of one training step (forward + backward + Adam) at ``train.batch_size``."""
    return estimate(config, device).training


def evaluation_bytes(config: Config, device: torch.device | str = "cpu") -> int:
    """Estimated peak bytes of evaluating one batch of ``train.eval_batch_size`` (no gradients)."""
    return estimate(config, device).evaluation


def available_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (CUDA: free device memory; CPU: MemAvailable), None if unknown."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None


def _what_to_lower(config: Config, training: bool) -> str:
    """The keys that set the larger phase's memory, with their values."""
    train, model = config.train, config.model
    batch = (
        f"train.batch_size (now {train.batch_size})"
        if training
        else f"train.eval_batch_size (now {train.eval_batch_size})"
    )
    if model.kind == "optical_cnn":
        cnn = model.cnn
        sizes = (
            f"model.cnn.element_pixels (now {cnn.element_pixels}), "
            f"model.cnn.element_oversampling (now {cnn.element_oversampling}) "
            f"or model.cnn.sensor_oversampling (now {cnn.sensor_oversampling})"
        )
    elif model.kind == "mzi":
        sizes = f"model.mzi.ports (now {model.mzi.ports}) or model.mzi.meshes (now {model.mzi.meshes})"
    elif model.kind == "digital_cnn":
        sizes = f"model.cnn.kernels (now {model.cnn.kernels})"
    else:
        sizes = f"model.grid (now {model.grid}) or optics.pad_factor (now {config.optics.pad_factor})"
    return f"lower {batch}, {sizes}"


def check_memory(config: Config, device: torch.device, available: int | None = None) -> int:
    """Raise TrainingError, before allocating, if a training step or an evaluation pass cannot fit;
    returns the larger estimate (bytes)."""
    device = torch.device(device)
    needs = estimate(config, device)
    available = available if available is not None else available_bytes(device)
    if available is not None and needs.peak > available:
        gib = 1024**3
        training = needs.training >= needs.evaluation
        what = (
            f"a training step (train.batch_size {config.train.batch_size})"
            if training
            else f"an evaluation pass (train.eval_batch_size {config.train.eval_batch_size})"
        )
        raise TrainingError(
            f"{what} of this {config.model.kind} config needs about {needs.peak / gib:.1f} GiB but "
            f"{available / gib:.1f} GiB are free on {device}: {_what_to_lower(config, training)}"
        )
    return needs.peak
