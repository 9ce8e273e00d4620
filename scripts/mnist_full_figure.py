"""Figure of the paper-scale MNIST runs (docs/results/mnist-full-h100): confusion matrices of the
full-precision network and of the best 2- and 4-level devices (fine-tuned from it), and every run's
test accuracy by epoch.

Usage: python scripts/mnist_full_figure.py docs/results/mnist-full-h100-T30
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np


def _accuracy(run: Path) -> float:
    return float(json.loads((run / "metrics.json").read_text())["test_accuracy"])


def _shown(runs: dict[str, Path]) -> dict[str, str]:
    """FP and the best fine-tuned run at 4 and at 2 levels, with their titles."""
    shown = {"fp": "full precision"}
    for levels in (4, 2):
        tuned = [name for name in runs if name.startswith("ft-") and name.endswith(f"-{levels}")]
        best = max(tuned, key=lambda name: _accuracy(runs[name]))
        shown[best] = f"{best[3:-2].upper()}, {levels} levels (from FP)"
    return shown


def main(folder: Path) -> None:
    runs = {p.name: p for p in sorted(folder.iterdir()) if (p / "metrics.jsonl").is_file()}
    shown = _shown(runs)
    figure, axes = plt.subplots(1, len(shown) + 1, figsize=(5.0 * (len(shown) + 1), 4.6))
    for ax, (name, title) in zip(axes, shown.items(), strict=False):
        matrix = np.asarray(json.loads((runs[name] / "metrics.json").read_text())["confusion"])
        ax.imshow(matrix, cmap="Blues")
        for (i, j), value in np.ndenumerate(matrix):
            color = "white" if value > matrix.max() / 2 else "black"
            ax.text(j, i, str(value), ha="center", va="center", fontsize=6, color=color)
        ax.set_xticks(range(10))
        ax.set_yticks(range(10))
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
        ax.set_title(f"{title}: {np.trace(matrix) / matrix.sum():.2%}", fontsize=10)
    ax = axes[-1]
    for name, path in runs.items():
        history = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
        start = 12 if name.startswith("ft-") else 0  # fine-tuned runs continue the 12-epoch FP run
        epochs = [start + row["epoch"] for row in history]
        style = "-" if name == "fp" else ("--" if name.startswith("ft-") else ":")
        ax.plot(epochs, [100 * row["test_accuracy"] for row in history], style, label=name, lw=1)
    ax.set_ylim(85, 100 * max(_accuracy(path) for path in runs.values()) + 1)
    ax.set_xlabel("epoch (fine-tuning counted after the FP run's 12)")
    ax.set_ylabel("test accuracy of the hard-quantized device (%)")
    ax.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    figure.savefig(folder / "mnist-full.png", dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
