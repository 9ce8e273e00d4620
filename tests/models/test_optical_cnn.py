"""The optical CNN as optics: tiles from the element's design, passivity, quantized element, signed
incoherent pairs, photon budget, a short real run, and a trained design under another wavelength."""

import json
import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from quaton.builder import build_model
from quaton.cli import app
from quaton.config import load_config
from quaton.errors import ConfigError
from quaton.hardware import Readout
from quaton.models.optical_cnn import OpticalCNN, OpticalCNNGeometry, tile, untile
from quaton.optics.fourier import (
    check_sampling,
    coherent_matrices,
    element_cells,
    four_f_coherent,
    four_f_incoherent,
    incoherent_matrices,
    integrate_pixels,
    pupil_weights,
    tile_centres,
    tiled_transmission,
)
from quaton.quant import StraightThroughQuantizer
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "mixed_signal" / "smoke.yaml"
SMALL = OpticalCNNGeometry(size=8, kernels=4, kernel_size=3, columns=2, element_pixels=48, element_pitch=60e-6)


def tile_energies(model: OpticalCNN, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return untile(model.sensor(images), model.geometry.tiles, model.geometry.tile).sum(dim=(-2, -1))


def test_a_single_ramp_design_sends_the_light_to_its_tile():
    # the element carries one tap behind the linear phase that deflects it onto tile 2: tile 2 gets the image
    model = OpticalCNN(SMALL, hidden=4)
    g = SMALL
    centres = tile_centres(g.tiles, g.columns, g.tile, g.pixel)
    kernels = torch.zeros(g.tiles, 1, 1, dtype=torch.complex128)
    kernels[2] = 1.0
    design = tiled_transmission(kernels, centres, g.image_pitch, g.optics())
    with torch.no_grad():
        model.optics.element.mask.raw.copy_(torch.remainder(design.angle(), 2 * math.pi))
    energies = tile_energies(model, torch.rand(2, 8, 8))
    assert torch.all(energies[:, 2] > 0.9 * energies.sum(1))


def test_initial_design_lights_every_tile_and_the_optics_are_passive():
    model = OpticalCNN(SMALL, hidden=4)
    images = torch.rand(3, 8, 8)
    energies = tile_energies(model, images)
    total = (images**2).sum(dim=(1, 2))
    assert torch.all(energies.sum(1) <= total)  # passive: never more light than came in
    assert torch.all(energies > 0.05 * energies.sum(1, keepdim=True))  # each kernel's ramp reaches its tile


def sensor_float64(geometry: OpticalCNNGeometry, transmission: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """The optical layer's sensor energies float64 [B, H, W] for an element ``transmission`` complex128
    [M, M] and input amplitudes ``images`` float64 [B, n, n], from the pure functions in float64 (the
    model keeps its pupil weights in float32)."""
    optics = geometry.optics()
    check_sampling(optics)  # the scaled geometries are valid layouts, not just numbers
    pupil = element_cells(transmission, optics.element_oversampling) * pupil_weights(optics)
    if geometry.coherent:
        intensity = four_f_coherent(images.to(torch.complex128), pupil, coherent_matrices(optics)).abs().square()
    else:
        intensity = four_f_incoherent(images.square(), pupil, incoherent_matrices(optics))
    return integrate_pixels(intensity, optics.sensor_oversampling, optics.sensor_pitch)


LENGTHS = ("wavelength", "pitch", "focal_length", "focal_length_2", "element_pitch", "element_aperture")


@pytest.mark.parametrize("coherent", [True, False])
@pytest.mark.parametrize(
    "scaling",
    [
        # λ × 1.37, f1 and f2 ÷ 1.37: every lens kernel exp(−i2π·x·u/(λf)), the pixel boxes
        # sinc(Δu/(λf1)) and sinc(δu·x'/(λf2)) and the scale Δ·δu²/(λ²f1f2) see only λf
        {"wavelength": 1.37, "focal_length": 1 / 1.37, "focal_length_2": 1 / 1.37},
        # every length × 0.73 (λ, f1, f2, Δ, p_e, stop; the sensor pitch Δ·f2/f1 follows): x·u/(λf) is
        # unchanged, the field per m scales 1/0.73, the energy per (0.73-times smaller) pixel does not
        dict.fromkeys(LENGTHS, 0.73),
    ],
    ids=["lambda_times_f", "all_lengths"],
)
def test_the_sensor_image_depends_on_lambda_f_and_the_pitches_only_through_the_4f_invariants(scaling, coherent):
    """Fourier optics of a 4f system (Goodman eq. 5-19): positions meet only as x·u/(λf). Scaling λ
    and f together (λf fixed), or every length together, leaves the sampled sensor image unchanged up
    to float64 rounding (measured: < 1e-15 relative). A λ or f that enters other than through λf and
    the length ratios breaks it by far more than 1e-12 (checked: the scale Δ·δu²/(λ²f1f2) with one λ
    missing). The test cannot see f1 and f2 swapped: scaled together, that stays invariant."""
    base = OpticalCNNGeometry(
        **{**SMALL.__dict__, "focal_length_2": 0.13, "element_aperture": 2.5e-3, "coherent": coherent}
    )
    scaled = OpticalCNNGeometry(**{**base.__dict__, **{k: getattr(base, k) * v for k, v in scaling.items()}})
    model = OpticalCNN(base, hidden=4, seed=1)
    transmission = model.optics.element.transmission(torch.complex128).detach()
    images = torch.rand(2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    reference = sensor_float64(base, transmission, images)
    moved = sensor_float64(scaled, transmission, images)
    assert float((moved - reference).abs().max() / reference.abs().max()) < 1e-12
    # the model itself (float32 pupil weights, its own tile layout) agrees to float32 rounding
    other = OpticalCNN(scaled, hidden=4, seed=1)
    other.load_state_dict(model.state_dict())
    with torch.no_grad():
        first, second = model.sensor(images.float()), other.sensor(images.float())
    assert float((second - first).abs().max() / first.abs().max()) < 1e-5


def test_wavelength_focal_length_and_element_pitch_change_the_sensor_image():
    """Each alone is a real change of the optics: relative L1 change of the sensor image, measured
    λ 532 -> 600 nm 0.37, f 0.10 -> 0.11 m 0.30, p_e 60 -> 55 µm 0.28, stop 2 mm 0.37."""
    model = OpticalCNN(SMALL, hidden=4, seed=1)
    images = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(0))
    base = model.sensor(images).detach()
    for change in (
        {"wavelength": 600e-9},
        {"focal_length": 0.11},
        {"element_pitch": 55e-6},
        {"element_aperture": 2.0e-3},
    ):
        other = OpticalCNN(OpticalCNNGeometry(**{**SMALL.__dict__, **change}), hidden=4, seed=1)
        other.load_state_dict(model.state_dict())
        moved = other.sensor(images).detach()
        assert float((moved - base).abs().sum() / base.abs().sum()) > 0.15, change


def test_element_is_quantized_like_a_d2nn_layer():
    model = OpticalCNN(SMALL, hidden=4, quantizer=StraightThroughQuantizer(4)).eval()
    (phase,) = model.phases()
    assert phase.shape == (48, 48)
    levels = torch.unique(torch.round(phase * 1e4) / 1e4)
    assert len(levels) <= 4 and torch.allclose(levels, torch.arange(len(levels)) * math.pi / 2, atol=1e-3)


def test_incoherent_signed_pairs_give_negative_weights_on_2k_tiles():
    g = OpticalCNNGeometry(**{**SMALL.__dict__, "coherent": False, "kernels": 2})
    model = OpticalCNN(g, hidden=4)
    assert g.tiles == 4 and g.sensor_shape == (2 * g.tile, 2 * g.tile)  # the sensor area of the scheme: 2K tiles
    with torch.no_grad():
        sensor = model.sensor(torch.rand(2, 8, 8))
        features = model.features(sensor)
    tiles = untile(sensor, 4, g.tile)
    assert features.shape == (2, 2, g.tile, g.tile)
    assert torch.equal(features, tiles[:, 0::2] - tiles[:, 1::2])
    assert float(sensor.min()) >= 0 and float(features.min()) < 0


def test_photon_budget_sets_the_shot_noise_of_the_exposure():
    g = SMALL
    bright = OpticalCNN(g, hidden=4, photons_per_pixel=1e4)
    dim = OpticalCNN(g, hidden=4, photons_per_pixel=1e2)
    dim.load_state_dict(bright.state_dict())
    images = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ratio = bright.sensor(images).sum() / dim.sensor(images).sum()
    assert float(ratio) == pytest.approx(100.0, rel=1e-4)  # photons scale with the budget through the passive optics
    readout = Readout()
    readout.calibrate(dim.sensor(images))
    captured = []
    readout.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    with torch.no_grad():
        for _ in range(400):
            dim(images, readout.eval(), readout.full_scale)
    frames = torch.cat(captured)
    mean = dim.sensor(images).detach()[0]
    lit = mean > mean.max() / 4  # well-lit pixels (the random design's brightest are ~15-60 photons)
    variance = frames.var(dim=0)[lit]
    assert float((variance / mean[lit]).mean()) == pytest.approx(1.0, abs=0.1)  # Poisson: variance = photon count


def test_tiles_round_trip():
    maps = torch.rand(2, 6, 5, 5)
    sensor = tile(maps, 4)
    assert sensor.shape == (2, 10, 20)
    assert torch.equal(untile(sensor, 6, 5), maps)


def test_head_sees_the_same_units_with_and_without_an_ideal_read_out():
    model = OpticalCNN(SMALL, hidden=8)
    images = torch.rand(4, 8, 8)
    readout = Readout()
    readout.calibrate(model.sensor(images).detach())
    with torch.no_grad():
        naive = model(images, None, readout.full_scale)
        device = model(images, readout, readout.full_scale)
    assert torch.allclose(naive, device)


def test_config_rejects_an_element_that_cannot_reach_the_tiles():
    with pytest.raises(ConfigError, match=r"model\.cnn.*element pitch"):
        load_config(SMOKE, ["model.cnn.element_pitch=100e-6"])
    with pytest.raises(ConfigError, match=r"optics\.wavelength"):
        load_config(SMOKE, ["optics.wavelength=300e-9"])


def test_digital_baseline_keeps_the_same_head():
    config = load_config(SMOKE, ["model.kind=digital_cnn"])
    model = build_model(config)
    optical = build_model(load_config(SMOKE))
    assert [p.shape for p in model.head.parameters()] == [p.shape for p in optical.head.parameters()]


def test_digital_baseline_trains_and_beats_chance_by_far(tmp_path):
    # Regression: training called the camera calibration on every model, and the digital CNN has no
    # camera (AttributeError: 'DigitalCNN' object has no attribute 'sensor').
    config = load_config(
        SMOKE,
        [
            "model.kind=digital_cnn",
            "train.progress=false",
            "train.epochs=1",
            "data.train_size=800",
            "data.test_size=200",
        ],
    )
    assert train(config, tmp_path / "digital")["test_accuracy"] > 0.6


def test_hardware_aware_smoke_run_and_eval_under_other_hardware_and_wavelength(tmp_path):
    config = load_config(SMOKE, ["train.progress=false", "train.epochs=1", "data.train_size=800", "data.test_size=200"])
    metrics = train(config, tmp_path / "run")
    assert metrics["test_accuracy"] > 0.6
    assert (tmp_path / "run" / "figures" / "sensor.png").is_file()
    runner = CliRunner()

    def evaluate(*overrides: str) -> float:
        out = tmp_path / f"eval{len(list(tmp_path.glob('eval*')))}.json"
        args = ["eval", str(tmp_path / "run"), "--json", str(out)]
        for override in overrides:
            args += ["--set", override]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return json.loads(out.read_text())["test_accuracy"]

    assert evaluate() == pytest.approx(metrics["test_accuracy"])
    assert evaluate("hardware.readout.noise=3.0") < metrics["test_accuracy"]
    # dispersion: the trained element at another wavelength deflects and filters differently
    assert evaluate("optics.wavelength=650e-9") < metrics["test_accuracy"] - 0.1
