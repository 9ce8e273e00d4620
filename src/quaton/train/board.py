"""TensorBoard logging of a run (``train.log: [tensorboard]``), in ``RUN_DIR/tensorboard``: every
numeric entry of each epoch's record as a scalar (step = epoch), and at the end the kept model's
phase masks, a few detector images and the confusion matrix as images. Needs the ``tensorboard``
package (``pip install "quaton[tensorboard]"``); view with ``tensorboard --logdir RUN_DIR``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from quaton.config import Config
from quaton.errors import TrainingError
from quaton.models import as_optical, kind_of

DIRECTORY = "tensorboard"
EXAMPLES = 4  # detector images logged


class Board:
    """One run's TensorBoard writer (rank 0 only)."""

    def __init__(self, run_dir: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # torch's writer needs the tensorboard package
            raise TrainingError(
                'train.log: [tensorboard] needs the tensorboard package: pip install "quaton[tensorboard]"'
            ) from None
        self.writer = SummaryWriter(str(run_dir / DIRECTORY))

    def epoch(self, record: dict[str, Any]) -> None:
        """Every finite number of an epoch's history record, at step ``epoch``."""
        for name, value in record.items():
            if name != "epoch" and isinstance(value, int | float) and math.isfinite(value):
                self.writer.add_scalar(name, value, record["epoch"])
        self.writer.flush()

    @torch.no_grad()
    def final(self, config: Config, model: nn.Module, images: torch.Tensor, metrics: dict[str, Any]) -> None:
        """The kept model's phases (rad / 2π in [0, 1]), detector images of ``images`` (each scaled to
        its maximum) and the confusion matrix (row-normalised), at the last epoch; then close."""
        step = config.train.epochs
        optical = as_optical(model)
        model.eval()
        for index, phase in enumerate(optical.phases(), start=1):
            self.writer.add_image(f"phase/layer_{index:02d}", (phase / (2 * math.pi)).clamp(0, 1)[None].cpu(), step)
        if kind_of(config).output == "detector" and len(images):
            parameter = next(model.parameters(), None)
            device = parameter.device if parameter is not None else images.device
            detector = optical.task_input(images[:EXAMPLES].to(device), None, 1.0).float().cpu()
            peak = detector.flatten(1).amax(dim=1).clamp_min(1e-30)
            self.writer.add_images("detector", (detector / peak[:, None, None])[:, None], step)
        confusion = metrics.get("confusion")
        if confusion:
            counts = torch.tensor(confusion, dtype=torch.float32)
            self.writer.add_image("confusion", (counts / counts.sum(dim=1, keepdim=True).clamp_min(1))[None], step)
        self.writer.close()


def open_board(config: Config, run_dir: Path) -> Board | None:
    """The run's board when ``train.log`` asks for TensorBoard, else None."""
    return Board(run_dir) if "tensorboard" in config.train.log else None
