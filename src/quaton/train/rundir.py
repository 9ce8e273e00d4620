"""Run directories: resolved config, checkpoints, metrics, figures. Every write is atomic.

Layout::

    RUN_DIR/config.yaml        the resolved config (every default written out)
    RUN_DIR/checkpoint.pt      the latest complete checkpoint (tensors and plain data only)
    RUN_DIR/metrics.jsonl      one JSON line per epoch
    RUN_DIR/metrics.json       final metrics
    RUN_DIR/figures/*.png      pictures
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml

from quaton.config import Config, dump_config
from quaton.errors import RunDirError

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.yaml"
METRICS = "metrics.json"
HISTORY = "metrics.jsonl"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """torch.save ``state`` atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        torch.save(state, temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``: tensors and plain data, never code."""
    if not path.is_file():
        raise RunDirError(f"no checkpoint at {path}: train first (quaton train CONFIG --run-dir {path.parent})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises many types for a corrupt, truncated or unsafe file
        # torch's own text is left out on purpose: it suggests loading with weights_only=False, which
        # would let the file run code.
        raise RunDirError(_unreadable(path, "is corrupt or not a quaton checkpoint: it cannot be read as one (tensors and plain data)")) from None
    if not isinstance(state, dict) or "model" not in state:
        raise RunDirError(_unreadable(path, "is not a quaton checkpoint (it holds no model state)"))
    return state


def _unreadable(path: Path, what: str) -> str:
    return (
        f"checkpoint {path} {what}. Restore it from a copy, or retrain the run from the start with "
        f"quaton train CONFIG --run-dir {path.parent} --fresh (which overwrites it)"
    )


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line (rewriting the file atomically keeps earlier lines intact)."""
    previous = path.read_text() if path.exists() else ""
    atomic_write_text(path, previous + json.dumps(record) + "\n")


def write_json(path: Path, record: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RunDirError(f"{path} does not exist")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RunDirError(f"{path} is unreadable or not JSON ({error}): restore it, or rerun what wrote it") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path} holds a JSON {type(data).__name__}, not an object: restore it, or rerun what wrote it")
    return data


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def config_differences(saved_text: str, config_text: str) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (saved value, new value) for every key where two resolved configs differ."""
    try:
        saved = _flatten(yaml.safe_load(saved_text) or {})
    except yaml.YAMLError:  # a damaged config.yaml: the run cannot be shown to be of this config
        return {CONFIG: ("unreadable YAML", "this config")}
    new = _flatten(yaml.safe_load(config_text) or {})
    return {key: (saved.get(key), new.get(key)) for key in sorted(saved.keys() | new.keys()) if saved.get(key) != new.get(key)}


def epoch_dependent_schedules(config: Config) -> list[str]:
    """The parts of a run's schedule that are laid out over ``train.epochs`` (so that a run cannot
    simply go on for more epochs): a cosine learning rate, a quantizer temperature ramp, DAT's warm-up."""
    from quaton.train.setup import DEFAULT_TEMPERATURES

    with_system = config.physical.system is not None or config.model.kind == "mzi"  # train.dat's loop
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


def resumable_checkpoint(run_dir: Path, config: Config, marker: str) -> dict[str, Any] | None:
    """The run directory's checkpoint if training continues from it, None if there is none to keep.

    Training continues from a checkpoint written for the same resolved config, or for one that
    differs only in a larger ``train.epochs`` when no schedule is laid out over the epochs (then the
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
    more_epochs = set(differences) == {"train.epochs"} and isinstance(differences["train.epochs"][0], int) and differences["train.epochs"][1] > differences["train.epochs"][0]
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
