"""Systematic-error prediction networks (SEPNs) of dual adaptive training (Zheng et al., Nat. Mach.
Intell. 2023): small complex-valued U-Nets that learn how a physical system's field deviates from
the ideal model's, applied as a residual correction x + SEPN(x).

Complex layers act on real tensors that stack the real and imaginary parts as channels
([B, 2C, H, W]): a complex 3×3 convolution W = A + iB is one real convolution with the block
weight [[A, −B], [B, A]], and the complex ReLU is the ReLU of each part (as complexPyTorch's).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ComplexConv2d(nn.Module):
    """A complex convolution C_in -> C_out (k×k, 'same' padding, optional stride 2) on stacked
    real/imaginary channels [B, 2·C_in, H, W] -> [B, 2·C_out, H', W']."""

    def __init__(self, channels_in: int, channels_out: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(2 * channels_in * kernel_size**2)
        shape = (channels_out, channels_in, kernel_size, kernel_size)
        self.real = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.imag = nn.Parameter(torch.empty(shape).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(2 * channels_out))
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = torch.cat([torch.cat([self.real, -self.imag], 1), torch.cat([self.imag, self.real], 1)], 0)
        return F.conv2d(x, weight, self.bias, stride=self.stride, padding=self.real.shape[-1] // 2)


def _block(channels_in: int, channels: int, convs: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(convs):
        layers += [ComplexConv2d(channels_in if index == 0 else channels, channels), nn.ReLU()]
    return nn.Sequential(*layers)


class SEPN(nn.Module):
    """A 3-scale complex U-Net on a field arranged as an image, returning the correction.

    ``shape`` (H, W) is the image the field is viewed as: a D2NN plane [B, N, N] as itself, the
    64 ports of an MZI mesh [B, 64] as 8×8. Blocks of ``convs`` 3×3 complex convolutions with
    ``features`` = (f1, f2, f3) maps at full, 1/2 and 1/4 resolution; down-sampling by stride-2
    complex convolutions, up-sampling by nearest-neighbour interpolation and a complex
    convolution (the authors use transposed convolutions); skip connections by concatenation.
    The last convolution starts at zero, so an untrained SEPN is the identity correction.
    """

    def __init__(self, shape: tuple[int, int], features: tuple[int, int, int] = (4, 8, 16), convs: int = 3) -> None:
        super().__init__()
        f1, f2, f3 = features
        self.shape = tuple(shape)
        self.block1 = _block(1, f1, convs)
        self.down1 = nn.Sequential(ComplexConv2d(1, f1, stride=2), nn.ReLU())
        self.block2 = _block(f1, f2, convs)
        self.down2 = nn.Sequential(ComplexConv2d(f1, f2, stride=2), nn.ReLU())
        self.block3 = _block(f2, f3, convs)
        self.up1 = nn.Sequential(ComplexConv2d(f3, f2), nn.ReLU())
        self.up2 = nn.Sequential(ComplexConv2d(2 * f2, f1), nn.ReLU())
        self.out = ComplexConv2d(2 * f1, 1)
        with torch.no_grad():
            for p in self.out.parameters():
                p.zero_()

    @staticmethod
    def _join(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Concatenate complex channel stacks [B, 2Ca, ...] and [B, 2Cb, ...] as [re_a, re_b, im_a, im_b]."""
        ca, cb = a.shape[1] // 2, b.shape[1] // 2
        return torch.cat([a[:, :ca], b[:, :cb], a[:, ca:], b[:, cb:]], 1)

    @staticmethod
    def _up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(x, size=size, mode="nearest")

    def forward(self, field: torch.Tensor) -> torch.Tensor:
        """Complex field [B, *shape] or [B, H·W] -> the predicted deviation, same shape and dtype."""
        batch, original = field.shape[0], field.shape
        z = field.reshape(batch, 1, *self.shape)
        x0 = torch.cat([z.real, z.imag], 1).float()
        x1 = self.block1(x0)
        d1 = self.down1(x0)
        x2 = self.block2(d1)
        d2 = self.down2(d1)
        x3 = self.block3(d2)
        u1 = self.up1(self._up(x3, x2.shape[-2:]))
        u2 = self.up2(self._up(self._join(x2, u1), x1.shape[-2:]))
        y = self.out(self._join(x1, u2))
        return torch.complex(y[:, 0], y[:, 1]).to(field.dtype).reshape(original)


def sepn_parameters(features: tuple[int, int, int], convs: int) -> int:
    """Number of real parameters of one SEPN (to report beside the paper's ~4k and ~10k)."""
    return sum(p.numel() for p in SEPN((8, 8), features, convs).parameters())
