"""Searched sweeps: Ray Tune samples configs from a space, Optuna proposes them, ASHA stops poor ones.

A space file (YAML)::

    base: ../smoke.yaml              # a config file, relative to this file
    name: lr-search                  # default: the file's stem
    out: runs/tune/lr-search         # default: runs/tune/NAME
    set: {train.epochs: 4}           # overrides for every trial (dotted keys)
    metric: val_accuracy             # optimized, reported every epoch; default: val_<primary metric>
    mode: max                        # max | min; default: min for losses and errors, else max
    samples: 8                       # trials in all
    concurrent: 2                    # trials at the same time (default: as many as the CPUs allow)
    seed: 0                          # seed of Optuna's TPE sampler
    cpus_per_trial: 1                # CPUs each trial reserves (also its torch threads)
    space:                           # dotted config keys and where to sample them
      train.lr: {loguniform: [1.0e-3, 1.0e-1]}
      task.temperature: {uniform: [5, 20]}
      model.layers: {randint: [2, 5]}          # integers, both ends included
      quantization.method: {choice: [pq, ste]}
    asha: {grace_period: 1, reduction_factor: 2}   # rungs at grace_period * reduction_factor^k epochs

A search never looks at the test set: each trial holds ``train.validation_size`` training images out
(10% by default, seeded by the config's seed), trains on the rest and reports its metrics on the
held-out images every epoch as ``val_<name>``. Each trial is a run directory (``out/trials/ID``) as
``quaton train`` writes it, except that its "test" split is that validation split. Every space key's
bounds (or choices) are validated against the config before the first trial starts.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quaton.config import (
    Config,
    build_config,
    dump_config,
    existing_file,
    format_validation_error,
    read_config_data,
)
from quaton.errors import ConfigError, TrainingError
from quaton.runs import atomic_write_bytes, atomic_write_text
from quaton.tasks import task_of

DISTRIBUTIONS = ("uniform", "loguniform", "randint", "choice")
# Keys a trial sets itself (its length is the scheduler's horizon; threads and progress follow from
# its reservation): searching them would contradict the search.
RESERVED = ("train.epochs", "train.threads", "train.progress", "train.device")


class AshaSpec(BaseModel):
    """ASHA's rungs: a trial may be stopped after grace_period · reduction_factor^k epochs."""

    model_config = ConfigDict(extra="forbid")
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(2.0, gt=1)


class TuneSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    base: str | None = None
    name: str | None = None
    out: str | None = None
    set: dict[str, Any] = Field(default_factory=dict)
    metric: str | None = None
    mode: Literal["max", "min"] | None = None
    samples: int = Field(8, ge=1)
    concurrent: int | None = Field(None, ge=1)
    seed: int = Field(0, ge=0)
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    space: dict[str, Any] = Field(default_factory=dict)
    asha: AshaSpec = AshaSpec()


@dataclass(frozen=True)
class Dimension:
    """One searched key: a distribution and its arguments (bounds, or the choices)."""

    key: str
    kind: str
    args: tuple[Any, ...]

    def domain(self) -> Any:
        """The Ray Tune search domain (randint's upper end is exclusive in Ray, included here)."""
        from ray import tune

        if self.kind == "uniform":
            return tune.uniform(*self.args)
        if self.kind == "loguniform":
            return tune.loguniform(*self.args)
        if self.kind == "randint":
            return tune.randint(self.args[0], self.args[1] + 1)
        return tune.choice(list(self.args))

    def extremes(self) -> tuple[Any, ...]:
        """Values that together cover what can be sampled: both bounds, or every choice."""
        return self.args

    def interior(self) -> Any | None:
        """A value inside a continuous range (fractional, as most samples are), None for the others."""
        if self.kind not in ("uniform", "loguniform"):
            return None
        low, high = self.args
        if self.kind == "loguniform":
            return math.exp(math.log(low) + 0.37 * (math.log(high) - math.log(low)))
        return low + 0.37 * (high - low)

    def describe(self) -> str:
        return f"{self.kind} {list(self.args)}"


@dataclass(frozen=True)
class TunePlan:
    """A validated search: nothing has run."""

    spec: TuneSpec
    path: Path
    name: str
    out: Path
    base: dict[str, Any]  # the base config's mapping (not yet validated)
    overrides: list[str]  # set: and the command line's --set, as dotted.key=value
    config: Config  # base + overrides: what every trial starts from
    dimensions: list[Dimension]
    metric: str
    mode: str
    epochs: int

    def trial_config(self, params: dict[str, Any], extra: list[str] | None = None) -> Config:
        """The config of a trial that sampled ``params`` ({dotted key: value})."""
        return build_config(
            self.base, self.overrides + [override(k, plain(v)) for k, v in params.items()] + list(extra or [])
        )


def override(key: str, value: Any) -> str:
    """A ``dotted.key=value`` override, the value as JSON (which YAML reads back unchanged)."""
    return f"{key}={json.dumps(value, default=str)}"


def plain(value: Any) -> Any:
    """A numpy scalar (Optuna samples some) as the Python number it holds."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def load_tune(path: str | Path) -> tuple[TuneSpec, Path]:
    path = existing_file(path, "space file")  # or one shipped with quaton (quaton sweep paper/qpi)
    try:
        data = yaml.safe_load(path.read_text()) or {}
        spec = TuneSpec.model_validate(data)
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    except ValidationError as error:
        raise ConfigError(
            format_validation_error(error).replace("invalid config", f"invalid space file {path}")
        ) from None
    return spec, path


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_dimension(key: str, entry: Any) -> Dimension:
    """``{loguniform: [low, high]}`` and the like -> a Dimension; ConfigError (naming ``space.KEY``) if malformed."""
    where = f"space.{key}"
    example = "e.g. {loguniform: [1.0e-3, 1.0e-1]} or {choice: [8, 16]}"
    if not isinstance(entry, dict) or len(entry) != 1:
        raise ConfigError(f"{where}: give exactly one distribution, {example}")
    kind, args = next(iter(entry.items()))
    if kind not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: unknown distribution {kind!r}; choose one of {', '.join(DISTRIBUTIONS)}")
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{where}: choice takes a non-empty list of values, e.g. {{choice: [8, 16, 32]}}")
        for value in args:
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise ConfigError(
                    f"{where}: choice values must be numbers, strings, booleans or null (Optuna's categories), "
                    f"not {value!r}"
                )
        return Dimension(key, kind, tuple(args))
    if not isinstance(args, list) or len(args) != 2 or not all(_is_number(v) for v in args):
        raise ConfigError(f"{where}: {kind} takes [low, high], two finite numbers, e.g. {{{kind}: [1, 4]}}")
    low, high = args
    if not low < high:
        raise ConfigError(f"{where}: {kind} bounds must be ordered low < high, got [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(
            f"{where}: loguniform bounds must be positive, got [{low}, {high}]; use uniform for a range that reaches 0"
        )
    if kind == "randint" and not all(isinstance(v, int) for v in args):
        raise ConfigError(f"{where}: randint bounds must be integers (both included), got [{low}, {high}]")
    return Dimension(key, kind, (low, high))


def validation_metrics(config: Config) -> list[str]:
    """The metrics a trial of ``config`` reports every epoch, primary first: the test metrics of
    metrics.json measured on the validation split (test_x -> val_x), and train_loss."""
    from quaton.experiments.sweep import reported_metrics

    names = [m.replace("test_", "val_", 1) for m in reported_metrics(config)]
    primary = primary_metric(config)
    return [primary] + [n for n in names if n != primary] + ["train_loss"]


def primary_metric(config: Config) -> str:
    """metrics.json's primary_metric for a run of ``config``, as its validation metric."""
    primary = task_of(config).primary
    return f"val_physical_{primary}" if config.physical.system is not None else f"val_{primary}"


def plan_tune(path: str | Path, extra: list[str] | None = None) -> TunePlan:
    """Read and validate a space file (every space key's bounds or choices against the config,
    the metric, the scheduler and the output directory); nothing is run."""
    from quaton.experiments.table import lower_is_better

    spec, path = load_tune(path)
    where = f"tune {path}"
    base: dict[str, Any] = {}
    if spec.base:
        try:
            base = read_config_data((path.parent / spec.base).resolve())
        except ConfigError as error:
            raise ConfigError(f"{where}: base: {error}") from None
    overrides = [override(k, v) for k, v in spec.set.items()] + list(extra or [])
    try:
        config = build_config(base, overrides)
    except ConfigError as error:
        raise ConfigError(f"{where}: base with set: {error}") from None
    if not spec.space:
        raise ConfigError(
            f"{where}: space is empty; give at least one key to search, "
            f"e.g. space: {{train.lr: {{loguniform: [1.0e-3, 1.0e-1]}}}}"
        )
    dimensions = []
    for key, entry in spec.space.items():
        if key in RESERVED:
            raise ConfigError(
                f"{where}: space.{key} cannot be searched: every trial sets it ({', '.join(RESERVED)}); "
                "set train.epochs under set:"
            )
        try:
            dimension = parse_dimension(key, entry)
        except ConfigError as error:
            raise ConfigError(f"{where}: {error}") from None
        for value in dimension.extremes():
            try:
                build_config(base, overrides + [override(key, value)])
            except ConfigError as error:
                raise ConfigError(
                    f"{where}: space key {key!r} = {value!r} does not give a valid config: {error}"
                ) from None
        inside = dimension.interior()
        if inside is not None:
            try:
                build_config(base, overrides + [override(key, inside)])
            except ConfigError as error:
                raise ConfigError(
                    f"{where}: space key {key!r} = {inside:.4g} (a sample of {dimension.kind}) "
                    f"does not give a valid config: {error}; sample an integer key with randint or choice"
                ) from None
        dimensions.append(dimension)
    epochs = config.train.epochs
    if epochs < 1:
        raise ConfigError(
            f"{where}: train.epochs is {epochs}; "
            "a search needs at least 1 epoch per trial (set train.epochs under set:)"
        )
    if spec.asha.grace_period > epochs:
        raise ConfigError(
            f"{where}: asha.grace_period ({spec.asha.grace_period}) exceeds train.epochs ({epochs}); "
            "lower it or train longer"
        )
    allowed = validation_metrics(config)
    metric = spec.metric or allowed[0]
    if metric not in allowed:
        raise ConfigError(
            f"{where}: metric {metric!r} is not reported every epoch by these runs; choose one of {', '.join(allowed)}"
        )
    mode = spec.mode or ("min" if lower_is_better(metric) else "max")
    name = spec.name or path.stem
    out = Path(spec.out) if spec.out else Path("runs") / "tune" / name
    _check_out(out, where)
    return TunePlan(spec, path, name, out, base, overrides, config, dimensions, metric, mode, epochs)


def _check_out(out: Path, where: str) -> None:
    """``out`` must be a directory this process can write in (or create)."""
    from quaton.errors import OutputPathError
    from quaton.paths import check_writable_directory

    try:
        check_writable_directory(out, "out:")
    except OutputPathError as error:
        raise ConfigError(f"{where}: {error}") from None


def check_no_earlier_search(out: Path, where: str) -> None:
    """A search starts in an ``out`` that holds no earlier one: their trials and Ray's state would mix."""
    for earlier in (out / "ray", out / "trials", out / "trials.csv"):
        if earlier.exists():
            raise ConfigError(
                f"{where}: {out} holds an earlier search ({earlier.name}); "
                f"delete {out} or set out: to another directory"
            )


# --- one trial (in a Ray worker) --------------------------------------------------------------


def validation_data(config: Config):
    """The data a trial gets: the training set, with its ``train.validation_size`` held-out images
    (the split every run holds out, :func:`quaton.builder.split_validation`) in place of the test
    split, so that a trial never reads the test set. Returns a PreparedData."""
    from quaton.builder import PreparedData, prepare_data, split_validation

    data = prepare_data(config)
    _, x_val, y_val = split_validation(config, data)
    return PreparedData(
        data.x_train, data.y_train, x_val, y_val, data.classes, f"{data.source} (validation split of the training set)"
    )


def validation_record(record: dict[str, Any]) -> dict[str, Any]:
    """An epoch's history record as Tune's result: its validation metrics (val_x) and train_loss."""
    return {
        "epoch": record["epoch"],
        "train_loss": record["train_loss"],
        **{key: value for key, value in record.items() if key.startswith("val_")},
    }


def train_trial(config: Config, run_dir: Path, report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Train ``config`` into ``run_dir`` on the validation split, calling ``report`` with each epoch's
    validation metrics; returns the run's final metrics (measured on the validation split).

    The last epoch is reported after the run is finished (metrics.json, figures): Tune stops a trial
    at the report that reaches its horizon, and the run directory should be complete by then."""
    from quaton.train.loop import train

    last: list[dict[str, Any]] = []

    def on_epoch(record: dict[str, Any]) -> None:
        if record["epoch"] < config.train.epochs:
            report(validation_record(record))
        else:
            last.append(validation_record(record))

    metrics = train(config, run_dir, data=validation_data(config), on_epoch=on_epoch)
    for record in last:
        report(record)
    return metrics


@dataclass(frozen=True)
class TrialJob:
    """What every trial needs besides its sampled params (sent once to the workers)."""

    base: dict[str, Any]
    overrides: list[str]  # set: and --set
    reservation: list[str]  # train.threads, train.progress and train.device of the trial's reservation
    trials_dir: str  # absolute
    cwd: str  # the driver's working directory: relative paths in the config are relative to it


def run_trial(params: dict[str, Any], job: TrialJob) -> None:
    """Body of a Ray Tune trial: build its config, train it into ``trials_dir/TRIAL_ID``, report every epoch."""
    from ray import tune

    os.chdir(job.cwd)  # Ray starts workers elsewhere
    sampled = [override(k, plain(v)) for k, v in params.items()]
    config = build_config(job.base, job.overrides + sampled + job.reservation)
    run_dir = Path(job.trials_dir) / tune.get_context().get_trial_id()
    train_trial(config, run_dir, tune.report)


# --- the search (the driver) -----------------------------------------------------------------


def _import_tune() -> Any:
    try:
        import optuna  # noqa: F401
        import ray.tune  # noqa: F401
    except ImportError:
        raise ConfigError(
            "quaton tune needs Ray Tune and Optuna: pip install 'quaton[ray]' (or pip install 'ray[tune]' optuna)"
        ) from None
    import ray

    return ray


def _trial_dirname(trial: Any) -> str:
    return trial.trial_id


def _echo_callback(echo: Callable[[str], None], metric: str) -> Any:
    """A Tune callback that says when each trial reports an epoch, ends or fails."""
    from ray.tune import Callback

    class Echo(Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            params = ", ".join(f"{k}={_short(v)}" for k, v in trial.config.items())
            echo(
                f"trial {trial.trial_id} epoch {result.get('epoch')}: "
                f"{metric} {result.get(metric, float('nan')):.4f} ({params})"
            )

        def on_trial_error(self, iteration, trials, trial, **info):
            echo(f"trial {trial.trial_id} failed: see {trial.path}")

    return Echo()


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def run_tune(
    path: str | Path, extra: list[str] | None = None, address: str | None = None, echo: Callable[[str], None] = print
) -> tuple[Path, Path]:
    """Run the search of a space file on Ray (the cluster at ``address``, $RAY_ADDRESS, or a new local
    instance); write best.yaml, trials.csv, trials.md and trials.png in ``out``; return (out, best.yaml)."""
    plan = plan_tune(path, extra)
    check_no_earlier_search(plan.out, f"tune {plan.path}")
    ray = _import_tune()
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from quaton.experiments.cluster import connect

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = plan.spec
    threads = max(1, int(spec.cpus_per_trial))
    device = "cuda" if spec.gpus_per_trial > 0 else plan.config.train.device
    reservation = [f"train.threads={threads}", "train.progress=false", override("train.device", device)]
    job = TrialJob(plan.base, plan.overrides, reservation, str((plan.out / "trials").resolve()), os.getcwd())
    resources = {"cpu": spec.cpus_per_trial, **({"gpu": spec.gpus_per_trial} if spec.gpus_per_trial > 0 else {})}
    echo(
        f"tune {plan.out}: {spec.samples} trials of {plan.epochs} epochs, "
        f"{spec.concurrent or 'as many as fit'} at a time, {plan.mode} {plan.metric}; space: "
        + "; ".join(f"{d.key} {d.describe()}" for d in plan.dimensions)
    )
    started = connect(address)
    try:
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(run_trial, job=job), resources),
            param_space={d.key: d.domain() for d in plan.dimensions},
            tune_config=tune.TuneConfig(
                metric=plan.metric,
                mode=plan.mode,
                search_alg=OptunaSearch(sampler=optuna.samplers.TPESampler(seed=spec.seed)),
                scheduler=ASHAScheduler(
                    time_attr="training_iteration",
                    max_t=plan.epochs,
                    grace_period=spec.asha.grace_period,
                    reduction_factor=spec.asha.reduction_factor,
                ),
                num_samples=spec.samples,
                max_concurrent_trials=spec.concurrent,
                reuse_actors=True,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=plan.name,
                storage_path=str((plan.out / "ray").resolve()),
                verbose=0,
                callbacks=[_echo_callback(echo, plan.metric)],
            ),
        )
        results = tuner.fit()
    finally:
        if started:
            ray.shutdown()
    rows, curves = collect(plan, results)
    best_path = write_outputs(plan, rows, curves)
    return plan.out, best_path


def collect(plan: TunePlan, results: Any) -> tuple[list[dict[str, Any]], dict[str, list[tuple[int, float]]]]:
    """One row per trial (in the order Tune lists them: as they were created) and each trial's (epoch, metric) curve."""
    rows, curves = [], {}
    for result in results:
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name
        params = {d.key: plain(result.config.get(d.key)) for d in plan.dimensions}
        frame = result.metrics_dataframe
        curve: list[tuple[int, float]] = []
        if frame is not None and plan.metric in frame:
            curve = [
                (int(e), float(v))
                for e, v in zip(frame["training_iteration"], frame[plan.metric])
                if not math.isnan(float(v))
            ]
        epochs = curve[-1][0] if curve else 0
        if result.error is not None:
            status = f"failed ({type(result.error).__name__})"
        elif epochs < plan.epochs:
            status = "stopped by ASHA"
        else:
            status = "completed"
        values = [v for _, v in curve]
        best_value = (min(values) if plan.mode == "min" else max(values)) if values else None
        rows.append(
            {
                "trial": trial_id,
                **params,
                "epochs": epochs,
                "status": status,
                f"final_{plan.metric}": values[-1] if values else None,
                f"best_{plan.metric}": best_value,
                "run": str(plan.out / "trials" / trial_id),
                "best": "",
            }
        )
        curves[trial_id] = curve
    return rows, curves


def best_row(rows: list[dict[str, Any]], metric: str, mode: str) -> dict[str, Any]:
    """The trial with the best final metric; ties go to the trial that ran longer, then the earlier one."""
    final = f"final_{metric}"
    scored = [row for row in rows if row[final] is not None and not row["status"].startswith("failed")]
    if not scored:
        raise TrainingError(
            f"no trial reported {metric}; see the trials' errors under {rows[0]['run'] if rows else 'out/ray'}"
        )
    sign = 1.0 if mode == "max" else -1.0
    return max(scored, key=lambda row: (sign * row[final], row["epochs"], -rows.index(row)))


def write_outputs(plan: TunePlan, rows: list[dict[str, Any]], curves: dict[str, list[tuple[int, float]]]) -> Path:
    """best.yaml (the best trial's full config), trials.csv, trials.md and trials.png in ``plan.out``."""
    best = best_row(rows, plan.metric, plan.mode)
    best["best"] = "best"
    params = {d.key: best[d.key] for d in plan.dimensions}
    config = plan.trial_config(params, [override("name", f"{plan.name}-best")])
    best_path = plan.out / "best.yaml"
    header = (
        f"# The best trial ({best['trial']}) of the search {plan.path}: {plan.metric} "
        f"{best[f'final_{plan.metric}']:.4f} on the validation split after {best['epochs']} epochs.\n"
        f"# Train it on the whole training set and test it:  quaton train {best_path}\n"
    )
    atomic_write_text(best_path, header + dump_config(config))
    columns = list(rows[0])
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(plan.out / "trials.csv", buffer.getvalue())
    atomic_write_text(plan.out / "trials.md", trials_markdown(plan, rows, columns))
    plot_trials(plan.out / "trials.png", curves, best["trial"], plan.metric, plan.mode)
    return best_path


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def trials_markdown(plan: TunePlan, rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = [
        f"Search {plan.name}: {len(rows)} trials, {plan.mode} {plan.metric} (on images held out of the training set), "
        f"up to {plan.epochs} epochs; ASHA grace period {plan.spec.asha.grace_period}, "
        f"reduction factor {plan.spec.asha.reduction_factor:g}. "
        "Space: " + "; ".join(f"{d.key} {d.describe()}" for d in plan.dimensions) + ".",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        cells = [_cell(row[c]) for c in columns]
        if row["best"]:
            cells = [f"**{cell}**" for cell in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_trials(path: Path, curves: dict[str, list[tuple[int, float]]], best: str, metric: str, mode: str) -> None:
    """The metric against epoch for every trial, the best one drawn bold (PNG, written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(6, 4))
    others: str | None = "other trials"
    for trial, curve in curves.items():
        if not curve:
            continue
        epochs, values = zip(*curve)
        if trial == best:
            axes.plot(epochs, values, "o-", color="C3", linewidth=2.5, zorder=3, label=f"best ({trial})")
        else:
            axes.plot(epochs, values, "o-", color="0.6", linewidth=1, alpha=0.8, label=others)
            others = None  # one legend entry for all of them
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"{metric} ({'lower' if mode == 'min' else 'higher'} is better)")
    locator = axes.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # the default AutoLocator is one
        locator.set_params(integer=True)
    axes.legend(loc="best")
    axes.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    plt.close(figure)
    atomic_write_bytes(path, buffer.getvalue())
