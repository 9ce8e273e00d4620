"""Simulated physical twin of an MZI-mesh network (DAT, Zheng et al., Nat. Mach. Intell. 2023).

It implements the physical-system protocol of :mod:`quaton.systems.d2nn_twin`:

- ``twin.load(params)``: one dict per mesh ``{"theta": [n_mzi], "phi": [n_mzi], "gamma": [ports]}``
  (float radians, mesh order; what ``MZINetwork.device_params()`` returns);
- ``twin.measure(inputs)``: encoded input fields complex [B, ports] -> ``{"output": [B, ports],
  "internal": [[B, ports] after mesh l, for every mesh but the last]}``, raw port powers |E|²
  (the model's class read-out L2-normalises them over the ports).

The device is the ideal model with fixed, seeded systematic errors drawn once per realisation
(``seed``), the DAT error model: every coupler's split ratio off by e ~ N(0, sigma_bs²), every
phase shifter θ, φ off by N(0, sigma_ps²) rad. The twin owns its network; it never shares
parameters with the model being trained.

Config: ``physical.system: "quaton.systems.mzi_twin:mzi_twin"``, ``physical.options:
{sigma_bs: 0.05, sigma_ps: 0.05, seed: 0}``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from quaton.errors import ConfigError
from quaton.models import mzi
from quaton.models.mzi import MeshErrors, MZINetwork, draw_mesh_errors

__all__ = ["MZITwin", "mzi_twin"]


class MZITwin:
    """A simulated MZI-mesh device: ``design["model"]`` gives ``ports`` (default 64) and ``meshes`` (default 3)."""

    def __init__(self, design: dict[str, Any], *, sigma_bs: float = 0.0, sigma_ps: float = 0.0, seed: int = 0) -> None:
        model = dict(design.get("model", {}))
        kind = model.get("kind", mzi.KIND)
        if kind != mzi.KIND:
            raise ConfigError(
                f"model.kind: the MZI twin simulates {mzi.KIND!r} designs, got {kind!r}; use that kind's twin"
            )
        if sigma_bs < 0 or sigma_ps < 0:
            raise ConfigError(f"physical.options: sigma_bs and sigma_ps must be >= 0, got {sigma_bs}, {sigma_ps}")
        self.ports, self.meshes = int(model.get("ports", 64)), int(model.get("meshes", 3))
        self.sigma_bs, self.sigma_ps, self.seed = sigma_bs, sigma_ps, seed
        self.network = MZINetwork(
            ports=self.ports, meshes=self.meshes, classes=1, seed=seed, activation=model.get("activation")
        ).eval()
        self.network.requires_grad_(False)
        generator = torch.Generator().manual_seed(seed)
        self.errors: list[MeshErrors] = [
            draw_mesh_errors(self.ports, sigma_bs, sigma_ps, generator) for _ in range(self.meshes)
        ]
        self._loaded = False

    def true_parameters(self) -> dict[str, np.ndarray]:
        """The drawn errors (a twin knows its truth; a lab does not): bs [meshes, n_mzi, 2], theta and
        phi [meshes, n_mzi] (rad), as :meth:`quaton.systems.calibrate_mzi.ParametricMZI.values` reports them."""
        return {
            name: torch.stack([getattr(e, name) for e in self.errors]).double().numpy()
            for name in ("bs", "theta", "phi")
        }

    def load(self, params: list[dict[str, np.ndarray]]) -> None:
        """Set every mesh's phases (rad): one dict {"theta", "phi", "gamma"} per mesh."""
        self.network.load_device_params(params)
        self._loaded = True

    @torch.no_grad()
    def measure(self, inputs: torch.Tensor) -> dict[str, Any]:
        """Input fields complex [B, ports] -> {"output": |E|² [B, ports] after the last mesh, "internal":
        [|E|² [B, ports] after each other mesh]}: raw detected powers in the input's units (the
        network's class read-out normalises them; a lab's calibrated photodiodes report the same)."""
        if not self._loaded:
            raise RuntimeError("load(params) before measure(inputs)")
        if inputs.shape[-1] != self.ports:
            raise ValueError(f"the twin has {self.ports} ports, got inputs of shape {tuple(inputs.shape)}")
        if not inputs.is_complex():
            inputs = inputs.to(torch.complex64)
        self.network.to(inputs.device)
        errors = [e.to(inputs.device) for e in self.errors]
        _, fields = self.network.stages(inputs, errors)
        powers = [f.real.square() + f.imag.square() for f in fields]
        return {"output": powers[-1], "internal": powers[:-1]}


def mzi_twin(design: dict[str, Any], **options: Any) -> MZITwin:
    """Factory for ``physical.system: "quaton.systems.mzi_twin:mzi_twin"``."""
    return MZITwin(design, **options)
