"""Experiment grids: a base config, overrides, and axes whose product is a list of runs.

A grid file (YAML)::

    base: ../default.yaml            # a config file, relative to this grid file
    name: classification             # the sweep's name (default: the file's stem)
    out: runs/sweeps/classification  # where runs and tables go (default: runs/sweeps/NAME)
    caption: "..."                   # said under the table (sizes, epochs)
    set: {train.epochs: 10}          # overrides for every run (dotted keys)
    grid:                            # every combination of these values is one run
      quantization.levels: [2, 4, 8]
      quantization.method: [none, pq, ste, gs, psq, psq-lt]
      seed: [0]
    table: {rows: [data.dataset, quantization.levels], columns: quantization.method, metric: test_accuracy}

Every run's config is validated before the first run starts. A run is identified by a hash of
the settings of its resolved config that differ from quaton's defaults, so identical runs are done
once (full precision ignores the level count, so the FP column is one run per dataset and seed), a
run whose ``metrics.json`` exists is skipped, and a new config key added with a default leaves
every finished run's identity alone (changing a default does not rerun old runs: delete them).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quaton.config import Config, build_config, existing_file, format_validation_error, read_config_data
from quaton.errors import ConfigError, TrainingError
from quaton.models import trains_with_system
from quaton.runs import CONFIG, METRICS, atomic_write_text, read_json, write_json
from quaton.tasks import task_of

# Keys that change how a run is shown or where it runs, not what it computes.
NON_SEMANTIC = {("name",), ("train", "progress"), ("train", "threads"), ("train", "device")}


class TableSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rows: list[str] = Field(default_factory=list)
    columns: str = "quantization.method"
    metric: str = "test_accuracy"


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base: str | None = None
    name: str | None = None
    out: str | None = None
    caption: str = ""
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    table: TableSpec = TableSpec()
    plot: PlotSpec | None = None


class PlotSpec(BaseModel):
    """A line plot of the metric against ``x``, one curve per ``series`` value, line style by ``style``."""

    model_config = ConfigDict(extra="forbid")
    x: str
    series: str | None = None
    style: str | None = None


@dataclass(frozen=True)
class PlannedRun:
    values: dict[str, Any]  # the grid values of this combination, by dotted key
    config: Config  # what is trained (for naive hardware runs: with an ideal read-out)
    key: str
    run_dir: Path
    evaluation: Config | None = None  # evaluate the trained run under this config's hardware


def _ideal_hardware(config: Config) -> Config:
    data = config.model_dump(mode="json")
    data.pop("hardware")
    return Config.model_validate(data)


def run_key(config: Config) -> str:
    """A short hash of what the run computes: the settings that differ from quaton's defaults (so
    that a new config key with a default keeps every finished run's key), without the keys that
    change nothing computed; full precision ignores the quantizer's settings, training on the
    ideal read-out ignores ``train.ideal_epochs``."""
    data = config.model_dump(mode="json", exclude_defaults=True)
    if config.quantization.method == "none":
        data.pop("quantization", None)
    if not config.train.hardware_aware:
        data.get("train", {}).pop("ideal_epochs", None)
    for path in NON_SEMANTIC:
        node = data
        for part in path[:-1]:
            node = node.get(part, {})
        node.pop(path[-1], None)
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def load_sweep(path: str | Path) -> tuple[SweepSpec, Path]:
    path = existing_file(path, "sweep file")  # or one shipped with quaton (quaton sweep paper/qpi)
    try:
        data = yaml.safe_load(path.read_text()) or {}
        spec = SweepSpec.model_validate(data)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    except ValidationError as error:
        raise ConfigError(format_validation_error(error).replace("invalid config", f"invalid sweep {path}")) from None
    for key, values in spec.grid.items():
        if not values:
            raise ConfigError(f"sweep {path}: grid.{key} is empty; give at least one value")
    return spec, path


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value, default=str)}"  # default: YAML dates and the like, as text


def plan(path: str | Path, extra: list[str] | None = None) -> tuple[SweepSpec, Path, list[PlannedRun]]:
    """Expand a grid file into validated runs (in grid order); nothing is run."""
    spec, path = load_sweep(path)
    base: dict[str, Any] = {}
    if spec.base:
        try:
            base_path = (path.parent / spec.base).resolve()
            base = read_config_data(base_path)
        except ConfigError as error:
            raise ConfigError(f"sweep {path}: base: {error}") from None
    name = spec.name or path.stem
    out = Path(spec.out) if spec.out else Path("runs") / "sweeps" / name
    common = [_override(k, v) for k, v in spec.set.items()] + list(extra or [])
    keys = list(spec.grid)
    runs = []
    for combination in itertools.product(*(spec.grid[k] for k in keys)):
        values = dict(zip(keys, combination))
        overrides = common + [_override(k, v) for k, v in values.items()]
        try:
            config = build_config(base, overrides)
        except ConfigError as error:
            raise ConfigError(f"sweep {path}, run {values}: {error}") from None
        evaluation = None
        if not config.train.hardware_aware:
            # A naive run trains on the ideal model whatever the hardware: train it once, evaluate
            # it under each hardware setting.
            ideal = _ideal_hardware(config)
            if ideal.hardware != config.hardware:
                evaluation, config = config, ideal
        key = run_key(config)
        runs.append(PlannedRun(values, config, key, out / "runs" / key, evaluation))
    check_table(spec, path, runs)
    check_out(out, path)
    return spec, out, runs


def reported_metrics(config: Config) -> tuple[str, ...]:
    """The numeric metrics a run of ``config`` reports, by name (metrics.json, or evaluate_run for a
    naive run evaluated under other hardware): a run through the system loop (quaton.train.dat)
    reports its task's primary metric only, of the model and of the physical system; the others
    test_loss and test_<name> of each of the task's metrics."""
    task = task_of(config)
    if trains_with_system(config):  # the system loop reports accuracies, of the model and of the system
        primary = f"test_{task.primary}"
        return (primary,) + ((f"physical_{primary}",) if config.physical.system is not None else ())
    return task.reported()


def check_table(spec: SweepSpec, path: Path, runs: list[PlannedRun]) -> None:
    """The table's rows and columns and the plot's axes must be grid keys, and the metric one that
    every run reports: checked before the first run, so that a sweep cannot train its whole grid and
    then fail to tabulate it."""
    grid = list(spec.grid)
    named = [(f"table.rows[{i}]", key) for i, key in enumerate(spec.table.rows)] + [
        ("table.columns", spec.table.columns)
    ]
    if spec.plot is not None:
        named += [
            (f"plot.{axis}", getattr(spec.plot, axis))
            for axis in ("x", "series", "style")
            if getattr(spec.plot, axis) is not None
        ]
    for where, key in named:
        if key not in spec.grid:
            raise ConfigError(
                f"sweep {path}: {where} {key!r} is not a grid key; choose one of {grid} (or add it to grid:)"
            )
    if runs:
        common = [m for m in reported_metrics(runs[0].config) if all(m in reported_metrics(r.config) for r in runs)]
        if spec.table.metric not in common:
            raise ConfigError(
                f"sweep {path}: table.metric {spec.table.metric!r} is not reported by every run; choose one of {common}"
            )


def check_out(out: Path, path: Path) -> None:
    """The sweep's ``out`` directory must be writable (checked before the first run; nothing is created)."""
    from quaton.errors import OutputPathError
    from quaton.paths import check_writable_directory

    try:
        check_writable_directory(out, "out:")
    except OutputPathError as error:
        raise ConfigError(f"sweep {path}: {error}") from None


def _metrics(run: PlannedRun) -> dict[str, Any]:
    """The run's final metrics, or, for a naive run, its metrics under the grid point's hardware (cached)."""
    if run.evaluation is None:
        return read_json(run.run_dir / METRICS)
    hardware = run.evaluation.hardware.model_dump(mode="json")
    digest = hashlib.sha1(json.dumps(hardware, sort_keys=True).encode()).hexdigest()[:12]
    cache = run.run_dir / "evals" / f"{digest}.json"
    if cache.is_file():
        return read_json(cache)
    from quaton.train.evaluate import evaluate_run

    overrides = [f"hardware={json.dumps(hardware)}"]
    metrics = evaluate_run(run.run_dir, overrides)
    metrics["primary_metric"] = read_json(run.run_dir / METRICS)["primary_metric"]
    write_json(cache, metrics)
    return metrics


def is_complete(run_dir: Path) -> bool:
    return (run_dir / METRICS).is_file()


LOCK = ".lock"


def acquire(run_dir: Path, take_over: bool = False) -> bool:
    """Take the run's lock file (atomic O_EXCL create; it holds ``PID HOST``); False if it is held.

    A lock whose process no longer exists on this host (killed) is taken over. A lock written on
    another host counts as held, since its process cannot be checked from here, unless ``take_over``
    (a Ray sweep: its driver starts each run once and restarts it only after its worker died).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK
    for _ in range(2):
        try:
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid_text, _, host = path.read_text().strip().partition(" ")
                pid = int(pid_text or "0")
            except (OSError, ValueError):
                pid, host = 0, ""
            here = host in ("", socket.gethostname())
            if not take_over and pid and (not here or _alive(pid)):
                return False
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(handle, "w") as stream:
            stream.write(f"{os.getpid()} {socket.gethostname()}")
        return True
    return False


def release(run_dir: Path) -> None:
    (run_dir / LOCK).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_one(run: PlannedRun, jobs: int, take_over: bool = False) -> str:
    """Train one run (in this process for jobs == 1, else in a child process); returns its status."""
    from quaton.config import dump_config
    from quaton.train.loop import train

    if is_complete(run.run_dir):
        return "done already"
    if not acquire(run.run_dir, take_over):
        return "running elsewhere"
    try:
        if jobs == 1:
            train(run.config, run.run_dir)
        else:
            spec = run.run_dir / "sweep-config.yaml"
            atomic_write_text(spec, dump_config(run.config))
            command = [
                sys.executable,
                "-m",
                "quaton",
                "train",
                str(spec),
                "--run-dir",
                str(run.run_dir),
                "--set",
                "train.progress=false",
            ]
            log = run.run_dir / "train.log"
            with open(log, "w") as stream:
                result = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT)
            if result.returncode != 0:
                return f"failed (exit {result.returncode}, see {log})"
    finally:
        release(run.run_dir)
    return "trained"


def distinct(runs: list[PlannedRun]) -> tuple[dict[str, PlannedRun], dict[str, str]]:
    """The distinct runs of a plan by key (first grid point of each), and a label for each."""
    unique: dict[str, PlannedRun] = {}
    for run in runs:
        unique.setdefault(run.key, run)
    labels = {key: ", ".join(f"{k}={v}" for k, v in run.values.items()) for key, run in unique.items()}
    return unique, labels


def tabulate(spec: SweepSpec, out: Path, runs: list[PlannedRun]) -> list[dict[str, Any]]:
    """Once every run is complete: one row per grid point, written as the sweep's tables."""
    from quaton.experiments.table import write_tables

    unique, labels = distinct(runs)
    missing = [labels[r.key] for r in unique.values() if not is_complete(r.run_dir)]
    if missing:
        raise TrainingError(f"{len(missing)} runs did not finish (first: {missing[0]}); rerun the sweep to resume them")
    rows = []
    for run in runs:
        metrics = _metrics(run)
        metrics.pop("confusion", None)
        rows.append({**run.values, **metrics, "run": run.key})
    write_tables(out, spec, rows, [run.evaluation or run.config for run in runs])
    return rows


def run_sweep(
    path: str | Path, extra: list[str] | None = None, echo=print, jobs: int = 1
) -> tuple[Path, list[dict[str, Any]]]:
    """Run every planned run not yet complete (``jobs`` at a time), write the tables, return the rows.

    Completed runs are skipped, interrupted ones resume from their last checkpoint, and a run whose
    lock another live sweep holds is left to it.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    spec, out, runs = plan(path, extra)
    unique, labels = distinct(runs)
    echo(f"sweep {out}: {len(runs)} grid points, {len(unique)} distinct runs, {jobs} at a time")
    if jobs == 1:
        for index, run in enumerate(unique.values(), start=1):
            if not is_complete(run.run_dir):
                echo(f"[{index}/{len(unique)}] {labels[run.key]} -> {run.run_dir}")
            echo(f"[{index}/{len(unique)}] {run_one(run, 1)}: {labels[run.key]}")
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(run_one, run, jobs): run for run in unique.values()}
            for done, future in enumerate(as_completed(futures), start=1):
                echo(f"[{done}/{len(unique)}] {future.result()}: {labels[futures[future].key]}")
    return out, tabulate(spec, out, runs)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config dict -> {dotted key: value}; lists stay values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differing_keys(configs: list[Config]) -> tuple[list[str], list[dict[str, Any]]]:
    """The dotted config keys whose values differ between ``configs`` (keys that compute nothing,
    such as name and train.progress, left out), and every config flattened. A full-precision run's
    quantizer settings do not act: they are shown as "-" and differ from nothing."""
    flats = []
    for config in configs:
        flat = _flatten(config.model_dump(mode="json"))
        for path in NON_SEMANTIC:
            flat.pop(".".join(path), None)
        if config.quantization.method == "none":
            flat.update({k: "-" for k in flat if k.startswith("quantization.") and k != "quantization.method"})
        flats.append(flat)
    keys = _ordered_keys(flats)
    acting = [[f[k] for f in flats if k in f and f[k] != "-"] for k in keys]
    return [
        k
        for k, values in zip(keys, acting)
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1
        or (len(values) < len(flats) and not k.startswith("quantization."))
    ], flats


def _ordered_keys(flats: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for flat in flats:
        seen.update(dict.fromkeys(flat))
    return list(seen)


def compare_runs(run_dirs: list[Path], out: Path) -> Path:
    """A side-by-side table (Markdown, CSV, PNG) of finished runs: one row per run, the config keys in
    which they differ as columns (epochs, method, levels, ...), then their primary metric."""
    from quaton.config import load_config
    from quaton.experiments.table import describe, write_comparison

    if not run_dirs:
        raise ConfigError("give at least one run directory to compare")
    configs, rows = [], []
    for run_dir in run_dirs:
        if not (Path(run_dir) / CONFIG).is_file():
            raise ConfigError(f"{run_dir} is not a quaton run directory (no {CONFIG})")
        if not (Path(run_dir) / METRICS).is_file():
            raise ConfigError(
                f"{run_dir} has not finished (no {METRICS}); finish it (quaton train resumes it) or leave it out"
            )
        configs.append(load_config(Path(run_dir) / CONFIG))
        metrics = read_json(Path(run_dir) / METRICS)
        metrics.pop("confusion", None)
        rows.append({**metrics, "run": str(run_dir)})
    primaries = _ordered_list([row.get("primary_metric") for row in rows])
    if len(primaries) != 1 or primaries[0] is None:
        raise ConfigError(
            f"these runs report different primary metrics ({', '.join(map(str, primaries))}): compare runs of one task"
        )
    metric = primaries[0]
    keys, flats = differing_keys(configs)
    for row, flat in zip(rows, flats):
        row.update({key: flat.get(key, "-") for key in keys})
    out.mkdir(parents=True, exist_ok=True)
    write_comparison(out, rows, keys, metric, describe(configs, metric))
    return out


def _ordered_list(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen
