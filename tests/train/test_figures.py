"""Run figures read cleanly: no title or tick label runs into a neighbouring panel, and every image
of a physical quantity has a colour bar with its unit."""

import itertools
import math

import matplotlib.pyplot as plt
import pytest
import torch

from quaton.tasks import Classification
from quaton.train.figures import outputs_figure, phases_figure, sensor_figure

LEVELS = [4, None, 16, 2, None, 8, 4]  # long titles ("continuous, 4096 values") next to short ones


def _phases(count: int, grid: int = 64) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return [torch.rand(grid, grid, generator=generator) * 2 * math.pi for _ in range(count)]


def _overlaps(figure: plt.Figure, axes: list[plt.Axes]) -> list[tuple[int, int]]:
    """Pairs of ``axes`` whose drawn extents (panel, title, tick and axis labels) intersect."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in axes]
    titles = [ax.title.get_window_extent(renderer) for ax in axes]
    pairs = []
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        if a.overlaps(b) or titles[i].overlaps(titles[j]):
            pairs.append((i, j))
    return pairs


def _images(figure: plt.Figure) -> list[plt.Axes]:
    """The axes of ``figure`` that show an image and are not colour bars."""
    bars = {image.colorbar.ax for ax in figure.axes for image in ax.images if image.colorbar is not None}
    return [ax for ax in figure.axes if ax.images and ax not in bars]


@pytest.mark.parametrize("count", [3, 5, 7])
@pytest.mark.parametrize("height_per_radian", [None, 1e-7])
def test_phase_and_height_panels_do_not_overlap_and_carry_their_unit(count, height_per_radian):
    figure = phases_figure(_phases(count), 1e-6, LEVELS[:count], height_per_radian)
    panels = _images(figure)
    assert len(panels) == count
    assert _overlaps(figure, panels) == []
    (bar,) = {image.colorbar for ax in panels for image in ax.images} - {None}  # one colour bar for every layer:
    assert all(ax.images[0].get_clim() == (bar.vmin, bar.vmax) for ax in panels)  # they share its scale
    if height_per_radian is None:
        assert bar.ax.get_ylabel() == "phase (rad)" and bar.vmax == pytest.approx(2 * math.pi)
    else:
        assert bar.ax.get_ylabel() == "printed height (µm)"
        assert bar.vmax == pytest.approx(2 * math.pi * height_per_radian * 1e6)  # 2π of phase, in µm
    titles = [ax.get_title() for ax in panels]
    assert titles[0] == "layer 1\n4 levels" and titles[1].startswith("layer 2\ncontinuous, 40")
    plt.close(figure)


def test_phase_titles_overlapped_before_constrained_layout():
    """The check above has teeth: phases.png as it was (single-line titles, a colour bar taken from
    the panels, no layout engine) has overlapping titles."""
    figure, axes = plt.subplots(1, 3, figsize=(3.2 * 3, 3.0))
    for k, ax in enumerate(axes):
        image = ax.imshow(_phases(1, 32)[0].numpy(), cmap="twilight", extent=(0, 32, 32, 0))
        ax.set_title(f"layer {k + 1}: continuous (1024 values)", fontsize=9)
    figure.colorbar(image, ax=list(axes), label="phase (rad)", shrink=0.8)
    assert _overlaps(figure, list(axes))
    plt.close(figure)


def test_every_detector_panel_has_an_intensity_colour_bar():
    task = Classification([(2, 2, 6, 6), (2, 10, 6, 14), (10, 2, 14, 6)], (16, 16), "cross_entropy")
    generator = torch.Generator().manual_seed(1)
    inputs = torch.rand(4, 12, 12, generator=generator)
    intensities = torch.rand(4, 16, 16, generator=generator) * 3e-3
    figure = outputs_figure(inputs, intensities, torch.tensor([0, 1, 2, 0]), task, ["a", "b", "c"])
    panels = _images(figure)
    detector = [ax for ax in panels if ax.get_title().startswith("predicted")]
    assert len(detector) == 4
    for ax, intensity in zip(detector, intensities):
        bar = ax.images[0].colorbar
        assert bar is not None and bar.vmax == pytest.approx(float(intensity.max()))
    assert detector[-1].images[0].colorbar.ax.get_ylabel() == "intensity (a.u.)"
    assert _overlaps(figure, panels) == []
    plt.close(figure)


def test_every_sensor_panel_has_an_intensity_colour_bar():
    generator = torch.Generator().manual_seed(2)
    figure = sensor_figure(torch.rand(3, 12, 12, generator=generator), torch.rand(3, 40, 40, generator=generator))
    sensors = [ax for ax in _images(figure) if ax.images[0].get_cmap().name == "inferno"]
    assert len(sensors) == 3 and all(ax.images[0].colorbar is not None for ax in sensors)
    assert sensors[-1].images[0].colorbar.ax.get_ylabel() == "intensity (a.u.)"
    plt.close(figure)
