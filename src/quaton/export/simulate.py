"""Re-evaluating an exported design on a dataset, as designed and under perturbations.

Perturbations (``name=value``), each evaluated on its own:
- ``phase_noise=σ``: Gaussian phase error of σ rad per pixel, independent per layer (seeded);
- ``height_error=e``: every printed height, hence phase, scaled by (1 + e);
- ``shift=k`` or ``shift=L:k``: every layer (or layer L, counted from 1) moved k pixels along x
  (zero phase fills the vacated pixels);
- ``distance_error=e``: every distance scaled by (1 + e).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import torch

from quaton.export.design import Design, DesignError, design_config, load
from quaton.train.loop import evaluate
from quaton.train.setup import build_task, prepare_data

PERTURBATIONS = ("phase_noise", "height_error", "shift", "distance_error")


def parse_perturbation(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise DesignError(f"perturbation {text!r}: expected NAME=VALUE with NAME one of {PERTURBATIONS}")
    name, value = (part.strip() for part in text.split("=", 1))
    if name not in PERTURBATIONS:
        raise DesignError(f"unknown perturbation {name!r}; choose one of {PERTURBATIONS}")
    return name, value


def perturbed(design: Design, name: str, value: str, seed: int = 0) -> Design:
    """A copy of ``design`` with one perturbation applied."""
    description = copy.deepcopy(design.description)
    phases = [p.double().numpy() for p in design.phases()]
    rng = np.random.default_rng(seed)
    try:
        if name == "phase_noise":
            phases = [p + rng.normal(0.0, float(value), p.shape) for p in phases]
        elif name == "height_error":
            phases = [p * (1.0 + float(value)) for p in phases]
        elif name == "distance_error":
            description["distances"] = [d * (1.0 + float(value)) for d in description["distances"]]
        elif name == "shift":
            layer, _, pixels = value.rpartition(":")
            k = int(pixels)
            targets = [int(layer) - 1] if layer else range(len(phases))
            for t in targets:
                shifted = np.zeros_like(phases[t])
                if k >= 0:
                    shifted[:, k:] = phases[t][:, : phases[t].shape[1] - k]
                else:
                    shifted[:, :k] = phases[t][:, -k:]
                phases[t] = shifted
    except (ValueError, IndexError) as error:
        raise DesignError(f"perturbation {name}={value}: {error}") from None
    return Design(description, [np.mod(p, 2 * np.pi).astype(np.float32) for p in phases])


def simulate(design_dir: str | Path, perturbations: list[str] | None = None, overrides: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """Metrics of a design on its stored test set (``overrides`` change the data, e.g. data.test_size=500)."""
    design = load(design_dir)
    config = design_config(design)
    if overrides:
        from quaton.config import build_config

        config = build_config(config.model_dump(mode="json"), overrides)
    data = prepare_data(config)
    task = build_task(config, len(data.classes) or 10)
    gain = design.description.get("output", {}).get("gain")
    if gain is not None:
        with torch.no_grad():
            task.log_gain.fill_(float(np.log(gain)))
    cases = [("none", "", design)] + [(n, v, perturbed(design, n, v, seed)) for n, v in map(parse_perturbation, perturbations or [])]
    results = []
    for name, value, candidate in cases:
        metrics = evaluate(config, candidate.network, task, data.x_test, data.y_test)
        results.append({"perturbation": name, "value": value, **{k: v for k, v in metrics.items() if k != "confusion"}})
    return {"dataset": config.data.dataset, "test_size": len(data.x_test), "primary_metric": task.primary_metric, "results": results}
