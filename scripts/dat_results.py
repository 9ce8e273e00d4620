"""Table and plot of a DAT sweep: accuracy on the physical system against error size.

    python scripts/dat_results.py runs/sweeps/dat_mzi --out docs/results/dat-mzi

reads every finished run under SWEEP/runs (its config.yaml and metrics.json), prints a markdown
table (rows: dataset and errors; columns: ideal / pat / dat on the physical system, and the
ideal model's own accuracy), writes it as OUT.csv and plots OUT.png: physical test accuracy
against the error size, one panel per error kind, one line per strategy.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import yaml

STRATEGIES = ("ideal", "pat", "dat")


def error_label(options: dict) -> tuple[str, float, str]:
    """(kind, size, label) of a twin's options: MZI σ_bs / σ_ps / joint, or the D2NN error set."""
    options = {k: v for k, v in options.items() if k != "seed" and v not in (0, 0.0, 1.0)}
    if set(options) <= {"sigma_bs", "sigma_ps"}:
        bs, ps = options.get("sigma_bs", 0.0), options.get("sigma_ps", 0.0)
        if bs and ps:
            return "joint σ_bs = σ_ps", max(bs, ps), f"σ_bs = {bs}, σ_ps = {ps}"
        return ("σ_bs", bs, f"σ_bs = {bs}") if bs else ("σ_ps", ps, f"σ_ps = {ps}")
    # a D2NN error set: one panel per set of error kinds, x = the first error's size
    first = next(iter(options), "none")
    return (
        "D2NN twin: " + ", ".join(options),
        float(options.get(first, 0.0)),
        ", ".join(f"{k} {v}" for k, v in options.items()),
    )


def collect(sweep: Path) -> dict[tuple[str, str], dict]:
    rows: dict[tuple[str, str], dict] = {}
    for run in sorted((sweep / "runs").iterdir()):
        if not (run / "metrics.json").is_file():
            continue
        config = yaml.safe_load((run / "config.yaml").read_text())
        metrics = json.loads((run / "metrics.json").read_text())
        kind, size, label = error_label(config["physical"]["options"])
        row = rows.setdefault((config["data"]["dataset"], label), {"kind": kind, "size": size})
        strategy = config["train"]["strategy"]
        row[strategy] = metrics["physical_test_accuracy"]
        if strategy == "ideal":
            row["error-free"] = metrics["test_accuracy"]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="path stem of the .csv and .png written")
    args = parser.parse_args()
    rows = collect(args.sweep)
    columns = ["error-free", *STRATEGIES]
    print("| dataset | errors | ideal model (no errors) | ideal deployment | PAT | DAT |")
    print("|---|---|---|---|---|---|")
    for (dataset, label), row in sorted(rows.items(), key=lambda item: (item[0][0], item[1]["kind"], item[1]["size"])):
        cells = [f"{100 * row[c]:.1f}" if c in row else "–" for c in columns]
        print(f"| {dataset} | {label} | " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv"), "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["dataset", "errors", *columns])
        for (dataset, label), row in sorted(rows.items()):
            writer.writerow([dataset, label, *[row.get(c, "") for c in columns]])
    panels = sorted({(dataset, row["kind"]) for (dataset, _), row in rows.items()})
    figure, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), squeeze=False)
    for ax, (dataset, kind) in zip(axes[0], panels):
        points = sorted((row["size"], row) for (d, _), row in rows.items() if d == dataset and row["kind"] == kind)
        for strategy, style in zip(STRATEGIES, ("o--", "s-.", "^-")):
            xs = [size for size, row in points if strategy in row]
            ax.plot(xs, [100 * row[strategy] for _, row in points if strategy in row], style, label=strategy)
        ax.set_title(f"{dataset}: {kind}", fontsize=8, wrap=True)
        ax.set_xlabel(
            "error σ"
            if kind.startswith("σ") or kind.startswith("joint")
            else f"{kind.split(': ')[1].split(',')[0]} (the set scales with it)"
        )
        ax.set_ylabel("physical test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend()
    figure.tight_layout()
    figure.savefig(args.out.with_suffix(".png"), dpi=110)
    print(f"wrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
