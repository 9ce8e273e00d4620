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
its resolved config, so identical runs are done once (full precision ignores the level count, so
the FP column is one run per dataset and seed) and a run whose ``metrics.json`` exists is skipped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quaton.config import Config, build_config, format_validation_error
from quaton.errors import ConfigError
from quaton.train import rundir

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


@dataclass(frozen=True)
class PlannedRun:
    values: dict[str, Any]  # the grid values of this combination, by dotted key
    config: Config
    key: str
    run_dir: Path


def run_key(config: Config) -> str:
    """A short hash of what the run computes (full precision ignores the quantizer's settings)."""
    data = config.model_dump(mode="json")
    for path in NON_SEMANTIC:
        node = data
        for part in path[:-1]:
            node = node[part]
        node.pop(path[-1], None)
    if data["quantization"]["method"] == "none":
        data["quantization"] = {"method": "none"}
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def load_sweep(path: str | Path) -> tuple[SweepSpec, Path]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
        spec = SweepSpec.model_validate(data)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    except ValidationError as error:
        raise ConfigError(format_validation_error(error).replace("invalid config", f"invalid sweep {path}")) from None
    for key, values in spec.grid.items():
        if not values:
            raise ConfigError(f"sweep {path}: grid.{key} is empty; give at least one value")
    return spec, path


def _override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value)}"


def plan(path: str | Path, extra: list[str] | None = None) -> tuple[SweepSpec, Path, list[PlannedRun]]:
    """Expand a grid file into validated runs (in grid order); nothing is run."""
    spec, path = load_sweep(path)
    base: dict[str, Any] = {}
    if spec.base:
        base_path = (path.parent / spec.base).resolve()
        if not base_path.is_file():
            raise ConfigError(f"sweep {path}: base config {base_path} does not exist")
        base = yaml.safe_load(base_path.read_text()) or {}
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
        key = run_key(config)
        runs.append(PlannedRun(values, config, key, out / "runs" / key))
    return spec, out, runs


def is_complete(run_dir: Path) -> bool:
    return (run_dir / rundir.METRICS).is_file()


def run_sweep(path: str | Path, extra: list[str] | None = None, echo=print) -> tuple[Path, list[dict[str, Any]]]:
    """Run every planned run not yet complete, one after the other; write the tables; return the rows."""
    from quaton.train.loop import train
    from quaton.train.table import write_tables

    spec, out, runs = plan(path, extra)
    unique = {run.key: run for run in runs}
    echo(f"sweep {out}: {len(runs)} grid points, {len(unique)} distinct runs")
    for index, run in enumerate(unique.values(), start=1):
        label = ", ".join(f"{k}={v}" for k, v in run.values.items())
        if is_complete(run.run_dir):
            echo(f"[{index}/{len(unique)}] done already: {label}")
            continue
        echo(f"[{index}/{len(unique)}] {label} -> {run.run_dir}")
        train(run.config, run.run_dir)
    rows = []
    for run in runs:
        metrics = rundir.read_json(run.run_dir / rundir.METRICS)
        metrics.pop("confusion", None)
        rows.append({**run.values, **{k: v for k, v in metrics.items()}, "run": run.key})
    write_tables(out, spec, rows)
    return out, rows
