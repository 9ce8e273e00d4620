"""The command line: thin, it parses and calls. Errors quaton raises on purpose print without a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from quaton.errors import QuatonError, TrainingError
from quaton.paths import check_writable_directory, check_writable_file

app = typer.Typer(
    add_completion=True, no_args_is_help=True, help="Design optical neural networks that survive the real world."
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"quaton {version('quaton')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("quaton (not installed: no version metadata)")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More: -v logs quaton's steps (INFO), -vv DEBUG.")
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Results and errors only: no progress bars, epoch lines or notes.")
    ] = False,
) -> None:
    """Design optical neural networks that survive the real world."""
    import logging
    import os

    from quaton.progress import QUIET

    if quiet:
        os.environ[QUIET] = "1"  # this process and the runs it starts (sweep workers)
    level = logging.WARNING if quiet or not verbose else (logging.INFO if verbose == 1 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("quaton").setLevel(level)


def _note(text: str) -> None:
    """An informational line (what is about to happen, where results went): not with -q."""
    from quaton.progress import quiet

    if not quiet():
        typer.echo(text)


SetOption = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Override a config key: dotted.key=value (repeatable).")
]


def _fail(error: Exception) -> None:
    """One ``error:`` line, no traceback; exit code 2 for what the user gave (a config, a path, a
    file, a run directory), 1 for a failure at run time (training cannot go on: a NaN loss, too
    little memory)."""
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(code=1 if isinstance(error, TrainingError) else 2)


def _default_run_dir(config_path: Path, name: str) -> Path:
    return Path("runs") / (name if name != "run" else config_path.stem)


@app.command()
def train(
    config: Annotated[
        Path,
        typer.Argument(help="YAML config file, or one shipped with quaton by name (default, smoke, paper/qpi)."),
    ],
    set_: SetOption = None,
    run_dir: Annotated[
        Path | None, typer.Option("--run-dir", help="Where to write the run (default: runs/NAME).")
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Start over in the run directory, overwriting the run it holds (of this or another config)."
        ),
    ] = False,
) -> None:
    """Train a network from CONFIG and write a run directory.

    A run directory that holds a checkpoint of the same config resumes from it; one of the same config
    with a larger train.epochs continues from its last epoch where no schedule depends on the epochs;
    one of another config is refused (keys named): pass --fresh or another --run-dir."""
    import logging

    from quaton.config import load_config, resolve_config_path
    from quaton.train.loop import train as run_training

    try:
        resolved = load_config(config, set_ or [])
        target = run_dir or _default_run_dir(config, resolved.name)
        check_writable_directory(target, "--run-dir")
        _note(f"training {resolved.model.kind} on {resolved.data.dataset} into {target}")
        logging.getLogger("quaton.cli").info("config %s resolved to %s", config, resolve_config_path(config))
        metrics = run_training(resolved, target, resume=not fresh)
    except QuatonError as error:
        _fail(error)
    if not metrics:  # a rank other than 0 under torchrun: rank 0 reports
        return
    primary = metrics["primary_metric"]
    typer.echo(f"{primary.replace('_', ' ')}: {metrics[primary]:.4f} ({metrics['test_size']} test images)")
    _note(f"run directory: {target}")


@app.command("eval")
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by quaton train.")],
    set_: SetOption = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the metrics to this JSON file.")] = None,
) -> None:
    """Re-evaluate a trained run on its test set (optionally under other hardware settings, e.g.
    --set hardware.readout.noise=0.75) and print the metrics as JSON."""
    from quaton.runs import write_json
    from quaton.train.evaluate import evaluate_run

    try:
        if json_path:
            check_writable_file(json_path, "--json")
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
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and list the runs without running them.")
    ] = False,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Runs trained at the same time, each in its own process.")
    ] = 1,
    ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run every run as a Ray task (pip install 'quaton\\[ray]'): a local Ray instance, "
            "or the cluster at --address.",
        ),
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="With --ray: a running Ray cluster (e.g. HEAD:6379); default: $RAY_ADDRESS, else a local instance.",
        ),
    ] = None,
    cpus_per_run: Annotated[
        float, typer.Option("--cpus-per-run", help="With --ray: CPUs reserved per run (also its torch threads).")
    ] = 1.0,
    gpus_per_run: Annotated[
        float, typer.Option("--gpus-per-run", help="With --ray: GPUs reserved per run (> 0 trains on cuda).")
    ] = 0.0,
    retries: Annotated[
        int, typer.Option("--retries", help="With --ray: times a run whose worker died is started again (it resumes).")
    ] = 3,
) -> None:
    """Run every combination of a grid (skipping completed runs) and write a table of results.

    With --ray the run directories must lie on a path every Ray node sees (a shared file system)."""
    from quaton.experiments.sweep import plan, run_sweep

    try:
        if dry_run:
            _, out, runs = plan(grid, set_ or [])
            for run in runs:
                typer.echo(f"{run.key}  {run.values}")
            typer.echo(f"{len(runs)} grid points, {len({r.key for r in runs})} distinct runs -> {out}")
            return
        if ray:
            from quaton.experiments.cluster import RayResources, run_sweep_ray

            resources = RayResources(cpus=cpus_per_run, gpus=gpus_per_run, retries=retries)
            out, _ = run_sweep_ray(grid, set_ or [], address=address, resources=resources, echo=typer.echo)
        else:
            out, _ = run_sweep(grid, set_ or [], echo=typer.echo, jobs=jobs)
    except QuatonError as error:
        _fail(error)
    typer.echo((out / "table.md").read_text())
    typer.echo(f"tables: {out}/table.md, table.csv, table.png")


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories to compare.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write table.md, table.csv, table.png.")] = Path(
        "runs/comparison"
    ),
) -> None:
    """Side-by-side table and bar chart of finished runs: one row per run, the config keys they differ in as columns."""
    from quaton.experiments.sweep import compare_runs

    try:
        check_writable_directory(out, "--out")
        target = compare_runs(run_dirs, out)
    except QuatonError as error:
        _fail(error)
    typer.echo((target / "table.md").read_text())
    typer.echo(f"tables: {target}/table.md, table.csv, table.png")


@app.command("export")
def export_design(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by quaton train.")],
    out: Annotated[Path, typer.Option("--out", help="Design directory to write.")],
    formats: Annotated[
        list[str] | None,
        typer.Option(
            "--format",
            help="npy, tiff, stl, gds (repeatable; default npy, tiff, stl). gds: one GDSII mask per binary-optics "
            "etch step (2^k levels per layer).",
        ),
    ] = None,
    min_feature: Annotated[
        float | None,
        typer.Option("--min-feature", help="gds design-rule check: smallest printable feature (m), e.g. 1e-6."),
    ] = None,
    min_gap: Annotated[
        float | None, typer.Option("--min-gap", help="gds design-rule check: smallest printable gap (m), e.g. 1e-6.")
    ] = None,
    polarity: Annotated[
        str,
        typer.Option(
            "--polarity",
            help="gds: 'etched' (default): the masks' open areas are etched into the plate, which then carries "
            "the design's phase (etching removes material: level L is etched to (-L) mod 2^k); 'relief': the open "
            "areas add up to the height map, for a master that is replicated or a resist that stays where "
            "exposed (etched as it is, that plate carries the conjugate phase).",
        ),
    ] = "etched",
) -> None:
    """Export a trained run as a design: design.json, phase layers, height maps, STL meshes, GDSII masks.

    gds masks are checked by KLayout (pip install 'quaton\\[klayout]'): width below --min-feature, space
    below --min-gap and areas touching at a corner, every violation by location in masks.json."""
    from quaton.export.design import DEFAULT_FORMATS, export_run

    try:
        check_writable_directory(out, "--out")
        target = export_run(run_dir, out, tuple(formats or DEFAULT_FORMATS), min_feature, min_gap, polarity)
    except QuatonError as error:
        _fail(error)
    typer.echo(f"design written to {target}")
    gds = json.loads((target / "design.json").read_text()).get("gds")
    if gds:
        typer.echo(f"gds polarity: {gds['polarity']}: {gds['polarity_meaning']}")
    for index, layer in enumerate(gds["drc"] if gds else [], start=1):
        for step, check in enumerate(layer, start=1):
            typer.echo(f"layer {index} mask {step}: {_drc_line(check)}")


def _drc_line(check: dict | None) -> str:
    """One mask's design-rule check in words (counts; locations are in masks.json)."""
    if check is None:
        return "no design-rule check (KLayout is not installed: pip install 'quaton[klayout]')"
    parts = []
    if check["width_violations"] is not None:
        parts.append(f"{check['width_violations']} width violations below min_feature={check['min_feature_m']} m")
    if check["space_violations"] is not None:
        parts.append(f"{check['space_violations']} space violations below min_gap={check['min_gap_m']} m")
    parts.append(f"{check['corner_touches']} corner touches")
    return ", ".join(parts) + " (KLayout; locations in masks.json, all in masks_drc.lyrdb)"


PERTURB_HELP = (
    "NAME=VALUE (repeatable), each simulated on its own; NAME=VALUE,NAME=VALUE act together "
    "(e.g. etch_depth=0.05,mask_overlay=0.2): "
    "phase_noise=σ (rad, 0..2π: Gaussian error per pixel, every layer; random, over --draws draws); "
    "height_error=e (relative, a fraction: 0.02 = 2 %; -1 < e <= 1: every height of every layer x (1+e)); "
    "shift=k or shift=L:k (whole pixels, 0 <= k < grid: every layer, or layer L, moved k px along +x); "
    "etch_depth=σ (relative, 0..1: each binary-optics etch step's depth off by a Gaussian error, per step and layer; "
    "2^k-level designs; random, over --draws draws); "
    "mask_overlay=σ (pixels, a fraction of the pitch, 0..1: each binary-optics mask misaligned to the previous one "
    "by a Gaussian x and y offset, per step and layer; pixel transmission = area average over the slivers; "
    "random, over --draws draws); "
    "distance_error=e (relative, -1 < e <= 1: all L+1 distances x (1+e))."
)


@app.command()
def simulate(
    design_dir: Annotated[Path, typer.Argument(help="A design directory written by quaton export.")],
    perturb: Annotated[list[str] | None, typer.Option("--perturb", "-p", help=PERTURB_HELP)] = None,
    set_: SetOption = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            help="Seed of the random perturbations: draw d uses numpy's default_rng with the seed sequence (seed, d).",
        ),
    ] = 0,
    draws: Annotated[
        int,
        typer.Option("--draws", help="Monte-Carlo draws of each random perturbation (mean, std, min, max reported)."),
    ] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder that keeps the simulations (default DESIGN_DIR/simulations): each call adds "
            "ID/simulation.json and ID/report.html and lists them in index.json.",
        ),
    ] = None,
) -> None:
    """Re-evaluate an exported design on its test set, as trained (the run's read-out chain and modulator
    response) and under perturbations. Every call is kept; nothing earlier is overwritten.

    --set optics.wavelength=... propagates at another wavelength with every layer's phase kept in
    radians: a re-programmed SLM, not a fixed printed or etched element (whose phase
    2π(n(λ) − n₀)h/λ₀ changes with the wavelength; dispersion is not modelled)."""
    from quaton.export.simulate import result_line, save_simulation
    from quaton.export.simulate import simulate as run_simulation

    try:
        if out is not None:
            check_writable_directory(out, "--out")
        result = run_simulation(design_dir, perturb or [], set_ or [], seed=seed, draws=draws)
        target = save_simulation(result, design_dir, out)
    except QuatonError as error:
        _fail(error)
    primary = result["primary_metric"]
    typer.echo(f"{result['dataset']}, {result['test_size']} test images; device {result['hardware']}")
    for note in result["notes"]:
        typer.echo(f"note: {note}")
    for row in result["results"]:
        typer.echo(result_line(row, primary))
    typer.echo(f"simulation: {target / 'simulation.json'}")
    typer.echo(f"report: {target / 'report.html'}")


@app.command("init")
def init(
    directory: Annotated[Path, typer.Argument(help="Where to put the configs (created if need be).")] = Path("."),
) -> None:
    """Copy the configs shipped with quaton into DIRECTORY/configs, to read and edit (a file already
    there is kept, not overwritten)."""
    from quaton.init import copy_configs

    try:
        check_writable_directory(directory, "DIRECTORY")
        written, kept = copy_configs(directory)
    except QuatonError as error:
        _fail(error)
    typer.echo(f"{len(written)} configs written to {directory / 'configs'}" + (f", {len(kept)} kept" if kept else ""))
    typer.echo(f"next: quaton train {directory / 'configs' / 'default.yaml'}")


@app.command("config")
def config_command(
    defaults: Annotated[
        bool, typer.Option("--defaults", help="Print every config key with its default value (YAML).")
    ] = False,
    schema: Annotated[
        bool, typer.Option("--schema", help="Print the config's JSON schema (keys, types, ranges, descriptions).")
    ] = False,
) -> None:
    """Show the config schema: every key with its default, or the JSON schema."""
    from quaton.config import Config, build_config, dump_config

    if defaults == schema:
        raise typer.BadParameter("give exactly one of --defaults or --schema")
    typer.echo(
        json.dumps(Config.model_json_schema(), indent=2) if schema else dump_config(build_config({})), nl=not defaults
    )


@app.command("list")
def list_components() -> None:
    """List every registered component (quantizers, model kinds, tasks, read-out effects, training
    strategies) with its options: one line per option, with its type and default."""
    from quaton.builder import component_listing

    typer.echo("\n".join(component_listing()))


@app.command()
def tune(
    space: Annotated[
        Path, typer.Argument(help="Space file: a base config, overrides, the keys to search and how (docs/tune.md).")
    ],
    set_: SetOption = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="A running Ray cluster (e.g. HEAD:6379); default: $RAY_ADDRESS, else a local instance."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate the space file and print the search without running it.")
    ] = False,
) -> None:
    """Search hyperparameters with Ray Tune (Optuna proposes, ASHA stops poor trials early), scored on
    images held out of the training set, never the test set; writes best.yaml and a table of trials.

    Needs the ray extra: pip install 'quaton\\[ray]'. On a cluster the search's out directory must lie on a
    path every Ray node sees."""
    from quaton.experiments.tune import plan_tune, run_tune

    try:
        if dry_run:
            plan = plan_tune(space, set_ or [])
            for dimension in plan.dimensions:
                typer.echo(f"{dimension.key}: {dimension.describe()}")
            spec = plan.spec
            typer.echo(
                f"{spec.samples} trials of up to {plan.epochs} epochs, "
                f"{spec.concurrent or 'as many as fit'} at a time, "
                f"{plan.mode} {plan.metric}; ASHA grace period {spec.asha.grace_period}, "
                f"reduction factor {spec.asha.reduction_factor:g} -> {plan.out}"
            )
            return
        out, best = run_tune(space, set_ or [], address=address, echo=typer.echo)
    except QuatonError as error:
        _fail(error)
    typer.echo((out / "trials.md").read_text())
    typer.echo(f"tables: {out}/trials.md, trials.csv, trials.png")
    typer.echo(f"best config: {best}  (quaton train {best})")


def main() -> None:
    """Entry point of the ``quaton`` command."""
    app(prog_name="quaton")


if __name__ == "__main__":
    main()
