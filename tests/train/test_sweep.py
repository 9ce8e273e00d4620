"""quaton sweep on a tiny grid: expansion, de-duplication, skipping completed runs, tables."""

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from quaton.cli import app
from quaton.errors import ConfigError
from quaton.train.sweep import plan, run_sweep

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"


def write_grid(tmp_path: Path, **extra) -> Path:
    grid = {
        "base": str(SMOKE),
        "out": str(tmp_path / "out"),
        "caption": "tiny",
        "set": {"train.epochs": 1, "train.progress": False, "data.train_size": 100, "data.test_size": 50},
        "grid": {"quantization.levels": [2, 4], "quantization.method": ["none", "ste", "psq"]},
        "table": {"rows": ["quantization.levels"], "columns": "quantization.method", "metric": "test_accuracy"},
        **extra,
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def test_plan_deduplicates_full_precision(tmp_path):
    _, _, runs = plan(write_grid(tmp_path))
    assert len(runs) == 6
    assert len({r.key for r in runs}) == 5  # FP ignores the level count: one run serves both rows
    assert all(r.config.train.epochs == 1 for r in runs)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sweep")
    path = write_grid(tmp_path)
    out, rows = run_sweep(path, echo=lambda line: None)
    return path, out, rows


def test_sweep_runs_skips_and_tabulates(swept):
    path, out, rows = swept
    lines = []
    assert len(rows) == 6 and all(0.0 <= r["test_accuracy"] <= 1.0 for r in rows)
    table = (out / "table.md").read_text()
    assert "| levels | FP | STE | PSQ |" in table and "tiny" in table
    assert len((out / "table.csv").read_text().splitlines()) == 3
    assert (out / "table.png").stat().st_size > 1000
    # a second sweep redoes nothing
    run_sweep(path, echo=lines.append)
    assert sum("done already" in line for line in lines) == 5 and not any("trained" in line for line in lines)


def test_bad_grid_fails_before_any_run(tmp_path):
    path = write_grid(tmp_path, grid={"quantization.method": ["psq", "magic"], "quantization.levels": [4]})
    with pytest.raises(ConfigError, match="quantization.method"):
        plan(path)
    assert not (tmp_path / "out").exists()
    path = write_grid(tmp_path, colums="typo")
    result = CliRunner().invoke(app, ["sweep", str(path)])
    assert result.exit_code == 2 and "colums" in result.output


def test_compare_renders_runs_side_by_side(swept, tmp_path):
    _, out, _ = swept
    runs = sorted((out / "runs").iterdir())
    result = CliRunner().invoke(app, ["compare", *map(str, runs), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    table = (tmp_path / "cmp" / "table.md").read_text()
    assert "FP" in table and "PSQ" in table and "STE" in table
    assert (tmp_path / "cmp" / "table.png").is_file() and (tmp_path / "cmp" / "table.csv").is_file()
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "nope")])
    assert result.exit_code == 2
