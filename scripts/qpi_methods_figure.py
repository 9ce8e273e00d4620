"""QPI example outputs per method (issue 15 item 6): for each run directory, one row per test field
shown: input phase φ, predicted phase π·g·(I − b) and the error, in rad; the runs' titles give the
method, levels and test metrics.

Usage: python scripts/qpi_methods_figure.py OUT.png RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from quaton.builder import build_task, load_run, prepare_data
from quaton.models.protocol import as_optical

FIELD = 1  # which test field (the same for every run: the test set is seeded)
_DATA: dict[str, object] = {}  # generated test sets, shared by runs of the same data settings


@torch.no_grad()
def row(run_dir: Path) -> tuple[str, torch.Tensor, torch.Tensor]:
    config, model, state = load_run(run_dir)
    key = json.dumps([config.data.model_dump(mode="json"), config.input.model_dump(mode="json"), config.model.grid])
    if key not in _DATA:
        _DATA[key] = prepare_data(config)
    data = _DATA[key]
    task = build_task(config, 10)
    task.load_state_dict(state["task"])
    x = data.x_test[FIELD : FIELD + 1]  # type: ignore[attr-defined]
    predicted = math.pi * task.prediction(as_optical(model).task_input(x, None, 1.0))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    method = config.quantization.method
    name = "FP" if method == "none" else f"{method.upper()}, {config.quantization.levels} levels"
    name += " from FP" if config.train.init_from else ""
    title = f"{name}: SSIM {metrics['test_ssim']:.2f}, error {metrics['test_phase_error']:.2f} rad"
    return title, (math.pi * task.target(x))[0], predicted[0]


def main(out: Path, runs: list[Path]) -> None:
    rows = [row(r) for r in runs]
    figure, axes = plt.subplots(len(rows), 3, figsize=(8.4, 2.5 * len(rows)), squeeze=False, layout="constrained")
    top = max(float(max(p.max(), q.max())) for _, p, q in rows)
    for k, (title, phase, predicted) in enumerate(rows):
        panels = [(phase, "viridis", 0, top), (predicted, "viridis", 0, top), (predicted - phase, "RdBu_r", -2, 2)]
        for column, (image, cmap, low, high) in enumerate(panels):
            shown = axes[k, column].imshow(image.numpy(), cmap=cmap, vmin=low, vmax=high)
            axes[k, column].set_xticks([])
            axes[k, column].set_yticks([])
            figure.colorbar(shown, ax=axes[k, column], fraction=0.046, label="rad")
        axes[k, 1].set_title(title, fontsize=9)
    axes[0, 0].set_title("input phase φ", fontsize=9)
    axes[0, 2].set_title("predicted − true", fontsize=9)
    figure.savefig(out, dpi=100)


if __name__ == "__main__":
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
