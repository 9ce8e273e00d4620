"""Differentiable scalar wave optics in SI units: pure functions and the modules that wrap them."""

from quaton.optics.detector import IntensityDetector, default_regions, intensity, region_masks
from quaton.optics.elements import Aperture, FreeSpace, PhaseMask, wrap_phase
from quaton.optics.propagation import bandlimit, kernel_propagate, padded_shape, propagate, transfer_function

__all__ = [
    "Aperture",
    "FreeSpace",
    "IntensityDetector",
    "PhaseMask",
    "bandlimit",
    "default_regions",
    "intensity",
    "kernel_propagate",
    "padded_shape",
    "propagate",
    "region_masks",
    "transfer_function",
    "wrap_phase",
]
