"""Scale-out: torchrun with DistributedDataParallel, parallel and concurrent sweeps, resuming."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from quaton.config import load_config
from quaton.experiments.sweep import acquire, release
from quaton.train import loop
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
TINY = ["train.epochs=1", "train.progress=false", "data.train_size=128", "data.test_size=64", "train.batch_size=32"]


def quaton_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "quaton", *args]


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tmp_path):
    sets = [item for override in TINY for item in ("--set", override)]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "quaton",
        "train",
        str(SMOKE),
        *sets,
        "--run-dir",
        str(tmp_path / "ddp"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    single = train(load_config(SMOKE, TINY), tmp_path / "single")
    ddp = yaml.safe_load((tmp_path / "ddp" / "metrics.json").read_text())
    assert ddp["processes"] == 2
    assert ddp["test_loss"] == pytest.approx(single["test_loss"], rel=1e-4)
    a = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=True)["model"]
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-4), key


@pytest.mark.parametrize("train_size", [97, 99])
def test_two_process_ddp_with_an_uneven_last_batch_matches_one_process(tmp_path, train_size):
    """97 images in batches of 32 end with a batch of 1 (one rank's shard is empty), 99 with a batch of
    3 (shards of 2 and 1): the gradient must still be the global batch's, as in one process."""
    settings = [
        "train.epochs=1",
        "train.progress=false",
        f"data.train_size={train_size + 10}",  # 10 held out for validation: train_size images trained
        "train.validation_size=10",
        "data.test_size=64",
        "train.batch_size=32",
    ]
    sets = [item for override in settings for item in ("--set", override)]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "quaton",
        "train",
        str(SMOKE),
        *sets,
        "--run-dir",
        str(tmp_path / "ddp"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    single = train(load_config(SMOKE, settings), tmp_path / "single")
    ddp = yaml.safe_load((tmp_path / "ddp" / "metrics.json").read_text())
    assert ddp["processes"] == 2 and ddp["train_size"] == single["train_size"] == train_size
    assert ddp["test_loss"] == pytest.approx(single["test_loss"], rel=1e-5)
    a = torch.load(tmp_path / "ddp" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "single" / "checkpoint.pt", weights_only=True)["model"]
    # Adam divides by the gradient's running RMS, so where a gradient is near 0 the reduction order
    # of the two processes (all-reduce against one sum) moves a phase by up to 1e-4 rad in an epoch
    # (measured 1.01e-4 on the shared 2 cores). A last batch weighted as a whole batch (the defect
    # this test guards) fails the test-loss check above: tried by setting the shard weight to 1.
    for key in a:
        assert torch.allclose(a[key], b[key], atol=5e-4), (key, float((a[key] - b[key]).abs().max()))


def test_batch_must_split_evenly_across_processes(monkeypatch, tmp_path):
    from quaton.train import engine

    monkeypatch.setattr(engine, "distributed_context", lambda config: (0, 3))
    with pytest.raises(engine.TrainingError, match="multiple of the number of processes"):
        train(load_config(SMOKE, TINY), tmp_path / "x")


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    config = load_config(
        SMOKE,
        [
            "train.epochs=3",
            "train.progress=false",
            "data.train_size=96",
            "data.test_size=32",
            "quantization.method=gs",
            "quantization.levels=4",
        ],
    )
    reference = train(config, tmp_path / "reference")
    calls = {"n": 0}
    original = loop.evaluate

    def crash_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "evaluate", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed")
    monkeypatch.setattr(loop, "evaluate", original)
    resumed = train(config, tmp_path / "resumed")
    for key in ("test_accuracy", "test_loss"):
        assert resumed[key] == reference[key]
    a = torch.load(tmp_path / "reference" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len((tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()) == 3


def test_locks_exclude_live_holders_and_take_over_stale_ones(tmp_path):
    assert acquire(tmp_path / "run")
    assert not acquire(tmp_path / "run")  # held by this live process
    release(tmp_path / "run")
    (tmp_path / "run" / ".lock").write_text("999999999")  # a process that does not exist
    assert acquire(tmp_path / "run")


def write_grid(tmp_path: Path) -> Path:
    grid = {
        "base": str(SMOKE),
        "out": str(tmp_path / "out"),
        "set": {"train.epochs": 1, "train.progress": False, "data.train_size": 32, "data.test_size": 16},
        "grid": {"quantization.levels": [2, 4], "quantization.method": ["ste"]},
        "table": {"rows": ["quantization.levels"], "columns": "quantization.method", "metric": "test_accuracy"},
    }
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(grid))
    return path


def test_two_concurrent_sweeps_never_run_the_same_run_twice(tmp_path):
    path = write_grid(tmp_path)
    procs = [
        subprocess.Popen(
            quaton_command("sweep", str(path), "--jobs", "2"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    trained = sum(out.count("] trained:") for out in outputs)
    assert trained == 2, outputs
    # whichever finished last wrote the table; rerunning one completes the table in any case
    result = subprocess.run(quaton_command("sweep", str(path)), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.count("done already") == 2
    assert (tmp_path / "out" / "table.md").is_file()
