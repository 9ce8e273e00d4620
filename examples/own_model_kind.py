"""Register your own model kind: one phase mask between two gaps of free space, then a camera.

    python examples/own_model_kind.py [--smoke] [--out runs/kind-example]

A model kind is a module that answers ``quaton.models.OpticalModel`` and a builder registered with
its capabilities (docs/architecture.md: what the rest of quaton asks of a kind). Once registered
it is a ``model.kind`` like the built-ins: validated, trained, reported, exported. To have it in
every quaton process (the ``quaton`` command, sweep workers), declare the module as a
``quaton.plugins`` entry point of your package (quaton.plugins).
"""

import argparse
from pathlib import Path

import torch
from pydantic import Field
from torch import nn

import quaton
from quaton.config import Config
from quaton.models import MODELS, BuildContext, register_model
from quaton.optics import FreeSpace, PhaseMask, intensity
from quaton.registry import Options


class OneMaskOptions(Options):
    gain: float = Field(1.0, gt=0, description="camera gain on the intensity")


class OneMask(nn.Module):
    """Input -> gap -> one phase mask -> gap -> camera."""

    def __init__(self, config: Config, context: BuildContext) -> None:
        super().__init__()
        optics, grid = config.optics, config.model.grid
        before, after = config.model.distance_list()[:2]
        self.encode, self.pitch = context.encode, optics.pitch
        self.gain = context.options.gain if isinstance(context.options, OneMaskOptions) else 1.0
        self.before = FreeSpace(wavelength=optics.wavelength, pitch=optics.pitch, distance=before)
        self.after = FreeSpace(wavelength=optics.wavelength, pitch=optics.pitch, distance=after)
        quantizer = context.quantizer(0) if context.quantizer else None
        self.mask = PhaseMask((grid, grid), quantizer=quantizer, generator=torch.Generator().manual_seed(config.seed))

    # quaton.models.OpticalModel
    def task_input(self, images, readout=None, full_scale=1.0):
        image = self.sensor_intensity(images)
        return readout(image) if readout is not None else image

    def sensor_intensity(self, images):
        return self.gain * intensity(self.after(self.mask(self.before(self.encode(images)))))

    @torch.no_grad()
    def phases(self):
        return [self.mask.phase().detach().clone()]

    @property
    def mask_pitch(self):
        return self.pitch

    def design_fields(self):
        return {}


d2nn = MODELS["d2nn"]


@register_model(
    "one_mask",
    output="detector",
    options=OneMaskOptions,
    display="one mask",
    reads=("optics",),
    fabricated=lambda config: True,
    memory=d2nn.memory,  # one layer of a D2NN's: its estimate bounds this model's too
    example={"model": {"grid": 16, "layers": 1}, "input": {"object_size": 8}, "detector": {"size": 2, "gap": 1}},
)
def build_one_mask(config: Config, context: BuildContext) -> OneMask:
    """One phase mask and a camera (model.distances: the gaps before and after the mask)."""
    return OneMask(config, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds' run (CI)")
    parser.add_argument("--out", type=Path, default=Path("runs/kind-example"))
    args = parser.parse_args()
    size = ["train.epochs=1", "data.train_size=200", "data.test_size=100"] if args.smoke else ["train.epochs=5"]
    config = quaton.load_config(
        "smoke",
        [
            *size,
            "model.kind=one_mask",
            "model.layers=1",
            "model.options={gain: 2.0}",
            "quantization.method=psq",
            "quantization.levels=4",
            "train.lr=0.1",
            "train.progress=false",
        ],
    )
    metrics = quaton.train_run(config, args.out / "run")
    print(f"one 4-level mask: test accuracy {metrics['test_accuracy']:.3f} (chance 0.1)")
    quaton.export_run(args.out / "run", args.out / "design")
    print(f"its design: {args.out / 'design' / 'design.json'}")


if __name__ == "__main__":
    main()
