"""All-optical quantitative phase imaging: a phase object in, an intensity ∝ its phase out.

Target (QuATON): the output intensity times π equals the input phase, I_target = φ/π, on the
object's window (the ``object_size``² px at the centre of the detector plane).

The camera. A real camera reports counts = gain·I + black level; it is calibrated once and then
fixed. Here it has one learnable gain g (a scalar, trained with the network and then fixed) and,
with ``black_level=True``, one learnable black level b (a scalar in units of the detector
intensity, likewise): the predicted phase is

    φ̂ = π·g·(I − b)        (b = 0 without a black level),

the same two numbers for every image, stored with the task (checkpoint) and the design; nothing is
fitted per image. Why the black level: a phase-only network is linear in the field exp(iφ) ≈ 1 + iφ
(weak object), so its output u = A + i·Lφ + O(φ²), with A the image of the unscattered light, gives
I = |A|² + 2·Re(A*·i·Lφ) + O(φ²). An intensity linear in φ needs A ≠ 0 (interference with the
unscattered light, as in Zernike phase contrast) and then comes with the background |A|²; with
A = 0 (a dark background) I ≈ |Lφ|² is quadratic in φ (dark field). So either the camera subtracts
a background level, or the network must trade linearity for darkness. In the strong-phase regime
the interference term is ∝ cos(φ − θ): monotonic over a span of π at most, so objects whose phase
spans more than π cannot be imaged faithfully by a pointwise interference response.

Losses: ``mse`` between φ̂/π and φ/π; ``mse_ssim`` adds ``ssim_weight``·(1 − SSIM); ``mse_pcc``
adds ``pcc_weight``·(1 − PCC), with PCC the Pearson correlation of φ̂ and φ per image. MSE and SSIM
without a black level both score a dark output well on sparse objects (cells on an empty
background); the correlation of a dark or uniform output is 0, so ``mse_pcc`` does not reward
darkness.
Metrics: mean SSIM and PSNR of φ̂/π against φ/π (torchmetrics, Gaussian window 11 px, σ = 1.5,
K1 = 0.01, K2 = 0.03, data range = ``data_range``, the span of φ/π the camera is designed for: 1
for images (φ in [0, π]), 4.5/π for the generated cells), the mean absolute phase error |φ̂ − φ|
in radians and the Pearson correlation ``pcc``. Each is reported beside the dark camera's
(φ̂ = 0): ``ssim_dark_baseline`` and ``phase_error_dark_baseline`` (the mean |φ|, rad).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from quaton.registry import Options
from quaton.tasks.registry import Task, TaskContext, register_task

if TYPE_CHECKING:
    from quaton.config import Config

LOSSES = ("mse", "mse_ssim", "mse_pcc")
CALIBRATION_MOMENTUM = 0.05  # per training batch: the stored camera averages about the last 20 batches


class PhaseImaging(Task):
    """``grid``: detector-plane size (px); ``object_size``: side of the compared window (px);
    ``phase_scale``: radians per unit of the prepared images (φ = phase_scale·x, x in [0, 1] for
    images); ``black_level``: the camera has a learnable black level b besides its gain g;
    ``data_range``: the SSIM/PSNR data range in units of φ/π (None: phase_scale/π)."""

    primary_metric = "ssim"
    calibration_moments: torch.Tensor  # buffer, with a black level only: see ``_calibrated_prediction``

    def __init__(
        self,
        grid: int,
        object_size: int,
        phase_scale: float = math.pi,
        loss: str = "mse",
        ssim_weight: float = 0.5,
        pcc_weight: float = 1.0,
        black_level: bool = False,
        data_range: float | None = None,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown phase-imaging loss {loss!r}; choose one of {LOSSES}")
        self.grid = grid
        self.object_size = object_size
        self.phase_scale = phase_scale
        self.data_range = data_range if data_range is not None else phase_scale / math.pi
        self.loss_kind = loss
        self.ssim_weight = ssim_weight
        self.pcc_weight = pcc_weight
        self.log_gain = nn.Parameter(torch.zeros(()))
        # None when off: the state dict of a run without a black level is unchanged
        self.black_level = nn.Parameter(torch.zeros(())) if black_level else None
        if self.black_level is not None:
            # calibrated by least squares, not by gradient steps: the gain may need to move by
            # orders of magnitude (a network that sends most light away) faster than Adam moves it
            self.log_gain.requires_grad_(False)
            self.black_level.requires_grad_(False)
            # running moments of the training batches: [weight, E I, E t, E I², E I·t]
            self.register_buffer("calibration_moments", torch.zeros(5, dtype=torch.float64))

    def crop(self, image: torch.Tensor) -> torch.Tensor:
        """Detector intensity [B, N, N] -> the object's window [B, s, s]."""
        start = (self.grid - self.object_size) // 2
        return image[..., start : start + self.object_size, start : start + self.object_size]

    def prediction(self, image: torch.Tensor) -> torch.Tensor:
        """g·(I − b) on the object's window [B, s, s] (b = 0 without a black level): the predicted φ/π."""
        window = self.crop(image)
        if self.black_level is not None:
            window = window - self.black_level
        return self.log_gain.exp() * window

    def _calibrated_prediction(self, window: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Training with a black level: the batch's least-squares camera t ≈ g·(I − b) over all its
        window pixels (differentiable in I), so the loss scores the best linear read-out of this
        intensity; the running moments of the batches (momentum CALIBRATION_MOMENTUM) set the
        stored gain and black level, which evaluation and the design use, fixed."""
        black_level = self.black_level
        if black_level is None:
            raise ValueError("the least-squares camera calibrates a black level: build the task with black_level=True")
        mean_i, mean_t = window.mean(), target.mean()
        centred = window - mean_i
        variance = (centred * centred).mean()
        gain = (centred * (target - mean_t)).mean() / variance.clamp_min(1e-30)
        with torch.no_grad():
            batch = torch.stack(
                [torch.ones_like(mean_i), mean_i, mean_t, (window * window).mean(), (window * target).mean()]
            ).double()
            if torch.distributed.is_available() and torch.distributed.is_initialized():  # one camera for every rank
                torch.distributed.all_reduce(batch)
                batch /= torch.distributed.get_world_size()
            moments = self.calibration_moments
            first = moments[0] == 0
            moments.copy_(batch if first else (1 - CALIBRATION_MOMENTUM) * moments + CALIBRATION_MOMENTUM * batch)
            _, e_i, e_t, e_ii, e_it = (moments / moments[0]).unbind()
            running_gain = (e_it - e_i * e_t) / (e_ii - e_i * e_i).clamp_min(1e-30)
            # a camera's gain is positive; an intensity anticorrelated with the phase reads as ~0
            self.log_gain.fill_(float(running_gain.clamp_min(1e-12).log()))
            black_level.fill_(float(e_i - e_t / running_gain.clamp_min(1e-12)))
        return mean_t + gain * centred

    def target(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """φ/π [B, s, s] from prepared images x [B, s, s] (φ = phase_scale·x)."""
        return images * (self.phase_scale / math.pi)

    def _ssim(
        self,
        prediction: torch.Tensor,
        target: torch.Tensor,
        reduction: Literal["elementwise_mean", "none"] = "elementwise_mean",
    ) -> torch.Tensor:
        # imported here: torchmetrics takes seconds to import, and a config validates without it
        from torchmetrics.functional.image import structural_similarity_index_measure

        ssim = structural_similarity_index_measure(
            prediction[:, None],
            target[:, None],
            data_range=self.data_range,
            gaussian_kernel=True,
            sigma=1.5,
            kernel_size=11,
            reduction=reduction,
        )
        assert isinstance(ssim, torch.Tensor), "a tuple only with return_full_image or return_contrast_sensitivity"
        return ssim

    def loss(self, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of detector images [B, N, N] against targets φ/π [B, s, s]; with a
        black level and gradients on (training), through the batch's least-squares camera."""
        if self.black_level is not None and torch.is_grad_enabled():
            prediction = self._calibrated_prediction(self.crop(image), target)
        else:
            prediction = self.prediction(image)
        loss = F.mse_loss(prediction, target)
        if self.loss_kind == "mse_ssim":
            loss = loss + self.ssim_weight * (1.0 - self._ssim(prediction, target))
        elif self.loss_kind == "mse_pcc":
            # of the intensity itself (a positive gain and a black level change no correlation):
            # an intensity that falls with the phase is penalised, not read with a negative gain
            loss = loss + self.pcc_weight * (1.0 - pearson(self.crop(image), target).mean())
        return loss

    @torch.no_grad()
    def batch_metrics(self, image: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image metrics [B] of one batch."""
        from torchmetrics.functional.image import peak_signal_noise_ratio

        prediction = self.prediction(image)
        ssim = self._ssim(prediction, target, reduction="none")
        psnr = peak_signal_noise_ratio(
            prediction[:, None], target[:, None], data_range=self.data_range, reduction="none", dim=(1, 2, 3)
        )
        error = (math.pi * (prediction - target)).abs().mean(dim=(-2, -1))
        # The trivial baseline: a camera that sees nothing. On sparse objects (cells on an empty
        # background) SSIM is high for it and its phase error (the mean phase) is low, so a network
        # must beat it on both to be imaging at all.
        dark = self._ssim(torch.zeros_like(target), target, reduction="none")
        dark_error = (math.pi * target).abs().mean(dim=(-2, -1))
        return {
            "ssim": ssim,
            "psnr": psnr,
            "phase_error": error,
            "pcc": pearson(prediction, target),
            "ssim_dark_baseline": dark,
            "phase_error_dark_baseline": dark_error,
        }


def pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation per image of [B, H, W] tensors -> [B] (0 where either image is uniform)."""
    a = a.flatten(1) - a.flatten(1).mean(dim=1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


class PhaseImagingOptions(Options):
    """Options of the phase-imaging task (task.options, or the flat task.* keys of the same names)."""

    ssim_weight: float = Field(0.5, ge=0, allow_inf_nan=False, description="weight of (1 - SSIM) in mse_ssim")
    pcc_weight: float = Field(
        1.0, ge=0, allow_inf_nan=False, description="weight of (1 - Pearson correlation) in mse_pcc"
    )
    black_level: bool = Field(
        False,
        description="the camera also has a learnable black level b, calibrated once with its gain g: "
        "phase = π·g·(I − b)",
    )
    phase_range: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="the phase span (rad) the camera is designed for, the SSIM/PSNR data range φ_span/π; "
        "null: data.rbc.peak_phase's max for rbc, else input.scale (π)",
    )


@register_task(
    "phase_imaging",
    losses={"detector": LOSSES},
    metrics=("ssim", "psnr", "phase_error", "pcc", "ssim_dark_baseline", "phase_error_dark_baseline"),
    primary="ssim",
    options=PhaseImagingOptions,
    display="phase imaging",
)
def build_phase_imaging(config: Config, context: TaskContext) -> PhaseImaging:
    """Quantitative phase imaging: detector intensity × π = the input phase, read by a calibrated camera."""
    options = context.options if isinstance(context.options, PhaseImagingOptions) else PhaseImagingOptions()
    phase_range = options.phase_range
    if phase_range is None and config.data.dataset == "rbc" and config.data.rbc.peak_phase is not None:
        phase_range = config.data.rbc.peak_phase[1]
    scale = config.input.scale or math.pi
    return PhaseImaging(
        config.model.grid,
        config.input.object_size,
        scale,
        config.task.loss,
        options.ssim_weight,
        options.pcc_weight,
        black_level=options.black_level,
        data_range=(phase_range or scale) / math.pi,
    )
