"""Every built-in model kind answers quaton.models.OpticalModel, with the answers evaluation,
figures and export used to compute from the model's class (issue 14)."""

from pathlib import Path

import pytest
import torch
from torch import nn

from quaton.builder import build_model, build_readout, encode_batch
from quaton.config import build_config, load_config
from quaton.evaluation import calibrate, measure
from quaton.models import MODELS, OpticalModel, as_optical

CONFIGS = Path(__file__).parents[2] / "configs"
SMOKE = CONFIGS / "smoke.yaml"


def test_a_d2nn_answers_as_the_old_evaluation_did():
    config = load_config(SMOKE, ["hardware.readout.levels=16", "hardware.readout.noise=0.5"])
    model = build_model(config).eval()
    readout = build_readout(config).eval()
    images = torch.rand(4, 20, 20)
    with torch.no_grad():
        ideal = model.intensity(encode_batch(config, images))
    assert isinstance(model, OpticalModel)
    assert torch.equal(model.sensor_intensity(images), ideal)
    calibrate(config, model, readout, images)
    assert float(readout.full_scale) == pytest.approx(float(torch.quantile(ideal.flatten(), 0.999)))
    readout.reseed()
    expected = readout(ideal)
    readout.reseed()
    assert torch.equal(measure(config, model, images, readout, readout.full_scale), expected)
    assert len(model.phases()) == 3 and model.mask_pitch == config.optics.pitch and model.design_fields() == {}


def test_cnns_and_the_mzi_network_answer_too():
    images = torch.rand(2, 28, 28)
    cnn_config = load_config(CONFIGS / "mixed_signal" / "smoke.yaml", ["model.cnn.element_pixels=32"])
    cnn = build_model(cnn_config).eval()
    assert torch.equal(cnn.task_input(images, None, 1.0), cnn(images))
    assert torch.equal(cnn.sensor_intensity(images), cnn.sensor(images))
    fields = cnn.design_fields()
    assert fields["kind"] == "optical_cnn" and fields["pitch"] == cnn.mask_pitch == 40e-6
    assert fields["element"]["element_pixels"] == 32 and len(cnn.phases()) == 1

    digital_config = build_config({"model": {"kind": "digital_cnn"}})
    digital = build_model(digital_config)
    readout = build_readout(digital_config)
    calibrate(digital_config, digital, readout, images)  # no camera: nothing to calibrate
    assert float(readout.full_scale) == 1.0 and digital.sensor_intensity(images) is None
    assert digital.phases() == [] and digital.mask_pitch is None

    mzi = build_model(build_config({"model": {"kind": "mzi", "mzi": {"ports": 16}}, "task": {"temperature": 4.0}}))
    scores = mzi.task_input(images, None, 1.0)
    powers = mzi.sensor_intensity(images)
    assert scores.shape == (2, 10) and torch.allclose(scores, 4.0 * powers[:, :10] / powers.norm(dim=1, keepdim=True))
    assert mzi.phases() == [] and mzi.design_fields() == {}
    for model in (cnn, digital, mzi):
        assert isinstance(model, OpticalModel)
    assert [kind for kind in MODELS if MODELS[kind].output == "detector"] == ["d2nn"]


def test_a_module_without_the_protocol_is_named():
    with pytest.raises(TypeError, match="Linear does not implement quaton.models.OpticalModel"):
        as_optical(nn.Linear(2, 2))
