"""The physical-system protocol and the D2NN twin: error-free it is the ideal model; errors are physical and seeded."""

import sys

import numpy as np
import pytest
import torch

from quaton.errors import ConfigError
from quaton.models import D2NN
from quaton.systems.d2nn_twin import D2NNTwin
from quaton.systems.protocol import PhysicalSystem, load_system

DESIGN = {
    "format": "quaton-design",
    "version": 1,
    "wavelength": 532e-9,
    "pitch": 1e-6,
    "grid": [32, 32],
    "propagation": {"method": "asm", "pad_factor": 2.0},
    "distances": [40e-6, 40e-6, 40e-6],
}


def ideal_model(phases):
    model = D2NN(grid=32, pitch=1e-6, wavelength=532e-9, distances=DESIGN["distances"], init="zeros").eval()
    with torch.no_grad():
        for mask, phase in zip(model.masks, phases):
            mask.raw.copy_(torch.from_numpy(phase))
    return model


def phases_and_fields(seed=0):
    rng = np.random.default_rng(seed)
    phases = [rng.uniform(0, 2 * np.pi, (32, 32)).astype(np.float32) for _ in range(2)]
    fields = torch.polar(
        torch.ones(3, 32, 32), torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 3
    )
    return phases, fields


def test_error_free_twin_is_the_ideal_model():
    phases, fields = phases_and_fields()
    twin = D2NNTwin(DESIGN)
    assert isinstance(twin, PhysicalSystem)
    twin.load(phases)
    measured = twin.measure(fields)
    assert torch.allclose(measured["output"], ideal_model(phases).intensity(fields), rtol=1e-4, atol=1e-6)
    assert len(measured["internal"]) == 2


def test_integer_shift_equals_a_rolled_mask_and_errors_are_seeded():
    phases, fields = phases_and_fields(1)
    twin = D2NNTwin(DESIGN)
    twin.shifts = [(0.0, 2.0), (0.0, 0.0)]
    twin.load(phases)
    shifted = np.roll(phases[0], 2, axis=1)
    shifted[:, :2] = 0.0  # beyond the moved mask: no phase
    assert torch.allclose(
        twin.measure(fields)["output"], ideal_model([shifted, phases[1]]).intensity(fields), rtol=1e-3, atol=1e-5
    )
    a = D2NNTwin(DESIGN, shift=0.5, rotation=1.0, distance_error=0.02, seed=3)
    b = D2NNTwin(DESIGN, shift=0.5, rotation=1.0, distance_error=0.02, seed=3)
    assert a.shifts == b.shifts and a.distances == b.distances and a.distances != DESIGN["distances"]


def test_phase_scale_error_is_a_height_error():
    phases, fields = phases_and_fields(2)
    twin = D2NNTwin(DESIGN, phase_scale=0.1)
    twin.load(phases)
    expected = ideal_model([np.mod(p, 2 * np.pi) * 1.1 for p in phases]).intensity(fields)
    assert torch.allclose(twin.measure(fields)["output"], expected, rtol=1e-3, atol=1e-5)


def test_systems_load_by_import_path_including_a_users_module(tmp_path, monkeypatch):
    assert isinstance(load_system("quaton.systems.d2nn_twin:d2nn_twin", DESIGN, {"shift": 0.1}), D2NNTwin)
    (tmp_path / "mylab.py").write_text(
        "class Bench:\n    def __init__(self, design, gain=1.0):\n        self.gain = gain\n"
        "    def load(self, params):\n        self.params = params\n"
        "    def measure(self, inputs):\n        return {'output': self.gain * abs(inputs) ** 2}\n"
        "def bench(design, **options):\n    return Bench(design, **options)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    system = load_system("mylab:bench", DESIGN, {"gain": 2.0})
    assert system.measure(torch.ones(1, 2, 2))["output"].sum() == 8.0
    with pytest.raises(ConfigError, match="cannot be imported"):
        load_system("nolab:bench", DESIGN)
    with pytest.raises(ConfigError, match="package.module:factory"):
        load_system("mylab", DESIGN)
    sys.modules.pop("mylab", None)
