"""The camera's light budget: photo-electron statistics against the photon counts they come from.

The expected noise is counted independently of the code: a pixel that collects n photo-electrons
has Poisson shot noise √n (and read noise σ_r in quadrature), so its relative noise is
√(n + σ_r²)/n; n = η·Φ·t·I, with the exposure t auto-exposure chose.
"""

import copy
import math

import pytest
import torch

from quaton.builder import build_readout
from quaton.config import build_config
from quaton.data import encode
from quaton.errors import ConfigError
from quaton.evaluation import evaluate
from quaton.hardware import ADC, Camera, ReadNoise, Readout, photon_rate
from quaton.models.d2nn import D2NN
from quaton.tasks import Classification

SHAPE = (400, 25, 25)  # 250 000 read-outs of one flat image: the relative noise to ±0.15 %


def _camera_readout(rate: float, levels: int | None = None, **limits: float) -> Readout:
    camera = Camera(
        rate,
        max_exposure_s=limits.get("max_exposure_s", 0.01),
        max_gain=limits.get("max_gain", 4.0),
        quantum_efficiency=limits.get("quantum_efficiency", 0.5),
        full_well_e=limits.get("full_well_e", 10_000.0),
        read_noise_e=limits.get("read_noise_e", 0.0),
    )
    effects: dict[str, torch.nn.Module] = {"camera": camera}
    if levels is not None:
        effects["adc"] = ADC(levels)
    return Readout(effects, percentile=99.9, seed=1).eval()


def _relative_noise(readout: Readout, level: float = 1.0) -> tuple[float, float]:
    """(std/mean, mean/full scale) of repeated read-outs of a flat image at ``level``, the camera
    auto-exposed on a flat image at 1."""
    readout.calibrate(torch.ones(SHAPE))
    readout.reseed()
    values = readout(torch.full(SHAPE, level, dtype=torch.float64))
    return float(values.std() / values.mean()), float(values.mean() / readout.full_scale)


def _electrons(rate: float, exposure_s: float = 0.01, quantum_efficiency: float = 0.5) -> float:
    return quantum_efficiency * rate * exposure_s


def test_at_the_exposure_limit_half_the_light_is_root_two_more_shot_noise():
    rate = 2e5  # η·Φ·t_max = 1000 e⁻ at the image, below full_well/g_max = 2500 e⁻: light-limited
    full, full_level = _relative_noise(_camera_readout(rate))
    half, half_level = _relative_noise(_camera_readout(rate / 2))
    assert full == pytest.approx(1 / math.sqrt(_electrons(rate)), rel=0.01)
    assert half / full == pytest.approx(math.sqrt(2), rel=0.01)
    # the auto-exposure is at its limits: the image is dim relative to full scale, and halves with the light
    assert full_level == pytest.approx(1000 / 2500, rel=0.01) and half_level == pytest.approx(full_level / 2, rel=0.01)
    exposure = _camera_readout(rate).effects["camera"].exposure(2500 / 1000)
    assert exposure.time_s == pytest.approx(0.01) and exposure.gain == pytest.approx(4.0)


def test_at_the_exposure_limit_half_the_light_is_twice_the_read_noise():
    rate, read_noise = 8e4, 200.0  # 400 e⁻ at the image: shot noise 20 e⁻ ≪ 200 e⁻ read noise
    full, _ = _relative_noise(_camera_readout(rate, read_noise_e=read_noise))
    half, _ = _relative_noise(_camera_readout(rate / 2, read_noise_e=read_noise))
    for measured, electrons in ((full, 400.0), (half, 200.0)):
        assert measured == pytest.approx(math.sqrt(electrons + read_noise**2) / electrons, rel=0.01)
    assert half / full == pytest.approx(2.0, rel=0.01)


def test_with_enough_light_auto_exposure_compensates_half_the_power():
    bright = 1e9  # the full well fills in 20 µs of the 10 ms allowed: exposure time absorbs the change
    full, half = _camera_readout(bright, levels=4096), _camera_readout(bright / 2, levels=4096)
    image = torch.rand(8, 32, 32, generator=torch.Generator().manual_seed(0))
    for readout in (full, half):
        readout.calibrate(image)
        readout.reseed()
    assert torch.equal(full(image), half(image))  # same electrons per unit intensity: the same read-out
    exposure_full = full.effects["camera"].exposure(full.full_scale)
    exposure_half = half.effects["camera"].exposure(half.full_scale)
    assert exposure_half.time_s == pytest.approx(2 * exposure_full.time_s) and exposure_full.gain == pytest.approx(1.0)
    noise, level = _relative_noise(_camera_readout(bright), level=0.5)  # half the full well
    assert level == pytest.approx(0.5, rel=1e-3) and noise == pytest.approx(1 / math.sqrt(5000), rel=0.01)


def test_a_stored_full_scale_under_less_light_reads_dimmer_at_the_limits():
    """A run evaluated with half its light (quaton eval --set hardware.camera.photon_rate=...) keeps
    its full scale: the camera stays at its longest exposure and highest gain, and reads dimmer."""
    calibrated = _camera_readout(2e5)
    calibrated.calibrate(torch.ones(SHAPE))  # 1000 e⁻ at the image: full scale 2.5 at 10 ms and gain 4
    dimmer = _camera_readout(1e5)
    dimmer.full_scale.copy_(calibrated.full_scale)  # as a run's checkpoint or a design loads it
    exposure = dimmer.effects["camera"].exposure(dimmer.full_scale)
    assert exposure.time_s == pytest.approx(0.01) and exposure.gain == pytest.approx(4.0)
    dimmer.reseed()
    values = dimmer(torch.ones(SHAPE, dtype=torch.float64))
    assert float(values.mean() / dimmer.full_scale) == pytest.approx(0.2, rel=0.01)  # 500 of 2500 e⁻ at full scale
    assert float(values.std() / values.mean()) == pytest.approx(1 / math.sqrt(500), rel=0.01)


def test_gain_restores_the_level_but_not_the_noise():
    rate = 1e6  # 5000 e⁻ at the longest exposure: gain 2 fills the ADC, the shot noise stays that of 5000 e⁻
    noise, level = _relative_noise(_camera_readout(rate))
    assert level == pytest.approx(1.0, rel=1e-4)
    assert noise == pytest.approx(1 / math.sqrt(5000), rel=0.01)
    assert _camera_readout(rate).effects["camera"].exposure(1.0).gain == pytest.approx(2.0)


def test_without_a_light_budget_the_read_out_ignores_the_light():
    """The old behaviour, kept as the default: a fixed photon count at full scale, whatever the power."""
    readout = Readout({"noise": ReadNoise(photons=1000.0)}, seed=1).eval()
    image = torch.full(SHAPE, 1.0)
    readout.calibrate(image)
    readout.reseed()
    bright = readout(image)
    readout.calibrate(image / 1000)
    readout.reseed()
    assert torch.allclose(readout(image / 1000) * 1000, bright, rtol=1e-5, atol=1e-6)


def test_shot_noise_is_poisson_at_evaluation_and_gaussian_in_training():
    readout = _camera_readout(2e3)  # 10 e⁻: Poisson's integer counts and skew are visible
    image = torch.full(SHAPE, 1.0, dtype=torch.float64)
    readout.calibrate(image)
    camera = readout.effects["camera"]
    k = camera.exposure(readout.full_scale).electrons_per_unit
    counts = readout(image) * k
    assert torch.allclose(counts, counts.round(), atol=1e-6)  # whole electrons
    assert float(((counts - 10) ** 3).mean()) == pytest.approx(10.0, rel=0.1)  # third central moment of Poisson(10)
    readout.train()
    trained = torch.full(SHAPE, 1.0, dtype=torch.float64, requires_grad=True)
    values = readout(trained) * k
    seen = values.detach()
    assert float(seen.var()) == pytest.approx(10.0, rel=0.01) and not torch.allclose(seen, seen.round())
    values.sum().backward()
    assert torch.allclose(trained.grad, torch.full_like(trained, k))  # straight through the noise


def test_a_full_well_clips():
    unity = _camera_readout(2e6)  # 10⁴ e⁻ at the longest exposure: the full well is the full scale
    unity.calibrate(torch.ones(100))
    exposure = unity.effects["camera"].exposure(unity.full_scale)
    assert exposure.gain == pytest.approx(1.0) and exposure.time_s == pytest.approx(0.01)
    assert torch.allclose(unity(torch.full((1000,), 5.0)), unity.full_scale)
    gained = _camera_readout(2e6, max_exposure_s=0.005)  # 5000 e⁻ and gain 2: the well holds 2× full scale
    gained.calibrate(torch.ones(100))
    exposure = gained.effects["camera"].exposure(gained.full_scale)
    assert exposure.gain == pytest.approx(2.0)
    over = gained(torch.full((1000,), 5.0))
    well = 10_000.0 / exposure.electrons_per_unit  # the full well in intensity units
    assert torch.allclose(over, torch.full_like(over, well)) and well == pytest.approx(2 * float(gained.full_scale))


def test_photon_rate_of_a_source_power():
    # 1 nW of 532 nm light carries P·λ/(h·c) = 2.678e9 photons/s; over 64² pixels, 6.54e5 per pixel
    assert photon_rate(1e-9, 532e-9, 1) == pytest.approx(2.678e9, rel=1e-3)
    assert photon_rate(1e-9, 532e-9, 64 * 64) == pytest.approx(6.538e5, rel=1e-3)


def test_the_light_budget_is_opt_in_and_validated():
    assert "camera" not in build_readout(build_config({"hardware": {"readout": {"levels": 16}}})).effects
    config = build_config(
        {"hardware": {"camera": {"photon_rate": 1e5, "read_noise_e": 1.0}, "readout": {"levels": 16}}}
    )
    readout = build_readout(config)
    assert list(readout.effects) == ["camera", "adc"]
    camera = readout.effects["camera"]
    assert camera.photon_rate == 1e5 and camera.read_noise_e == 1.0 and camera.full_well_e == 10_000.0
    with pytest.raises(ConfigError, match="hardware.camera.photon_rate"):
        build_config({"hardware": {"camera": {"max_gain": 2.0}}})
    with pytest.raises(ConfigError, match="hardware.camera.quantum_efficiency"):
        build_config({"hardware": {"camera": {"photon_rate": 1e5, "quantum_efficiency": 1.5}}})
    with pytest.raises(ConfigError, match="remove hardware.readout.noise"):
        build_config({"hardware": {"camera": {"photon_rate": 1e5}, "readout": {"photons": 100.0}}})


def _detector_snr(model: D2NN, task: Classification, images: torch.Tensor, rate: float) -> tuple[float, float]:
    """(SNR of the true region's energy over 8000 read-outs, gain) of the camera auto-exposed on the
    design's own ideal images: at the same source, only the design's optics differ."""
    readout = _camera_readout(rate, read_noise_e=0.0)
    with torch.no_grad():
        ideal = model.sensor_intensity(images)
    readout.calibrate(ideal)
    readout.reseed()
    energies = task.region_energies(readout(ideal[:1].expand(8000, -1, -1)))[:, 0]
    gain = readout.effects["camera"].exposure(readout.full_scale).gain
    return float(energies.mean() / energies.std()), gain


def test_a_design_that_throws_light_away_pays_in_snr():
    grid = 32
    kept = D2NN(
        grid=grid,
        pitch=1e-6,
        wavelength=532e-9,
        distances=[100e-6, 100e-6],
        init="zeros",
        encoder=lambda images: encode(images, grid, "phase"),
    )
    lossy = copy.deepcopy(kept)
    lossy.masks[0].register_forward_hook(lambda mask, inputs, field: 0.5 * field)  # an absorber: 25 % of the power
    task = Classification([(12, 12, 20, 20)], (grid, grid))
    images = torch.rand(4, 20, 20, generator=torch.Generator().manual_seed(0))
    labels = torch.zeros(4, dtype=torch.int64)
    efficiency = {
        name: evaluate(build_config({}), model, task, images, labels)["diffraction_efficiency"]
        for name, model in (("kept", kept), ("lossy", lossy))
    }
    assert efficiency["lossy"] == pytest.approx(0.25 * efficiency["kept"], rel=1e-5)
    dim = 2e4  # both at the longest exposure and the highest gain: shot-noise limited
    (snr_kept, gain_kept), (snr_lossy, gain_lossy) = (_detector_snr(m, task, images, dim) for m in (kept, lossy))
    assert gain_kept == gain_lossy == pytest.approx(4.0)
    assert snr_kept / snr_lossy == pytest.approx(2.0, rel=0.05)  # √(1/0.25): four times fewer photo-electrons
    bright = 1e10  # enough light: a 4× longer exposure buys the loss back
    (snr_kept, gain_kept), (snr_lossy, _) = (_detector_snr(m, task, images, bright) for m in (kept, lossy))
    assert gain_kept == pytest.approx(1.0) and snr_kept / snr_lossy == pytest.approx(1.0, rel=0.05)
