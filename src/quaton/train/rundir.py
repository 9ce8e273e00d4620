"""Resuming a run directory: which checkpoint training continues from, and the RNG state it restores
(the run-directory files themselves, layout, atomic writes and checkpoints, are quaton.runs')."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from quaton.builder import DEFAULT_TEMPERATURES
from quaton.config import Config, dump_config
from quaton.errors import RunDirError
from quaton.models import trains_with_system
from quaton.runs import CHECKPOINT, CONFIG, config_differences, load_checkpoint


def epoch_dependent_schedules(config: Config) -> list[str]:
    """The parts of a run's schedule that are laid out over ``train.epochs`` (so that a run cannot
    simply go on for more epochs): a cosine learning rate, a quantizer temperature ramp, DAT's warm-up."""
    with_system = trains_with_system(config)  # train.dat's loop
    found = []
    if config.train.scheduler == "cosine" and not (with_system and config.train.schedule_step):
        found.append("train.scheduler is cosine, annealed over train.epochs")
    quant = config.quantization
    if quant.method != "none":
        start, end = DEFAULT_TEMPERATURES.get(quant.method, (1.0, 1.0))
        if (quant.schedule.start or start) != (quant.schedule.end or end):
            found.append(f"the {quant.method} temperature ramps over train.epochs (quantization.schedule)")
    if with_system and config.train.strategy in ("dat", "calibrated") and config.dat.warmup_fraction:
        found.append("dat.warmup_fraction is a fraction of train.epochs")
    return found


# Keys that say how a run is executed, not what it computes: a run may resume with other values
# (a sweep restarted with more threads per run); the numbers agree up to float summation order.
EXECUTION_KEYS = ("train.threads", "train.progress", "train.log")


def resumable_checkpoint(run_dir: Path, config: Config, marker: str) -> dict[str, Any] | None:
    """The run directory's checkpoint if training continues from it, None if there is none to keep.

    Training continues from a checkpoint written for the same resolved config, or for one that
    differs only in how it is executed (``EXECUTION_KEYS``: threads, progress display, logging), or only in a
    larger ``train.epochs`` when no schedule is laid out over the epochs (then the
    run goes on from its last epoch). A checkpoint of any other config is never silently replaced:
    RunDirError names the differing keys and the choices (``--fresh``, another ``--run-dir``). A
    checkpoint without the training state (the ``marker`` key, e.g. a 0-epoch run) is None.
    """
    checkpoint, saved = run_dir / CHECKPOINT, run_dir / CONFIG
    if not checkpoint.is_file():
        return None
    config_text = dump_config(config)
    if not saved.is_file():
        raise RunDirError(
            f"{run_dir} holds a checkpoint but no {CONFIG}, so it cannot be resumed: start over with --fresh "
            f"(which overwrites the checkpoint) or train into another --run-dir"
        )
    differences = config_differences(saved.read_text(), config_text)
    differences = {key: change for key, change in differences.items() if key not in EXECUTION_KEYS}
    if differences:
        _refuse_or_extend(run_dir, config, differences)
    state = load_checkpoint(checkpoint)
    return state if marker in state else None


def _refuse_or_extend(run_dir: Path, config: Config, differences: dict[str, tuple[Any, Any]]) -> None:
    """Return if the run may go on for more epochs; else raise RunDirError saying what to do."""
    listed = ", ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in ((k, *v) for k, v in differences.items()))
    choices = (
        f"train into another --run-dir, or pass --fresh to start over in {run_dir} (its checkpoint and "
        f"metrics are overwritten)"
    )
    more_epochs = (
        set(differences) == {"train.epochs"}
        and isinstance(differences["train.epochs"][0], int)
        and differences["train.epochs"][1] > differences["train.epochs"][0]
    )
    if more_epochs:
        blockers = epoch_dependent_schedules(config)
        if not blockers:
            return
        raise RunDirError(
            f"{run_dir} holds a run of {differences['train.epochs'][0]} epochs; it cannot continue to "
            f"{differences['train.epochs'][1]} because {'; '.join(blockers)} (more epochs would change the epochs "
            f"already trained): {choices}"
        )
    extend = " (only a larger train.epochs, with no schedule laid out over the epochs, continues a run)"
    raise RunDirError(f"{run_dir} holds a run of another config ({listed}); it is kept: {choices}{extend}")


def rng_state(shuffle: torch.Generator) -> dict[str, torch.Tensor]:
    """The random generators a resumed run must restore: torch's global one and the data order's."""
    return {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}


def restore_rng(state: dict[str, torch.Tensor], shuffle: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
