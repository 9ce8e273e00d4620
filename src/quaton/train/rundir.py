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
    except Exception as error:  # torch raises many types for a corrupt or unsafe file
        raise RunDirError(f"checkpoint {path} is corrupt or not a quaton checkpoint: {error}") from None
    if not isinstance(state, dict) or "model" not in state:
        raise RunDirError(f"checkpoint {path} is not a quaton checkpoint (no model state)")
    return state


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line (rewriting the file atomically keeps earlier lines intact)."""
    previous = path.read_text() if path.exists() else ""
    atomic_write_text(path, previous + json.dumps(record) + "\n")


def write_json(path: Path, record: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RunDirError(f"{path} does not exist")
    return json.loads(path.read_text())


def resumable_checkpoint(run_dir: Path, config_text: str, marker: str) -> dict[str, Any] | None:
    """The run directory's checkpoint if training can continue from it: written for the same
    resolved config (``config_text``) and holding the training state (the ``marker`` key); else None."""
    checkpoint, config = run_dir / CHECKPOINT, run_dir / CONFIG
    if not (checkpoint.is_file() and config.is_file() and config.read_text() == config_text):
        return None
    state = load_checkpoint(checkpoint)
    return state if marker in state else None


def rng_state(shuffle: torch.Generator) -> dict[str, torch.Tensor]:
    """The random generators a resumed run must restore: torch's global one and the data order's."""
    return {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}


def restore_rng(state: dict[str, torch.Tensor], shuffle: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    shuffle.set_state(state["shuffle"])
