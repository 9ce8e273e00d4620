"""Fabrication tolerance of binary-optics designs: metric against etch-depth error and mask overlay.

    python scripts/tolerance.py runs/tol-cls/design runs/tol-qpi/design \\
        --etch 0.02,0.05,0.1,0.2 --overlay 0.1,0.2,0.3,0.5 --draws 10 --out docs/results/tolerance

For every design (a directory written by ``quaton export RUN --format gds``) it runs one
``quaton simulate`` (the Python API, kept under DESIGN/simulations/ like the command's) with
``etch_depth=σ`` for each σ of --etch and ``mask_overlay=σ`` for each σ of --overlay, over --draws
seeded Monte-Carlo draws each, and writes

- OUT.csv: one row per design, perturbation, value and metric: mean and std over the draws;
- OUT.png: metric against error with std error bars, a column per perturbation, a row per design
  and metric (classification: accuracy; phase imaging: ssim, phase_error, pcc, with the dark-camera
  baselines dashed);
- OUT.json: the simulation ids, seeds, draws and wall-clock seconds per design.

σ = 0 is the design as exported (a zero error is that design exactly: tests/export/test_overlay.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from quaton.errors import QuatonError
from quaton.export.simulate import save_simulation, simulate

PERTURBATIONS = {"etch_depth": "etch-depth error σ (relative)", "mask_overlay": "mask overlay σ (pixels)"}
METRICS = {"classification": ["accuracy"], "phase_imaging": ["ssim", "phase_error", "pcc"]}
BASELINES = {"ssim": "ssim_dark_baseline", "phase_error": "phase_error_dark_baseline"}


def values(text: str) -> list[float]:
    """'0.02,0.05' -> [0.02, 0.05] (positive errors; σ = 0 is the design itself)."""
    try:
        parsed = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if any(v <= 0 for v in parsed):
        raise argparse.ArgumentTypeError("give positive errors only: σ = 0 is always included (the design as exported)")
    return parsed


def spread(row: dict, metric: str) -> tuple[float, float]:
    """Mean and sample std of ``metric`` over a row's draws (a fixed row: its value, 0)."""
    per_draw = [d[metric] for d in row.get("per_draw", [])] or [row[metric]]
    return float(np.mean(per_draw)), float(np.std(per_draw, ddof=1)) if len(per_draw) > 1 else 0.0


def tolerance(
    design: Path, etch: list[float], overlay: list[float], draws: int, seed: int, overrides: list[str]
) -> dict:
    """One simulation of ``design`` over every error value; the rows by (perturbation, value)."""
    requests = [f"etch_depth={v:g}" for v in etch] + [f"mask_overlay={v:g}" for v in overlay]
    start = time.perf_counter()
    result = simulate(design, requests, overrides, seed=seed, draws=draws)
    seconds = time.perf_counter() - start
    kept = save_simulation(result, design)
    kind = json.loads((design / "design.json").read_text())["task"]["kind"]
    base = result["results"][0]
    rows = {(name, 0.0): base for name in PERTURBATIONS}
    for row in result["results"][1:]:
        rows[(row["perturbation"], float(row["value"]))] = row
    return {
        "design": str(design),
        "kind": kind,
        "rows": rows,
        "seconds": seconds,
        "simulation": str(kept),
        "test_size": result["test_size"],
        "dataset": result["dataset"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("designs", nargs="+", type=Path, help="design directories (quaton export --format gds)")
    parser.add_argument(
        "--etch", type=values, default=[0.02, 0.05, 0.1, 0.2], help="etch-depth errors σ (relative), comma-separated"
    )
    parser.add_argument(
        "--overlay", type=values, default=[0.1, 0.2, 0.3, 0.5], help="mask overlay errors σ (pixels), comma-separated"
    )
    parser.add_argument("--draws", type=int, default=10, help="Monte-Carlo draws per error value")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        help="config override for the test set, e.g. data.test_size=200",
    )
    parser.add_argument("--out", type=Path, default=Path("docs/results/tolerance"), help="OUT.csv, OUT.png, OUT.json")
    args = parser.parse_args(argv)
    try:
        studies = [tolerance(d, args.etch, args.overlay, args.draws, args.seed, args.overrides) for d in args.designs]
    except QuatonError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table = []
    for study in studies:
        for (name, value), row in sorted(study["rows"].items()):
            for metric in METRICS[study["kind"]]:
                mean, std = spread(row, metric)
                table.append(
                    {
                        "design": study["design"],
                        "task": study["kind"],
                        "perturbation": name,
                        "value": value,
                        "metric": metric,
                        "mean": mean,
                        "std": std,
                        "draws": len(row.get("per_draw", [])) or 1,
                    }
                )
    with open(args.out.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    panels = [(study, metric) for study in studies for metric in METRICS[study["kind"]]]
    figure, axes = plt.subplots(len(panels), len(PERTURBATIONS), figsize=(8, 2.6 * len(panels)), squeeze=False)
    for (study, metric), line in zip(panels, axes):
        for name, ax in zip(PERTURBATIONS, line):
            points = sorted((value, *spread(row, metric)) for (n, value), row in study["rows"].items() if n == name)
            x, mean, std = (np.array(c) for c in zip(*points))
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3)
            if metric in BASELINES:
                ax.axhline(
                    study["rows"][(name, 0.0)][BASELINES[metric]], color="gray", linestyle="--", label="dark camera"
                )
                ax.legend(fontsize=7)
            ax.set_xlabel(PERTURBATIONS[name])
            ax.set_ylabel(metric)
            ax.set_title(f"{Path(study['design']).parent.name or study['design']}: {study['dataset']}", fontsize=8)
            ax.grid(alpha=0.3)
    figure.suptitle(f"mean ± std over {args.draws} draws (seed {args.seed})", fontsize=9)
    figure.tight_layout()
    figure.savefig(args.out.with_suffix(".png"), dpi=110)
    plt.close(figure)
    summary = [{k: s[k] for k in ("design", "kind", "dataset", "test_size", "seconds", "simulation")} for s in studies]
    args.out.with_suffix(".json").write_text(
        json.dumps({"draws": args.draws, "seed": args.seed, "overrides": args.overrides, "studies": summary}, indent=2)
        + "\n"
    )
    print("| design | metric | perturbation | σ | mean ± std |")
    print("|---|---|---|---|---|")
    for r in table:
        print(
            f"| {Path(r['design']).parent.name} | {r['metric']} | {r['perturbation']} | {r['value']:g} "
            f"| {r['mean']:.4f} ± {r['std']:.4f} |"
        )
    for s in summary:
        print(f"{s['design']}: {s['seconds']:.0f} s ({s['test_size']} test images), kept in {s['simulation']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
