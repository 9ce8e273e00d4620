"""The physical-system protocol: what quaton asks of a real or simulated optical network.

The protocol is all quaton ever asks of a physical system (no gradients, no internals):

- ``system.load(params)``: set the device parameters; for a D2NN, the phase masks as a list of
  float radian arrays [N, N] in layer order (what the hard device would be printed or displayed with);
  for an MZI mesh, one dict per mesh (``quaton.systems.mzi_twin``);
- ``system.measure(inputs)``: for a D2NN, ``inputs`` are encoded complex input fields [B, N, N];
  returns ``{"output": detector intensities [B, N, N]}`` and optionally ``"internal"``: a list of
  intensities [B, N, N] after each layer.

A config names a system by import path, ``physical.system: "package.module:factory"`` with
``physical.options``; the factory is called as ``factory(design, **options)`` with the design
description as a dict in the quaton-design v1 form (design.json without the layer files). A lab
wraps its SLMs and camera the same way, in its own module on PYTHONPATH.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

from quaton.errors import ConfigError

# Where quaton's own twins were before the re-homing (issue 28): a run directory written then names
# them so, and still resumes and evaluates.
MOVED_SYSTEMS = {
    "quaton.hardware.physical:d2nn_twin": "quaton.systems.d2nn_twin:d2nn_twin",
    "quaton.hardware.mzi_twin:mzi_twin": "quaton.systems.mzi_twin:mzi_twin",
}


@runtime_checkable
class PhysicalSystem(Protocol):
    def load(self, params: list[np.ndarray]) -> None: ...

    def measure(self, inputs: torch.Tensor) -> dict[str, Any]: ...


def load_system(spec: str, design: dict[str, Any], options: dict[str, Any] | None = None) -> PhysicalSystem:
    """Import ``package.module:factory`` and call ``factory(design, **options)``."""
    spec = MOVED_SYSTEMS.get(spec, spec)
    module_name, _, factory_name = spec.partition(":")
    if not module_name or not factory_name:
        raise ConfigError(f"physical.system {spec!r}: expected 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError) as error:
        raise ConfigError(f"physical.system {spec!r} cannot be imported: {error}") from None
    try:
        system = factory(design, **(options or {}))
    except (TypeError, ValueError) as error:  # an unknown or ill-typed option
        raise ConfigError(f"physical.options {options!r} rejected by {spec}: {error}") from None
    if not isinstance(system, PhysicalSystem):
        raise ConfigError(
            f"physical.system {spec!r} returned {type(system).__name__}, which lacks load(params) and measure(inputs)"
        )
    return system
