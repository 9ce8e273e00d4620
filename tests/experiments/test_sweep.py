"""quaton sweep on a tiny grid: expansion, de-duplication, skipping completed runs, tables."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from quaton.cli import app
from quaton.config import dump_config, load_config
from quaton.errors import ConfigError
from quaton.experiments.sweep import TableSpec, compare_runs, plan, run_sweep
from quaton.experiments.table import write_tables
from quaton.runs import CONFIG, METRICS, atomic_write_text, write_json

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"


def write_grid(tmp_path: Path, **extra) -> Path:
    grid = {
        "base": str(SMOKE),
        "out": str(tmp_path / "out"),
        "caption": "tiny",
        "set": {"train.epochs": 2, "train.progress": False, "data.train_size": 400, "data.test_size": 100},
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
    assert all(r.config.train.epochs == 2 for r in runs)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("sweep")
    path = write_grid(tmp_path)
    out, rows = run_sweep(path, echo=lambda line: None)
    return path, out, rows


def test_sweep_runs_skips_and_tabulates(swept):
    path, out, rows = swept
    lines = []
    assert len(rows) == 6
    # every run learned: one epoch on 200 digits is far above chance (0.1) for each method
    assert all(r["test_accuracy"] > 0.3 for r in rows), [
        (r["quantization.method"], r["quantization.levels"], r["test_accuracy"]) for r in rows
    ]
    table = (out / "table.md").read_text()
    assert "| levels | FP | STE | PSQ |" in table and "tiny" in table
    # the table holds the runs' own numbers (percent), FP the same run in both rows
    fp = [r["test_accuracy"] for r in rows if r["quantization.method"] == "none"]
    assert fp[0] == fp[1] and table.count(f"| {100 * fp[0]:.1f} |") == 2
    assert "of the D2NN, hard-quantized where a quantizer was trained" in table and "highest test_accuracy" in table
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
    _, out, rows = swept
    runs = sorted((out / "runs").iterdir())
    result = CliRunner().invoke(app, ["compare", *map(str, runs), "--out", str(tmp_path / "cmp")])
    assert result.exit_code == 0, result.output
    table = (tmp_path / "cmp" / "table.md").read_text()
    # the keys the runs differ in are the columns; quantizer settings of the FP run do not act
    assert "| run | quantization.method | quantization.levels | test_accuracy (%) |" in table
    assert "| none | - |" in table and "| psq | 4 |" in table
    assert "5 runs; they differ only in quantization.method, quantization.levels." in table
    best = max(r["test_accuracy"] for r in rows)
    assert f"**{100 * best:.1f}**" in table
    assert (tmp_path / "cmp" / "table.png").is_file() and (tmp_path / "cmp" / "table.csv").is_file()
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "nope")])
    assert result.exit_code == 2


def fake_run(directory: Path, overrides: list[str], metrics: dict) -> Path:
    """A finished run directory (config and metrics only): enough for compare."""
    directory.mkdir(parents=True)
    atomic_write_text(directory / CONFIG, dump_config(load_config(SMOKE, overrides)))
    write_json(directory / METRICS, metrics)
    return directory


def test_compare_shows_what_differs_and_captions_what_was_compared(tmp_path):
    """Runs of different lengths, none quantized: epochs is a column, the caption says full
    precision (not "best quantized method"), and one run is "1 run"."""
    metrics = {"primary_metric": "test_accuracy", "test_loss": 1.0}
    short = fake_run(tmp_path / "short", ["train.epochs=1"], {**metrics, "test_accuracy": 0.8})
    long = fake_run(tmp_path / "long", ["train.epochs=5"], {**metrics, "test_accuracy": 0.9})
    out = compare_runs([short, long], tmp_path / "cmp")
    table = (out / "table.md").read_text()
    assert "| run | train.epochs | test_accuracy (%) |" in table
    assert f"| {short} | 1 | 80.0 |" in table and f"| {long} | 5 | **90.0** |" in table
    assert "of the full-precision D2NN on the test set, 2 runs; they differ only in train.epochs." in table
    assert "quantized" not in table.replace("full-precision", "")
    one = (compare_runs([short], tmp_path / "one") / "table.md").read_text()
    assert "1 run." in one and "1 runs" not in one and "**" not in one


def test_compare_refuses_runs_of_different_tasks(tmp_path):
    a = fake_run(tmp_path / "a", [], {"primary_metric": "test_accuracy", "test_accuracy": 0.5})
    b = fake_run(tmp_path / "b", [], {"primary_metric": "test_ssim", "test_ssim": 0.5})
    with pytest.raises(ConfigError, match="different primary metrics"):
        compare_runs([a, b], tmp_path / "cmp")


def table_of(tmp_path: Path, metric: str, columns: str, rows: list[dict], configs: list) -> str:
    spec = SimpleNamespace(
        table=TableSpec(rows=["data.dataset"], columns=columns, metric=metric), caption="", name="t", plot=None
    )
    write_tables(tmp_path, spec, rows, configs)
    return (tmp_path / "table.md").read_text()


def test_sweep_tables_bold_by_the_metric_direction(tmp_path):
    """A loss or an error is best lowest: bold the minimum of the quantized methods (not FP)."""
    rows = [
        {"data.dataset": "rbc", "quantization.method": method, "test_phase_error": error}
        for method, error in [("none", 0.10), ("ste", 0.30), ("psq", 0.20)]
    ]
    configs = [
        load_config(SMOKE, [f"quantization.method={r['quantization.method']}", "quantization.levels=4"]) for r in rows
    ]
    table = table_of(tmp_path, "test_phase_error", "quantization.method", rows, configs)
    assert "| rbc | 0.1000 | 0.3000 | **0.2000** |" in table
    assert "Bold: best quantized method per row (lowest test_phase_error)." in table
    for r, value in zip(rows, (0.9, 0.5, 0.7)):
        r["test_accuracy"] = value
    table = table_of(tmp_path, "test_accuracy", "quantization.method", rows, configs)
    assert "| rbc | 90.0 | 50.0 | **70.0** |" in table and "(highest test_accuracy)" in table


def test_dat_tables_caption_the_physical_system_and_the_strategy(tmp_path):
    """A DAT table compares training strategies on the physical system: neither "hard-quantized"
    nor "quantized method" is true of it."""
    rows = [
        {"data.dataset": "mnist", "train.strategy": strategy, "physical_test_accuracy": value}
        for strategy, value in [("dat", 0.9), ("pat", 0.8), ("ideal", 0.5)]
    ]
    mzi = Path(__file__).parents[2] / "configs" / "dat" / "mzi_smoke.yaml"
    configs = [load_config(mzi, [f"train.strategy={r['train.strategy']}"]) for r in rows]
    table = table_of(tmp_path, "physical_test_accuracy", "train.strategy", rows, configs)
    assert "| mnist | **90.0** | 80.0 | 50.0 |" in table
    assert (
        "physical_test_accuracy (%) of the MZI network measured on the physical system "
        "(quaton.systems.mzi_twin:mzi_twin)" in table
    )
    assert "Bold: best strategy per row (highest physical_test_accuracy)." in table
    assert "quantized" not in table


def test_a_baseline_metric_is_not_bolded(tmp_path):
    rows = [{"data.dataset": "rbc", "quantization.method": m, "test_ssim_dark_baseline": 0.7} for m in ("ste", "psq")]
    configs = [
        load_config(SMOKE, [f"quantization.method={r['quantization.method']}", "quantization.levels=4"]) for r in rows
    ]
    table = table_of(tmp_path, "test_ssim_dark_baseline", "quantization.method", rows, configs)
    assert "**" not in table and "Bold" not in table and "of the hard-quantized D2NN" in table
