"""Plug in your own physical system: quaton asks only ``load(params)`` and ``measure(inputs)``.

    python examples/stub_lab.py [--smoke] [--out runs/lab-example]

``StubLab`` stands in for a bench: it "prints" the masks quaton loads with every mask shifted by one
pixel (a misalignment the simulation does not know of) and "measures" the camera image by its own
numpy propagation. Replace its two methods by your SLM and camera calls; the config names the
factory as ``physical.system: "your_module:factory"`` (here this very script). PAT then trains the
simulation's gradients at the bench's operating point, and the run reports the accuracy measured on
the bench beside the simulated one.
"""

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

import quaton


class StubLab:
    """A D2NN bench: masks shifted by ``shift`` px, numpy angular-spectrum propagation, a camera."""

    def __init__(self, design: dict[str, Any], shift: int = 1) -> None:
        self.grid = design["grid"][0]
        self.pitch, self.wavelength = design["pitch"], design["wavelength"]
        self.distances = design["distances"]
        self.shift = shift
        self.masks: list[np.ndarray] = []

    def load(self, params: list[np.ndarray]) -> None:
        """The phase masks (rad, [N, N] each), as the SLMs are written or the plates printed."""
        self.masks = [np.roll(np.asarray(phase), self.shift, axis=1) for phase in params]

    def _propagate(self, field: np.ndarray, distance: float) -> np.ndarray:
        n = self.grid
        padded = np.zeros(field.shape[:-2] + (2 * n, 2 * n), dtype=complex)
        padded[..., :n, :n] = field
        f = np.fft.fftfreq(2 * n, d=self.pitch)
        fx, fy = np.meshgrid(f, f)
        root = np.sqrt(np.maximum(0.0, 1 / self.wavelength**2 - fx**2 - fy**2))
        kernel = np.exp(2j * np.pi * distance * root) * (fx**2 + fy**2 < 1 / self.wavelength**2)
        return np.fft.ifft2(np.fft.fft2(padded) * kernel)[..., :n, :n]

    def measure(self, inputs: torch.Tensor) -> dict[str, Any]:
        """Encoded input fields complex [B, N, N] -> {"output": camera image [B, N, N]}."""
        field = self._propagate(inputs.detach().cpu().numpy(), self.distances[0])
        for mask, distance in zip(self.masks, self.distances[1:]):
            field = self._propagate(field * np.exp(1j * mask), distance)
        return {"output": torch.as_tensor(np.abs(field) ** 2, dtype=torch.float32)}


def factory(design: dict[str, Any], **options: Any) -> StubLab:
    """What ``physical.system`` names: called with the design description and ``physical.options``."""
    return StubLab(design, **options)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds' run (CI)")
    parser.add_argument("--out", type=Path, default=Path("runs/lab-example"))
    args = parser.parse_args()
    size = ["train.epochs=1", "data.train_size=200", "data.test_size=100"] if args.smoke else ["train.epochs=5"]
    lab = ["physical.system=__main__:factory", "physical.options={shift: 1}", "train.progress=false"]
    for strategy in ("ideal", "pat"):
        config = quaton.load_config("smoke", [*size, *lab, f"train.strategy={strategy}"])
        metrics = quaton.train_run(config, args.out / strategy)
        print(
            f"{strategy:>5}: simulated {metrics['test_accuracy']:.3f}, "
            f"measured on the bench {metrics['physical_test_accuracy']:.3f}"
        )


if __name__ == "__main__":
    main()
