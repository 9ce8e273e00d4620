"""Re-evaluating a finished run from its directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from quaton.config import Config, load_config
from quaton.errors import RunDirError
from quaton.models import D2NN
from quaton.train import rundir
from quaton.train.loop import calibrate, evaluate
from quaton.train.setup import build_model, build_readout, build_task, prepare_data


def load_run(run_dir: str | Path, overrides: list[str] | None = None) -> tuple[Config, D2NN, dict]:
    """The resolved config (with ``overrides``), the trained model (eval mode) and the checkpoint of a run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / rundir.CONFIG).is_file():
        raise RunDirError(f"{run_dir} is not a quaton run directory (no {rundir.CONFIG})")
    config = load_config(run_dir / rundir.CONFIG, overrides)
    state = rundir.load_checkpoint(run_dir / rundir.CHECKPOINT)
    model = build_model(config, initialize=False)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        raise RunDirError(f"checkpoint in {run_dir} does not fit its config: {error}") from None
    return config, model.eval(), state


def evaluate_run(run_dir: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Test-set metrics of a run's last checkpoint, on the device: the run's hardware models, or
    others given as ``overrides`` (e.g. hardware.readout.noise=0.75), with the run's calibration."""
    config, model, state = load_run(run_dir, overrides)
    data = prepare_data(config)
    task = build_task(config, len(data.classes) or 10)
    if config.physical.system is not None or config.model.kind == "mzi":
        # the ideal model and the physical system (overrides may name another system or error realisation)
        from quaton.hardware.physical import load_system
        from quaton.train.dat import Network, accuracies, design_for

        system = load_system(config.physical.system, design_for(config), config.physical.options) if config.physical.system else None
        result = accuracies(Network(config, model, task), system, data.x_test, data.y_test, config.train.eval_batch_size)
        return {**{f"{'physical_test' if k.startswith('physical') else 'test'}_accuracy": v for k, v in result.items()}, "test_size": len(data.x_test)}
    if "task" in state:
        task.load_state_dict(state["task"])
    readout = build_readout(config)
    if "readout" in state:
        readout.load_state_dict(state["readout"])
    else:
        calibrate(config, model, readout, data.x_train)
    result = evaluate(config, model, task, data.x_test, data.y_test, readout)
    return {**{f"test_{k}": v for k, v in result.items() if k != "confusion"}, "test_size": len(data.x_test), "confusion": result.get("confusion")}
