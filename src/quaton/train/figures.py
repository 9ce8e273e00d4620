"""Pictures of a run: phase masks, detector-plane outputs, confusion matrix, training curves."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, cast

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, ScalarFormatter
from torch import nn

from quaton.config import Config
from quaton.models import as_optical, kind_of
from quaton.tasks import Classification, Task, task_of


def _save(figure: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp.png")
    figure.savefig(temporary, dpi=110, bbox_inches="tight")
    plt.close(figure)
    temporary.replace(path)


def plot_phases(
    phases: list[torch.Tensor],
    pitch: float,
    path: Path,
    levels: list[int | None] | None = None,
    height_per_radian: float | None = None,
) -> None:
    """Write :func:`phases_figure` to ``path`` (phases.png, or heights.png given ``height_per_radian``)."""
    _save(phases_figure(phases, pitch, levels, height_per_radian), path)


def phases_figure(
    phases: list[torch.Tensor],
    pitch: float,
    levels: list[int | None] | None = None,
    height_per_radian: float | None = None,
) -> plt.Figure:
    """Phase masks ``phases`` (each [N, N], rad; ``pitch`` in m), one panel per layer, axes in µm:
    phase in radians on a cyclic colour map, or, given ``height_per_radian`` (m/rad), the printed
    height in µm; one colour bar with the unit. Each panel's two-line title gives the layer and its
    level count (constrained layout keeps titles and tick labels apart)."""
    count = len(phases)
    levels = levels or [None] * count
    cols = min(count, 5)
    rows = math.ceil(count / cols)
    figure, axes = plt.subplots(
        rows, cols, figsize=(2.4 * cols + 1.0, 2.8 * rows + 0.2), squeeze=False, layout="constrained"
    )
    extent = phases[0].shape[-1] * pitch * 1e6
    for k, ax in enumerate(axes.flat):
        if k >= count:
            ax.axis("off")
            continue
        values = phases[k].cpu().numpy()
        if height_per_radian is None:
            image = ax.imshow(values, cmap="twilight", vmin=0, vmax=2 * math.pi, extent=(0, extent, extent, 0))
        else:
            top = 2 * math.pi * height_per_radian * 1e6
            image = ax.imshow(
                values * height_per_radian * 1e6, cmap="viridis", vmin=0, vmax=top, extent=(0, extent, extent, 0)
            )
        distinct = len(np.unique(values))
        ax.set_title(
            f"layer {k + 1}\n" + (f"{levels[k]} levels" if levels[k] else f"continuous, {distinct} values"), fontsize=9
        )
        if k // cols == rows - 1 or k + cols >= count:
            ax.set_xlabel("x (µm)")
        if k % cols == 0:
            ax.set_ylabel("y (µm)")
    if height_per_radian is None:
        colorbar = figure.colorbar(image, ax=axes, label="phase (rad)", shrink=0.8)
        colorbar.set_ticks([0, math.pi, 2 * math.pi], labels=["0", "π", "2π"])
    else:
        figure.colorbar(image, ax=axes, label="printed height (µm)", shrink=0.8)
    return figure


def _intensity_bar(figure: plt.Figure, image: Any, ax: plt.Axes, label: str = "intensity (a.u.)") -> None:
    """A slim colour bar beside one detector panel. Simulated intensities are |field|² for an input
    of unit amplitude: arbitrary units, each panel on its own scale."""
    colorbar = figure.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    colorbar.locator = MaxNLocator(4)
    colorbar.ax.tick_params(labelsize=7)
    if isinstance(colorbar.formatter, ScalarFormatter):  # a colour bar's default formatter
        colorbar.formatter.set_powerlimits((-2, 3))
    colorbar.ax.yaxis.get_offset_text().set_fontsize(7)
    colorbar.set_label(label, fontsize=8)


def plot_outputs(
    inputs: torch.Tensor,
    outputs: torch.Tensor,
    labels: torch.Tensor,
    task: Classification,
    classes: list[str],
    path: Path,
) -> None:
    """Write :func:`outputs_figure` to ``path``."""
    _save(outputs_figure(inputs, outputs, labels, task, classes), path)


def outputs_figure(
    inputs: torch.Tensor, outputs: torch.Tensor, labels: torch.Tensor, task: Classification, classes: list[str]
) -> plt.Figure:
    """Input images [B, n, n] and detector-plane intensities [B, N, N] (each with its colour bar,
    a.u.) with the class regions outlined, the predicted one in green."""
    count = len(inputs)
    figure, axes = plt.subplots(2, count, figsize=(2.6 * count, 5.0), squeeze=False, layout="constrained")
    predicted = task.predict(outputs)
    for k in range(count):
        axes[0, k].imshow(inputs[k].cpu().numpy(), cmap="gray")
        axes[0, k].set_title(f"true: {classes[int(labels[k])]}", fontsize=9)
        image = axes[1, k].imshow(outputs[k].cpu().numpy(), cmap="inferno")
        _intensity_bar(figure, image, axes[1, k], "intensity (a.u.)" if k == count - 1 else "")
        for c, (r0, c0, r1, c1) in enumerate(task.detector.regions):
            colour = "lime" if c == int(predicted[k]) else "white"
            axes[1, k].add_patch(Rectangle((c0 - 0.5, r0 - 0.5), c1 - c0, r1 - r0, fill=False, ec=colour, lw=0.8))
        axes[1, k].set_title(f"predicted: {classes[int(predicted[k])]}", fontsize=9)
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("detector intensity")
    return figure


def plot_confusion(confusion: list[list[int]], classes: list[str], path: Path) -> None:
    matrix = np.asarray(confusion)
    figure, ax = plt.subplots(figsize=(5.5, 5.0))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > matrix.max() / 2 else "black",
        )
    ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {accuracy:.3f})")
    _save(figure, path)


def plot_history(history: list[dict[str, Any]], primary: str, path: Path) -> None:
    if not history:
        return
    epochs = [r["epoch"] for r in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(epochs, [r["train_loss"] for r in history], label="train")
    left.plot(epochs, [r["val_loss"] for r in history], label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    metric = primary.replace("test_", "val_", 1)  # the history measures the validation split; the test set once
    right.plot(epochs, [r[metric] for r in history])
    right.set_xlabel("epoch")
    right.set_ylabel(metric.replace("val_", "validation ").replace("_", " "))
    _save(figure, path)


def plot_physical_history(history: list[dict[str, Any]], path: Path) -> None:
    """Runs with a physical system: task (and SEPN similarity) loss, and validation accuracy per
    epoch on the ideal model and measured on the system."""
    if not history:
        return
    epochs = [r["epoch"] for r in history]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for axis, curves, ylabel in (
        (left, {"train_loss": "task loss", "similarity_loss": "SEPN similarity loss"}, None),
        (right, {"val_accuracy": "ideal model", "val_physical_accuracy": "physical system"}, "validation accuracy"),
    ):
        for key, label in curves.items():
            if key in history[0]:
                axis.plot(epochs, [r[key] for r in history], label=label)
        axis.set_xlabel("epoch")
        if ylabel:
            axis.set_ylabel(ylabel)
        axis.legend()
    left.set_yscale("log")
    _save(figure, path)


def plot_sensor(inputs: torch.Tensor, sensors: torch.Tensor, path: Path) -> None:
    """Write :func:`sensor_figure` to ``path``."""
    _save(sensor_figure(inputs, sensors), path)


def sensor_figure(inputs: torch.Tensor, sensors: torch.Tensor) -> plt.Figure:
    """Input images [B, n, n] and the optical CNN's ideal sensor images [B, H, W] (K feature maps tiled), each sensor
    image with its colour bar (a.u.)."""
    count = len(inputs)
    figure, axes = plt.subplots(2, count, figsize=(3.2 * count, 5.4), squeeze=False, layout="constrained")
    for k in range(count):
        axes[0, k].imshow(inputs[k].cpu().numpy(), cmap="gray")
        image = axes[1, k].imshow(sensors[k].cpu().numpy(), cmap="inferno")
        _intensity_bar(figure, image, axes[1, k], "intensity (a.u.)" if k == count - 1 else "")
        for ax in axes[:, k]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("sensor (tiled feature maps)")
    return figure


def _one_per_class(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the first test example of each class, up to ``count`` of them."""
    firsts = [int(torch.nonzero(labels == c)[0]) for c in torch.unique(labels)]
    return torch.tensor(firsts[:count])


def plot_phase_images(phases: torch.Tensor, predicted: torch.Tensor, path: Path) -> None:
    """Per example: input phase φ, output intensity × π (= predicted φ) and their difference, in rad."""
    count = len(phases)
    figure, axes = plt.subplots(3, count, figsize=(2.3 * count + 0.6, 6.6), squeeze=False, layout="constrained")
    top = float(max(phases.max(), predicted.max()))
    limit = float((predicted - phases).abs().max())
    for k in range(count):
        panels = [
            (phases[k], "viridis", 0, top),
            (predicted[k], "viridis", 0, top),
            (predicted[k] - phases[k], "RdBu_r", -limit, limit),
        ]
        for row, (image, cmap, vmin, vmax) in enumerate(panels):
            shown = axes[row, k].imshow(image.cpu().numpy(), cmap=cmap, vmin=vmin, vmax=vmax)
            axes[row, k].set_xticks([])
            axes[row, k].set_yticks([])
            if k == count - 1:
                figure.colorbar(shown, ax=axes[row, k], fraction=0.046, label="rad")
    axes[0, 0].set_ylabel("input phase φ")
    axes[1, 0].set_ylabel("output intensity × π")
    axes[2, 0].set_ylabel("difference")
    _save(figure, path)


@torch.no_grad()
def write_figures(
    run_dir: Path,
    config: Config,
    model: nn.Module,
    task: Task,
    data: Any,
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    examples: int = 6,
) -> None:
    """Write figures/history.png and what the model and task show (:class:`OpticalModel`): a model
    read through a detector gets phases.png and heights.png (its masks) and, by task, outputs.png
    and confusion.png (classification) or phase_images.png (phase imaging); a classifier with a
    digital head gets sensor.png (when it has a camera) and confusion.png."""
    figures = Path(run_dir) / "figures"
    optical = as_optical(model)
    model.eval()
    plot_history(history, metrics["primary_metric"], figures / "history.png")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    if kind_of(config).output == "logits":  # a classifier with a digital head
        picks = _one_per_class(data.y_test, min(examples, 4))
        sensors = optical.sensor_intensity(data.x_test[picks].to(device))
        if sensors is not None and sensors.dim() == 3:  # a camera image [B, H, W] (not per-port powers)
            plot_sensor(data.x_test[picks], sensors, figures / "sensor.png")
        plot_confusion(metrics["confusion"], data.classes, figures / "confusion.png")
        return
    phases = optical.phases()
    if phases:
        pitch = optical.mask_pitch or config.optics.pitch
        levels = config.quantization.layer_levels(config.model.layers)
        fab = config.fabrication
        plot_phases(phases, pitch, figures / "phases.png", levels)
        per_radian = (
            config.optics.wavelength * fab.medium_index / (2 * math.pi * (fab.refractive_index - fab.medium_index))
        )  # vacuum λ₀
        plot_phases(phases, pitch, figures / "heights.png", levels, height_per_radian=per_radian)
    if not task_of(config).classes:  # an image (phase imaging)
        x = data.x_test[:examples].to(device)
        imaging = cast(Any, task)
        predicted = math.pi * imaging.prediction(optical.task_input(x, None, 1.0))
        plot_phase_images(math.pi * imaging.target(x), predicted, figures / "phase_images.png")
        return
    picks = _one_per_class(data.y_test, examples)
    x = data.x_test[picks].to(device)
    outputs = optical.task_input(x, None, 1.0)
    plot_outputs(x, outputs, data.y_test[picks], cast(Classification, task), data.classes, figures / "outputs.png")
    plot_confusion(metrics["confusion"], data.classes, figures / "confusion.png")
