"""GDSII masks for multi-step binary optics: 2^k phase levels made by k lithography-and-etch steps.

Binary optics (Swanson, "Binary optics technology", MIT Lincoln Laboratory TR 854, 1989): mask j
(j = 1…k) etches the depth d_j = λ₀ / (2^j·(n − n₀)), the phase 2π / 2^j, where it is open. A pixel
at level L = Σ_j b_j·2^(k−j) (b_1 the most significant bit) is open in mask j when b_j = 1, so the
sum of the etched depths Σ_j b_j·d_j = L·λ₀ / (2^k·(n − n₀)) is the height of its phase 2πL/2^k.

Layout (all coordinates in micrometres, the library unit; precision 1 nm):
- one cell ``LAYER_XX`` per diffractive layer XX, holding its k masks;
- mask j of layer XX on GDS layer 10·XX + j, datatype 0 (the etched areas, pixels merged into
  polygons); alignment crosses on the same GDS layer, datatype 1, at the same place on every mask;
- pixel (row r, column c) of an N × N layer is the square x ∈ [c·p, (c+1)·p],
  y ∈ [(N−1−r)·p, (N−r)·p], p the pitch in µm (row 0 at the top, as in the .npy files).
The etch depth of every mask and the material are in ``masks.json`` beside the GDS file.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

from quaton import runs
from quaton.errors import QuatonError

GDS_FILE, SIDECAR = "masks.gds", "masks.json"
MASK_DATATYPE, MARK_DATATYPE = 0, 1


class GDSError(QuatonError, ValueError):
    """A design cannot be written as binary-optics masks (level count, full-precision layer)."""


def mask_count(levels: int | None, layer: int, value_range: list[float] | None) -> int:
    """k for a layer of 2^k circular levels; GDSError naming the alternatives otherwise."""
    alternatives = (
        "write the height map for grayscale lithography (--format npy or tiff) "
        "or STL for two-photon printing (--format stl)"
    )
    if levels is None:
        raise GDSError(
            f"layer {layer} is full precision: binary-optics masks need 2^k phase levels "
            f"(quantization.levels 2, 4, 8, ...); {alternatives}"
        )
    k = int(round(math.log2(levels)))
    if 2**k != levels or k < 1:
        raise GDSError(
            f"layer {layer} has {levels} levels, not a power of two: k binary masks make 2^k levels; {alternatives}"
        )
    if value_range is not None:
        raise GDSError(
            f"layer {layer} uses the explicit quantization.range {value_range}: "
            f"binary-optics masks etch the circular levels 2πL/{levels}; {alternatives}"
        )
    return k


def level_map(phase: np.ndarray, levels: int) -> np.ndarray:
    """Level index L int64 [H, W] of phases (rad) on the circular levels 2πL/levels."""
    return np.mod(np.rint(np.asarray(phase, dtype=np.float64) * levels / (2 * math.pi)), levels).astype(np.int64)


def mask_bits(levels_map: np.ndarray, k: int) -> list[np.ndarray]:
    """The k masks, bool [H, W] each, True where mask j (j = 1…k, list index j − 1) is open: bit k − j of L."""
    return [((levels_map >> (k - j)) & 1).astype(bool) for j in range(1, k + 1)]


def fabricated_regions(
    levels_map: np.ndarray,
    k: int,
    offsets: np.ndarray | None = None,
    etch_errors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """What k binary-optics steps make of a level map when mask j is placed off by ``offsets[j − 1]``
    and etches (1 + ``etch_errors[j − 1]``) times its nominal depth.

    ``levels_map`` int [N, N] (level index L of 2^k circular levels); ``offsets`` float [k, 2]: mask j
    moved by (dx, dy) pixels of the design grid, +x along the columns (to the right), +y up (towards
    row 0, the GDS y axis of :func:`raster_polygons`); None: all zero. ``etch_errors`` float [k]
    (relative); None: all zero. Outside the N × N array every mask is closed (nothing etched).

    A sub-pixel offset splits each pixel into at most (k + 1)² rectangles inside which every mask
    is uniformly open or closed: along x the boundaries lie at the fractional parts of the dx_j (the
    same in every pixel), along y at those of −dy_j. Returns ``(weights, phases)``: the area fraction
    of each rectangle, float64 [R] (summing to 1), and the phase the etched depths give there, float64
    [R, N, N] (rad, Σ_j b_j·(2π/2^j)·(1 + e_j), not wrapped). Whole-pixel offsets give R = 1 and the
    level map moved by whole pixels, exactly.
    """
    grid_rows, grid_cols = levels_map.shape
    offsets = np.zeros((k, 2)) if offsets is None else np.asarray(offsets, dtype=np.float64).reshape(k, 2)
    etch_errors = np.zeros(k) if etch_errors is None else np.asarray(etch_errors, dtype=np.float64).reshape(k)
    bits = mask_bits(levels_map, k)

    def intervals(shifts: np.ndarray) -> list[tuple[float, float]]:
        """(width, midpoint) of the pieces of [0, 1) cut at the fractional parts of ``shifts``."""
        cuts = np.unique(np.concatenate([[0.0, 1.0], np.mod(shifts, 1.0)]))
        return [(float(b - a), float(a + b) / 2) for a, b in itertools.pairwise(cuts) if b - a > 1e-12]

    columns, rows = np.arange(grid_cols), np.arange(grid_rows)
    weights, phases = [], []
    for width_x, middle_x in intervals(offsets[:, 0]):
        for width_y, middle_y in intervals(-offsets[:, 1]):
            phase = np.zeros(levels_map.shape)
            for j, (mask, (dx, dy), error) in enumerate(zip(bits, offsets, etch_errors), start=1):
                # the shifted mask at (row r, column c) is the mask at column c − dx, row r + dy
                source_c = np.floor(columns + middle_x - dx).astype(np.int64)
                source_r = np.floor(rows + middle_y + dy).astype(np.int64)
                inside_c = (source_c >= 0) & (source_c < grid_cols)
                inside_r = (source_r >= 0) & (source_r < grid_rows)
                moved = mask[np.clip(source_r, 0, grid_rows - 1)][:, np.clip(source_c, 0, grid_cols - 1)]
                moved = moved & inside_r[:, None] & inside_c[None, :]
                phase += moved * (2 * math.pi / 2**j) * (1.0 + error)
            weights.append(width_x * width_y)
            phases.append(phase)
    return np.asarray(weights), np.stack(phases)


def etch_depths(k: int, vacuum_wavelength: float, refractive_index: float, medium_index: float) -> list[float]:
    """Depth (m) etched by masks 1…k: d_j = λ₀ / (2^j·(n − n₀))."""
    return [vacuum_wavelength / (2**j * (refractive_index - medium_index)) for j in range(1, k + 1)]


def _runs(line: np.ndarray) -> list[tuple[int, int, bool]]:
    """(start, stop, value) runs of a bool vector."""
    edges = np.flatnonzero(np.diff(line.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [len(line)]])
    return [(int(a), int(b), bool(line[a])) for a, b in zip(bounds[:-1], bounds[1:])]


def raster_polygons(mask: np.ndarray, pitch_um: float, layer: int, datatype: int = MASK_DATATYPE) -> list:
    """The open pixels of ``mask`` bool [N, N] as merged gdstk polygons (µm): row runs become
    rectangles, runs repeated in the next rows grow into one rectangle, then a boolean union merges them."""
    import gdstk

    rows = mask.shape[0]
    open_runs: dict[tuple[int, int], int] = {}  # (start, stop) -> first row
    rectangles = []

    def close(span: tuple[int, int], first: int, last: int) -> None:
        c0, c1 = span
        rectangles.append(
            gdstk.rectangle((c0 * pitch_um, (rows - 1 - last) * pitch_um), (c1 * pitch_um, (rows - first) * pitch_um))
        )

    for r in range(rows):
        spans = {(a, b) for a, b, value in _runs(mask[r]) if value}
        for span in list(open_runs):
            if span not in spans:
                close(span, open_runs.pop(span), r - 1)
        for span in spans:
            open_runs.setdefault(span, r)
    for span, first in open_runs.items():
        close(span, first, rows - 1)
    if not rectangles:
        return []
    return gdstk.boolean(rectangles, [], "or", precision=1e-3, layer=layer, datatype=datatype)


def rasterize(polygons: list, grid: int, pitch_um: float) -> np.ndarray:
    """bool [N, N]: which pixel centres lie inside ``polygons`` (the inverse of :func:`raster_polygons`)."""
    import gdstk

    rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    centres = np.stack([(cols + 0.5) * pitch_um, (grid - 0.5 - rows) * pitch_um], axis=-1).reshape(-1, 2)
    if not polygons:
        return np.zeros((grid, grid), dtype=bool)
    # gdstk takes an [n, 2] array of points; its stubs name only sequences of points
    inside = gdstk.inside(centres, polygons)  # type: ignore[arg-type]
    return np.asarray(inside, dtype=np.bool_).reshape(grid, grid)


def design_rule_check(
    mask: np.ndarray, pitch: float, min_feature: float | None, min_gap: float | None
) -> dict[str, Any]:
    """Pixels of open features narrower than ``min_feature`` and of closed gaps between open areas
    narrower than ``min_gap`` (m), along rows and columns; a pixel is a square of side ``pitch`` (m)."""

    def offending(value: bool, limit: float | None, bounded: bool) -> int:
        if limit is None:
            return 0
        need = math.ceil(limit / pitch - 1e-9)
        bad = np.zeros_like(mask, dtype=bool)
        for grid, view in ((mask, bad), (mask.T, bad.T)):
            for i, line in enumerate(grid):
                runs = _runs(line)
                for index, (a, b, v) in enumerate(runs):
                    inner = 0 < index < len(runs) - 1
                    if v == value and b - a < need and (inner or not bounded):
                        view[i, a:b] = True
        return int(bad.sum())

    return {
        "min_feature_m": min_feature,
        "feature_violations_px": offending(True, min_feature, bounded=False),
        "min_gap_m": min_gap,
        "gap_violations_px": offending(False, min_gap, bounded=True),
    }


def _alignment_marks(grid: int, pitch_um: float, layer: int) -> list:
    """Crosses at the four corners, outside the pixel array, identical on every mask of a layer."""
    import gdstk

    arm, width = max(10.0, 5 * pitch_um), max(2.0, pitch_um)
    size = grid * pitch_um
    margin = 2 * arm
    marks = []
    for x, y in [
        (-margin, -margin),
        (size + margin, -margin),
        (-margin, size + margin),
        (size + margin, size + margin),
    ]:
        marks.append(
            gdstk.rectangle((x - arm, y - width / 2), (x + arm, y + width / 2), layer=layer, datatype=MARK_DATATYPE)
        )
        marks.append(
            gdstk.rectangle((x - width / 2, y - arm), (x + width / 2, y + arm), layer=layer, datatype=MARK_DATATYPE)
        )
    return marks


def check_gds(layers: list[dict[str, Any]]) -> list[int]:
    """k per layer for the design.json ``layers`` entries, or GDSError before anything is written."""
    return [mask_count(layer.get("levels"), index, layer.get("range")) for index, layer in enumerate(layers, start=1)]


def write_gds(
    out: Path,
    phases: list[np.ndarray],
    layers: list[dict[str, Any]],
    pitch: float,
    vacuum_wavelength: float,
    refractive_index: float,
    medium_index: float,
    min_feature: float | None = None,
    min_gap: float | None = None,
) -> dict[str, Any]:
    """Write ``out``/masks.gds and masks.json for quantized phase layers (float64 [N, N] rad each);
    returns the sidecar description (mask layers, etch depths, design-rule check)."""
    import gdstk

    ks = check_gds(layers)
    pitch_um = pitch * 1e6
    library = gdstk.Library("QUATON", unit=1e-6, precision=1e-9)
    sidecar: dict[str, Any] = {
        "file": GDS_FILE,
        "unit": "um",
        "pitch_um": pitch_um,
        "pixel": "row r, column c of an N x N layer: x in [c p, (c+1) p], y in [(N-1-r) p, (N-r) p] (um)",
        "material": {
            "refractive_index": refractive_index,
            "medium_index": medium_index,
            "vacuum_wavelength_m": vacuum_wavelength,
        },
        "layer_numbers": (
            "mask j of diffractive layer XX: GDS layer 10*XX + j; datatype 0 etched areas, datatype 1 alignment crosses"
        ),
        "layers": [],
    }
    for index, (phase, k, layer) in enumerate(zip(phases, ks, layers), start=1):
        grid = phase.shape[0]
        cell = library.new_cell(f"LAYER_{index:02d}")
        masks = mask_bits(level_map(phase, layer["levels"]), k)
        entries = []
        for j, (mask, depth) in enumerate(
            zip(masks, etch_depths(k, vacuum_wavelength, refractive_index, medium_index)), start=1
        ):
            number = 10 * index + j
            cell.add(*raster_polygons(mask, pitch_um, number), *_alignment_marks(grid, pitch_um, number))
            entries.append(
                {
                    "step": j,
                    "gds_layer": number,
                    "datatype": MASK_DATATYPE,
                    "etch_depth_m": depth,
                    "phase_rad": 2 * math.pi / 2**j,
                    "open_pixels": int(mask.sum()),
                    "drc": design_rule_check(mask, pitch, min_feature, min_gap),
                }
            )
        sidecar["layers"].append(
            {"layer": index, "cell": cell.name, "levels": layer["levels"], "grid": grid, "masks": entries}
        )
    temporary = out / f".{GDS_FILE}.tmp"
    library.write_gds(str(temporary))
    temporary.replace(out / GDS_FILE)
    import json

    runs.atomic_write_text(out / SIDECAR, json.dumps(sidecar, indent=2) + "\n")
    return sidecar


def read_masks(path: Path, layer: int, k: int, grid: int, pitch_um: float) -> list[np.ndarray]:
    """Read back the k masks of diffractive layer ``layer`` from a written GDS file, rasterised on the design grid."""
    import gdstk

    library = gdstk.read_gds(str(path))
    cell = next(c for c in library.cells if isinstance(c, gdstk.Cell) and c.name == f"LAYER_{layer:02d}")
    return [
        rasterize(
            [p for p in cell.polygons if p.layer == 10 * layer + j and p.datatype == MASK_DATATYPE], grid, pitch_um
        )
        for j in range(1, k + 1)
    ]
