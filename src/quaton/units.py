"""Lengths in messages: how quaton names a length, and the units slip it most likely is.

Lengths are metres everywhere; a value typed in nm, µm or mm passes every type check and trains at
chance, so a message about an implausible length says what it would be read in another unit.
"""

from __future__ import annotations

from collections.abc import Callable

SLIP_EXPONENTS = (-9, -6, -3)  # nm, µm, mm typed as if they were metres
WAVELENGTH_RANGE = (100e-9, 1e-3)  # m: plausible optical wavelengths (UV to THz)


def metres(value: float) -> str:
    """A length for a message: '532 nm', '1 µm', '15.4 mm', '200 m'."""
    for scale, unit in ((1.0, "m"), (1e-3, "mm"), (1e-6, "µm"), (1e-9, "nm")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} m"


def slip(value: float, plausible: Callable[[float], bool], example: str) -> str:
    """': did you mean 532e-9?' when reading ``value`` (m) as nm, µm or mm makes it ``plausible``;
    otherwise a reminder that lengths are metres, with ``example``."""
    typed = f"{value:g}"
    for exponent in SLIP_EXPONENTS:
        candidate = value * 10.0**exponent
        if plausible(candidate):
            readable = "e" not in typed and 0.01 <= abs(value) < 1e5  # 532 -> 532e-9; 0.000532 -> 5.32e-07
            return f": did you mean {typed}e{exponent}?" if readable else f": did you mean {candidate:.4g}?"
    return f" (lengths are in metres, e.g. {example})"
