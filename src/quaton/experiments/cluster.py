"""Sweeps on Ray: every distinct run of a grid is one Ray task, on a local instance or a cluster.

The grid is planned and validated by the driver exactly as ``quaton sweep`` does (train/sweep.py);
each distinct run not yet complete becomes a task that trains it in a Ray worker with
``train.threads`` = the CPUs reserved for it (and ``train.device: cuda`` when it reserves GPUs).
Ray restarts a task whose worker process died (``retries`` times); the restarted task resumes the
run from its last checkpoint, so the run ends where an uninterrupted one ends. The tables are
written by the driver from the run directories, by the same code as a local sweep's.

On a cluster every node must see the sweep's ``out`` directory (and the data) at the same path,
and have quaton installed; the tasks run in the driver's working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quaton.config import build_config
from quaton.errors import ConfigError
from quaton.experiments.sweep import PlannedRun, distinct, is_complete, plan, run_one, tabulate


@dataclass(frozen=True)
class RayResources:
    """What each run reserves on the cluster, and how often a run whose worker died is restarted."""

    cpus: float = 1.0
    gpus: float = 0.0
    retries: int = 3

    def check(self) -> None:
        if self.cpus <= 0:
            raise ConfigError(f"--cpus-per-run must be positive, got {self.cpus}")
        if self.gpus < 0:
            raise ConfigError(f"--gpus-per-run must be 0 or more, got {self.gpus}")
        if self.retries < 0:
            raise ConfigError(f"--retries must be 0 or more, got {self.retries}")


def import_ray() -> Any:
    """The ``ray`` module, or a clear error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--ray needs Ray: pip install 'quaton[ray]' (or pip install 'ray[tune]')") from None
    return ray


def start_local(num_cpus: int | None = None) -> None:
    """Start a Ray instance of this machine alone (this process is its driver).

    Ray starts its workers at nice 15, which on a busy machine starves a sweep's trainings (a
    tiny run took 80x longer beside two other trainings); a sweep's tasks are the machine's work,
    so they run at normal priority (``RAY_worker_niceness``, unless set already).
    """
    ray = import_ray()
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)


def connect(address: str | None) -> bool:
    """Join the Ray cluster at ``address`` ($RAY_ADDRESS if None; a new local instance if neither
    is set), unless this process is connected already; True if this call connected (and so should
    disconnect)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS")
    try:
        if target:
            ray.init(address=target, log_to_driver=False, configure_logging=False)
        else:
            start_local()
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError(f"could not connect to Ray at {target or 'a new local instance'}: {error}") from None
    return True


def _with_resources(run: PlannedRun, resources: RayResources) -> PlannedRun:
    """The run with the threads and device its reservation gives it (neither changes its key)."""
    overrides = [f"train.threads={max(1, int(resources.cpus))}", "train.progress=false"]
    if resources.gpus > 0:
        overrides.append("train.device=cuda")
    config = build_config(run.config.model_dump(mode="json"), overrides)
    return PlannedRun(run.values, config, run.key, run.run_dir.resolve(), run.evaluation)


def _train_task(run: PlannedRun, cwd: str) -> str:
    """Body of a run's Ray task (in a worker): train it in the driver's working directory."""
    os.chdir(cwd)
    return run_one(run, 1, take_over=True)


def run_sweep_ray(
    path: str | Path,
    extra: list[str] | None = None,
    address: str | None = None,
    resources: RayResources = RayResources(),
    echo=print,
) -> tuple[Path, list[dict[str, Any]]]:
    """``run_sweep`` with every distinct incomplete run as a Ray task; returns (out, rows).

    A run whose task failed (an error in training, or its worker dying more than ``retries``
    times) is reported and left to resume at the next sweep; the tables are written only when
    every run is complete, as by a local sweep.
    """
    resources.check()
    spec, out, runs = plan(path, extra)
    unique, labels = distinct(runs)
    ray = import_ray()
    started = connect(address)
    try:
        task = ray.remote(_train_task).options(
            num_cpus=resources.cpus, num_gpus=resources.gpus, max_retries=resources.retries, retry_exceptions=False
        )
        todo = [run for run in unique.values() if not is_complete(run.run_dir)]
        echo(f"sweep {out} on Ray: {len(runs)} grid points, {len(unique)} distinct runs, {len(todo)} to train")
        pending = {task.remote(_with_resources(run, resources), os.getcwd()): run for run in todo}
        done = len(unique) - len(todo)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(ready[0])
            try:
                status = ray.get(ready[0])
            except (ray.exceptions.RayTaskError, ray.exceptions.WorkerCrashedError) as error:
                status = f"failed ({type(error).__name__}: {str(error).strip().splitlines()[-1]})"
            done += 1
            echo(f"[{done}/{len(unique)}] {status}: {labels[run.key]}")
    finally:
        if started:
            ray.shutdown()
    return out, tabulate(spec, out, runs)
