"""quaton: optical neural networks that survive fabrication, noise and systematic errors.

The small public API (the README's Python example; the CLI calls the same functions)::

    config = quaton.load_config("configs/smoke.yaml", ["quantization.method=psq"])
    model, task = quaton.build(config)          # a D2NN (or the configured model) and its task
    metrics = quaton.train_run(config, "runs/demo")      # a run directory, as `quaton train` writes it
    quaton.export_run("runs/demo", "designs/demo")       # design.json + fabrication files
    design = quaton.design.load("designs/demo") # encode / intensity / predict, no training code
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quaton.config import Config, build_config, load_config
from quaton.plugins import load_plugins

__version__ = "0.1.0"


def build(config: Config, num_classes: int = 10) -> tuple[Any, Any]:
    """The configured model (its phases from ``train.init_from`` if set) and task, untrained."""
    from quaton.builder import build_model, build_task

    return build_model(config), build_task(config, num_classes)


def encode(config: Config, images: Any) -> Any:
    """Images float [B, s, s] in [0, 1] (s = input.object_size) -> input fields complex64 [B, N, N]."""
    from quaton.builder import encode_batch

    return encode_batch(config, images)


def train_run(config: Config, run_dir: str | Path) -> dict[str, Any]:
    """Train into ``run_dir`` (resuming a checkpoint of the same config); returns the final metrics."""
    from quaton.train.loop import train

    return train(config, Path(run_dir))


def export_run(run_dir: str | Path, design_dir: str | Path, formats: tuple[str, ...] = ("npy",)) -> Path:
    """Write a trained run's design into ``design_dir``; returns it."""
    from quaton.export.design import export_run as export

    return export(run_dir, design_dir, formats=formats)


__all__ = ["Config", "build", "build_config", "encode", "export_run", "load_config", "train_run"]


load_plugins()  # last: the components of packages with a quaton.plugins entry point (quaton.plugins)
