"""The memory estimate against the peak torch really allocates, for every model kind and both phases."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from quaton.builder import build_model, build_task, encode_batch
from quaton.config import load_config
from quaton.errors import TrainingError
from quaton.models.mzi import fourier_encode
from quaton.train.memory import check_memory, estimate

CONFIGS = Path(__file__).parents[2] / "configs"
FACTOR = 2.5  # every estimate lies in [1, FACTOR] × the measured peak


def peak_bytes(work) -> int:
    """Peak of the bytes torch holds while ``work()`` runs, from the profiler's allocation and
    release events (what was allocated before it started does not count)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        work()
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.start)
    held = peak = 0
    for event in events:
        held += event.self_cpu_memory_usage
        peak = max(peak, held)
    return peak


def measured(config) -> tuple[int, int]:
    """Peak bytes of (building the model and one training step at train.batch_size, building it and
    evaluating one batch of train.eval_batch_size)."""
    size = config.input.object_size
    kind = config.model.kind

    def loss(model, task, batch):
        images, labels = torch.rand(batch, size, size), torch.randint(0, 10, (batch,))
        if kind == "d2nn":
            return task.loss(model.intensity(encode_batch(config, images)), labels)
        if kind == "mzi":
            return F.cross_entropy(10 * model.scores(model(fourier_encode(images, config.model.mzi.ports))), labels)
        return F.cross_entropy(model(images), labels)

    def training_step():
        model, task = build_model(config), build_task(config)
        optimizer = torch.optim.Adam(model.parameters())
        loss(model, task, config.train.batch_size).backward()
        optimizer.step()

    def evaluation():
        model, task = build_model(config).eval(), build_task(config)
        with torch.no_grad():
            loss(model, task, config.train.eval_batch_size)

    return peak_bytes(training_step), peak_bytes(evaluation)


CASES = {
    "d2nn": (
        CONFIGS / "default.yaml",
        ["model.grid=96", "model.layers=3", "detector.size=8", "quantization.method=psq", "quantization.levels=4"],
    ),
    "d2nn-gs": (
        CONFIGS / "default.yaml",
        ["model.grid=64", "model.layers=2", "detector.size=6", "quantization.method=gs", "quantization.levels=4"],
    ),
    "optical_cnn": (CONFIGS / "mixed_signal" / "mnist.yaml", ["data.dataset=mnist_5k", "model.cnn.element_pixels=64"]),
    "optical_cnn-incoherent": (
        CONFIGS / "mixed_signal" / "mnist.yaml",
        ["data.dataset=mnist_5k", "model.cnn.element_pixels=64", "model.cnn.coherent=false"],
    ),
    "digital_cnn": (CONFIGS / "mixed_signal" / "mnist.yaml", ["data.dataset=mnist_5k", "model.kind=digital_cnn"]),
    "mzi-tree": (CONFIGS / "dat" / "mzi_smoke.yaml", ["model.mzi.ports=64"]),
    "mzi-columns": (CONFIGS / "dat" / "mzi_smoke.yaml", ["model.mzi.ports=100"]),
}


@pytest.mark.parametrize("case", CASES)
def test_the_estimate_of_each_model_kind_bounds_its_measured_peak(case):
    path, overrides = CASES[case]
    # an evaluation batch larger than the training batch: the evaluation pass must be counted
    config = load_config(path, [*overrides, "train.batch_size=8", "train.eval_batch_size=32"])
    estimated = estimate(config, "cpu")
    train_peak, eval_peak = measured(config)
    assert train_peak <= estimated.training <= FACTOR * train_peak, (estimated.training, train_peak)
    assert eval_peak <= estimated.evaluation <= FACTOR * eval_peak, (estimated.evaluation, eval_peak)


def test_a_large_evaluation_batch_is_what_stops_a_run():
    """The D2NN's evaluation needs three padded buffers per image, training one field per layer
    more: at eval_batch_size 8× batch_size the evaluation pass is the larger, and the check names it."""
    config = load_config(
        CONFIGS / "default.yaml", ["model.grid=256", "train.batch_size=32", "train.eval_batch_size=256"]
    )
    needs = estimate(config)
    assert needs.evaluation > needs.training
    with pytest.raises(TrainingError, match=r"evaluation pass.*lower train\.eval_batch_size \(now 256\)"):
        check_memory(config, torch.device("cpu"), available=(needs.training + needs.evaluation) // 2)
    assert check_memory(config, torch.device("cpu"), available=needs.evaluation) == needs.evaluation


@pytest.mark.parametrize(
    ("path", "overrides", "keys"),
    [
        (
            CONFIGS / "default.yaml",
            ["model.grid=1024", "train.batch_size=512"],
            ["train.batch_size (now 512)", "model.grid (now 1024)"],
        ),
        (
            CONFIGS / "mixed_signal" / "mnist.yaml",
            ["train.batch_size=20000"],
            ["train.batch_size (now 20000)", "model.cnn.element_pixels (now 128)"],
        ),
        # 1024 waveguides: on a GPU the product tree holds [1024, 1024, 1024] complex64 (8 GiB) per matrix
        (
            CONFIGS / "dat" / "mzi_smoke.yaml",
            ["model.mzi.ports=1024", "input.object_size=32"],
            ["model.mzi.ports (now 1024)"],
        ),
    ],
)
def test_a_config_that_cannot_fit_gets_one_clear_error(path, overrides, keys):
    config = load_config(path, overrides)
    with pytest.raises(TrainingError) as error:
        check_memory(config, torch.device("cuda" if "mzi" in str(path) else "cpu"), available=8 * 1024**3)
    message = str(error.value)
    assert "GiB" in message and "8.0 GiB are free" in message and config.model.kind in message
    for key in keys:
        assert key in message
