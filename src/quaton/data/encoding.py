"""Input encodings: images -> complex fields on the network's grid."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

ENCODINGS = ("phase", "amplitude")


def resize_images(images: np.ndarray | torch.Tensor, object_size: int) -> torch.Tensor:
    """Images [N, h, w] -> float32 [N, s, s], s = ``object_size``.

    uint8 images are scaled to [0, 1]; float images (e.g. phase maps) keep their values. Resizing
    is bilinear with antialiasing (torch.nn.functional.interpolate), clipped to the input's range.
    """
    x = torch.as_tensor(images)
    x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
    if x.shape[-2:] != (object_size, object_size):
        low, high = float(x.min()), float(x.max())
        x = F.interpolate(
            x[:, None], size=(object_size, object_size), mode="bilinear", antialias=True, align_corners=False
        )[:, 0]
        x = x.clamp_(low, high)
    return x


def pad_to_grid(images: torch.Tensor, grid: int) -> torch.Tensor:
    """Zero-pad float images [B, s, s] to the centre of a [B, grid, grid] array."""
    size = images.shape[-1]
    if size > grid:
        raise ValueError(
            f"object size {size} px does not fit in a {grid} px grid: make input.object_size <= model.grid"
        )
    before = (grid - size) // 2
    after = grid - size - before
    return F.pad(images, (before, after, before, after))


def default_scale(encoding: str) -> float:
    """π rad per unit for phase (exp(iπx), as in QuATON), 1 for amplitude."""
    return math.pi if encoding == "phase" else 1.0


def encode(images: torch.Tensor, grid: int, encoding: str = "phase", scale: float | None = None) -> torch.Tensor:
    """Images float [B, s, s] in [0, 1] -> input fields complex64 [B, grid, grid].

    ``phase``: exp(i·scale·x) under unit-amplitude illumination of the whole grid (the zero
    padding is phase 0); ``amplitude``: scale·x (the padding is opaque).
    """
    scale = default_scale(encoding) if scale is None else scale
    x = pad_to_grid(images, grid)
    if encoding == "phase":
        return torch.polar(torch.ones_like(x), x * scale)
    if encoding == "amplitude":
        return torch.complex(x * scale, torch.zeros_like(x))
    raise ValueError(f"unknown input encoding {encoding!r}; choose one of {ENCODINGS}")
