"""The command line: thin, it parses and calls. Errors quaton raises on purpose print without a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from quaton.errors import QuatonError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Design optical neural networks that survive the real world.")

SetOption = Annotated[
    Optional[list[str]], typer.Option("--set", "-s", help="Override a config key: dotted.key=value (repeatable).")
]


def _fail(error: Exception) -> None:
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(code=2)


def _default_run_dir(config_path: Path, name: str) -> Path:
    return Path("runs") / (name if name != "run" else config_path.stem)


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="YAML config file.")],
    set_: SetOption = None,
    run_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="Where to write the run (default: runs/NAME).")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="Start over even if the run directory holds a checkpoint of this config.")] = False,
) -> None:
    """Train a network from CONFIG and write a run directory (resuming from its checkpoint if there is one)."""
    from quaton.config import load_config
    from quaton.train.loop import train as run_training

    try:
        resolved = load_config(config, set_ or [])
        target = run_dir or _default_run_dir(config, resolved.name)
        typer.echo(f"training {resolved.model.kind} on {resolved.data.dataset} into {target}")
        metrics = run_training(resolved, target, resume=not fresh)
    except QuatonError as error:
        _fail(error)
    if not metrics:  # a rank other than 0 under torchrun: rank 0 reports
        return
    primary = metrics["primary_metric"]
    typer.echo(f"{primary.replace('_', ' ')}: {metrics[primary]:.4f} ({metrics['test_size']} test images)")
    typer.echo(f"run directory: {target}")


@app.command("eval")
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by quaton train.")],
    set_: SetOption = None,
    json_path: Annotated[Optional[Path], typer.Option("--json", help="Also write the metrics to this JSON file.")] = None,
) -> None:
    """Re-evaluate a trained run on its test set (optionally under other hardware settings, e.g.
    --set hardware.readout.noise=0.75) and print the metrics as JSON."""
    from quaton.train.evaluate import evaluate_run
    from quaton.train.rundir import write_json

    try:
        metrics = evaluate_run(run_dir, set_ or [])
    except QuatonError as error:
        _fail(error)
    metrics.pop("confusion", None)
    if json_path:
        write_json(json_path, metrics)
    typer.echo(json.dumps(metrics, indent=2))


@app.command()
def sweep(
    grid: Annotated[Path, typer.Argument(help="Sweep file: a base config, overrides and grid axes.")],
    set_: SetOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and list the runs without running them.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Runs trained at the same time, each in its own process.")] = 1,
) -> None:
    """Run every combination of a grid (skipping completed runs) and write a table of results."""
    from quaton.train.sweep import plan, run_sweep

    try:
        if dry_run:
            _, out, runs = plan(grid, set_ or [])
            for run in runs:
                typer.echo(f"{run.key}  {run.values}")
            typer.echo(f"{len(runs)} grid points, {len({r.key for r in runs})} distinct runs -> {out}")
            return
        out, _ = run_sweep(grid, set_ or [], echo=typer.echo, jobs=jobs)
    except QuatonError as error:
        _fail(error)
    typer.echo((out / "table.md").read_text())
    typer.echo(f"tables: {out}/table.md, table.csv, table.png")


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories to compare.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write table.md, table.csv, table.png.")] = Path("runs/comparison"),
) -> None:
    """Side-by-side table and bar chart of several runs (rows dataset / levels, columns method)."""
    from quaton.train.sweep import compare_runs

    try:
        target = compare_runs(run_dirs, out)
    except QuatonError as error:
        _fail(error)
    typer.echo((target / "table.md").read_text())
    typer.echo(f"tables: {target}/table.md, table.csv, table.png")


@app.command("export")
def export_design(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by quaton train.")],
    out: Annotated[Path, typer.Option("--out", help="Design directory to write.")],
    formats: Annotated[Optional[list[str]], typer.Option("--format", help="npy, tiff, stl (repeatable; default all).")] = None,
) -> None:
    """Export a trained run as a design: design.json, phase layers, height maps, STL meshes."""
    from quaton.export.design import FORMATS, export_run

    try:
        target = export_run(run_dir, out, tuple(formats or FORMATS))
    except QuatonError as error:
        _fail(error)
    typer.echo(f"design written to {target}")


@app.command()
def simulate(
    design_dir: Annotated[Path, typer.Argument(help="A design directory written by quaton export.")],
    perturb: Annotated[Optional[list[str]], typer.Option("--perturb", "-p", help="NAME=VALUE: phase_noise, height_error, shift, distance_error (repeatable).")] = None,
    set_: SetOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write simulation.json and report.html (default DESIGN_DIR/simulation).")] = None,
) -> None:
    """Re-evaluate an exported design on its test set, as designed and under perturbations."""
    from quaton.export.simulate import simulate as run_simulation
    from quaton.train.rundir import write_json

    try:
        result = run_simulation(design_dir, perturb or [], set_ or [])
    except QuatonError as error:
        _fail(error)
    target = out or Path(design_dir) / "simulation"
    target.mkdir(parents=True, exist_ok=True)
    write_json(target / "simulation.json", result)
    from quaton.report import simulation_report

    simulation_report(Path(design_dir), target, result)
    primary = result["primary_metric"]
    for row in result["results"]:
        label = row["perturbation"] if row["perturbation"] == "none" else f"{row['perturbation']}={row['value']}"
        typer.echo(f"{label:>24}: {primary} {row[primary]:.4f}")
    typer.echo(f"report: {target / 'report.html'}")


def main() -> None:
    """Entry point of the ``quaton`` command."""
    app(prog_name="quaton")


if __name__ == "__main__":
    sys.exit(main())
