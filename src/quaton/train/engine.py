"""The one training engine: the run lifecycle, written once for every way of training (``train.strategy``).

The engine owns what every run does: threads, device and memory check, data, resume (model,
optimizers, data order and every random generator, from the trainer's part of the checkpoint),
the epoch loop with progress, the per-step quantizer schedule, the non-finite-loss guard, the
metrics history, atomic checkpoints, model selection, figures, the report and ``metrics.json``.

A trainer (:class:`Trainer`) supplies only what differs: how it builds its networks, the loss
of one batch, what it measures after an epoch, what it saves and how it ends. Two exist:
:class:`quaton.train.loop.DirectTraining` (ideal and hardware-aware training, under torchrun
too) and :class:`quaton.train.dat.SystemTraining` (ideal deployment, PAT, DAT, calibrated twin
and robust training against a physical system).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from quaton import quant
from quaton.builder import PreparedData, prepare_data
from quaton.config import Config, dump_config
from quaton.errors import TrainingError
from quaton.progress import progress, shows_progress
from quaton.report import run_report
from quaton.runs import (
    CHECKPOINT,
    CONFIG,
    HISTORY,
    METRICS,
    append_jsonl,
    atomic_write_text,
    save_checkpoint,
    write_json,
)
from quaton.train import rundir
from quaton.train.board import open_board
from quaton.train.memory import check_memory


class Trainer(Protocol):
    """What a trainer gives the engine. Built from ``(config, data, device, rank, world)``."""

    @property
    def label(self) -> str:
        """Progress-bar prefix ("" or "dat ")."""

    @property
    def resume_key(self) -> str:
        """The checkpoint key that marks a resumable state of this trainer."""

    @property
    def selection(self) -> str | None:
        """The history key whose maximum picks the kept epoch; None keeps the last."""

    @property
    def data(self) -> PreparedData:
        """The training (and test) images the engine iterates over."""

    @property
    def model(self) -> nn.Module:
        """The network whose quantizers the engine schedules."""

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer the engine steps with the task loss."""

    @property
    def schedulers(self) -> Sequence[torch.optim.lr_scheduler.LRScheduler]:
        """Stepped once after every epoch."""

    def load(self, state: dict[str, Any]) -> None:
        """Restore the trainer's part of a checkpoint (``rng`` holds the engine's and its own)."""

    def begin(self, run_dir: Path) -> None:
        """Once before the first epoch of this process (after a resume too): e.g. a calibration."""

    def begin_epoch(self, epoch: int) -> None:
        """Before an epoch's first batch (e.g. set the read-out's full scale)."""

    def loss(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        """The task loss of one batch (scalar, with its graph); side steps (a SEPN) happen inside."""

    def state(self) -> dict[str, Any]:
        """The trainer's part of a checkpoint, on every process (collectives allowed); ``rng`` entries
        are merged into the engine's."""

    def measure(self, epoch: int, samples: int) -> dict[str, Any]:
        """The epoch's record entries after training (``test_*`` or ``val_*``, running losses)."""

    def describe(self, record: dict[str, Any]) -> str:
        """One line for the log after an epoch."""

    def finish(self, run_dir: Path, checkpoint: dict[str, Any] | None, best: dict[str, Any]) -> dict[str, Any]:
        """Evaluate the kept parameters (already loaded) on the test set: the trainer's entries of
        metrics.json. ``checkpoint``: the last one written or resumed from (None if none); ``best``:
        the selection (``score``, ``epoch``), empty when the trainer keeps the last epoch."""

    def figures(self, run_dir: Path, metrics: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """Write the run's pictures under ``run_dir/figures``."""


TrainerFactory = Callable[[Config, PreparedData, torch.device, int, int], Trainer]


def distributed_context(config: Config) -> tuple[int, int]:
    """(rank, world size); joins the process group torchrun describes (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if config.train.device.startswith("cuda") else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _device(config: Config, world: int) -> torch.device:
    device = torch.device(config.train.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def _shard(order: torch.Tensor, step: int, batch: int, rank: int, world: int) -> tuple[torch.Tensor, int, float]:
    """This rank's images of global batch ``step``: (indices, count, loss weight).

    DDP averages the ranks' gradients: weighting each rank's mean loss by its share of the global
    batch (count · world / global count) makes that average the gradient of the global batch's
    mean loss, as in one process, also for a last batch that does not split evenly. A rank whose
    shard is empty still takes part in the gradient exchange, with one image at weight 0.
    """
    global_index = order[step * batch : (step + 1) * batch]
    index = global_index[rank::world]
    count = len(index)
    share = count * world / len(global_index)
    return (index if count else global_index[:1]), count, share


class _Selection:
    """The kept epoch: the best ``key`` so far (its parameters cloned), or none when ``key`` is None."""

    def __init__(self, key: str | None, saved: dict[str, Any]) -> None:
        self.key, self.best = key, dict(saved)

    def update(self, record: dict[str, Any], model: nn.Module) -> None:
        if self.key is None:
            return
        if not self.best or record[self.key] > self.best["score"]:
            model_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self.best = {"score": record[self.key], "epoch": record["epoch"], "model": model_state}

    def entries(self) -> dict[str, Any]:
        """What the checkpoint holds of the selection (nothing for a trainer that keeps the last epoch)."""
        return {"best": self.best} if self.key is not None else {}


def _train_epoch(config: Config, trainer: Trainer, epoch: int, shuffle: torch.Generator, rank: int, world: int):
    """One pass over the training images; returns (summed loss, images seen)."""
    data, batch, device = trainer.data, config.train.batch_size, next(trainer.model.parameters()).device
    steps = math.ceil(len(data.x_train) / batch)
    order = torch.randperm(len(data.x_train), generator=shuffle)
    running, seen = 0.0, 0
    title = f"{trainer.label}epoch {epoch}/{config.train.epochs}"
    bar = progress(range(steps), steps, title, enabled=config.train.progress and rank == 0)
    for step in bar:
        index, count, share = _shard(order, step, batch, rank, world)
        x, y = data.x_train[index].to(device), data.y_train[index].to(device)
        quant.update_quantizers(trainer.model, ((epoch - 1) * steps + step) / (config.train.epochs * steps), epoch - 1)
        loss = trainer.loss(x, y, epoch)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"the loss became {float(loss.detach())} at epoch {epoch}, step {step + 1}: lower train.lr "
                f"(now {config.train.lr}) or check the input data; the last good checkpoint is kept"
            )
        trainer.optimizer.zero_grad(set_to_none=True)
        (loss * share if world > 1 else loss).backward()
        trainer.optimizer.step()
        running += float(loss.detach()) * count
        seen += count
        bar.set_postfix(loss=f"{running / seen:.4f}")
    for scheduler in trainer.schedulers:
        scheduler.step()
    return running, seen


def _start(config: Config, run_dir: Path, history: list[dict[str, Any]]) -> None:
    """A run directory that says what it is running: its config, its history so far, no metrics."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / METRICS).unlink(missing_ok=True)  # the run is not finished until it is written again
    atomic_write_text(run_dir / CONFIG, dump_config(config))
    atomic_write_text(run_dir / HISTORY, "".join(json.dumps(r) + "\n" for r in history))


def _finish(
    config: Config,
    trainer: Trainer,
    run_dir: Path,
    checkpoint: dict[str, Any] | None,
    best: dict[str, Any],
    history: list[dict[str, Any]],
    timing: tuple[float, int],
) -> dict[str, Any]:
    """The kept parameters on the test set, the figures, the report and metrics.json (written last:
    its presence says the run finished). ``timing``: (the run's start on perf_counter, processes)."""
    started, world = timing
    if best:
        trainer.model.load_state_dict(best["model"])
    metrics = trainer.finish(run_dir, checkpoint, best)
    metrics.update(
        {
            "epochs": config.train.epochs,
            "train_seconds": time.perf_counter() - started,
            "dataset": config.data.dataset,
            "data_source": trainer.data.source,
            "train_size": len(trainer.data.x_train),
            "test_size": len(trainer.data.x_test),
            "processes": world,
        }
    )
    trainer.figures(run_dir, metrics, history)
    run_report(run_dir, metrics)
    write_json(run_dir / METRICS, metrics)
    return metrics


def run(
    config: Config,
    run_dir: Path,
    factory: TrainerFactory,
    data: PreparedData | None = None,
    resume: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    world_allowed: bool = True,
) -> dict[str, Any]:
    """Train ``config`` with the trainer ``factory`` builds into ``run_dir``; the final metrics.

    ``on_epoch`` gets each epoch's history record after its checkpoint is written. With ``resume``
    and a checkpoint of the same config, training continues from it and ends where an
    uninterrupted run ends. Under torchrun (``world_allowed``) each rank trains on its shard of
    every global batch and rank 0 alone writes the run directory. ``train.threads`` holds for the
    run only: torch's thread count is given back afterwards.
    """
    threads = torch.get_num_threads()
    try:
        return _run(config, Path(run_dir), factory, data, resume, on_epoch, world_allowed)
    finally:
        torch.set_num_threads(threads)


def _run(
    config: Config,
    run_dir: Path,
    factory: TrainerFactory,
    data: PreparedData | None,
    resume: bool,
    on_epoch: Callable[[dict[str, Any]], None] | None,
    world_allowed: bool,
) -> dict[str, Any]:
    rank, world = distributed_context(config) if world_allowed else (0, 1)
    writer = rank == 0
    if config.train.batch_size % world:
        raise TrainingError(
            f"train.batch_size ({config.train.batch_size}) must be a multiple of the number of processes ({world})"
        )
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = _device(config, world)
    check_memory(config, device)
    torch.manual_seed(config.seed)
    trainer = factory(config, data or prepare_data(config), device, rank, world)
    shuffle = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    first_epoch = 1
    state = rundir.resumable_checkpoint(run_dir, config, trainer.resume_key) if resume else None
    selection = _Selection(trainer.selection, state.get("best", {}) if state else {})
    if state is not None:
        trainer.load(state)
        rundir.restore_rng(state["rng"], shuffle)
        history, first_epoch = list(state["history"]), int(state["epoch"]) + 1
    board = None
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        trainer.begin(run_dir)
        _start(config, run_dir, history)
        board = open_board(config, run_dir)
    started = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    checkpoint = state
    for epoch in range(first_epoch, config.train.epochs + 1):
        trainer.begin_epoch(epoch)
        running, seen = _train_epoch(config, trainer, epoch, shuffle, rank, world)
        own = trainer.state()  # on every rank: it may gather from all of them
        if not writer:
            continue
        record = {"epoch": epoch, "train_loss": running / max(seen, 1), **trainer.measure(epoch, seen)}
        record["seconds"] = time.perf_counter() - started
        selection.update(record, trainer.model)
        history.append(record)
        append_jsonl(run_dir / HISTORY, record)
        rng = {**rundir.rng_state(shuffle), **own.pop("rng", {})}
        checkpoint = {"epoch": epoch, **own, "rng": rng, "history": history, **selection.entries()}
        save_checkpoint(run_dir / CHECKPOINT, checkpoint)
        if shows_progress(config.train.progress):
            tqdm.write(trainer.describe(record))
        if board is not None:
            board.epoch(record)
        if on_epoch is not None:
            on_epoch(record)
    if world > 1:
        dist.barrier()
    if not writer:
        return {}
    metrics = _finish(config, trainer, run_dir, checkpoint, selection.best, history, (started, world))
    if board is not None:
        board.final(config, trainer.model, trainer.data.x_test, metrics)
    return metrics
