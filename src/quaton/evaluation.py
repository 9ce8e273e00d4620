"""The one evaluator of a device as built: hard phases, the read-out chain, the task's metrics.

Below train/ and export/: training evaluates each epoch with it, and quaton simulate evaluates an
exported design with it, without importing the training loop.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from quaton.builder import set_modulator
from quaton.config import Config
from quaton.hardware import Readout
from quaton.models import as_optical
from quaton.optics import intensity
from quaton.tasks import Task


def measure(
    config: Config, model: nn.Module, x: torch.Tensor, readout: Readout | None, full_scale: torch.Tensor | float
) -> torch.Tensor:
    """What the task sees for images x [B, s, s]: ``model.task_input`` (:class:`OpticalModel`), e.g.
    a D2NN's detector image (through the read-out, if given) or a CNN's logits (its camera read-out
    inside, sensor values in units of the calibrated ``full_scale``). ``config`` is kept for the
    callers' signature; the model was built from it."""
    return as_optical(model).task_input(x, readout, full_scale)


def diffraction_efficiency(fields: torch.Tensor, detector: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Power in the detector regions / input power, per image float64 [B]: input fields complex
    [B, H, W], the ideal detector-plane intensity [B, H', W'] (|E|², the same units) and the region
    masks [C, H', W'] (1 inside a region). 1 for a lossless device that sends all light into its regions."""
    inside = (detector.double() * masks.double().sum(dim=0).clamp(max=1)).sum(dim=(-2, -1))
    return inside / intensity(fields).double().sum(dim=(-2, -1)).clamp_min(1e-300)


@torch.no_grad()
def calibrate(config: Config, model: nn.Module, readout: Readout, images: torch.Tensor, count: int = 512) -> None:
    """Set the read-out's full scale from the ideal intensities of ``count`` calibration images
    (``model.sensor_intensity``, in eval mode). A model without a camera (the digital CNN
    baseline: ``sensor_intensity`` gives None) has nothing to calibrate."""
    optical = as_optical(model)
    was_training = model.training
    model.eval()
    try:
        parameter = next(model.parameters(), None)
        device = parameter.device if parameter is not None else images.device
        ideal = optical.sensor_intensity(images[:count].to(device))
        if ideal is not None:
            readout.calibrate(ideal)
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate(
    config: Config,
    model: nn.Module,
    task: Task,
    images: torch.Tensor,
    labels: torch.Tensor,
    readout: Readout | None = None,
) -> dict[str, Any]:
    """Mean loss and the task's metrics over a test set, of the device as evaluated: hard-quantized
    phases, and the read-out chain and modulator response when ``readout`` is given (its evaluation
    noise reseeded, so that the evaluation is reproducible; the training noise is left where it was).

    Classification also gets its confusion matrix (rows: true class, columns: predicted) and, for a
    model read through a detector, its mean ``diffraction_efficiency`` (power in the detector regions /
    input power, of the ideal detector image: the device's optics, before the camera).
    """
    model.eval()
    device = next(model.parameters()).device
    if readout is not None:
        readout_was_training = readout.training
        readout.eval()
        readout.reseed()
        set_modulator(config, model, True)
    sums: dict[str, float] = {"loss": 0.0}
    confusion = None
    for start in range(0, len(images), config.train.eval_batch_size):
        x = images[start : start + config.train.eval_batch_size].to(device)
        y = labels[start : start + config.train.eval_batch_size].to(device)
        target = task.target(x, y)
        image = measure(config, model, x, readout, readout.full_scale if readout is not None else 1.0)
        sums["loss"] += float(task.loss(image, target)) * len(x)
        for name, values in task.batch_metrics(image, target).items():
            if name == "predicted":  # a classifier's predicted classes, for the confusion matrix
                k = cast(Any, task).num_classes
                counts = torch.bincount(y.cpu() * k + values.cpu(), minlength=k * k).reshape(k, k)
                confusion = counts if confusion is None else confusion + counts
            else:
                sums[name] = sums.get(name, 0.0) + float(values.double().sum())
        encode, regions = getattr(model, "encode", None), getattr(task, "region_masks", None)
        if regions is not None and callable(encode):
            # the read-out's noise is not the optics' loss: the ideal image (a second pass only with a camera)
            ideal = image if readout is None or readout.ideal else as_optical(model).sensor_intensity(x)
            if ideal is not None:
                efficiency = diffraction_efficiency(encode(x), ideal, regions)
                sums["diffraction_efficiency"] = sums.get("diffraction_efficiency", 0.0) + float(efficiency.sum())
    if readout is not None:
        readout.train(readout_was_training)
    result: dict[str, Any] = {name: total / len(images) for name, total in sums.items()}
    if confusion is not None:
        result["confusion"] = confusion.tolist()
    return result
