"""Training with a physical system: ideal deployment, PAT and DAT on the D2NN twin."""

import json

import pytest
import torch

from quaton.builder import build_model, build_task, prepare_data
from quaton.config import build_config, load_config
from quaton.errors import ConfigError
from quaton.models.sepn import SEPN
from quaton.systems.d2nn_twin import D2NNTwin
from quaton.train.dat import Network, design_for, relative_mse, straight_through, train_with_system
from quaton.train.loop import train

TINY = {
    "name": "tiny_dat",
    "model": {"grid": 24, "layers": 2, "distances": 60e-6},
    "input": {"object_size": 14},
    "detector": {"size": 3, "gap": 1},
    "data": {"dataset": "mnist_5k", "train_size": 240, "test_size": 100},
    "physical": {"system": "quaton.systems.d2nn_twin:d2nn_twin", "options": {}},
    "dat": {"features": [2, 4, 4], "convs": 1},
    "train": {"epochs": 2, "batch_size": 40, "lr": 0.05, "progress": False, "validation_size": 40},
}


def tiny(**sets):
    return build_config(TINY, [f"{k}={json.dumps(v)}" for k, v in sets.items()])


def test_straight_through_has_the_value_of_one_and_the_gradient_of_the_other():
    simulated = torch.tensor([1.0, 2.0], requires_grad=True)
    out = straight_through(torch.tensor([5.0, 7.0]), simulated * 3)
    out.sum().backward()
    assert out.tolist() == [5.0, 7.0] and simulated.grad.tolist() == [3.0, 3.0]


def test_untrained_sepn_is_the_identity_correction_and_keeps_shape():
    field = torch.randn(3, 8, 8, dtype=torch.complex64)
    sepn = SEPN((8, 8), (2, 4, 4), 1)
    assert torch.equal(sepn(field), torch.zeros_like(field))
    assert sepn(field.reshape(3, 64)).shape == (3, 64)


@pytest.mark.parametrize("strategy", ["ideal", "pat", "dat"])
def test_every_strategy_reports_ideal_and_physical_accuracy(tmp_path, strategy):
    """Four epochs of 200 digits on the error-free twin: every strategy learns (0.47 on 100 test
    digits; chance 0.1, whose spread on 100 digits is 0.03), and the twin measures what the model
    predicts."""
    metrics = train(tiny(**{"train.strategy": strategy, "train.epochs": 4}), tmp_path / strategy)
    assert metrics["test_accuracy"] > 0.3
    assert metrics["physical_test_accuracy"] == metrics["test_accuracy"]
    assert metrics["strategy"] == strategy and metrics["validation_size"] == 40 and metrics["train_size"] == 200
    assert metrics["selected_by"] == ("val_accuracy" if strategy == "ideal" else "val_physical_accuracy")
    assert (tmp_path / strategy / "figures" / "history.png").is_file() and (
        tmp_path / strategy / "report.html"
    ).is_file()


def test_error_free_twin_measures_what_the_model_predicts_and_pat_equals_ideal(tmp_path):
    """Without errors the twin is the ideal model, so PAT's straight-through substitution changes
    nothing: the same training, the same accuracies."""
    ideal = train(tiny(), tmp_path / "ideal")
    pat = train(tiny(**{"train.strategy": "pat"}), tmp_path / "pat")
    assert ideal["physical_test_accuracy"] == ideal["test_accuracy"]
    assert pat["test_accuracy"] == pytest.approx(ideal["test_accuracy"], abs=0.02)
    assert pat["physical_test_accuracy"] == pat["test_accuracy"]


def test_sepns_learn_the_twins_deviation():
    """A few similarity steps must bring the corrected model closer to the erroneous twin's
    measurements than the uncorrected model is (on images not used for the steps)."""
    config = tiny(**{"physical.options": {"phase_scale": 0.3, "phase_gamma": 1.3, "crosstalk": 0.05, "seed": 1}})
    torch.manual_seed(0)
    data = prepare_data(config)
    model = build_model(config)
    network = Network(config, model, build_task(config))
    twin = D2NNTwin(design_for(config), **config.physical.options)
    twin.load(network.device_params())
    sepns = torch.nn.ModuleList(SEPN((24, 24), (4, 8, 8), 2) for _ in range(3))
    optimizer = torch.optim.Adam(sepns.parameters(), lr=3e-3)
    train_fields, held_fields = network.encode(data.x_train[:64]), network.encode(data.x_train[64:128])

    def mismatch(fields, correction):
        states = network.states(fields, correction=correction)
        measured = twin.measure(fields)
        return sum(
            relative_mse(network.observe(s), m) for s, m in zip(states, [*measured["internal"], measured["output"]])
        )

    with torch.no_grad():
        before = float(mismatch(held_fields, None))
    for _ in range(60):
        optimizer.zero_grad()
        mismatch(train_fields, list(sepns)).backward()
        optimizer.step()
    with torch.no_grad():
        after = float(mismatch(held_fields, list(sepns)))
    assert after < 0.7 * before


def test_a_strategy_that_needs_a_system_without_one_is_a_config_error():
    data = dict(TINY, physical={"system": None})
    with pytest.raises(ConfigError, match="physical.system"):
        build_config(data, ["train.strategy=dat"])


def test_smoke_config_pat_and_dat_win_back_what_ideal_deployment_loses(tmp_path):
    """configs/dat/d2nn_smoke.yaml, as shipped: the twin's errors cost the ideal design much of its
    accuracy; PAT and DAT, trained with the twin, recover at least half of the loss."""
    results = {}
    for strategy in ("ideal", "pat", "dat"):
        config = load_config("configs/dat/d2nn_smoke.yaml", [f"train.strategy={strategy}", "train.progress=false"])
        results[strategy] = train_with_system(config, tmp_path / strategy)
    ideal = results["ideal"]
    lost = ideal["test_accuracy"] - ideal["physical_test_accuracy"]
    assert lost > 0.15
    for strategy in ("pat", "dat"):
        assert results[strategy]["physical_test_accuracy"] >= ideal["physical_test_accuracy"] + lost / 2


@pytest.mark.parametrize("strategy", ["ideal", "pat", "dat"])
def test_mzi_network_trains_with_its_twin(tmp_path, strategy):
    config = load_config(
        "configs/dat/mzi_smoke.yaml",
        [
            f"train.strategy={strategy}",
            "train.epochs=1",
            "data.train_size=600",
            "data.test_size=200",
            "train.validation_size=100",
            "train.progress=false",
        ],
    )
    metrics = train(config, tmp_path / strategy)
    assert metrics["strategy"] == strategy and metrics["train_size"] == 500
    # one epoch of 500 digits: well above chance where the strategy aims (ideal: the model; pat, dat: the system)
    aimed = metrics["test_accuracy"] if strategy == "ideal" else metrics["physical_test_accuracy"]
    assert aimed > 0.3  # chance: 0.1
    if strategy == "dat":
        assert metrics["sepn_parameters"] > 0


def test_pat_runs_the_ideal_model_of_a_quantized_network_where_the_device_is():
    """PAT compares the ideal model with the measured device, which is loaded with the hard levels;
    early in PSQ the training form is far from them. Without a calibrated model the ideal model must
    also run at the hard levels in value (it then predicts an error-free twin's measurement exactly)
    and still give the masks a gradient; ideal training keeps the training form."""
    config = tiny(**{"quantization": {"method": "psq", "levels": 4}, "train.strategy": "pat"})
    torch.manual_seed(0)
    model = build_model(config)
    model.train()
    network = Network(config, model, build_task(config, 10))
    fields = network.encode(prepare_data(config).x_train[:4])
    twin = D2NNTwin(design_for(config))
    twin.load(network.device_params())
    measured = twin.measure(fields)["output"]
    with torch.no_grad():
        network.at_device = False
        soft = network.observe(network.states(fields)[-1])
    assert float((soft - measured).abs().max() / measured.abs().max()) > 0.05  # the training form is elsewhere
    network.at_device = True
    output = network.observe(network.states(fields)[-1])
    assert torch.allclose(output, measured, rtol=1e-4, atol=1e-6 * float(measured.max()))
    output.sum().backward()
    assert all(float(mask.raw.grad.abs().max()) > 0 for mask in model.masks)
    assert not any(mask.at_device for mask in model.masks)  # the operating point is set only while running
