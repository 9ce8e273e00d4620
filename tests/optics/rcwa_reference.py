"""A rigorous reference quaton does not write: meent's RCWA (kc-ml2/meent, numpy backend) for a 1-D
pixelated relief of a material on its own substrate, lit at normal incidence from the substrate,
transmitting into the medium. Used by test_relief.py and scripts/relief_vs_rcwa.py."""

from __future__ import annotations

import numpy as np


def rcwa_efficiencies(
    heights: np.ndarray, pitch: float, wavelength: float, n_material: float, n_medium: float, polarization: str = "te"
) -> tuple[dict[int, float], float, float]:
    """(order m -> transmitted efficiency, total transmission, total reflection) of one period of the
    relief ``heights`` [N] (m) with pixels of ``pitch`` (m); TE: the field along the grooves."""
    import meent

    heights = np.asarray(heights, dtype=float)
    period = len(heights) * pitch
    orders = int(1.5 * n_material * period / wavelength) + 10
    sub = int(np.ceil(max(1024, 8 * orders) / len(heights)))
    steps = np.unique(np.concatenate([[0.0], heights]))
    layers, thickness = [], []
    for low, high in zip(steps[:-1], steps[1:]):  # from the substrate up: one layer per height step
        material = np.repeat(heights > (low + high) / 2, sub)
        layers.append(np.where(material, n_material, n_medium)[None, :])
        thickness.append(high - low)
    solver = meent.call_mee(
        backend=0,
        pol=0 if polarization == "te" else 1,
        n_top=n_material,
        n_bot=n_medium,
        theta=0.0,
        phi=0.0,
        fto=[orders, 0],
        period=[period],
        wavelength=wavelength,
        thickness=thickness,
        ucell=np.array(layers, dtype=float),
        type_complex=np.complex128,
    )
    result = solver.conv_solve()
    transmitted = np.asarray(result.de_ti).ravel()
    reflected = np.asarray(result.de_ri).ravel()
    by_order = {int(m): float(e) for m, e in zip(range(-orders, orders + 1), transmitted) if e > 1e-12}
    return by_order, float(transmitted.sum()), float(reflected.sum())
