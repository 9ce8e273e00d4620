"""The detector read-out chain, in physical order: crosstalk -> non-linear response -> gain and
offset -> random noise -> ADC. ``full_scale`` (the ADC's range and the unit of every effect) is
set by calibration: the ``percentile`` of the ideal intensities of calibration images (e.g. the
training set), stored with the model as a buffer.

Random noise draws from one of two generators, chosen by the module's mode: in training mode a
training generator that is never reseeded (every read-out is fresh, every epoch new; its state is
part of a run's resumable state, see ``noise_state``), in eval mode an evaluation generator that
every evaluation restarts at ``seed`` (``reseed``), so that evaluations are reproducible. The two
streams are seeded differently, so training never sees the test noise.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from quaton.hardware.adc import ADC
from quaton.hardware.distortion import Crosstalk, GainOffset, Nonlinearity
from quaton.hardware.noise import ReadNoise

# One registry: name -> module class, in the order the chain applies them.
EFFECTS: dict[str, type[nn.Module]] = {
    "crosstalk": Crosstalk,
    "nonlinearity": Nonlinearity,
    "gain_offset": GainOffset,
    "noise": ReadNoise,
    "adc": ADC,
}


def training_seed(evaluation_seed: int, run_seed: int = 0, rank: int = 0) -> int:
    """The seed of the training noise: a 63-bit hash of (evaluation seed, run seed, process rank) and
    a tag, so that it never equals an evaluation seed's stream and differs between runs and ranks."""
    sequence = np.random.SeedSequence([evaluation_seed, run_seed, rank, 0x7472_6169])  # tag "trai"
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class Readout(nn.Module):
    """Intensity [B, ...] -> read-out values in intensity units, through ``effects`` (an ordered dict of modules).

    ``seed`` seeds the evaluation noise (eval mode), ``seed_training`` the training noise (training mode).
    """

    def __init__(self, effects: dict[str, nn.Module] | None = None, percentile: float = 99.9, seed: int = 0) -> None:
        super().__init__()
        effects = effects or {}
        unknown = set(effects) - set(EFFECTS)
        if unknown:
            raise ValueError(f"unknown read-out effects {sorted(unknown)}; choose from {list(EFFECTS)}")
        self.effects = nn.ModuleDict({name: effects[name] for name in EFFECTS if name in effects})
        self.percentile = percentile
        self.seed = seed
        self.register_buffer("full_scale", torch.tensor(1.0))
        self.generator: torch.Generator | None = None  # evaluation noise, restarted by reseed()
        self.train_seed = training_seed(seed)
        self.train_generator: torch.Generator | None = None  # training noise, never restarted

    @property
    def ideal(self) -> bool:
        return len(self.effects) == 0

    @torch.no_grad()
    def calibrate(self, intensities: torch.Tensor) -> None:
        """full_scale = the ``percentile`` of the given ideal intensities (a sample of at most 10⁶ values)."""
        values = intensities.detach().flatten().float()
        if values.numel() > 1_000_000:
            values = values[torch.randperm(values.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
        value = float(torch.quantile(values, self.percentile / 100.0))
        self.full_scale.fill_(value if value > 0 else 1.0)

    def reseed(self, seed: int | None = None) -> None:
        """Restart the evaluation noise sequence, for a reproducible evaluation (the training noise goes on)."""
        self.generator = torch.Generator(device=self.full_scale.device).manual_seed(self.seed if seed is None else seed)

    def seed_training(self, run_seed: int, rank: int = 0) -> None:
        """Start the training noise for a run (``run_seed``) and process ``rank``; see ``training_seed``."""
        self.train_seed = training_seed(self.seed, run_seed, rank)
        self.train_generator = None

    def _training_generator(self) -> torch.Generator:
        device = self.full_scale.device
        if self.train_generator is None or self.train_generator.device != device:
            self.train_generator = torch.Generator(device=device).manual_seed(self.train_seed)
        return self.train_generator

    def noise_state(self) -> torch.Tensor:
        """The training noise generator's state (uint8 [n], CPU): what a resumed run must restore."""
        return self._training_generator().get_state()

    def set_noise_state(self, state: torch.Tensor) -> None:
        """Continue the training noise from a state written by ``noise_state``."""
        self._training_generator().set_state(state)

    def noise_generator(self) -> torch.Generator:
        """The stream the next noise is drawn from: the training generator in training mode, the
        evaluation generator in eval mode (reseeded at ``seed`` if no evaluation has started it).
        Noise drawn before the chain (a sensor's shot noise) uses it too."""
        if self.training:
            return self._training_generator()
        if self.generator is None:
            self.reseed()
        return self.generator

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Intensity [B, ...] -> read-out values [B, ...], with the training noise (training mode) or
        the evaluation noise (eval mode; reseeded at ``seed`` if no evaluation has started it)."""
        generator = self.noise_generator()
        scale = self.full_scale.to(image.dtype)
        for effect in self.effects.values():
            image = effect(image, scale, generator)
        return image
