"""The training loop: epochs of minibatches, evaluation, checkpoints, metrics and pictures."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from quaton.config import Config, dump_config
from quaton.errors import TrainingError
from quaton import quant
from quaton.models import D2NN
from quaton.tasks import Classification, PhaseImaging
from quaton.report import run_report
from quaton.train import rundir
from quaton.train.figures import write_figures
from quaton.train.setup import PreparedData, build_model, build_task, encode_batch, prepare_data

Task = Classification | PhaseImaging


@torch.no_grad()
def evaluate(config: Config, model: D2NN, task: Task, images: torch.Tensor, labels: torch.Tensor) -> dict[str, Any]:
    """Mean loss and the task's metrics over a test set, of the device as evaluated (hard-quantized).

    Classification also gets its confusion matrix (rows: true class, columns: predicted).
    """
    model.eval()
    device = next(model.parameters()).device
    sums: dict[str, float] = {"loss": 0.0}
    confusion = None
    for start in range(0, len(images), config.train.eval_batch_size):
        x = images[start : start + config.train.eval_batch_size].to(device)
        y = labels[start : start + config.train.eval_batch_size].to(device)
        target = task.target(x, y)
        image = model.intensity(encode_batch(config, x))
        sums["loss"] += float(task.loss(image, target)) * len(x)
        for name, values in task.batch_metrics(image, target).items():
            if name == "predicted":
                k = task.num_classes
                counts = torch.bincount(y.cpu() * k + values.cpu(), minlength=k * k).reshape(k, k)
                confusion = counts if confusion is None else confusion + counts
            else:
                sums[name] = sums.get(name, 0.0) + float(values.double().sum())
    result: dict[str, Any] = {name: total / len(images) for name, total in sums.items()}
    if confusion is not None:
        result["confusion"] = confusion.tolist()
    return result


def _optimizer(config: Config, model: D2NN, task: Task) -> torch.optim.Optimizer:
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


def train(config: Config, run_dir: Path, data: PreparedData | None = None) -> dict[str, Any]:
    """Train from ``config`` into ``run_dir``; returns the final metrics (also in metrics.json)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rundir.atomic_write_text(run_dir / rundir.CONFIG, dump_config(config))
    (run_dir / rundir.HISTORY).unlink(missing_ok=True)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    torch.manual_seed(config.seed)
    data = data or prepare_data(config)
    device = torch.device(config.train.device)
    model = build_model(config).to(device)
    task = build_task(config, len(data.classes)).to(device)
    optimizer = _optimizer(config, model, task)
    scheduler = _scheduler(config, optimizer)
    shuffle = torch.Generator().manual_seed(config.seed)
    batch = config.train.batch_size
    steps = math.ceil(len(data.x_train) / batch)
    started = time.perf_counter()
    history: list[dict[str, Any]] = []
    for epoch in range(1, config.train.epochs + 1):
        model.train()
        order = torch.randperm(len(data.x_train), generator=shuffle)
        running, seen = 0.0, 0
        bar = tqdm(range(steps), desc=f"epoch {epoch}/{config.train.epochs}", disable=not config.train.progress, leave=False)
        for step in bar:
            index = order[step * batch : (step + 1) * batch]
            x = data.x_train[index].to(device)
            y = data.y_train[index].to(device)
            quant.update_quantizers(model, ((epoch - 1) * steps + step) / (config.train.epochs * steps), epoch - 1)
            loss = task.loss(model.intensity(encode_batch(config, x)), task.target(x, y)) + quant.regularization(model).to(device)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the loss became {float(loss.detach())} at epoch {epoch}, step {step + 1}: lower train.lr "
                    f"(now {config.train.lr}) or check the input data; the last good checkpoint is kept"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            running += float(loss.detach()) * len(index)
            seen += len(index)
            bar.set_postfix(loss=f"{running / seen:.4f}")
        scheduler.step()
        test = evaluate(config, model, task, data.x_test, data.y_test)
        record = {
            "epoch": epoch,
            "train_loss": running / max(seen, 1),
            **{f"test_{name}": value for name, value in test.items() if name != "confusion"},
            "seconds": time.perf_counter() - started,
        }
        history.append(record)
        rundir.append_jsonl(run_dir / rundir.HISTORY, record)
        rundir.save_checkpoint(
            run_dir / rundir.CHECKPOINT,
            {
                "epoch": epoch,
                "model": model.state_dict(),
                "task": task.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
            },
        )
        if config.train.progress:
            primary = task.primary_metric
            tqdm.write(f"epoch {epoch}: train loss {record['train_loss']:.4f}, test {primary} {test[primary]:.4f}")
    if config.train.epochs == 0:
        rundir.save_checkpoint(run_dir / rundir.CHECKPOINT, {"epoch": 0, "model": model.state_dict(), "task": task.state_dict()})
    final = evaluate(config, model, task, data.x_test, data.y_test)
    metrics = {
        **{f"test_{name}": value for name, value in final.items() if name != "confusion"},
        "primary_metric": f"test_{task.primary_metric}",
        "epochs": config.train.epochs,
        "train_seconds": time.perf_counter() - started,
        "dataset": config.data.dataset,
        "train_size": len(data.x_train),
        "test_size": len(data.x_test),
    }
    if "confusion" in final:
        metrics["confusion"] = final["confusion"]
    rundir.write_json(run_dir / rundir.METRICS, metrics)
    write_figures(run_dir, config, model, task, data, metrics, history)
    run_report(run_dir)
    return metrics
