"""Re-evaluating a finished run from its directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from quaton.builder import build_readout, build_task, load_run, prepare_data
from quaton.evaluation import calibrate, evaluate
from quaton.models import trains_with_system
from quaton.systems.protocol import load_system
from quaton.tasks import Classifier
from quaton.train.dat import CameraSystem, Network, accuracies, design_for

__all__ = ["evaluate_run", "load_run"]  # load_run lives in quaton.builder (below train/ and export/)


def evaluate_run(run_dir: str | Path, overrides: list[str] | None = None) -> dict[str, Any]:
    """Test-set metrics of a run's last checkpoint, on the device: the run's hardware models, or
    others given as ``overrides`` (e.g. hardware.readout.noise=0.75), with the run's calibration."""
    config, model, state = load_run(run_dir, overrides)
    data = prepare_data(config)
    task = build_task(config, len(data.classes) or 10)
    readout = build_readout(config)
    if "readout" in state:
        readout.load_state_dict(state["readout"])
    else:
        calibrate(config, model, readout, data.x_train)
    if trains_with_system(config):
        # the ideal model and the physical system (overrides may name another system or error realisation),
        # both read through the run's camera as training measured them (a classifier: the config allows no other)
        camera = None if readout.ideal else readout
        system: Any = (
            load_system(config.physical.system, design_for(config), config.physical.options)
            if config.physical.system
            else None
        )
        if system is not None and camera is not None:
            system = CameraSystem(system, camera)
        network = Network(config, model, cast(Classifier, task), camera=camera)
        result = accuracies(network, system, data.x_test, data.y_test, config.train.eval_batch_size)
        return {
            **{f"{'physical_test' if k.startswith('physical') else 'test'}_accuracy": v for k, v in result.items()},
            "test_size": len(data.x_test),
        }
    if "task" in state:
        task.load_state_dict(state["task"])
    result = evaluate(config, model, task, data.x_test, data.y_test, readout)
    return {
        **{f"test_{k}": v for k, v in result.items() if k != "confusion"},
        "test_size": len(data.x_test),
        "confusion": result.get("confusion"),
    }
