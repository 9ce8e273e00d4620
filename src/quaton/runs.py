"""Run directories: resolved config, checkpoints, metrics, figures. Every write is atomic.

Below train/ and export/, so that both can read and write runs (training resumes through
quaton.train.rundir, which adds the resume rules).

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
        raise RunDirError(
            _unreadable(
                path, "is corrupt or not a quaton checkpoint: it cannot be read as one (tensors and plain data)"
            )
        ) from None
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
        raise RunDirError(
            f"{path} holds a JSON {type(data).__name__}, not an object: restore it, or rerun what wrote it"
        )
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
    return {
        key: (saved.get(key), new.get(key))
        for key in sorted(saved.keys() | new.keys())
        if saved.get(key) != new.get(key)
    }
