"""Training without a physical system (ideal and hardware-aware training), and ``train``, which
picks the trainer and hands the run to the engine (:mod:`quaton.train.engine`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from quaton import quant
from quaton.builder import (
    PreparedData,
    build_model,
    build_readout,
    build_task,
    set_modulator,
    split_validation,
)
from quaton.config import Config
from quaton.errors import TrainingError
from quaton.evaluation import calibrate, evaluate, measure
from quaton.hardware import Readout
from quaton.models import trains_with_system
from quaton.runs import CHECKPOINT, save_checkpoint
from quaton.tasks import Task
from quaton.train import engine
from quaton.train.dat import train_with_system
from quaton.train.figures import write_figures


def _optimizer(config: Config, model: nn.Module, task: Task) -> torch.optim.Optimizer:
    """Phase (and task) parameters at train.lr; quantizer temperatures (PSQ-LT's k) at quantization.temperature_lr."""
    quantizer_ids = {id(p) for q in quant.quantizers(model) for p in q.temperature_parameters()}
    trainable = [p for p in [*model.parameters(), *task.parameters()] if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": [p for p in trainable if id(p) not in quantizer_ids]}]
    slow = [p for p in trainable if id(p) in quantizer_ids]
    if slow:
        groups.append({"params": slow, "lr": config.quantization.temperature_lr or config.train.lr})
    if config.train.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.train.lr, momentum=0.9)
    return torch.optim.Adam(groups, lr=config.train.lr)


def _scheduler(config: Config, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
    if config.train.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, config.train.epochs))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


class Pipeline(nn.Module):
    """Model and task as one module: input images and targets -> loss, so that one
    DistributedDataParallel wrapper synchronises every trainable parameter (phases, quantizer
    temperatures, the phase-imaging gain)."""

    def __init__(self, config: Config, model: nn.Module, task: Task, readout: Readout) -> None:
        super().__init__()
        self.config = config
        self.model = model
        self.task = task
        self.readout = readout
        self.epoch = 1  # the loop sets it: hardware-aware training starts after train.ideal_epochs

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Training loss of images x and labels y; through the hardware models if train.hardware_aware."""
        aware = self.config.train.hardware_aware and self.epoch > self.config.train.ideal_epochs
        set_modulator(self.config, self.model, aware)
        output = measure(self.config, self.model, x, self.readout if aware else None, self.readout.full_scale)
        return self.task.loss(output, self.task.target(x, y)) + quant.regularization(self.model).to(x.device)


def _gather(state: torch.Tensor, world: int) -> list[torch.Tensor]:
    """Every rank's ``state`` (uint8 [n]), in rank order: one process's is a list of one."""
    if world <= 1:
        return [state]
    states: list[Any] = [None] * world
    dist.all_gather_object(states, state)
    return states


class DirectTraining:
    """The trainer without a physical system: the task loss of the simulated network, through the
    read-out chain and modulator response when ``train.hardware_aware`` (after ``train.ideal_epochs``).
    ``train.validation_size`` training images (10% by default) are held out and every epoch is
    measured on them (``val_*`` in the history): recipes (epochs, rates, temperatures) are chosen
    there. The last epoch is kept and measured on the test set once, at the end. Runs under torchrun."""

    label = ""
    resume_key = "optimizer"
    selection = None

    def __init__(self, config: Config, data: PreparedData, device: torch.device, rank: int, world: int) -> None:
        self.config, self.rank, self.world = config, rank, world
        self.data, self.x_val, self.y_val = split_validation(config, data)
        self.model = build_model(config).to(device)
        self.task = build_task(config, len(data.classes)).to(device)
        self.readout = build_readout(config).to(device)
        self.readout.seed_training(config.seed, rank)  # fresh noise at every training read-out, one stream per rank
        self.pipeline = Pipeline(config, self.model, self.task, self.readout)
        self.step_module = nn.parallel.DistributedDataParallel(self.pipeline) if world > 1 else self.pipeline
        self.optimizer = _optimizer(config, self.model, self.task)
        self.schedulers = [_scheduler(config, self.optimizer)]
        self.validation: dict[str, Any] | None = None

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.task.load_state_dict(state["task"])
        self.readout.load_state_dict(state["readout"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedulers[0].load_state_dict(state["scheduler"])
        noise_states = state["rng"].get("readout", [])
        if self.rank < len(noise_states):
            self.readout.set_noise_state(noise_states[self.rank])

    def begin(self, run_dir: Path) -> None:
        pass

    def begin_epoch(self, epoch: int) -> None:
        # The full scale is set from the network as it starts the epoch and held through the epoch and
        # its evaluation, so that the device evaluated is the device trained: a recalibration after the
        # epoch would give the ADC and the digital head (which sees sensor / full scale) a scale they
        # were never trained with.
        calibrate(self.config, self.model, self.readout, self.data.x_train)
        self.model.train()
        self.readout.train()
        self.pipeline.epoch = epoch

    def loss(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        return self.step_module(x, y)

    def state(self) -> dict[str, Any]:
        noise_states = _gather(self.readout.noise_state(), self.world)
        return {
            "model": self.model.state_dict(),
            "task": self.task.state_dict(),
            "readout": self.readout.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedulers[0].state_dict(),
            "rng": {"readout": noise_states},
        }

    def _evaluate(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
        return evaluate(self.config, self.model, self.task, images, labels, self.readout)

    def measure(self, epoch: int, samples: int) -> dict[str, Any]:
        self.validation = self._evaluate(self.x_val, self.y_val)
        return {f"val_{name}": value for name, value in self.validation.items() if name != "confusion"}

    def describe(self, record: dict[str, Any]) -> str:
        primary = self.task.primary_metric
        return (
            f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, "
            f"validation {primary} {record[f'val_{primary}']:.4f}"
        )

    def finish(self, run_dir: Path, checkpoint: dict[str, Any] | None, best: dict[str, Any]) -> dict[str, Any]:
        if self.config.train.epochs == 0:  # an untrained device: calibrated and saved as it is
            calibrate(self.config, self.model, self.readout, self.data.x_train)
            saved = {"model": self.model.state_dict(), "task": self.task.state_dict()}
            save_checkpoint(run_dir / CHECKPOINT, {"epoch": 0, **saved, "readout": self.readout.state_dict()})
        validation = self.validation if self.validation is not None else self._evaluate(self.x_val, self.y_val)
        final = self._evaluate(self.data.x_test, self.data.y_test)  # the test set, once, on the kept model
        metrics = {
            **{f"test_{name}": value for name, value in final.items() if name != "confusion"},
            **{f"val_{name}": value for name, value in validation.items() if name != "confusion"},
            "validation_size": len(self.x_val),
            "primary_metric": f"test_{self.task.primary_metric}",
        }
        if "confusion" in final:
            metrics["confusion"] = final["confusion"]
        return metrics

    def figures(self, run_dir: Path, metrics: dict[str, Any], history: list[dict[str, Any]]) -> None:
        write_figures(run_dir, self.config, self.model, self.task, self.data, metrics, history)


def train(
    config: Config,
    run_dir: Path,
    data: PreparedData | None = None,
    resume: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train from ``config`` into ``run_dir``; returns the final metrics (also in metrics.json).

    The trainer: :class:`DirectTraining` without a physical system, else
    :class:`quaton.train.dat.SystemTraining` (also for an MZI network); the run lifecycle is
    :func:`quaton.train.engine.run`'s. ``on_epoch`` is called with each epoch's history record
    (``epoch``, ``train_loss``, ``test_*`` or ``val_*``, ``seconds``) after its checkpoint is
    written: a searched sweep reports it, and may stop the run there (it resumes from that
    checkpoint). With ``resume`` and a checkpoint of the same config in ``run_dir``, training
    continues from it (model, optimizer, scheduler, quantizer state, data order and random
    generators), so the result equals that of an uninterrupted run. Under torchrun each rank trains
    on its shard of every global batch (``train.batch_size`` images in all; the gradient is that of
    the whole global batch, also for an uneven last batch) and rank 0 alone writes the run directory.
    """
    if trains_with_system(config):
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise TrainingError(
                "training with a physical system (or an MZI network) runs in one process: start it without torchrun"
            )
        return train_with_system(config, run_dir, data, resume, on_epoch)
    return engine.run(config, Path(run_dir), DirectTraining, data, resume, on_epoch)
