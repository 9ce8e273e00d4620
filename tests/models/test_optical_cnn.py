"""The optical CNN: the 4f system computes the convolution it claims, tiling, a short real run."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d
from typer.testing import CliRunner

from quaton.cli import app
from quaton.config import load_config
from quaton.models.optical_cnn import OpticalConv4f, tile, untile
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "mixed_signal" / "smoke.yaml"


@pytest.mark.parametrize("coherent", [True, False])
def test_4f_system_is_a_linear_convolution(coherent):
    layer = OpticalConv4f(12, kernels=3, kernel_size=5, coherent=coherent).double()
    field = torch.rand(2, 12, 12, dtype=torch.float64).to(torch.complex128)
    with torch.no_grad():
        got = layer(field)
    psf = layer.psf().detach().numpy()
    for b in range(2):
        for k in range(3):
            if coherent:
                expected = np.abs(convolve2d(field[b].numpy(), psf[k], mode="full")) ** 2
            else:
                expected = convolve2d(np.abs(field[b].numpy()) ** 2, np.abs(psf[k]) ** 2, mode="full")
            assert np.allclose(got[b, k].numpy(), expected, atol=1e-9)


def test_fourier_mask_sampling_is_physical():
    layer = OpticalConv4f(28, kernels=2, kernel_size=7, wavelength=532e-9, pitch=8e-6, focal_length=0.1)
    assert layer.tile == 34
    assert layer.fourier_pitch == pytest.approx(532e-9 * 0.1 / (34 * 8e-6))
    # the mask's aperture λf/Δ passes every frequency of the input grid
    assert layer.fourier_pitch * layer.tile == pytest.approx(532e-9 * 0.1 / 8e-6)


def test_tiles_round_trip():
    maps = torch.rand(2, 6, 5, 5)
    sensor = tile(maps, 4)
    assert sensor.shape == (2, 10, 20)
    assert torch.equal(untile(sensor, 6, 5), maps)
    assert torch.equal(sensor[0, 5:10, 0:5], maps[0, 4])


def test_hardware_aware_smoke_run_and_eval_under_other_hardware(tmp_path):
    config = load_config(SMOKE, ["train.progress=false", "train.epochs=1", "data.train_size=800", "data.test_size=200"])
    metrics = train(config, tmp_path / "run")
    assert metrics["test_accuracy"] > 0.5
    assert (tmp_path / "run" / "figures" / "sensor.png").is_file()
    runner = CliRunner()
    result = runner.invoke(app, ["eval", str(tmp_path / "run"), "--json", str(tmp_path / "same.json")])
    assert result.exit_code == 0, result.output
    import json

    same = json.loads((tmp_path / "same.json").read_text())
    assert same["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    result = runner.invoke(app, ["eval", str(tmp_path / "run"), "--set", "hardware.readout.noise=3.0", "--json", str(tmp_path / "noisy.json")])
    assert result.exit_code == 0, result.output
    noisy = json.loads((tmp_path / "noisy.json").read_text())
    assert noisy["test_accuracy"] < metrics["test_accuracy"]


def test_head_sees_the_same_units_with_and_without_an_ideal_read_out():
    from quaton.hardware import Readout
    from quaton.models.optical_cnn import OpticalCNN

    model = OpticalCNN(12, kernels=2, kernel_size=3, hidden=8)
    images = torch.rand(4, 12, 12)
    readout = Readout()
    readout.calibrate(model.sensor(images).detach())
    with torch.no_grad():
        naive = model(images, None, readout.full_scale)
        device = model(images, readout, readout.full_scale)
    assert torch.allclose(naive, device)
