"""A tiny version of the mixed-signal experiment: levels x noise x naive/aware, table and curves."""

from pathlib import Path

import yaml

from quaton.experiments.sweep import plan, run_sweep

SMOKE = Path(__file__).parents[2] / "configs" / "mixed_signal" / "smoke.yaml"


def test_tiny_mixed_signal_experiment(tmp_path):
    grid = {
        "base": str(SMOKE),
        "out": str(tmp_path / "out"),
        "set": {"train.epochs": 1, "train.progress": False, "data.train_size": 300, "data.test_size": 100},
        "grid": {
            "hardware.readout.levels": [4, 16],
            "hardware.readout.noise": [0.0, 2.0],
            "train.hardware_aware": [False, True],
        },
        "table": {
            "rows": ["hardware.readout.levels", "hardware.readout.noise"],
            "columns": "train.hardware_aware",
            "metric": "test_accuracy",
        },
        "plot": {"x": "hardware.readout.noise", "series": "hardware.readout.levels", "style": "train.hardware_aware"},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    _, _, runs = plan(path)
    assert len({r.key for r in runs}) == 5  # one naive training serves all four read-outs
    out, rows = run_sweep(path, echo=lambda line: None)
    assert (out / "curves.png").stat().st_size > 1000 and (out / "table.md").is_file()
    naive = {
        (r["hardware.readout.levels"], r["hardware.readout.noise"]): r["test_accuracy"]
        for r in rows
        if not r["train.hardware_aware"]
    }
    # the same naive network loses accuracy under heavy read noise
    assert naive[(16, 2.0)] < naive[(16, 0.0)]
