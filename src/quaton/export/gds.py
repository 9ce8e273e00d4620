"""GDSII masks for multi-step binary optics: 2^k phase levels made by k lithography-and-etch steps.

Binary optics (Swanson, "Binary optics technology", MIT Lincoln Laboratory TR 854, 1989): mask j
(j = 1…k) etches the depth d_j = λ₀ / (2^j·(n − n₀)) where it is open. A pixel whose masks encode
the level M = Σ_j b_j·2^(k−j) (b_1 the most significant bit) is etched Σ_j b_j·d_j = M·λ₀ / (2^k·(n − n₀)).

Polarity: etching *removes* material, so light through the etched plate gets the phase
−2π(n − n₀)·depth/λ₀, i.e. exp(−iφ) for the depth of the height map of φ: etching the height map
makes the complex conjugate of the design. The default plate (``polarity="etched"``) therefore
etches the level M = (−L) mod 2^k at a pixel of design level L (phase 2πL/2^k), whose phase
−2πM/2^k ≡ +2πL/2^k (mod 2π) is the design's. ``polarity="relief"`` etches M = L, the height map
itself: a master that is replicated (the replica's relief is the height map), or a resist that stays
where it is exposed; etched as it is, that plate carries the conjugate phase.

Layout (all coordinates in micrometres, the library unit; precision 1 nm):
- one cell ``LAYER_XX`` per diffractive layer XX, holding its k masks;
- mask j of layer XX on GDS layer 10·XX + j, datatype 0 (the etched areas, pixels merged into
  polygons); alignment crosses on the same GDS layer, datatype 1, at the same place on every mask;
- pixel (row r, column c) of an N × N layer is the square x ∈ [c·p, (c+1)·p],
  y ∈ [(N−1−r)·p, (N−r)·p], p the pitch in µm (row 0 at the top, as in the .npy files).
The polarity, the etch depth of every mask, the material and the design-rule check (KLayout's, run on
the written file: :func:`design_rule_check`) are in ``masks.json`` beside the GDS file.
"""

from __future__ import annotations

import collections
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from quaton import runs
from quaton.errors import QuatonError

GDS_FILE, SIDECAR = "masks.gds", "masks.json"
MASK_DATATYPE, MARK_DATATYPE = 0, 1
POLARITIES = ("etched", "relief")
DEFAULT_POLARITY = "etched"
POLARITY_MEANING = {
    "etched": (
        "the open areas of every mask are etched into the plate (etch_depth_m each); etching removes material, so "
        "light through the plate gets the phase -2 pi (n - n0) depth / lambda0. A pixel of design level L (phase "
        "2 pi L / 2^k) is etched to the level L' = (-L) mod 2^k, whose phase -2 pi L' / 2^k equals the design's "
        "+2 pi L / 2^k modulo 2 pi: the plate as it comes out of the etch is the design"
    ),
    "relief": (
        "the open areas of the masks add up to the height map (level L etched L lambda0 / (2^k (n - n0)) deep): a "
        "master whose replica has the relief of height_XX.npy (phase +2 pi (n - n0) h / lambda0), or a resist "
        "that stays where it is exposed; this plate itself, etched, carries the conjugate phase -phi"
    ),
}
KLAYOUT_MISSING = "KLayout's Python package is not installed: pip install 'quaton[klayout]'"
DRC_REPORT = "masks_drc.lyrdb"  # every violation, as a KLayout report database beside masks.gds
LISTED_VIOLATIONS = 200  # violations of each rule listed by location per mask in masks.json


class GDSError(QuatonError, ValueError):
    """A design cannot be written as binary-optics masks (level count, full-precision layer, polarity, DRC)."""


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


def check_polarity(polarity: str) -> str:
    """``polarity`` if it is one of :data:`POLARITIES`, else GDSError saying what each means."""
    if polarity not in POLARITIES:
        raise GDSError(
            f"GDS polarity {polarity!r} is unknown; choose 'etched' (the default: the etched plate carries the "
            "design's phase) or 'relief' (the masks add up to the height map: a master to replicate)"
        )
    return polarity


def level_map(phase: np.ndarray, levels: int) -> np.ndarray:
    """Level index L int64 [H, W] of phases (rad) on the circular levels 2πL/levels."""
    return np.mod(np.rint(np.asarray(phase, dtype=np.float64) * levels / (2 * math.pi)), levels).astype(np.int64)


def etched_levels(levels_map: np.ndarray, k: int, polarity: str = DEFAULT_POLARITY) -> np.ndarray:
    """The level M int64 [H, W] that the masks encode at each pixel of design level L (``levels_map``):
    M = (−L) mod 2^k for an etched plate (phase −2πM/2^k ≡ 2πL/2^k), M = L for a relief master."""
    levels_map = np.asarray(levels_map, dtype=np.int64)
    return np.mod(-levels_map, 2**k) if check_polarity(polarity) == "etched" else levels_map


def phase_sign(polarity: str) -> int:
    """−1 for an etched plate (an etch of depth d adds −2π(n − n₀)d/λ₀), +1 for the relief of a replica."""
    return -1 if check_polarity(polarity) == "etched" else 1


def mask_bits(levels_map: np.ndarray, k: int) -> list[np.ndarray]:
    """The k masks, bool [H, W] each, True where mask j (j = 1…k, list index j − 1) is open: bit k − j
    of the encoded level ``levels_map`` (M of :func:`etched_levels`)."""
    return [((levels_map >> (k - j)) & 1).astype(bool) for j in range(1, k + 1)]


def fabricated_regions(
    levels_map: np.ndarray,
    k: int,
    offsets: np.ndarray | None = None,
    etch_errors: np.ndarray | None = None,
    polarity: str = DEFAULT_POLARITY,
) -> tuple[np.ndarray, np.ndarray]:
    """What k binary-optics steps make of a level map when mask j is placed off by ``offsets[j − 1]``
    and etches (1 + ``etch_errors[j − 1]``) times its nominal depth.

    ``levels_map`` int [N, N] (design level index L of 2^k circular levels, phase 2πL/2^k); the masks
    encode M = :func:`etched_levels` (L, k, ``polarity``), bits b_j of M. ``offsets`` float [k, 2]:
    mask j moved by (dx, dy) pixels of the design grid, +x along the columns (to the right), +y up
    (towards row 0, the GDS y axis of :func:`raster_polygons`); None: all zero. ``etch_errors`` float
    [k] (relative); None: all zero. Outside the N × N array every mask is closed (nothing etched).

    A sub-pixel offset splits each pixel into at most (k + 1)² rectangles inside which every mask
    is uniformly open or closed: along x the boundaries lie at the fractional parts of the dx_j (the
    same in every pixel), along y at those of −dy_j. Returns ``(weights, phases)``: the area fraction
    of each rectangle, float64 [R] (summing to 1), and the phase the etched depths give there, float64
    [R, N, N] (rad, not wrapped): −Σ_j b_j·(2π/2^j)·(1 + e_j) for an etched plate (etching removes
    material), +Σ_j b_j·(2π/2^j)·(1 + e_j) for the replica of a relief master. Without errors this is
    the design's phase 2πL/2^k modulo 2π in both polarities. Whole-pixel offsets give R = 1 and the
    level map moved by whole pixels, exactly.
    """
    grid_rows, grid_cols = levels_map.shape
    offsets = np.zeros((k, 2)) if offsets is None else np.asarray(offsets, dtype=np.float64).reshape(k, 2)
    etch_errors = np.zeros(k) if etch_errors is None else np.asarray(etch_errors, dtype=np.float64).reshape(k)
    bits = mask_bits(etched_levels(levels_map, k, polarity), k)
    sign = phase_sign(polarity)

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
            phases.append(sign * phase)
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


def klayout_available() -> bool:
    """Whether KLayout's Python package (the design-rule checker) can be imported."""
    try:
        import klayout.db  # noqa: F401
    except ImportError:
        return False
    return True


def _location(box: Any, dbu: float) -> dict[str, Any]:
    """A violation's place: the centre and the bounding box of a KLayout box (database units), in µm."""
    centre = box.center()
    return {
        "x_um": round(centre.x * dbu, 6),
        "y_um": round(centre.y * dbu, 6),
        "box_um": [round(v * dbu, 6) for v in (box.left, box.bottom, box.right, box.top)],
    }


def corner_touches(region: Any) -> list[tuple[int, int]]:
    """Points (database units) where open areas of a KLayout region touch only at a corner.

    Merged with minimum coherence (``Region.merged(True, 0)``), areas that meet only at a vertex stay
    separate polygons (or, for a hole, separate contours); every point where two contours share a
    vertex, or one contour passes twice, is such a touch. A mask cannot resolve it: the two areas
    fuse or part depending on the exposure."""
    counts: collections.Counter[tuple[int, int]] = collections.Counter()
    for polygon in region.merged(True, 0).each():
        contours = [polygon.each_point_hull()] + [polygon.each_point_hole(h) for h in range(polygon.holes())]
        for contour in contours:
            counts.update((point.x, point.y) for point in contour)
    return sorted(point for point, count in counts.items() if count > 1)


def _violations(region: Any, dbu: float, min_feature: float | None, min_gap: float | None) -> dict[str, Any]:
    """KLayout's findings for one mask: ``width`` and ``space`` edge pairs (``klayout.db.EdgePairs``, or
    None when the rule was not asked for) and the ``corner_touch`` points (database units)."""
    import klayout.db as db

    def check(limit: float | None, method: str) -> Any:
        if limit is None:
            return None
        # a corner touch is reported as one (below), not also as a width and a space of zero
        return getattr(region, method)(
            round(limit * 1e6 / dbu),
            metrics=db.Metrics.Euclidian,
            zero_distance_mode=db.ZeroDistanceMode.NeverIncludeZeroDistance,
        )

    return {
        "width": check(min_feature, "width_check"),
        "space": check(min_gap, "space_check"),
        "corner_touch": corner_touches(region),
    }


def design_rule_check(
    region: Any, dbu: float, min_feature: float | None, min_gap: float | None, found: dict[str, Any] | None = None
) -> dict[str, Any]:
    """KLayout's design-rule check of one mask, a ``klayout.db.Region`` of its etched areas in database
    units of ``dbu`` µm: width below ``min_feature`` and space below ``min_gap`` (m; Euclidean metrics,
    so a diagonal gap counts at its true length; ``Region.width_check``, ``Region.space_check``, zero
    distances excluded), and open areas that touch only at a corner (:func:`corner_touches`, each
    reported once, as that); ``found``: these findings when
    already made. Every violation is counted; the first :data:`LISTED_VIOLATIONS` of each rule are
    listed by location (µm): centre and bounding box, for width and space also the measured distance."""
    import klayout
    import klayout.db as db

    found = found if found is not None else _violations(region, dbu, min_feature, min_gap)
    listed = LISTED_VIOLATIONS
    pairs = {
        rule: list(itertools.islice(found[rule].each(), listed)) if found[rule] is not None else []
        for rule in ("width", "space")
    }
    locations = {
        rule: [{"distance_um": round(pair.distance() * dbu, 6), **_location(pair.bbox(), dbu)} for pair in pairs[rule]]
        for rule in ("width", "space")
    }
    locations["corner_touch"] = [_location(db.Box(x, y, x, y), dbu) for x, y in found["corner_touch"][:listed]]
    return {
        "checker": f"KLayout {klayout.__version__} (klayout.db.Region: width_check, space_check, Euclidean metrics; "
        "corner touching)",
        "min_feature_m": min_feature,
        "min_gap_m": min_gap,
        "width_violations": None if found["width"] is None else found["width"].count(),
        "space_violations": None if found["space"] is None else found["space"].count(),
        "corner_touches": len(found["corner_touch"]),
        "locations": locations,
    }


def check_gds_file(
    gds_path: Path,
    masks: list[tuple[str, int]],
    min_feature: float | None,
    min_gap: float | None,
    report: Path | None = None,
) -> list[dict[str, Any]]:
    """:func:`design_rule_check` of the etched areas (datatype 0) of each (cell name, GDS layer) in
    ``masks``, read from the written file by KLayout (not from the arrays it was made of). ``report``:
    also write every violation into this KLayout report database (.lyrdb, markers in µm that KLayout's
    viewer shows over the layout), one category per GDS layer and rule."""
    import klayout.db as db
    import klayout.rdb as rdb

    layout = db.Layout()
    layout.read(str(gds_path))
    database = rdb.ReportDatabase("quaton design-rule check")
    database.original_file = str(gds_path)
    microns = db.CplxTrans(layout.dbu)
    checks = []
    for cell, number in masks:
        region = db.Region(layout.cell(cell).begin_shapes_rec(layout.layer(number, MASK_DATATYPE)))
        found = _violations(region, layout.dbu, min_feature, min_gap)
        checks.append(design_rule_check(region, layout.dbu, min_feature, min_gap, found))
        if report is None:  # no report database asked for: nothing to mark
            continue
        cell_id = (database.cell_by_qname(cell) or database.create_cell(cell)).rdb_id()
        for rule, limit in (("width", min_feature), ("space", min_gap)):
            if found[rule] is not None and limit is not None:
                category = database.create_category(f"GDS layer {number}: {rule} below {limit * 1e6:g} um")
                database.create_items(cell_id, category.rdb_id(), microns, found[rule])
        category = database.create_category(f"GDS layer {number}: corner touching")
        for x, y in found["corner_touch"]:
            point = microns * db.Point(x, y)
            database.create_item(cell_id, category.rdb_id()).add_value(db.DBox(point, point))
    if report is not None:
        temporary = report.with_name(f".{report.name}.tmp")
        database.save(str(temporary))
        temporary.replace(report)
    return checks


def drc_summary(check: dict[str, Any] | None) -> dict[str, Any] | None:
    """A mask's design-rule check without the list of locations (for design.json)."""
    return None if check is None else {k: v for k, v in check.items() if k != "locations"}


def check_drc(min_feature: float | None, min_gap: float | None) -> None:
    """GDSError before any work when design-rule lengths are asked for but KLayout is not installed."""
    if (min_feature is not None or min_gap is not None) and not klayout_available():
        raise GDSError(f"--min-feature/--min-gap run KLayout's design-rule check; {KLAYOUT_MISSING}")


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


def _sidecar(pitch_um: float, material: dict[str, float], polarity: str) -> dict[str, Any]:
    """masks.json without its layers: units, pixel placement, material, polarity, layer numbers."""
    return {
        "file": GDS_FILE,
        "unit": "um",
        "pitch_um": pitch_um,
        "pixel": "row r, column c of an N x N layer: x in [c p, (c+1) p], y in [(N-1-r) p, (N-r) p] (um)",
        "material": material,
        "polarity": polarity,
        "polarity_meaning": POLARITY_MEANING[polarity],
        "levels_etched": "mask j is open where bit k-j of the etched level is 1 (j = 1 the most significant bit); "
        + ("etched level = (-L) mod 2^k" if polarity == "etched" else "etched level = L")
        + " for a pixel of design level L (phase 2 pi L / 2^k in layer_XX.npy)",
        "layer_numbers": (
            "mask j of diffractive layer XX: GDS layer 10*XX + j; datatype 0 etched areas, datatype 1 alignment crosses"
        ),
        "layers": [],
    }


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
    polarity: str = DEFAULT_POLARITY,
) -> dict[str, Any]:
    """Write ``out``/masks.gds and masks.json for quantized phase layers (float64 [N, N] rad each);
    returns the sidecar description (polarity, mask layers, etch depths, KLayout's design-rule check
    of the written file, or ``drc`` None with a note when KLayout is not installed)."""
    import gdstk

    ks = check_gds(layers)
    check_polarity(polarity)
    check_drc(min_feature, min_gap)
    pitch_um = pitch * 1e6
    library = gdstk.Library("QUATON", unit=1e-6, precision=1e-9)
    material = {
        "refractive_index": refractive_index,
        "medium_index": medium_index,
        "vacuum_wavelength_m": vacuum_wavelength,
    }
    sidecar = _sidecar(pitch_um, material, polarity)
    sign = phase_sign(polarity)
    for index, (phase, k, layer) in enumerate(zip(phases, ks, layers), start=1):
        grid = phase.shape[0]
        cell = library.new_cell(f"LAYER_{index:02d}")
        masks = mask_bits(etched_levels(level_map(phase, layer["levels"]), k, polarity), k)
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
                    "phase_rad": sign * 2 * math.pi / 2**j,
                    "open_pixels": int(mask.sum()),
                }
            )
        sidecar["layers"].append(
            {"layer": index, "cell": cell.name, "levels": layer["levels"], "grid": grid, "masks": entries}
        )
    temporary = out / f".{GDS_FILE}.tmp"
    library.write_gds(str(temporary))
    temporary.replace(out / GDS_FILE)
    _check_written(out / GDS_FILE, sidecar, min_feature, min_gap)
    runs.atomic_write_text(out / SIDECAR, _sidecar_text(sidecar))
    return sidecar


def _sidecar_text(sidecar: dict[str, Any]) -> str:
    """masks.json: indented JSON with each listed violation (a flat object of numbers) on one line."""
    text = json.dumps(sidecar, indent=2)
    one_line = re.compile(r'\{\s*"(?:distance_um|x_um)"[^{}]*\}')
    return one_line.sub(lambda m: re.sub(r"\[\s+|\s+\]|\s+", _collapse, m.group(0)), text) + "\n"


def _collapse(match: re.Match[str]) -> str:
    """Whitespace of an indented JSON object on one line: none inside brackets, one space elsewhere."""
    return match.group(0).strip() or " "


def _check_written(path: Path, sidecar: dict[str, Any], min_feature: float | None, min_gap: float | None) -> None:
    """Add KLayout's design-rule check of every mask of the written file to the sidecar's mask entries."""
    entries = [(layer["cell"], mask) for layer in sidecar["layers"] for mask in layer["masks"]]
    report = path.with_name(DRC_REPORT)
    if not klayout_available():
        sidecar["drc_note"] = f"no design-rule check: {KLAYOUT_MISSING}"
        report.unlink(missing_ok=True)  # an earlier export's report would not describe these masks
        checks: list[dict[str, Any] | None] = [None] * len(entries)
    else:
        checks = list(
            check_gds_file(path, [(cell, m["gds_layer"]) for cell, m in entries], min_feature, min_gap, report)
        )
        sidecar["drc_report"] = (
            f"{DRC_REPORT}: every violation (KLayout report database, markers in um, opens over {GDS_FILE} in "
            f"KLayout); masks.json lists the first {LISTED_VIOLATIONS} of each rule per mask by location"
        )
    for (_, mask), check in zip(entries, checks):
        mask["drc"] = check
