"""Fabrication outputs: height maps (TIFF, .npy) and printable STL meshes of phase layers.

Height of a phase φ (rad) printed in a material of index n_m surrounded by a medium of index n_0
(thin-element relief: material of height h adds the phase +2π·(n_m − n_0)·h / λ₀):
    h = φ·λ₀ / (2π·(n_m − n_0)),
with λ₀ the *vacuum* wavelength: a column of height h adds the optical path (n_m − n_0)·h, i.e. the
phase 2π·(n_m − n_0)·h / λ₀. quaton's ``optics.wavelength`` is the wavelength in the medium
(λ = λ₀ / n_0, what propagation uses), so λ₀ = n_0·λ (:func:`vacuum_wavelength`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np


def vacuum_wavelength(wavelength_in_medium: float, medium_index: float) -> float:
    """λ₀ = n_0·λ (m): the vacuum wavelength of light whose wavelength in the medium of index n_0 is λ."""
    return wavelength_in_medium * medium_index


def phase_to_height(
    phase: np.ndarray, vacuum_wavelength: float, refractive_index: float, medium_index: float
) -> np.ndarray:
    """Heights (m) of phases (rad) in [0, 2π); float64, same shape. ``vacuum_wavelength`` is λ₀ (m), not
    the wavelength in the medium."""
    return np.asarray(phase, dtype=np.float64) * vacuum_wavelength / (2 * math.pi * (refractive_index - medium_index))


def write_height_tiff(path: Path, height: np.ndarray, pitch: float, full_scale: float) -> float:
    """16-bit TIFF of a height map; count k means k·scale metres, scale = full_scale / 65535.

    The scale, unit and pitch are in the TIFF's ImageDescription as JSON, e.g.
    {"unit": "m", "scale_m_per_count": ..., "pitch_m": ...}. Returns the scale.
    """
    import tifffile

    scale = full_scale / 65535.0
    counts = np.clip(np.round(height / scale), 0, 65535).astype(np.uint16)
    description = json.dumps(
        {"unit": "m", "scale_m_per_count": scale, "pitch_m": pitch, "quantity": "height above base"}
    )
    temporary = path.with_name(f".{path.name}.tmp")
    tifffile.imwrite(temporary, counts, description=description, metadata=None)
    temporary.replace(path)
    return scale


def heightfield_mesh(height: np.ndarray, pitch: float, base_thickness: float, wall_fraction: float = 0.01):
    """A watertight triangle mesh (trimesh.Trimesh, metres) of pixel columns on a base plate.

    Each pixel is a flat plateau at ``base_thickness + height`` that covers all of its pixel but a
    rim of ``wall_fraction``·pitch on each side; the rims between neighbouring pixels are the steep
    walls (a 2ε-wide ramp rather than a vertical step). The top is then the graph of a function on a
    (2H × 2W)-vertex grid, hence a 2-manifold even where two pixels touch only at a corner (which a
    union of exact boxes would make non-manifold). Side walls and a bottom close the solid.

    Pixel (row r, column c) of ``height`` [N, M] stands on x ∈ [c·p, (c+1)·p], y ∈ [(N−1−r)·p, (N−r)·p]
    (p the pitch): row 0 at the top, as in the image files and the GDS masks (quaton.export.gds), so
    that every format, seen from +z, is the same device and not its mirror image.
    """
    import trimesh

    height = np.asarray(height)[::-1]  # the mesh's grid runs up in y: its first row is the design's last
    rows, cols = height.shape
    eps = wall_fraction * pitch

    def axis(n: int) -> np.ndarray:
        edges = np.arange(n) * pitch
        inner = np.stack([edges + eps, edges + pitch - eps], axis=1).reshape(-1)
        inner[0], inner[-1] = 0.0, n * pitch
        return inner

    ys, xs = axis(rows), axis(cols)
    top = base_thickness + np.repeat(np.repeat(height, 2, axis=0), 2, axis=1)
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    vertices = [np.stack([grid_x.ravel(), grid_y.ravel(), top.ravel()], axis=1)]
    r, c = 2 * rows, 2 * cols
    index = np.arange(r * c).reshape(r, c)
    a, b, d, e = index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel()
    faces = [np.stack([a, d, b], axis=1), np.stack([b, d, e], axis=1)]

    # boundary loop of the top grid, then the same loop at z = 0
    loop = np.concatenate([index[0, :], index[1:, -1], index[-1, -2::-1], index[-2:0:-1, 0]])
    offset = r * c
    bottom = np.stack([grid_x.ravel()[loop], grid_y.ravel()[loop], np.zeros(len(loop))], axis=1)
    vertices.append(bottom)
    ring = np.arange(len(loop))
    nxt = np.roll(ring, -1)
    faces.append(np.stack([loop, loop[nxt], offset + ring], axis=1))
    faces.append(np.stack([loop[nxt], offset + nxt, offset + ring], axis=1))
    centre = offset + len(loop)
    vertices.append(np.array([[cols * pitch / 2, rows * pitch / 2, 0.0]]))
    faces.append(np.stack([offset + ring, offset + nxt, np.full(len(loop), centre)], axis=1))

    mesh = trimesh.Trimesh(np.concatenate(vertices), np.concatenate(faces), process=False)
    mesh.fix_normals()
    return mesh


def write_stl(path: Path, height: np.ndarray, pitch: float, base_thickness: float) -> None:
    """Binary STL (millimetres, the unit slicers assume) of :func:`heightfield_mesh`."""
    mesh = heightfield_mesh(height, pitch, base_thickness)
    mesh.apply_scale(1e3)
    temporary = path.with_name(f".{path.name}.tmp")
    mesh.export(temporary, file_type="stl")
    temporary.replace(path)
