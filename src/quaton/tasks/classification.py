"""All-optical classification: one detector region per class, the brightest region wins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from pydantic import Field

from quaton.optics import IntensityDetector
from quaton.optics.detector import Region
from quaton.registry import Options
from quaton.tasks.registry import Classifier, TaskContext, register_task

KIND = "classification"  # task.kind; the default task (quaton.tasks.DEFAULT_TASK)

if TYPE_CHECKING:
    from quaton.config import Config

LOSSES = ("mse", "cross_entropy")


class Classification(Classifier):
    """Losses and predictions from detector-plane intensities [B, H, W].

    ``mse`` (as QuATON): the intensity normalised to unit total energy is compared with a
    target that lights only the true class's region uniformly (also unit energy); the loss is
    Σ_pixels (I/ΣI − T)², multiplied by the region area so that 0 is perfect and ~2 is all the
    light spread evenly over a wrong region.
    ``cross_entropy``: softmax cross-entropy of ``temperature`` · E_c / Σ_c E_c over the
    region energies E_c.
    """

    primary_metric = "accuracy"
    targets: torch.Tensor  # buffer [C, H, W]: each class's region lit uniformly, unit energy

    def __init__(
        self, regions: Sequence[Region], shape: tuple[int, int], loss: str = "mse", temperature: float = 10.0
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown classification loss {loss!r}; choose one of {LOSSES}")
        self.detector = IntensityDetector(regions, shape)
        self.loss_kind = loss
        self.temperature = temperature
        areas = self.detector.masks.sum(dim=(-2, -1))
        self.register_buffer("targets", self.detector.masks / areas[:, None, None], persistent=False)

    @property
    def num_classes(self) -> int:
        return len(self.detector.regions)

    @property
    def region_masks(self) -> torch.Tensor:
        """The detector regions float [C, N, N] (1 inside region c): what evaluation measures the
        diffraction efficiency into."""
        return self.detector.masks

    def region_energies(self, image: torch.Tensor) -> torch.Tensor:
        """[B, H, W] -> [B, C]."""
        return self.detector.region_energies(image)

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        energies = self.region_energies(image)
        return self.temperature * energies / energies.sum(dim=1, keepdim=True).clamp_min(1e-30)

    def loss(self, image: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Scalar loss of intensities [B, H, W] against labels int64 [B]."""
        if self.loss_kind == "cross_entropy":
            return F.cross_entropy(self.logits(image), labels)
        normalised = image / image.sum(dim=(-2, -1), keepdim=True).clamp_min(1e-30)
        target = self.targets[labels]
        area = 1.0 / target.amax(dim=(-2, -1))
        return ((normalised - target).square().sum(dim=(-2, -1)) * area).mean()

    def target(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return labels

    @torch.no_grad()
    def batch_metrics(self, image: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image metrics [B]: correctness, and the predicted class (for the confusion matrix)."""
        predicted = self.predict(image)
        return {"accuracy": (predicted == labels).float(), "predicted": predicted}

    def predict(self, image: torch.Tensor) -> torch.Tensor:
        """Class indices int64 [B]: the region with the most energy."""
        return self.region_energies(image).argmax(dim=1)


class LogitClassification(Classifier):
    """Classification from a digital head's logits [B, C]: cross-entropy, argmax prediction."""

    primary_metric = "accuracy"

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.classes = num_classes

    @property
    def num_classes(self) -> int:
        return self.classes

    def target(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return labels

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=1)

    @torch.no_grad()
    def batch_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        predicted = self.predict(logits)
        return {"accuracy": (predicted == labels).float(), "predicted": predicted}


class ClassificationOptions(Options):
    """Options of the classification task (task.options, or the flat task.* keys of the same names)."""

    temperature: float = Field(
        10.0, gt=0, allow_inf_nan=False, description="softmax temperature on normalised region energies"
    )


@register_task(
    KIND,
    losses={"detector": LOSSES, "logits": ("cross_entropy",)},
    metrics=("accuracy",),
    primary="accuracy",
    classes=True,
    options=ClassificationOptions,
)
def build_classification(config: Config, context: TaskContext) -> Classification | LogitClassification:
    """One class per detector region (the brightest wins), or a digital head's logits."""
    if context.output == "logits":
        return LogitClassification(context.num_classes)
    options = context.options if isinstance(context.options, ClassificationOptions) else ClassificationOptions()
    grid = config.model.grid
    return Classification(config.regions(context.num_classes), (grid, grid), config.task.loss, options.temperature)
