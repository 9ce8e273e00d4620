"""Export: a short 4-level MNIST run becomes a design that others can print and re-simulate."""

import json
import math
import shutil
import subprocess
from pathlib import Path

import gdstk
import numpy as np
import pytest
import tifffile
import torch
import trimesh
import yaml
from gds_reading import etched_depth, plate_phase
from typer.testing import CliRunner

import quaton.design
import quaton.export.simulate as simulate_module
from quaton.builder import build_task, prepare_data
from quaton.cli import app
from quaton.config import load_config
from quaton.data import load_dataset
from quaton.export import DesignError, export_run, phase_to_height
from quaton.export.design import phase_sha256
from quaton.export.fabrication import vacuum_wavelength
from quaton.export.gds import level_map
from quaton.export.simulate import simulate
from quaton.runs import CHECKPOINT, CONFIG, load_checkpoint, save_checkpoint
from quaton.train.evaluate import load_run
from quaton.train.loop import evaluate, train

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    config = load_config(
        SMOKE, ["train.progress=false", "train.epochs=3", "quantization.method=psq", "quantization.levels=4"]
    )
    metrics = train(config, root / "run")
    design_dir = export_run(root / "run", root / "design")
    return root, config, metrics, design_dir


def test_layers_hold_at_most_four_exact_levels(exported):
    _, config, _, design_dir = exported
    description = json.loads((design_dir / "design.json").read_text())
    assert description["format"] == "quaton-design" and description["version"] == 1
    assert len(description["layers"]) == config.model.layers
    for layer in description["layers"]:
        phase = np.load(design_dir / layer["file"])
        assert phase.dtype == np.float64 and phase.shape == (32, 32)
        assert layer["levels"] == 4
        assert set(np.unique(phase)) <= {2 * math.pi * k / 4 for k in range(4)}


def test_height_maps_follow_the_phase_to_height_formula(exported):
    _, config, _, design_dir = exported
    fab = config.fabrication
    phase = np.load(design_dir / "layer_01.npy")
    height = np.load(design_dir / "height_01.npy")
    expected = (
        phase * config.optics.wavelength * fab.medium_index / (2 * math.pi * (fab.refractive_index - fab.medium_index))
    )
    assert fab.medium_index == 1.0 and np.allclose(height, expected)
    # a π step is half a wavelength of optical path difference
    assert phase_to_height(np.array(math.pi), 532e-9, 1.5, 1.0) == pytest.approx(532e-9)
    with tifffile.TiffFile(design_dir / "height_01.tif") as tif:
        counts = tif.asarray()
        meta = json.loads(tif.pages[0].description)
    assert counts.dtype == np.uint16
    assert np.allclose(counts * meta["scale_m_per_count"], height, atol=meta["scale_m_per_count"])


def test_heights_in_water_use_the_vacuum_wavelength(exported, tmp_path):
    """Issue 13 item 6: h = φ·λ₀ / (2π(n − n₀)) with the vacuum λ₀ = n₀·λ (optics.wavelength is in the medium)."""
    root, config, _, _ = exported
    run = tmp_path / "water_run"
    shutil.copytree(root / "run", run)
    stored = yaml.safe_load((run / CONFIG).read_text())
    stored["fabrication"]["medium_index"] = 1.33  # fabrication does not enter training: the checkpoint still fits
    (run / CONFIG).write_text(yaml.safe_dump(stored))
    design_dir = export_run(run, tmp_path / "water", formats=("npy",))
    phase = np.load(design_dir / "layer_01.npy")
    height = np.load(design_dir / "height_01.npy")
    vacuum = 1.33 * config.optics.wavelength
    assert np.allclose(height, phase * vacuum / (2 * math.pi * (1.545 - 1.33)), rtol=1e-12, atol=0)
    assert json.loads((design_dir / "design.json").read_text())["material"]["vacuum_wavelength"] == pytest.approx(
        vacuum
    )
    # a π step in IP-Dip under water for a 532 nm (vacuum) laser: 532e-9 / (2·0.215) = 1.2372 µm
    assert phase_to_height(np.array(math.pi), 532e-9, 1.545, 1.33) == pytest.approx(1.2372093e-6)
    assert vacuum_wavelength(400e-9, 1.33) == pytest.approx(532e-9)


def test_an_explicit_range_beyond_two_pi_exports_the_evaluated_device(tmp_path):
    """Issue 13 item 8: raw −1 with quantization.range [−1, 2] evaluates to 2π − 1 = 5.28 rad: export that."""
    config = load_config(
        SMOKE,
        [
            "train.progress=false",
            "train.epochs=0",
            "quantization.method=psq",
            "quantization.levels=4",
            "quantization.range=[-1, 2]",
            "data.train_size=40",
            "data.test_size=20",
        ],
    )
    train(config, tmp_path / "run")
    state = load_checkpoint(tmp_path / "run" / CHECKPOINT)
    state["model"]["masks.0.raw"] = torch.linspace(-1.5, 2.5, 32 * 32).reshape(32, 32)  # every level, -1 included
    save_checkpoint(tmp_path / "run" / CHECKPOINT, state)
    _, model, _ = load_run(tmp_path / "run")
    evaluated = [p.double().numpy() for p in model.phases()]
    design_dir = export_run(tmp_path / "run", tmp_path / "design", formats=("npy",))
    exported = np.load(design_dir / "layer_01.npy")
    assert np.isclose(exported, 2 * math.pi - 1).sum() == np.isclose(evaluated[0], 2 * math.pi - 1, atol=1e-6).sum() > 0
    for k, phase in enumerate(evaluated, start=1):
        gap = np.abs(np.angle(np.exp(1j * (np.load(design_dir / f"layer_{k:02d}.npy") - phase))))
        assert gap.max() < 1e-6
    design = quaton.design.load(design_dir)
    assert np.allclose(np.exp(1j * design.phases()[0].double().numpy()), np.exp(1j * evaluated[0]), atol=1e-6)
    # what the old exporter wrote (clamped into the range: 2.0 where the device has 5.28) is caught on load,
    # even with a consistent file checksum: it is not the device that was evaluated
    clamped = np.where(np.isclose(exported, 2 * math.pi - 1), 2.0, exported)
    np.save(design_dir / "layer_01.npy", clamped)
    with pytest.raises(DesignError, match=r"layer_01.npy is not the file exported"):
        quaton.design.load(design_dir)
    description = json.loads((design_dir / "design.json").read_text())
    description["layers"][0]["sha256"] = phase_sha256(clamped)
    (design_dir / "design.json").write_text(json.dumps(description))
    with pytest.raises(DesignError, match=r"layer_01.npy differs from the device that was evaluated"):
        quaton.design.load(design_dir)


def test_stl_meshes_are_watertight_volumes(exported):
    _, config, _, design_dir = exported
    for k in range(1, config.model.layers + 1):
        mesh = trimesh.load(design_dir / f"layer_{k:02d}.stl")
        assert mesh.is_watertight and mesh.is_winding_consistent and mesh.is_volume
        height = np.load(design_dir / f"height_{k:02d}.npy")
        pitch_mm = config.optics.pitch * 1e3
        expected = (height.sum() * 1e3 + config.fabrication.base_thickness * 1e3 * height.size) * pitch_mm**2
        assert mesh.volume == pytest.approx(expected, rel=1e-6)  # the ramps between pixels conserve volume


def test_simulate_reproduces_the_reported_accuracy(exported):
    _, _, metrics, design_dir = exported
    result = simulate(design_dir)
    assert abs(result["results"][0]["accuracy"] - metrics["test_accuracy"]) <= 0.002


def numpy_forward(description: dict, phases: list[np.ndarray], fields: np.ndarray) -> np.ndarray:
    """An independent float64 re-implementation of the forward model in docs/design-format.md."""
    n = description["grid"][0]
    p, q = description["propagation"]["padded_grid"]
    wavelength, pitch = description["wavelength"], description["pitch"]
    fy = np.fft.fftfreq(p, pitch)[:, None]
    fx = np.fft.fftfreq(q, pitch)[None, :]

    def kernel(z: float) -> np.ndarray:
        limit_y = 1 / (wavelength * np.sqrt((2 * z / (p * pitch)) ** 2 + 1))
        limit_x = 1 / (wavelength * np.sqrt((2 * z / (q * pitch)) ** 2 + 1))
        arg = 1 / wavelength**2 - fx**2 - fy**2
        keep = (np.abs(fy) <= limit_y) & (np.abs(fx) <= limit_x) & (arg > 0)
        return np.where(keep, np.exp(2j * np.pi * z * np.sqrt(np.clip(arg, 0, None))), 0)

    def propagate(u: np.ndarray, z: float) -> np.ndarray:
        padded = np.zeros((len(u), p, q), dtype=complex)
        top, left = (p - n) // 2, (q - n) // 2
        padded[:, top : top + n, left : left + n] = u
        out = np.fft.ifft2(np.fft.fft2(padded) * kernel(z))
        return out[:, top : top + n, left : left + n]

    u = propagate(fields, description["distances"][0])
    for phase, z in zip(phases, description["distances"][1:]):
        u = propagate(u * np.exp(1j * phase), z)
    return np.abs(u) ** 2


def test_an_independent_numpy_propagation_gives_the_same_predictions(exported):
    _, _, _, design_dir = exported
    design = quaton.design.load(design_dir)
    description = json.loads((design_dir / "design.json").read_text())
    phases = [np.load(design_dir / layer["file"]) for layer in description["layers"]]
    images = load_dataset("mnist_5k").x_test[::20][:40]
    fields = design.encode(images).numpy().astype(np.complex128)
    intensity = numpy_forward(description, phases, fields)
    energies = np.stack(
        [intensity[:, r0:r1, c0:c1].sum(axis=(1, 2)) for r0, c0, r1, c1 in description["detector"]["regions"]], axis=1
    )
    ours = design.predict(images).numpy()
    assert (energies.argmax(axis=1) == ours).mean() >= 0.975  # float32 vs float64 may flip a near tie
    assert np.allclose(
        design.intensity(design.encode(images)).numpy(), intensity, rtol=1e-3, atol=1e-4 * intensity.max()
    )


def test_perturbations_are_reported_and_hurt(exported):
    _, _, _, design_dir = exported
    result = simulate(design_dir, ["phase_noise=3.0", "shift=0", "distance_error=0.0", "height_error=0.0"])
    accuracy = {f"{r['perturbation']}={r['value']}": r["accuracy"] for r in result["results"]}
    base = accuracy["none="]
    assert (
        accuracy["shift=0"] == base and accuracy["distance_error=0.0"] == base and accuracy["height_error=0.0"] == base
    )
    assert accuracy["phase_noise=3.0"] < base - 0.1
    with pytest.raises(DesignError, match="unknown perturbation"):
        simulate(design_dir, ["tilt=1"])


def test_predict_refuses_float_images_in_0_255(exported):
    """Issue 13 item 18: floats in 0..255 were encoded as phases up to 255π without a word."""
    _, _, _, design_dir = exported
    design = quaton.design.load(design_dir)
    images = load_dataset("mnist_5k").x_test[:50]
    expected = design.predict(images)
    assert torch.equal(design.predict(images.astype(np.float32) / 255.0), expected)
    with pytest.raises(DesignError, match=r"values in \[0, 255\].*floats in \[0, 1\].*divide by 255"):
        design.predict(images.astype(np.float32))
    with pytest.raises(DesignError, match=r"values in \[-1"):
        design.encode(torch.full((1, 28, 28), -1.0))


def test_bad_design_files_name_the_file_and_field(exported, tmp_path):
    _, _, _, design_dir = exported
    broken = tmp_path / "broken"
    shutil.copytree(design_dir, broken)
    with pytest.raises(DesignError, match="does not exist"):
        quaton.design.load(tmp_path / "nothing")
    np.save(broken / "layer_02.npy", np.zeros((8, 8)))
    with pytest.raises(DesignError, match="layer_02.npy.*shape"):
        quaton.design.load(broken)
    np.save(broken / "layer_02.npy", np.full((32, 32), 0.3))
    with pytest.raises(DesignError, match="layer_02.npy.*off the declared 4 levels"):
        quaton.design.load(broken)
    description = json.loads((broken / "design.json").read_text())
    del description["pitch"]
    (broken / "design.json").write_text(json.dumps(description))
    with pytest.raises(DesignError, match="'pitch'"):
        quaton.design.load(broken)
    (broken / "design.json").write_text("{not json")
    with pytest.raises(DesignError, match="not valid JSON"):
        quaton.design.load(broken)


def test_cli_export_and_simulate(exported, tmp_path):
    root, _, metrics, _ = exported
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(root / "run"), "--out", str(tmp_path / "d"), "--format", "npy"])
    assert result.exit_code == 0, result.output
    assert not list((tmp_path / "d").glob("*.stl"))
    result = runner.invoke(app, ["simulate", str(tmp_path / "d"), "--perturb", "phase_noise=0.2"])
    assert result.exit_code == 0, result.output
    assert "phase_noise=0.2" in result.output
    result = runner.invoke(app, ["simulate", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(app, ["export", str(root / "run"), "--out", "/proc/quaton-design"])
    assert result.exit_code == 2 and "/proc/quaton-design" in result.output and "Traceback" not in result.output
    with pytest.raises(DesignError, match="cannot create the design directory /proc/quaton-design"):
        export_run(root / "run", "/proc/quaton-design")


def test_simulate_states_units_draws_and_keeps_every_simulation(exported, tmp_path):
    """Issue 13 item 19: units, seed and draws in output, help and files; a second call keeps the first."""
    _, _, _, design_dir = exported
    design = tmp_path / "d"
    shutil.copytree(design_dir, design)
    runner = CliRunner()
    first = runner.invoke(
        app,
        ["simulate", str(design), "-p", "distance_error=0.02", "-p", "phase_noise=0.5", "--draws", "3", "--seed", "7"],
    )
    assert first.exit_code == 0, first.output
    assert "distance_error=0.02" in first.output and "relative" in first.output and "all 4 gaps" in first.output
    assert "rad, standard deviation" in first.output and "3 draws, seed 7" in first.output
    second = runner.invoke(app, ["simulate", str(design), "-p", "shift=2:1"])
    assert second.exit_code == 0, second.output
    assert "pixels: layer 2 moved 1 px along +x" in second.output
    index = json.loads((design / "simulations" / "index.json").read_text())
    assert len(index) == 2 and index[0]["id"] != index[1]["id"]
    kept = json.loads((design / "simulations" / index[0]["file"]).read_text())
    noise = next(r for r in kept["results"] if r["perturbation"] == "phase_noise")
    assert kept["seed"] == 7 and noise["draws"] == 3 and len(noise["per_draw"]) == 3 and noise["seed"] == 7
    draws = [d["accuracy"] for d in noise["per_draw"]]
    assert noise["accuracy"] == pytest.approx(np.mean(draws)) and noise["accuracy_over_draws"]["std"] == pytest.approx(
        np.std(draws, ddof=1)
    )
    assert len(set(draws)) > 1  # independent draws, not one noise pattern three times
    assert (design / "simulations" / index[0]["id"] / "report.html").is_file() and (
        design / "simulations" / index[1]["id"] / "report.html"
    ).is_file()
    assert "3 draws, seed 7" in (design / "simulations" / index[0]["id"] / "report.html").read_text()
    help_text = runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "400"}).output
    assert "rad" in help_text and "relative" in help_text and "pixels" in help_text and "--draws" in help_text


@pytest.mark.parametrize(
    "text, unit",
    [
        ("distance_error=-2", "relative"),
        ("shift=-1", "pixels"),
        ("phase_noise=1e9", "rad"),
        ("phase_noise=-0.1", "rad"),
        ("height_error=-1", "relative"),
        ("shift=32", "pixels"),
        ("shift=4:1", "layer 4 does not exist"),
        ("shift=0.5", "whole number"),
        ("distance_error=nan", "relative"),
        ("phase_noise=abc", "a number"),
        ("mask_overlay=1.5", "pixels, a fraction of the pitch"),
        ("mask_overlay=-0.1", "pixels"),
        ("etch_depth=0.1,etch_depth=0.2", "more than once"),
        ("etch_depth=0.1,", "empty parts"),
    ],
)
def test_perturbations_outside_their_physical_range_are_refused_before_any_work(
    exported, tmp_path, monkeypatch, text, unit
):
    """Issue 20: each perturbation has a physical range; say the unit, and check before the data is loaded."""
    _, _, _, design_dir = exported

    def no_work(config):
        raise AssertionError("data were loaded before the perturbations were checked")

    monkeypatch.setattr(simulate_module, "prepare_data", no_work)
    with pytest.raises(DesignError, match=unit):
        simulate(design_dir, [text])
    result = CliRunner().invoke(app, ["simulate", str(design_dir), "--perturb", text, "--out", str(tmp_path / "sims")])
    assert result.exit_code == 2 and unit in result.output and "Traceback" not in result.output
    assert not (tmp_path / "sims").exists()


@pytest.mark.parametrize("levels", [4, 8])
def test_gds_masks_make_an_etched_plate_of_the_design_and_are_checked_by_klayout(tmp_path, levels):
    """Issues 19, 27: k binary masks per layer; read back (gdstk, matplotlib, not quaton's code), the
    etched plate carries every layer's phase; KLayout checks every mask and says where."""
    config = load_config(
        SMOKE,
        [
            "train.progress=false",
            "train.epochs=1",
            "quantization.method=psq",
            f"quantization.levels={levels}",
            "data.train_size=100",
            "data.test_size=20",
        ],
    )
    train(config, tmp_path / "run")
    result = CliRunner().invoke(
        app,
        [
            "export",
            str(tmp_path / "run"),
            "--out",
            str(tmp_path / "d"),
            "--format",
            "npy",
            "--format",
            "gds",
            "--min-feature",
            "2e-6",
            "--min-gap",
            "2e-6",
        ],
    )
    assert result.exit_code == 0, result.output
    design_dir = tmp_path / "d"
    assert "gds polarity: etched" in result.output
    assert "layer 1 mask 1:" in result.output and "width violations below min_feature=2e-06 m" in result.output
    sidecar = json.loads((design_dir / "masks.json").read_text())
    design = json.loads((design_dir / "design.json").read_text())
    k = int(math.log2(levels))
    for layer in sidecar["layers"]:
        phase = np.load(design_dir / f"layer_{layer['layer']:02d}.npy")
        assert len(np.unique(phase)) == levels  # the trained layer uses every level: every mask code is checked
        plate = plate_phase(etched_depth(design_dir / "masks.gds", sidecar, layer["layer"]), sidecar)
        assert np.allclose(np.exp(1j * plate), np.exp(1j * phase), atol=1e-9)
        assert [m["gds_layer"] for m in layer["masks"]] == [10 * layer["layer"] + j for j in range(1, k + 1)]
        # fine-grained trained layers break a 2 µm process's rules; every violation has a place (µm)
        drc = layer["masks"][0]["drc"]
        assert drc["width_violations"] > 0
        assert len(drc["locations"]["width"]) == min(drc["width_violations"], 200)  # the rest in masks_drc.lyrdb
        size = layer["grid"] * sidecar["pitch_um"]
        for place in drc["locations"]["width"] + drc["locations"]["space"] + drc["locations"]["corner_touch"]:
            assert 0 <= place["x_um"] <= size and 0 <= place["y_um"] <= size
        summary = design["gds"]["drc"][layer["layer"] - 1][0]
        assert summary["width_violations"] == drc["width_violations"] and "locations" not in summary
    library = gdstk.read_gds(str(design_dir / "masks.gds"))
    cell = next(c for c in library.cells if c.name == "LAYER_01")
    open_pixels = sum(m["open_pixels"] for m in sidecar["layers"][0]["masks"])
    assert len([p for p in cell.polygons if p.datatype == 0]) < open_pixels / 2  # merged polygons
    assert len([p for p in cell.polygons if p.datatype == 1]) == 8 * k  # two bars per cross, four crosses per mask


def test_gds_refuses_level_counts_that_are_not_powers_of_two(tmp_path):
    run = tmp_path / "run3"
    train(
        load_config(
            SMOKE,
            [
                "train.progress=false",
                "train.epochs=0",
                "quantization.method=psq",
                "quantization.levels=3",
                "data.train_size=40",
                "data.test_size=20",
            ],
        ),
        run,
    )
    with pytest.raises(DesignError, match=r"3 levels, not a power of two.*grayscale lithography.*STL"):
        export_run(run, tmp_path / "d3", formats=("gds",))
    assert not (tmp_path / "d3").exists()  # refused before anything was written


def test_zero_etch_depth_error_is_the_unperturbed_design(exported):
    _, _, _, design_dir = exported
    result = simulate(design_dir, ["etch_depth=0", "etch_depth=0.3"], draws=2)
    base, zero, large = (r["accuracy"] for r in result["results"])
    assert zero == base and large < base


def test_zero_mask_overlay_is_the_unperturbed_design(exported):
    """Issue 19: zero overlay (alone or with zero etch error) is the design exactly: the same
    transmissions, the same accuracy; a large overlay acts on the device, over seeded draws."""
    _, _, _, design_dir = exported
    design = quaton.design.load(design_dir)
    for text in ("mask_overlay=0", "etch_depth=0,mask_overlay=0"):
        zero = simulate_module.perturbed(design, text, seed=3, draw=1)
        for nominal, mask in zip(design.network.masks, zero.network.masks):
            assert torch.equal(mask.transmission(), nominal.transmission())
    result = simulate(
        design_dir,
        ["mask_overlay=0", "etch_depth=0,mask_overlay=0", "etch_depth=0.1,mask_overlay=0.5"],
        draws=2,
        seed=4,
    )
    base, zero, combined_zero, combined = result["results"]
    assert zero["accuracy"] == combined_zero["accuracy"] == base["accuracy"]
    assert combined["label"] == "etch_depth=0.1,mask_overlay=0.5" and combined["draws"] == 2 and combined["seed"] == 4
    assert "misaligned" in combined["what"] and "etch" in combined["what"]
    assert [d["accuracy"] for d in combined["per_draw"]] != [base["accuracy"]] * 2
    again = simulate(design_dir, ["etch_depth=0.1,mask_overlay=0.5"], draws=2, seed=4)["results"][1]
    assert again["per_draw"] == combined["per_draw"]  # seeded draws reproduce


def test_a_whole_pixel_overlay_of_every_mask_is_a_one_pixel_shift_of_the_layer(exported):
    """Issue 19: overlay (1, 0) px on each step of layer 2 moves its level map one pixel along +x, as shift=2:1 does."""
    from quaton.export.gds import fabricated_regions

    _, _, _, design_dir = exported
    design = quaton.design.load(design_dir)
    phase = design.phases()[1].double().numpy()
    weights, phases = fabricated_regions(level_map(phase, 4), 2, np.ones((2, 2)) * [1.0, 0.0])
    shifted = simulate_module.perturbed(design, "shift=2:1").phases()[1].numpy()
    assert weights.tolist() == [1.0]
    assert np.array_equal(np.mod(phases[0], 2 * math.pi).astype(np.float32), shifted)
    assert not np.array_equal(shifted, phase.astype(np.float32))


def test_overlay_of_a_design_without_power_of_two_levels_is_refused_before_any_work(tmp_path, monkeypatch):
    run = tmp_path / "run3"
    train(
        load_config(
            SMOKE,
            [
                "train.progress=false",
                "train.epochs=0",
                "quantization.method=psq",
                "quantization.levels=3",
                "data.train_size=40",
                "data.test_size=20",
            ],
        ),
        run,
    )
    export_run(run, tmp_path / "d3", formats=("npy",))
    monkeypatch.setattr(
        simulate_module, "prepare_data", lambda config: (_ for _ in ()).throw(AssertionError("data loaded"))
    )
    with pytest.raises(DesignError, match=r"mask_overlay: layer 1 has 3 levels, not a power of two"):
        simulate(tmp_path / "d3", ["mask_overlay=0.1"])


def test_a_hardware_aware_run_simulates_to_its_own_accuracy(tmp_path):
    """Issue 13 item 11: simulate evaluates the device as trained: read-out chain, calibrated full scale, modulator."""
    config = load_config(
        SMOKE,
        [
            "train.progress=false",
            "train.epochs=1",
            "train.hardware_aware=true",
            "quantization.method=psq",
            "quantization.levels=4",
            "hardware.readout.levels=8",
            "hardware.readout.noise=1.0",
            "hardware.distortion.gamma=0.6",
            "hardware.distortion.slm_gamma=1.6",
        ],
    )
    metrics = train(config, tmp_path / "run")
    design_dir = export_run(tmp_path / "run", tmp_path / "design", formats=("npy",))
    hardware = json.loads((design_dir / "design.json").read_text())["hardware"]
    assert (
        hardware["full_scale"] > 0 and hardware["readout"]["levels"] == 8 and hardware["distortion"]["slm_gamma"] == 1.6
    )
    result = simulate(design_dir)
    assert result["results"][0]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-12)
    # and the ideal device (what simulate evaluated before) is a different one
    design = quaton.design.load(design_dir)
    data = prepare_data(config)
    ideal = evaluate(config, design.network, build_task(config), data.x_test, data.y_test)
    assert ideal["accuracy"] != pytest.approx(metrics["test_accuracy"], abs=1e-12)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_opens_in_headless_chromium_with_every_image_loaded(exported, tmp_path):
    root, _, _, _ = exported
    report = root / "run" / "report.html"
    page = report.read_text()
    assert page.count("<img") >= 5
    # a copy of the report that writes, once loaded, how many images decoded and how many broke
    probe = page.replace(
        "</body>",
        "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "document.title='images:'+i.filter(x=>x.complete&&x.naturalWidth>0).length+'/'+i.length;});</script></body>",
    )
    (tmp_path / "probe.html").write_text(probe)
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
    ]
    dom = subprocess.run(
        flags + ["--dump-dom", (tmp_path / "probe.html").as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    count = page.count("<img")
    assert f"<title>images:{count}/{count}</title>" in dom
    subprocess.run(
        flags + ["--window-size=1200,2000", f"--screenshot={tmp_path / 'shot.png'}", report.as_uri()],
        capture_output=True,
        timeout=120,
    )
    from PIL import Image

    shot = np.asarray(Image.open(tmp_path / "shot.png").convert("L"))
    assert shot.std() > 10  # not a blank page
