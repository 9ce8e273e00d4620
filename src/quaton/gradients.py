"""The one straight-through helper: one tensor's value in the forward pass, another's gradient in
the backward pass. Used by the STE and Gumbel-softmax quantizers, the read-out ADC and PAT / DAT."""

from __future__ import annotations

import torch


def straight_through(value: torch.Tensor, gradient_of: torch.Tensor) -> torch.Tensor:
    """Exactly ``value`` forward (``gradient_of − gradient_of`` adds an exact 0), the gradient of
    ``gradient_of`` backward (Bengio et al. 2013). Shapes broadcast as in ``value + gradient_of``."""
    return value.detach() + (gradient_of - gradient_of.detach())
