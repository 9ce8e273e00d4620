"""Building data, model and task from a validated config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from quaton.config import Config
from quaton.data import encode, load_dataset, resize_images
from quaton.models import D2NN
from quaton.quant import QUANTIZERS, Quantizer, Schedule
from quaton.tasks import Classification


@dataclass(frozen=True)
class PreparedData:
    """Images resized to the object size, float32 [N, s, s] in [0, 1]; labels int64 [N]."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]


def prepare_data(config: Config) -> PreparedData:
    """Load, subset (stratified, seeded) and resize the configured dataset."""
    data = config.data
    dataset = load_dataset(data.dataset, data.root, download=data.download)
    dataset = dataset.subset(data.train_size, data.test_size, seed=config.seed)
    size = config.input.object_size
    return PreparedData(
        resize_images(dataset.x_train, size),
        torch.as_tensor(dataset.y_train, dtype=torch.int64),
        resize_images(dataset.x_test, size),
        torch.as_tensor(dataset.y_test, dtype=torch.int64),
        dataset.classes,
    )


# Temperature schedules when the config leaves them open: PSQ hardens 1 -> 20 (QuATON), GS cools 2 -> 0.1.
DEFAULT_TEMPERATURES = {"psq": (1.0, 20.0), "gs": (2.0, 0.1)}


def build_quantizer(config: Config) -> Callable[[int], Quantizer | None] | None:
    """A factory of each layer's quantizer (None for full precision)."""
    quant = config.quantization
    if quant.method == "none":
        return None
    levels = quant.layer_levels(config.model.layers)
    start, end = DEFAULT_TEMPERATURES.get(quant.method, (1.0, 1.0))
    schedule = Schedule(
        start=quant.schedule.start or start,
        end=quant.schedule.end or end,
        kind=quant.schedule.kind,
        per=quant.schedule.per,
        epochs=config.train.epochs,
        warmup_epochs=quant.schedule.warmup_epochs,
    )
    options: dict = {}
    if quant.method == "gs":
        options = {"hard": quant.hard, "logit_scale": quant.logit_scale}
    elif quant.method == "psq-lt":
        options = {"k_init": quant.k_init, "penalty": quant.penalty, "penalty_c": quant.penalty_c, "double_every": quant.double_every}
    cls = QUANTIZERS[quant.method]
    return lambda layer: cls(levels[layer], quant.range, schedule, **options)


def build_model(config: Config) -> D2NN:
    optics, model = config.optics, config.model
    return D2NN(
        grid=model.grid,
        pitch=optics.pitch,
        wavelength=optics.wavelength,
        distances=model.distance_list(),
        method=optics.method,
        pad_factor=optics.pad_factor,
        init=model.init,
        quantizer=build_quantizer(config),
        seed=config.seed,
    )


def build_task(config: Config, num_classes: int = 10) -> Classification:
    grid = config.model.grid
    return Classification(config.regions(num_classes), (grid, grid), config.task.loss, config.task.temperature)


def encode_batch(config: Config, images: torch.Tensor) -> torch.Tensor:
    """Resized images [B, s, s] -> input fields complex64 [B, N, N], as in training."""
    return encode(images, config.model.grid, config.input.encoding, config.input.scale)
