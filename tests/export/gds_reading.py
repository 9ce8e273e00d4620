"""Reading a written GDS file as a fab would, independently of quaton's writer: gdstk reads the file,
matplotlib's Path decides which pixel centres lie inside the etched polygons, and the plate's phase is
the physics of an etch (etching removes material), from masks.json's depths and material."""

import math
from pathlib import Path

import gdstk
import numpy as np
from matplotlib.path import Path as PolygonPath


def pixel_centres(grid: int, pitch_um: float) -> np.ndarray:
    """[N·N, 2] (x, y) µm of the pixel centres, rows first, as masks.json's "pixel" places them:
    pixel (r, c) is x ∈ [c p, (c+1) p], y ∈ [(N−1−r) p, (N−r) p]."""
    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    return np.stack([(cols + 0.5) * pitch_um, (grid - 0.5 - rows) * pitch_um], axis=-1).reshape(-1, 2)


def read_open_masks(gds_file: Path, sidecar: dict, layer: int, centres_per_pixel: int = 1) -> list[np.ndarray]:
    """The masks of diffractive layer ``layer`` as written: bool [k, N, N], True where the pixel centre lies
    inside an etched polygon (gdstk reads the file, matplotlib decides inside)."""
    entry = next(e for e in sidecar["layers"] if e["layer"] == layer)
    grid, pitch_um = entry["grid"], sidecar["pitch_um"]
    cell = next(c for c in gdstk.read_gds(str(gds_file)).cells if c.name == entry["cell"])
    centres = pixel_centres(grid, pitch_um)
    masks = []
    for mask in entry["masks"]:
        inside = np.zeros(len(centres), dtype=bool)
        for polygon in cell.polygons:
            if polygon.layer == mask["gds_layer"] and polygon.datatype == mask["datatype"]:
                inside |= PolygonPath(polygon.points).contains_points(centres)
        masks.append(inside.reshape(grid, grid))
    return masks


def etched_depth(gds_file: Path, sidecar: dict, layer: int, errors: np.ndarray | None = None) -> np.ndarray:
    """float64 [N, N] (m): the depth the written masks etch, Σ_j (1 + e_j)·d_j·open_j."""
    depths = [m["etch_depth_m"] for m in next(e for e in sidecar["layers"] if e["layer"] == layer)["masks"]]
    errors = np.zeros(len(depths)) if errors is None else errors
    masks = read_open_masks(gds_file, sidecar, layer)
    return sum(m * d * (1 + e) for m, d, e in zip(masks, depths, errors))


def plate_phase(depth: np.ndarray, sidecar: dict) -> np.ndarray:
    """The phase (rad) of light through a plate etched ``depth`` deep: −2π(n − n₀)·depth/λ₀ (etching removes
    material of index n, the medium n₀ fills the hole)."""
    material = sidecar["material"]
    contrast = material["refractive_index"] - material["medium_index"]
    return -2 * math.pi * contrast * depth / material["vacuum_wavelength_m"]
