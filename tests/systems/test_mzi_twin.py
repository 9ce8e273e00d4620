"""The MZI twin: error-free it measures exactly what the model computes; errors are physical, seeded and fixed."""

import numpy as np
import pytest
import torch

from quaton.errors import ConfigError
from quaton.models.mzi import MZINetwork, fourier_encode
from quaton.systems.mzi_twin import MZITwin, mzi_twin
from quaton.systems.protocol import PhysicalSystem, load_system

DESIGN = {"model": {"kind": "mzi", "ports": 16, "meshes": 3}}


def model_and_inputs(seed=0):
    model = MZINetwork(ports=16, meshes=3, classes=4, seed=seed)
    images = torch.rand(6, 28, 28, generator=torch.Generator().manual_seed(seed))
    return model, fourier_encode(images, ports=16)


def test_error_free_twin_measures_the_model():
    model, inputs = model_and_inputs()
    twin = load_system("quaton.systems.mzi_twin:mzi_twin", DESIGN)
    assert isinstance(twin, PhysicalSystem) and isinstance(twin, MZITwin)
    twin.load(model.device_params())
    measured = twin.measure(inputs)
    with torch.no_grad():
        output, fields = model.stages(inputs)
    # raw port powers; normalised over the ports they are the model's read-out
    assert torch.allclose(
        measured["output"] / measured["output"].norm(dim=-1, keepdim=True), output, rtol=1e-6, atol=1e-7
    )
    assert len(measured["internal"]) == 2
    for internal, field in zip([*measured["internal"], measured["output"]], fields):
        assert torch.allclose(internal, field.abs().square(), rtol=1e-5, atol=1e-6)
    assert not measured["output"].requires_grad


def test_twin_never_shares_parameters_with_the_model():
    model, inputs = model_and_inputs(1)
    twin = mzi_twin(DESIGN)
    twin.load(model.device_params())
    before = twin.measure(inputs)["output"]
    with torch.no_grad():
        model.meshes[0].theta.add_(0.5)
    assert torch.equal(twin.measure(inputs)["output"], before)
    assert not any(p is q for p in twin.network.parameters() for q in model.parameters())


def test_errors_change_the_measurement_and_are_seeded():
    model, inputs = model_and_inputs(2)
    params = model.device_params()
    ideal = mzi_twin(DESIGN)
    ideal.load(params)
    measured = {}
    for name, options in {"a": dict(seed=3), "b": dict(seed=3), "c": dict(seed=4)}.items():
        twin = mzi_twin(DESIGN, sigma_bs=0.05, sigma_ps=0.05, **options)
        twin.load(params)
        measured[name] = twin.measure(inputs)
    assert torch.equal(measured["a"]["output"], measured["b"]["output"])
    assert (measured["a"]["output"] - ideal.measure(inputs)["output"]).abs().max() > 1e-3
    assert (measured["a"]["output"] - measured["c"]["output"]).abs().max() > 1e-3
    # errors are fixed per realisation: measuring twice gives the same answer
    twin = mzi_twin(DESIGN, sigma_bs=0.05, sigma_ps=0.05, seed=3)
    twin.load(params)
    assert torch.equal(twin.measure(inputs)["internal"][1], twin.measure(inputs)["internal"][1])


def test_error_draws_have_the_requested_spread():
    twin = mzi_twin({"model": {"kind": "mzi", "ports": 64, "meshes": 3}}, sigma_bs=0.04, sigma_ps=0.1, seed=0)
    assert len(twin.errors) == 3 and twin.errors[0].bs.shape == (2016, 2)
    bs = torch.cat([e.bs.flatten() for e in twin.errors])
    phases = torch.cat([torch.cat([e.theta, e.phi]) for e in twin.errors])
    assert bs.std().item() == pytest.approx(0.04, rel=0.03)
    assert phases.std().item() == pytest.approx(0.1, rel=0.03)
    assert not torch.equal(twin.errors[0].theta, twin.errors[1].theta)


def test_defaults_and_mistakes():
    twin = mzi_twin({"model": {"kind": "mzi"}})
    assert twin.ports == 64 and twin.meshes == 3
    with pytest.raises(RuntimeError, match="load"):
        twin.measure(torch.zeros(1, 64, dtype=torch.complex64))
    with pytest.raises(ConfigError, match="mzi"):
        mzi_twin({"model": {"kind": "d2nn"}})
    twin.load(MZINetwork(ports=64, meshes=3).device_params())
    with pytest.raises(ValueError, match="ports"):
        twin.measure(torch.zeros(1, 16, dtype=torch.complex64))
    with pytest.raises(ValueError, match="meshes"):
        twin.load(MZINetwork(ports=64, meshes=2).device_params())
    assert np.isfinite(twin.measure(torch.ones(2, 64, dtype=torch.complex64))["output"].numpy()).all()
