"""The GDSII masks are read as a fab would make them (issue 27): an etched plate carries the design.

Etching removes material: light through a plate etched d deep gets the phase −2π(n − n₀)·d/λ₀. The
masks are read back with gdstk and rasterised here (pixel centres inside the polygons, with
matplotlib's Path), not with quaton's own code; the plate's transmission is built from masks.json's
etch depths and material, and compared with the design by propagating light (quaton.optics.propagate)
and by evaluating a trained design. Every export format (npy, TIFF, STL, GDS) is read back with its own
library to one relief height and one phase."""

import json
import math
from pathlib import Path

import gdstk
import numpy as np
import pytest
import tifffile
import torch
import trimesh
from gds_reading import etched_depth, pixel_centres, plate_phase
from matplotlib.path import Path as PolygonPath
from typer.testing import CliRunner

import quaton.design
from quaton.cli import app
from quaton.data import load_dataset
from quaton.export.design import Design
from quaton.export.gds import write_gds
from quaton.export.simulate import perturbed
from quaton.optics import propagate

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"


def fresnel_lens(grid: int, pitch: float, wavelength: float, focal: float, levels: int) -> np.ndarray:
    """A thin lens −π r²/(λ f) (λ in the medium), on the circular levels 2πL/levels, in [0, 2π)."""
    coordinate = (np.arange(grid) - grid / 2 + 0.5) * pitch
    r2 = coordinate[None, :] ** 2 + coordinate[:, None] ** 2
    phase = np.mod(-math.pi * r2 / (wavelength * focal), 2 * math.pi)
    return np.mod(np.rint(phase * levels / (2 * math.pi)), levels) * 2 * math.pi / levels


def on_axis_intensity(transmission: np.ndarray, pitch: float, wavelength: float, distance: float) -> float:
    """Mean intensity of the central 2 × 2 pixels at ``distance`` behind a plane wave through ``transmission``."""
    field = propagate(
        torch.from_numpy(transmission.astype(np.complex128)), wavelength=wavelength, pitch=pitch, distance=distance
    )
    n = transmission.shape[0] // 2
    return float((field.abs() ** 2)[n - 1 : n + 1, n - 1 : n + 1].mean())


@pytest.mark.parametrize("levels, medium_index", [(4, 1.0), (8, 1.33)])
def test_an_etched_fresnel_lens_focuses_at_f_like_its_design(tmp_path, levels, medium_index):
    """The plate made from the GDS focuses at f as exp(iφ) of the design does; its conjugate does not."""
    grid, pitch, focal = 128, 1e-6, 400e-6
    vacuum, refractive_index = 532e-9, 1.46
    wavelength = vacuum / medium_index  # in the medium, what propagation uses
    design = fresnel_lens(grid, pitch, wavelength, focal, levels)
    write_gds(tmp_path, [design], [{"levels": levels}], pitch, vacuum, refractive_index, medium_index)
    written = json.loads((tmp_path / "masks.json").read_text())
    plate = np.exp(1j * plate_phase(etched_depth(tmp_path / "masks.gds", written, 1), written))
    intensity = {
        name: on_axis_intensity(t, pitch, wavelength, focal)
        for name, t in [("plate", plate), ("design", np.exp(1j * design)), ("conjugate", np.exp(-1j * design))]
    }
    print(f"{levels} levels, n0 {medium_index}: on-axis intensity at f {intensity}")
    assert intensity["plate"] == pytest.approx(intensity["design"], rel=0.02)
    assert intensity["plate"] > 20 * intensity["conjugate"] and intensity["design"] > 50  # a focus, 1 = no lens
    # not a coincidence of the centre: the plate is the design, pixel by pixel
    assert np.allclose(plate, np.exp(1j * design), atol=1e-9)
    assert written["polarity"] == "etched" and "phase" in written["polarity_meaning"]


def test_relief_polarity_is_the_height_map_and_etched_as_is_the_conjugate(tmp_path):
    """--polarity relief keeps today's mapping (a master to replicate): the open areas sum to the height
    map; a plate etched with these masks carries exp(−iφ)."""
    grid, pitch, focal, vacuum, n = 64, 1e-6, 300e-6, 532e-9, 1.46
    design = fresnel_lens(grid, pitch, vacuum, focal, 4)
    write_gds(tmp_path, [design], [{"levels": 4}], pitch, vacuum, n, 1.0, polarity="relief")
    sidecar = json.loads((tmp_path / "masks.json").read_text())
    assert sidecar["polarity"] == "relief" and "master" in sidecar["polarity_meaning"]
    depth = etched_depth(tmp_path / "masks.gds", sidecar, 1)
    assert np.allclose(depth, design * vacuum / (2 * math.pi * (n - 1.0)), rtol=1e-12, atol=1e-18)
    assert np.allclose(np.exp(1j * plate_phase(depth, sidecar)), np.exp(-1j * design), atol=1e-9)


def test_a_trained_design_evaluated_from_its_etched_plate_scores_what_the_design_scores(trained):
    _, design_dir = trained
    design = quaton.design.load(design_dir)
    sidecar = json.loads((design_dir / "masks.json").read_text())
    gds = design_dir / "masks.gds"
    plates = [plate_phase(etched_depth(gds, sidecar, t), sidecar) for t in range(1, len(design.phases()) + 1)]
    from_plate = Design(design.description, [p.astype(np.float32) for p in plates])
    conjugate = Design(design.description, [np.mod(-p.numpy(), 2 * math.pi) for p in design.phases()])
    images = load_dataset("mnist_5k").x_test[:300]
    fields = design.encode(images)
    expected = design.intensity(fields)
    assert torch.allclose(from_plate.intensity(fields), expected, rtol=1e-4, atol=1e-4 * float(expected.max()))
    assert torch.equal(from_plate.predict(images), design.predict(images))
    # the test can tell: the conjugate device (today's masks, etched) sees other images
    assert not torch.allclose(conjugate.intensity(fields), expected, rtol=1e-2, atol=1e-2 * float(expected.max()))


def test_simulated_etch_errors_are_those_of_the_written_plate(trained):
    """quaton simulate's etch_depth draws give each layer the transmission of the GDS plate whose mask j
    etches (1 + e_j)·d_j, e_j drawn per layer in order by default_rng([seed, draw])."""
    _, design_dir = trained
    design = quaton.design.load(design_dir)
    sidecar = json.loads((design_dir / "masks.json").read_text())
    seed, draw, sigma = 5, 2, 0.1
    fabricated = perturbed(design, f"etch_depth={sigma}", seed=seed, draw=draw)
    rng = np.random.default_rng([seed, draw])
    for t, mask in enumerate(fabricated.network.masks, start=1):
        errors = rng.normal(0.0, sigma, 2)
        plate = np.exp(1j * plate_phase(etched_depth(design_dir / "masks.gds", sidecar, t, errors), sidecar))
        assert np.allclose(mask.transmission(torch.complex128).numpy(), plate, atol=1e-6)
    zero = perturbed(design, "etch_depth=0,mask_overlay=0")
    for nominal, mask in zip(design.network.masks, zero.network.masks):
        assert torch.equal(mask.transmission(), nominal.transmission())


def test_a_sub_pixel_mask_overlay_is_the_area_average_over_the_shifted_written_masks(tmp_path):
    """Mask 2 of an etched plate moved by (0.25, −0.5) px: each pixel transmits the mean of the plate's
    exp(iφ) over a 4 × 4 grid of points inside it, the polygons of mask 2 moved by the offset."""
    from quaton.export.gds import fabricated_regions, level_map
    from quaton.export.simulate import AreaAveragedMask

    rng = np.random.default_rng(0)
    grid, pitch, vacuum, n = 16, 1e-6, 532e-9, 1.46
    design = np.kron(rng.integers(0, 4, (4, 4)), np.ones((4, 4))) * math.pi / 2
    write_gds(tmp_path, [design], [{"levels": 4}], pitch, vacuum, n, 1.0)
    sidecar = json.loads((tmp_path / "masks.json").read_text())
    offset_um = np.array([0.25, -0.5])  # +x right, +y up (towards row 0)
    cell = gdstk.read_gds(str(tmp_path / "masks.gds")).cells[0]
    sub = (np.arange(4) + 0.5) / 4
    depth = np.zeros((grid, grid, 16))
    for j, mask in enumerate(sidecar["layers"][0]["masks"]):
        shift = offset_um if j == 1 else np.zeros(2)
        for s, (dy, dx) in enumerate((dy, dx) for dy in sub for dx in sub):
            points = pixel_centres(grid, 1.0) + np.array([dx - 0.5, 0.5 - dy])
            inside = np.zeros(len(points), dtype=bool)
            for polygon in cell.polygons:
                if polygon.layer == mask["gds_layer"] and polygon.datatype == 0:
                    inside |= PolygonPath(polygon.points + shift).contains_points(points)
            depth[:, :, s] += inside.reshape(grid, grid) * mask["etch_depth_m"]
    expected = np.exp(1j * plate_phase(depth, sidecar)).mean(axis=-1)
    weights, phases = fabricated_regions(level_map(design, 4), 2, np.array([[0.0, 0.0], offset_um]))
    simulated = AreaAveragedMask(weights, phases).eval().transmission(torch.complex128).numpy()
    assert np.allclose(simulated, expected, atol=1e-6)
    assert (np.abs(expected) < 1 - 1e-3).any()  # slivers were cut


def stl_top_heights(path: Path, grid: int, pitch_mm: float) -> np.ndarray:
    """z (mm) of the STL's upward-facing surface above each pixel centre, found by dropping a vertical ray:
    the triangle whose (x, y) projection holds the centre, interpolated barycentrically."""
    mesh = trimesh.load(path)
    triangles = mesh.triangles[mesh.face_normals[:, 2] > 1e-6]  # [T, 3, 3], facing +z: the top
    centres = pixel_centres(grid, pitch_mm)
    a, b, c = (triangles[:, i, :2] for i in range(3))
    v0, v1 = b - a, c - a
    denominator = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    heights = np.full(len(centres), np.nan)
    for i, point in enumerate(centres):
        w = point - a
        u = (w[:, 0] * v1[:, 1] - w[:, 1] * v1[:, 0]) / denominator
        v = (v0[:, 0] * w[:, 1] - v0[:, 1] * w[:, 0]) / denominator
        hit = np.flatnonzero((u >= -1e-9) & (v >= -1e-9) & (u + v <= 1 + 1e-9))
        z = triangles[hit, 0, 2] + u[hit] * (triangles[hit, 1, 2] - triangles[hit, 0, 2])
        z += v[hit] * (triangles[hit, 2, 2] - triangles[hit, 0, 2])
        heights[i] = z.max()
    return heights.reshape(grid, grid)


def test_every_format_describes_one_device(trained):
    """npy, TIFF, STL and GDS of one 4-level design, each read by its own library, give the same relief
    height (the etched plate's 2π-equivalent: −depth modulo λ₀/(n − n₀)) and the same phase, pixel by pixel."""
    config, design_dir = trained
    description = json.loads((design_dir / "design.json").read_text())
    material = description["material"]
    contrast = material["refractive_index"] - material["medium_index"]
    full_wave = material["vacuum_wavelength"] / contrast  # the height of 2π
    phase = np.load(design_dir / "layer_01.npy")
    grid, pitch = phase.shape[0], description["pitch"]
    layer = description["layers"][0]

    heights = {"npy": np.load(design_dir / layer["height_file"])}
    with tifffile.TiffFile(design_dir / layer["height_tiff"]["file"]) as tif:
        scale = json.loads(tif.pages[0].description)["scale_m_per_count"]
        heights["tiff"] = tif.asarray().astype(np.float64) * scale
    base_mm = layer["stl"]["base_thickness"] * 1e3
    heights["stl"] = (stl_top_heights(design_dir / layer["stl"]["file"], grid, pitch * 1e3) - base_mm) * 1e-3
    sidecar = json.loads((design_dir / "masks.json").read_text())
    depth = etched_depth(design_dir / "masks.gds", sidecar, 1)
    heights["gds"] = np.mod(-depth, full_wave)
    tolerance = {"npy": 1e-15, "tiff": scale, "stl": 1e-9, "gds": 1e-13}
    assert len(np.unique(phase)) == 4  # every level appears: every mask code is compared
    for name, height in heights.items():
        assert np.allclose(height, heights["npy"], rtol=0, atol=tolerance[name]), name
        assert np.allclose(np.exp(2j * math.pi * height / full_wave), np.exp(1j * phase), atol=1e-3), name
    assert np.allclose(np.exp(1j * plate_phase(depth, sidecar)), np.exp(1j * phase), atol=1e-9)


def test_export_states_the_polarity_and_offers_relief_only_when_asked(trained, tmp_path):
    config, design_dir = trained
    run = design_dir.parent / "run"
    description = json.loads((design_dir / "design.json").read_text())
    assert description["gds"]["polarity"] == "etched"
    runner = CliRunner()
    result = runner.invoke(
        app, ["export", str(run), "--out", str(tmp_path / "r"), "--format", "gds", "--polarity", "relief"]
    )
    assert result.exit_code == 0, result.output
    assert "gds polarity: relief" in result.output
    relief = json.loads((tmp_path / "r" / "masks.json").read_text())
    assert relief["polarity"] == "relief"
    design = quaton.design.load(design_dir)
    depth = etched_depth(tmp_path / "r" / "masks.gds", relief, 1)
    material = relief["material"]
    contrast = material["refractive_index"] - material["medium_index"]
    height = depth * 2 * math.pi * contrast / material["vacuum_wavelength_m"]  # the phase of the replica's relief
    assert np.allclose(np.exp(1j * height), np.exp(1j * design.phases()[0].double().numpy()), atol=1e-6)
    result = runner.invoke(
        app, ["export", str(run), "--out", str(tmp_path / "x"), "--format", "gds", "--polarity", "negative"]
    )
    assert result.exit_code == 2 and "'etched'" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x" / "masks.gds").exists()


def test_simulate_takes_the_polarity_of_the_written_masks(trained):
    """The default GDS is an etched plate; a design whose GDS predates the polarity holds relief masks."""
    from quaton.export.simulate import gds_polarity

    _, design_dir = trained
    design = quaton.design.load(design_dir)
    assert gds_polarity(design) == "etched"
    older = Design({**design.description, "gds": {"file": "masks.gds"}}, [p.numpy() for p in design.phases()])
    assert gds_polarity(older) == "relief"
    without = Design({k: v for k, v in design.description.items() if k != "gds"}, [p.numpy() for p in design.phases()])
    assert gds_polarity(without) == "etched"
