"""Differentiable scalar wave optics in SI units: pure functions and the modules that wrap them."""

from quaton.optics.detector import IntensityDetector, default_regions, intensity, region_masks
from quaton.optics.elements import Aperture, FreeSpace, PhaseMask, wrap_phase
from quaton.optics.fourier import FourFGeometry, FourFSystem, FourierElement, check_sampling, lens_transform
from quaton.optics.propagation import bandlimit, kernel_propagate, padded_shape, propagate, transfer_function

__all__ = [
    "Aperture",
    "FourFGeometry",
    "FourFSystem",
    "FourierElement",
    "FreeSpace",
    "IntensityDetector",
    "PhaseMask",
    "bandlimit",
    "check_sampling",
    "default_regions",
    "intensity",
    "kernel_propagate",
    "lens_transform",
    "padded_shape",
    "propagate",
    "region_masks",
    "transfer_function",
    "wrap_phase",
]
