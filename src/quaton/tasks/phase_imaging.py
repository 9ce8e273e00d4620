"""All-optical quantitative phase imaging: a phase object in, an intensity ∝ its phase out.

Target (QuATON): the output intensity times π equals the input phase, I_target = φ/π, on the
object's window (the ``object_size``² px at the centre of the detector plane). The camera has one
learnable gain g (a scalar, trained with the network and then fixed, as a real camera's gain would
be): the predicted phase is φ̂ = π·g·I. No per-image rescaling is used anywhere.

Losses: ``mse`` between g·I and φ/π; ``mse_ssim`` adds ``ssim_weight``·(1 − SSIM); ``mse_pcc``
adds ``pcc_weight``·(1 − PCC), with PCC the Pearson correlation of I and φ per image. MSE and SSIM both
score a dark output well on sparse objects (cells on an empty background); the correlation of a
dark or uniform output is 0, so ``mse_pcc`` does not reward darkness.
Metrics: mean SSIM and PSNR of g·I against φ/π (torchmetrics, Gaussian window 11 px, σ = 1.5,
K1 = 0.01, K2 = 0.03, data range = the target's range φ_max/π, i.e. 1 for phases in [0, π]), and the
mean absolute phase error |φ̂ − φ| in radians. Each is reported beside the dark camera's (output 0):
``ssim_dark_baseline`` and ``phase_error_dark_baseline`` (the mean |φ|, rad).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

LOSSES = ("mse", "mse_ssim", "mse_pcc")


class PhaseImaging(nn.Module):
    """``grid``: detector-plane size (px); ``object_size``: side of the compared window (px);
    ``phase_scale``: radians per unit of the prepared images (φ = phase_scale·x, x in [0, 1] for
    images), which also sets the SSIM/PSNR data range phase_scale/π."""

    primary_metric = "ssim"

    def __init__(
        self, grid: int, object_size: int, phase_scale: float = math.pi, loss: str = "mse", ssim_weight: float = 0.5, pcc_weight: float = 1.0
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown phase-imaging loss {loss!r}; choose one of {LOSSES}")
        self.grid = grid
        self.object_size = object_size
        self.phase_scale = phase_scale
        self.data_range = phase_scale / math.pi
        self.loss_kind = loss
        self.ssim_weight = ssim_weight
        self.pcc_weight = pcc_weight
        self.log_gain = nn.Parameter(torch.zeros(()))

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """Detector intensity [B, N, N] -> the object's window [B, s, s]."""
        start = (self.grid - self.object_size) // 2
        return image[..., start : start + self.object_size, start : start + self.object_size]

    def prediction(self, image: torch.Tensor) -> torch.Tensor:
        """g·I on the object's window [B, s, s]: the predicted φ/π."""
        return self.log_gain.exp() * self.crop(image)

    def target(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """φ/π [B, s, s] from prepared images x [B, s, s] (φ = phase_scale·x)."""
        return images * (self.phase_scale / math.pi)

    def _ssim(self, prediction: torch.Tensor, target: torch.Tensor, reduction: str = "elementwise_mean") -> torch.Tensor:
        return structural_similarity_index_measure(
            prediction[:, None], target[:, None], data_range=self.data_range, gaussian_kernel=True, sigma=1.5, kernel_size=11, reduction=reduction
        )

    def loss(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        prediction = self.prediction(image)
        loss = F.mse_loss(prediction, target)
        if self.loss_kind == "mse_ssim":
            loss = loss + self.ssim_weight * (1.0 - self._ssim(prediction, target))
        elif self.loss_kind == "mse_pcc":
            loss = loss + self.pcc_weight * (1.0 - pearson(prediction, target).mean())
        return loss

    @torch.no_grad()
    def batch_metrics(self, image: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image metrics [B] of one batch."""
        prediction = self.prediction(image)
        ssim = self._ssim(prediction, target, reduction="none")
        psnr = peak_signal_noise_ratio(prediction[:, None], target[:, None], data_range=self.data_range, reduction="none", dim=(1, 2, 3))
        error = (math.pi * (prediction - target)).abs().mean(dim=(-2, -1))
        # The trivial baseline: a camera that sees nothing. On sparse objects (cells on an empty
        # background) SSIM is high for it and its phase error (the mean phase) is low, so a network
        # must beat it on both to be imaging at all.
        dark = self._ssim(torch.zeros_like(target), target, reduction="none")
        dark_error = (math.pi * target).abs().mean(dim=(-2, -1))
        return {
            "ssim": ssim, "psnr": psnr, "phase_error": error, "pcc": pearson(prediction, target),
            "ssim_dark_baseline": dark, "phase_error_dark_baseline": dark_error,
        }


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per image of [B, H, W] tensors -> [B] (0 where either image is uniform)."""
    a = a.flatten(1) - a.flatten(1).mean(dim=1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)
