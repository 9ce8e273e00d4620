"""`quaton sweep --ray`: a grid run as Ray tasks on a local instance gives the local sweep's tables,
also when a worker is killed in the middle of a run (Ray restarts the task, the run resumes)."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from quaton.cli import app
from quaton.experiments.sweep import run_sweep
from quaton.runs import CHECKPOINT, HISTORY, METRICS

ray = pytest.importorskip("ray")

from quaton.experiments.cluster import RayResources, run_sweep_ray, start_local  # noqa: E402

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
# Four runs, one thread each (so that a Ray worker and this process compute the same bits), long
# enough (4 epochs) that a worker can be killed after a run's first checkpoint and before its end.
SET = {"train.epochs": 4, "train.progress": False, "train.threads": 1, "data.train_size": 256, "data.test_size": 64}


def write_grid(folder: Path) -> Path:
    grid = {
        "base": str(SMOKE),
        "name": "ray-test",
        "out": str(folder / "sweep"),
        "set": SET,
        "grid": {"seed": [0, 1], "train.lr": [0.05, 0.02]},
        "table": {"rows": ["seed"], "columns": "train.lr", "metric": "test_accuracy"},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory) -> Path:
    """The grid swept locally, in this process: the reference tables."""
    out, _ = run_sweep(write_grid(tmp_path_factory.mktemp("local")), echo=lambda line: None)
    return out


@pytest.fixture(scope="module")
def local_ray():
    """A Ray instance of this machine alone, started by the test and stopped after it."""
    start_local(num_cpus=2)
    yield
    ray.shutdown()


def table(out: Path) -> str:
    return (out / "table.csv").read_text()


def test_a_ray_sweep_writes_the_local_sweeps_tables(tmp_path, local_sweep, local_ray):
    lines: list[str] = []
    out, rows = run_sweep_ray(write_grid(tmp_path), echo=lines.append)
    assert len(rows) == 4 and sum("trained" in line for line in lines) == 4
    assert table(out) == table(local_sweep)
    # A second sweep finds every run complete and trains nothing.
    lines.clear()
    run_sweep_ray(write_grid(tmp_path), echo=lines.append)
    assert "0 to train" in lines[0]


def test_a_worker_killed_during_a_run_is_restarted_and_the_grid_ends_as_the_local_sweep(
    tmp_path, local_sweep, local_ray
):
    grid = write_grid(tmp_path)
    result: dict = {}
    sweep = threading.Thread(target=lambda: result.update(out=run_sweep_ray(grid, echo=lambda line: None)[0]))
    sweep.start()
    killed = None
    deadline = time.monotonic() + 240
    while killed is None and sweep.is_alive() and time.monotonic() < deadline:
        for lock in (tmp_path / "sweep" / "runs").glob("*/.lock"):
            run = lock.parent
            # Inside the training window: an epoch's checkpoint is written and the run is not finished.
            if (run / CHECKPOINT).is_file() and not (run / METRICS).is_file():
                pid = int(lock.read_text().split()[0])
                assert pid != os.getpid()  # the run trains in a Ray worker
                os.kill(pid, signal.SIGKILL)
                killed = run
                break
        time.sleep(0.05)
    sweep.join(timeout=600)
    assert killed is not None, "no run was caught between its first checkpoint and its end"
    history = (killed / HISTORY).read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in history] == [1, 2, 3, 4]  # resumed, no epoch twice
    assert table(result["out"]) == table(local_sweep)


def test_ray_options_are_checked_before_anything_runs(tmp_path):
    result = CliRunner().invoke(app, ["sweep", str(write_grid(tmp_path)), "--ray", "--cpus-per-run", "0"])
    assert result.exit_code == 2
    assert "--cpus-per-run must be positive" in result.output
    assert not (tmp_path / "sweep").exists()


def test_resources_set_threads_and_device_without_changing_the_run(tmp_path):
    from quaton.experiments.cluster import _with_resources
    from quaton.experiments.sweep import plan

    _, _, runs = plan(write_grid(tmp_path))
    placed = _with_resources(runs[0], RayResources(cpus=2, gpus=1))
    assert placed.config.train.threads == 2 and placed.config.train.device == "cuda"
    assert placed.key == runs[0].key and placed.run_dir.is_absolute()
