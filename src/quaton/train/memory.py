"""Memory needed by a training step, estimated before anything large is allocated."""

from __future__ import annotations

from pathlib import Path

import torch

from quaton.config import Config
from quaton.errors import TrainingError
from quaton.optics import padded_shape

COMPLEX64 = 8  # bytes


def training_bytes(config: Config) -> int:
    """Estimated peak bytes of one training step (forward + backward) of the configured D2NN.

    Autograd keeps about two [B, N, N] complex64 fields per propagation (the cropped output, which
    is a copy so that the padded [B, P, Q] buffer is freed, and the masked field); the backward pass
    holds about three padded buffers at a time. Measured (benchmarks/README.md): 414 MB above the
    interpreter's baseline at N = 256, B = 32, L = 5, against 402 MB estimated.
    """
    n = config.model.grid
    p, q = padded_shape((n, n), config.optics.pad_factor)
    batch, layers = config.train.batch_size, config.model.layers
    padded = batch * p * q * COMPLEX64
    field = batch * n * n * COMPLEX64
    return 2 * (layers + 1) * field + 3 * padded


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


def check_memory(config: Config, device: torch.device, available: int | None = None) -> int:
    """Raise TrainingError, before allocating, if a step cannot fit; returns the estimate (bytes)."""
    need = training_bytes(config)
    available = available if available is not None else available_bytes(device)
    if available is not None and need > available:
        gib = 1024**3
        raise TrainingError(
            f"a training step of this config needs about {need / gib:.1f} GiB but {available / gib:.1f} GiB are free on {device}: "
            f"lower train.batch_size (now {config.train.batch_size}), model.grid (now {config.model.grid}) "
            f"or optics.pad_factor (now {config.optics.pad_factor})"
        )
    return need
