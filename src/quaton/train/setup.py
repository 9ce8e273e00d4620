"""Building data, model and task from a validated config."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from quaton.config import Config
from quaton.data import encode, load_dataset, resize_images
from quaton.models import D2NN
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
        seed=config.seed,
    )


def build_task(config: Config, num_classes: int = 10) -> Classification:
    grid = config.model.grid
    return Classification(config.regions(num_classes), (grid, grid), config.task.loss, config.task.temperature)


def encode_batch(config: Config, images: torch.Tensor) -> torch.Tensor:
    """Resized images [B, s, s] -> input fields complex64 [B, N, N], as in training."""
    return encode(images, config.model.grid, config.input.encoding, config.input.scale)
