"""The training loop: epochs of minibatches, evaluation, checkpoints, metrics and pictures."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from quaton import quant
from quaton.config import Config, dump_config
from quaton.errors import TrainingError
from quaton.evaluation import Task, calibrate, evaluate, measure
from quaton.hardware import Readout
from quaton.progress import progress
from quaton.report import run_report
from quaton.train import rundir
from quaton.train.dat import train_with_system
from quaton.train.figures import write_figures
from quaton.train.memory import check_memory
from quaton.train.setup import (
    PreparedData,
    build_model,
    build_readout,
    build_task,
    prepare_data,
    set_modulator,
)


def _optimizer(config: Config, model: nn.Module, task: Task) -> torch.optim.Optimizer:
    """Phase (and task) parameters at train.lr; quantizer temperatures (PSQ-LT's k) at quantization.temperature_lr."""
    quantizer_ids = {id(p) for q in quant.quantizers(model) for p in q.temperature_parameters()}
    trainable = [p for p in [*model.parameters(), *task.parameters()] if p.requires_grad]
    groups = [{"params": [p for p in trainable if id(p) not in quantizer_ids]}]
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


def distributed_context(config: Config) -> tuple[int, int]:
    """(rank, world size); joins the process group torchrun describes (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if config.train.device.startswith("cuda") else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _gather(state: torch.Tensor, world: int) -> list[torch.Tensor]:
    """Every rank's ``state`` (uint8 [n]), in rank order: one process's is a list of one."""
    if world <= 1:
        return [state]
    states: list[Any] = [None] * world
    dist.all_gather_object(states, state)
    return states


def train(
    config: Config,
    run_dir: Path,
    data: PreparedData | None = None,
    resume: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train from ``config`` into ``run_dir``; returns the final metrics (also in metrics.json).

    ``on_epoch`` is called with each epoch's history record (``epoch``, ``train_loss``, ``test_*``
    measured on ``data``'s test split, ``seconds``) after its checkpoint is written: a searched sweep
    reports it, and may stop the run there (it resumes from that checkpoint).

    With ``resume`` and a checkpoint of the same config in ``run_dir``, training continues from it
    (model, optimizer, scheduler, quantizer state, data order and random generators), so the result
    equals that of an uninterrupted run. Under torchrun each rank trains on its shard of every
    global batch (``train.batch_size`` images in all; the gradient is that of the whole global
    batch, also for an uneven last batch) and rank 0 alone writes the run directory.
    """
    run_dir = Path(run_dir)
    if config.physical.system is not None or config.model.kind == "mzi":
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise TrainingError(
                "training with a physical system (or an MZI network) runs in one process: start it without torchrun"
            )
        return train_with_system(config, run_dir, data, resume, on_epoch)
    rank, world = distributed_context(config)
    writer = rank == 0
    batch = config.train.batch_size
    if batch % world:
        raise TrainingError(f"train.batch_size ({batch}) must be a multiple of the number of processes ({world})")
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    device = torch.device(config.train.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    check_memory(config, device)
    torch.manual_seed(config.seed)
    data = data or prepare_data(config)
    model = build_model(config).to(device)
    task = build_task(config, len(data.classes)).to(device)
    readout = build_readout(config).to(device)
    readout.seed_training(config.seed, rank)  # fresh noise at every training read-out, its own stream per rank
    pipeline = Pipeline(config, model, task, readout)
    step_module = nn.parallel.DistributedDataParallel(pipeline) if world > 1 else pipeline
    optimizer = _optimizer(config, model, task)
    scheduler = _scheduler(config, optimizer)
    shuffle = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, Any]] = []
    first_epoch = 1
    checkpoint_path = run_dir / rundir.CHECKPOINT
    state = rundir.resumable_checkpoint(run_dir, config, "optimizer") if resume else None
    if state is not None:
        model.load_state_dict(state["model"])
        task.load_state_dict(state["task"])
        readout.load_state_dict(state["readout"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rundir.restore_rng(state["rng"], shuffle)
        noise_states = state["rng"].get("readout", [])
        if rank < len(noise_states):
            readout.set_noise_state(noise_states[rank])
        history = list(state["history"])
        first_epoch = int(state["epoch"]) + 1
    if writer:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / rundir.METRICS).unlink(missing_ok=True)  # the run is not finished until it is written again
        rundir.atomic_write_text(run_dir / rundir.CONFIG, dump_config(config))
        rundir.atomic_write_text(run_dir / rundir.HISTORY, "".join(json.dumps(r) + "\n" for r in history))
    steps = math.ceil(len(data.x_train) / batch)
    started = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
    test: dict[str, Any] | None = None
    if config.train.epochs == 0:
        calibrate(config, model, readout, data.x_train)
    for epoch in range(first_epoch, config.train.epochs + 1):
        # The full scale is set from the network as it starts the epoch and held through the epoch and
        # its evaluation, so that the device evaluated is the device trained: a recalibration after the
        # epoch would give the ADC and the digital head (which sees sensor / full scale) a scale they
        # were never trained with.
        calibrate(config, model, readout, data.x_train)
        model.train()
        readout.train()
        pipeline.epoch = epoch
        order = torch.randperm(len(data.x_train), generator=shuffle)
        running, seen = 0.0, 0
        bar = progress(
            range(steps), steps, f"epoch {epoch}/{config.train.epochs}", enabled=config.train.progress and writer
        )
        for step in bar:
            global_index = order[step * batch : (step + 1) * batch]
            index = global_index[rank::world]
            count = len(index)
            # DDP averages the ranks' gradients: weighting each rank's mean loss by its share of the
            # global batch (count · world / global count) makes that average the gradient of the global
            # batch's mean loss, as in one process, also for a last batch that does not split evenly. A
            # rank whose shard is empty (a last batch smaller than the number of processes) still takes
            # part in the gradient exchange, with one image at weight 0.
            share = count * world / len(global_index)
            if count == 0:
                index = global_index[:1]
            x = data.x_train[index].to(device)
            y = data.y_train[index].to(device)
            quant.update_quantizers(model, ((epoch - 1) * steps + step) / (config.train.epochs * steps), epoch - 1)
            loss = step_module(x, y)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the loss became {float(loss.detach())} at epoch {epoch}, step {step + 1}: lower train.lr "
                    f"(now {config.train.lr}) or check the input data; the last good checkpoint is kept"
                )
            optimizer.zero_grad(set_to_none=True)
            (loss * share if world > 1 else loss).backward()
            optimizer.step()
            running += float(loss.detach()) * count
            seen += count
            bar.set_postfix(loss=f"{running / seen:.4f}")
        scheduler.step()
        noise_states = _gather(readout.noise_state(), world)
        if not writer:
            continue
        test = evaluate(config, model, task, data.x_test, data.y_test, readout)
        record = {
            "epoch": epoch,
            "train_loss": running / max(seen, 1),
            **{f"test_{name}": value for name, value in test.items() if name != "confusion"},
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        rundir.append_jsonl(run_dir / rundir.HISTORY, record)
        rundir.save_checkpoint(
            checkpoint_path,
            {
                "epoch": epoch,
                "model": model.state_dict(),
                "task": task.state_dict(),
                "readout": readout.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": {**rundir.rng_state(shuffle), "readout": noise_states},
                "history": history,
            },
        )
        if config.train.progress:
            primary = task.primary_metric
            tqdm.write(f"epoch {epoch}: train loss {record['train_loss']:.4f}, test {primary} {test[primary]:.4f}")
        if on_epoch is not None:
            on_epoch(record)
    if world > 1:
        dist.barrier()
    if not writer:
        return {}
    if config.train.epochs == 0:
        rundir.save_checkpoint(
            checkpoint_path,
            {"epoch": 0, "model": model.state_dict(), "task": task.state_dict(), "readout": readout.state_dict()},
        )
    final = test if test is not None else evaluate(config, model, task, data.x_test, data.y_test, readout)
    metrics = {
        **{f"test_{name}": value for name, value in final.items() if name != "confusion"},
        "primary_metric": f"test_{task.primary_metric}",
        "epochs": config.train.epochs,
        "train_seconds": time.perf_counter() - started,
        "dataset": config.data.dataset,
        "data_source": data.source,
        "train_size": len(data.x_train),
        "test_size": len(data.x_test),
        "processes": world,
    }
    if "confusion" in final:
        metrics["confusion"] = final["confusion"]
    write_figures(run_dir, config, model, task, data, metrics, history)
    run_report(run_dir, metrics)
    rundir.write_json(run_dir / rundir.METRICS, metrics)
    return metrics
