"""Memory a run needs, estimated before anything large is allocated.

Two phases are estimated, and the larger must fit: a training step (forward, backward, Adam) at
``train.batch_size`` and an evaluation pass (no gradients) at ``train.eval_batch_size``, each with
the model's persistent tensors (parameters, optimizer state, cached kernels or transform matrices).
Every model kind carries its own estimate in its registration (:class:`quaton.models.protocol.Memory`,
in the kind's file); a kind registered without one is not checked, and the run says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from quaton.config import Config
from quaton.errors import TrainingError
from quaton.models.protocol import kind_of


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak bytes of the two phases of a run."""

    training: int  # a training step at train.batch_size, with the model's persistent tensors
    evaluation: int  # an evaluation pass at train.eval_batch_size, with the model's persistent tensors

    @property
    def peak(self) -> int:
        return max(self.training, self.evaluation)


def estimate(config: Config, device: torch.device | str = "cpu") -> MemoryEstimate | None:
    """Estimated peak bytes of a training step and of an evaluation pass of the configured model;
    None for a model kind registered without a memory estimate."""
    memory = kind_of(config).memory
    if memory is None:
        return None
    device = torch.device(device)
    return MemoryEstimate(
        training=memory.bytes(config, config.train.batch_size, True, device),
        evaluation=memory.bytes(config, config.train.eval_batch_size, False, device),
    )


def training_bytes(config: Config, device: torch.device | str = "cpu") -> int:
    """Estimated peak bytes of one training step (forward + backward + Adam) at ``train.batch_size``."""
    return _known(config, device).training


def evaluation_bytes(config: Config, device: torch.device | str = "cpu") -> int:
    """Estimated peak bytes of evaluating one batch of ``train.eval_batch_size`` (no gradients)."""
    return _known(config, device).evaluation


def _known(config: Config, device: torch.device | str) -> MemoryEstimate:
    needs = estimate(config, device)
    if needs is None:
        raise TrainingError(f"model kind {config.model.kind!r} was registered without a memory estimate")
    return needs


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
    train = config.train
    batch = (
        f"train.batch_size (now {train.batch_size})"
        if training
        else f"train.eval_batch_size (now {train.eval_batch_size})"
    )
    memory = kind_of(config).memory
    return f"lower {batch}, {memory.knobs(config)}" if memory is not None else f"lower {batch}"


def check_memory(config: Config, device: torch.device, available: int | None = None) -> int | None:
    """Raise TrainingError, before allocating, if a training step or an evaluation pass cannot fit;
    returns the larger estimate (bytes), or None (with a warning) for a kind without an estimate."""
    device = torch.device(device)
    needs = estimate(config, device)
    if needs is None:
        warnings.warn(
            f"model kind {config.model.kind!r} has no memory estimate (register_model(..., memory=...)): "
            "its memory was not checked before training",
            stacklevel=2,
        )
        return None
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
