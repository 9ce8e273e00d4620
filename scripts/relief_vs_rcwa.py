"""The relief model and the thin element against RCWA (issue 30): 1-D random pixelated reliefs of
fused-silica-like glass (n = 1.5) in air at 2, 4 and 8 levels, pixels of 0.53 to 8.13 λ (periods
of about 24 λ, at least 8 pixels; off integer multiples of λ, where an order would graze), lit at
normal incidence from the substrate, TE. For each: RCWA's total transmission and energy balance
(meent, numpy backend), and the largest difference of any transmitted order's efficiency from
RCWA's for the relief model (WPM) and the thin element. Writes a CSV; prints the table.

    python scripts/relief_vs_rcwa.py [--out docs/results/relief-vs-rcwa/table.csv]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from quaton.optics.relief import order_efficiencies, relief_transmit, thin_transmit  # noqa: E402
from tests.optics.rcwa_reference import rcwa_efficiencies  # noqa: E402

WAVELENGTH, N_GLASS, N_AIR, UPSAMPLE = 1.0e-6, 1.5, 1.0, 32


def compare(levels: int, pixel: float, seed: int) -> dict[str, float]:
    count = max(8, round(24 / pixel))
    heights = np.random.default_rng(seed).integers(0, levels, count) * (WAVELENGTH / (N_GLASS - N_AIR)) / levels
    pitch = pixel * WAVELENGTH
    reference, transmitted, reflected = rcwa_efficiencies(heights, pitch, WAVELENGTH, N_GLASS, N_AIR)
    kwargs = {"wavelength": WAVELENGTH, "n_material": N_GLASS, "n_medium": N_AIR}
    field = torch.ones(count, dtype=torch.complex128)
    relief = relief_transmit(field, torch.tensor(heights), pitch=pitch, upsample=UPSAMPLE, **kwargs)
    up = torch.tensor(heights).repeat_interleave(UPSAMPLE)
    thin = thin_transmit(field.repeat_interleave(UPSAMPLE), up, **kwargs)
    row = {"levels": levels, "pixel_wavelengths": pixel, "pixels": count, "rcwa_transmission": transmitted}
    row["rcwa_energy_balance"] = transmitted + reflected
    for name, out in (("relief", relief), ("thin", thin)):
        eta = order_efficiencies(out, wavelength=WAVELENGTH, pitch=pitch / UPSAMPLE, n_in=N_GLASS, n_out=N_AIR)
        row[f"{name}_transmission"] = sum(eta.values())
        row[f"{name}_worst_order_error"] = max(
            abs(eta.get(m, 0.0) - reference.get(m, 0.0)) for m in set(eta) | set(reference)
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/results/relief-vs-rcwa/table.csv"))
    args = parser.parse_args()
    rows = []
    for levels in (2, 4, 8):
        for pixel in (0.53, 1.03, 2.07, 4.07, 8.13):
            row = compare(levels, pixel, seed=levels * 1000 + int(pixel * 100))
            rows.append(row)
            print(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
