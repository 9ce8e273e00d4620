"""Intensity detectors and detector regions (one rectangular patch per class)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

Region = tuple[int, int, int, int]  # (row0, col0, row1, col1), half-open pixel ranges


def intensity(field: torch.Tensor) -> torch.Tensor:
    """|field|², real [..., H, W] (arbitrary units: input power per pixel)."""
    return field.real.square() + field.imag.square()


def row_counts(num_regions: int) -> list[int]:
    """Regions per row for the default layout: as the original D2NN's 3-4-3 for ten classes.

    Rows = round(sqrt(n)); the remainder goes to the middle rows first.
    """
    rows = max(1, round(math.sqrt(num_regions)))
    base, extra = divmod(num_regions, rows)
    counts = [base] * rows
    middle = sorted(range(rows), key=lambda r: abs(r - (rows - 1) / 2))
    for r in middle[:extra]:
        counts[r] += 1
    return counts


def default_regions(grid: int, num_regions: int = 10, size: int | None = None, gap: int | None = None) -> list[Region]:
    """Square regions of ``size`` px, ``gap`` px apart, in centred rows (3-4-3 for ten classes).

    Defaults: ``size`` = grid // 8 and ``gap`` = size // 2 (at least one pixel), as in the
    original D2NN classifier's layout of ten squares near the optical axis.
    """
    size = size if size is not None else max(1, grid // 8)
    gap = gap if gap is not None else max(1, size // 2)
    counts = row_counts(num_regions)
    height = len(counts) * size + (len(counts) - 1) * gap
    widest = max(counts) * size + (max(counts) - 1) * gap
    if height > grid or widest > grid:
        raise ValueError(
            f"{num_regions} detector regions of {size} px with {gap} px gaps need {max(height, widest)} px "
            f"but model.grid is {grid}: make detector.size or detector.gap smaller, or model.grid larger"
        )
    regions: list[Region] = []
    row0 = (grid - height) // 2
    for count in counts:
        width = count * size + (count - 1) * gap
        col0 = (grid - width) // 2
        for k in range(count):
            c = col0 + k * (size + gap)
            regions.append((row0, c, row0 + size, c + size))
        row0 += size + gap
    return regions


def region_masks(regions: Sequence[Region], shape: tuple[int, int]) -> torch.Tensor:
    """Binary masks float32 [C, H, W], one per region."""
    masks = torch.zeros((len(regions), *shape))
    for k, (r0, c0, r1, c1) in enumerate(regions):
        if not (0 <= r0 < r1 <= shape[0] and 0 <= c0 < c1 <= shape[1]):
            raise ValueError(
                f"detector.regions entry {k} {(r0, c0, r1, c1)} does not fit in model.grid ({shape[0]}x{shape[1]})"
            )
        masks[k, r0:r1, c0:c1] = 1.0
    return masks


class IntensityDetector(nn.Module):
    """Measures |field|² and integrates it over rectangular regions.

    ``regions``: (row0, col0, row1, col1) half-open pixel ranges on a grid of ``shape``.
    """

    masks: torch.Tensor  # buffer: region_masks, float32 [C, H, W]

    def __init__(self, regions: Sequence[Region], shape: tuple[int, int]) -> None:
        super().__init__()
        self.regions: list[Region] = [(int(r0), int(c0), int(r1), int(c1)) for r0, c0, r1, c1 in regions]
        self.register_buffer("masks", region_masks(self.regions, shape), persistent=False)

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        """Intensity, real [..., H, W]."""
        return intensity(field)

    def region_energies(self, image: torch.Tensor) -> torch.Tensor:
        """Energy in each region: intensity [B, H, W] -> [B, C]."""
        flat = image.reshape(image.shape[0], -1)
        return flat @ self.masks.reshape(self.masks.shape[0], -1).to(flat.dtype).T
