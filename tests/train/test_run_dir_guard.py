"""A run directory is never silently thrown away (issue 13, item 15), and an unreadable checkpoint
says what it is and what to do, never to turn weights_only off (item 17). Through the CLI."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from quaton.cli import app

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
TINY = ["train.progress=false", "data.train_size=64", "data.test_size=32", "train.batch_size=32"]


def quaton_train(run_dir: Path, *settings: str, fresh: bool = False):
    sets = [item for s in [*TINY, *settings] for item in ("--set", s)]
    return CliRunner().invoke(
        app, ["train", str(SMOKE), *sets, "--run-dir", str(run_dir), *(["--fresh"] if fresh else [])]
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished 1-epoch run with a constant learning rate."""
    run_dir = tmp_path_factory.mktemp("guard") / "run"
    result = quaton_train(run_dir, "train.epochs=1", "train.scheduler=none")
    assert result.exit_code == 0, result.output
    return run_dir


def copy_of(run_dir: Path, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target, {p.name: p.read_bytes() for p in target.iterdir() if p.is_file()}


def untouched(run_dir: Path, before: dict[str, bytes]) -> bool:
    return all((run_dir / name).read_bytes() == data for name, data in before.items())


def test_another_config_is_refused_naming_the_keys_and_the_choices(finished, tmp_path):
    run_dir, before = copy_of(finished, tmp_path)
    result = quaton_train(run_dir, "train.epochs=1", "train.scheduler=none", "train.lr=0.01", "model.layers=2")
    assert result.exit_code == 2, result.output
    assert "train.lr" in result.output and "model.layers" in result.output and "train.epochs:" not in result.output
    assert "--fresh" in result.output and "--run-dir" in result.output and "Traceback" not in result.output
    assert untouched(run_dir, before)


def test_other_threads_or_progress_resume_the_run(finished, tmp_path):
    """How a run is executed is not what it computes: a sweep restarted with another train.threads
    (found when a 2-hour run was refused after a restart with 2 threads instead of 1) resumes it."""
    run_dir, before = copy_of(finished, tmp_path)
    threads = torch.get_num_threads()
    result = quaton_train(run_dir, "train.epochs=1", "train.scheduler=none", "train.threads=3", "train.progress=true")
    # train.threads holds for the run only (it leaked into later tests, whose bitwise resume checks then
    # compared runs at different thread counts)
    assert torch.get_num_threads() == threads
    assert result.exit_code == 0, result.output
    assert "holds a run of another config" not in result.output
    after, earlier = json.loads((run_dir / "metrics.json").read_text()), json.loads(before["metrics.json"])
    assert after["test_accuracy"] == earlier["test_accuracy"] and after["epochs"] == 1
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1  # no epoch trained again


def test_fewer_epochs_are_refused(finished, tmp_path):
    run_dir, before = copy_of(finished, tmp_path)
    result = quaton_train(run_dir, "train.epochs=0", "train.scheduler=none")
    assert result.exit_code == 2 and "train.epochs" in result.output and "--fresh" in result.output
    assert untouched(run_dir, before)


def test_more_epochs_with_a_schedule_over_the_epochs_cannot_continue(finished, tmp_path):
    run_dir, before = copy_of(finished, tmp_path)
    result = quaton_train(run_dir, "train.epochs=2", "train.scheduler=cosine")
    assert result.exit_code == 2 and "train.scheduler" in result.output  # cosine differs too: refused as another config
    run_dir_psq = tmp_path / "psq"
    assert (
        quaton_train(
            run_dir_psq, "train.epochs=1", "train.scheduler=none", "quantization.method=psq", "quantization.levels=4"
        ).exit_code
        == 0
    )
    psq_before = {p.name: p.read_bytes() for p in run_dir_psq.iterdir() if p.is_file()}
    result = quaton_train(
        run_dir_psq, "train.epochs=2", "train.scheduler=none", "quantization.method=psq", "quantization.levels=4"
    )
    assert result.exit_code == 2, result.output
    assert "cannot continue" in result.output and "temperature" in result.output and "--fresh" in result.output
    assert untouched(run_dir_psq, psq_before)
    assert untouched(run_dir, before)


def test_more_epochs_with_a_constant_schedule_continue_to_the_uninterrupted_result(finished, tmp_path):
    run_dir, _ = copy_of(finished, tmp_path)
    first = (run_dir / "metrics.jsonl").read_text().splitlines()
    result = quaton_train(run_dir, "train.epochs=2", "train.scheduler=none")
    assert result.exit_code == 0, result.output
    history = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(history) == 2 and history[0] == first[0]
    assert quaton_train(tmp_path / "straight", "train.epochs=2", "train.scheduler=none").exit_code == 0
    a = json.loads((run_dir / "metrics.json").read_text())
    b = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert a["test_accuracy"] == b["test_accuracy"] and a["test_loss"] == b["test_loss"] and a["epochs"] == 2
    ma = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    mb = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(ma[k], mb[k]) for k in ma)


def test_fresh_starts_over_with_the_new_config(finished, tmp_path):
    run_dir, _ = copy_of(finished, tmp_path)
    result = quaton_train(run_dir, "train.epochs=2", "train.lr=0.01", fresh=True)
    assert result.exit_code == 0, result.output
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2
    assert "lr: 0.01" in (run_dir / "config.yaml").read_text()


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_an_unreadable_checkpoint_says_what_it_is_and_what_to_do(finished, tmp_path, damage):
    run_dir, _ = copy_of(finished, tmp_path)
    checkpoint = run_dir / "checkpoint.pt"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(b"\x00garbage, not a checkpoint" * 10 if damage == "garbage" else data[: len(data) // 2])
    for command in (["eval", str(run_dir)], None):
        result = (
            CliRunner().invoke(app, command)
            if command
            else quaton_train(run_dir, "train.epochs=1", "train.scheduler=none")
        )
        assert result.exit_code == 2, result.output
        message = result.output
        assert str(checkpoint) in message and "corrupt or not a quaton checkpoint" in message
        assert "--fresh" in message and "restore" in message.lower()
        assert "weights_only" not in message and "miniz" not in message and "Traceback" not in message
    assert quaton_train(run_dir, "train.epochs=1", "train.scheduler=none", fresh=True).exit_code == 0
