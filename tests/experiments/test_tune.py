"""`quaton tune`: a searched sweep on a local Ray instance. Four trials of the smoke config; ASHA's
stops follow its rungs; best.yaml is the best trial's config and retrains to its validation score;
no trial ever sees the test set; a malformed space file is refused before any trial starts."""

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from quaton.cli import app
from quaton.config import build_config, load_config
from quaton.errors import ConfigError
from quaton.experiments.sweep import run_key
from quaton.runs import CONFIG, HISTORY, METRICS, read_json

ray = pytest.importorskip("ray")
pytest.importorskip("optuna")

from quaton.experiments.cluster import start_local  # noqa: E402
from quaton.experiments.tune import plan_tune, run_tune, train_trial, validation_data  # noqa: E402

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
EPOCHS = 4  # ASHA's rungs with grace period 1 and reduction factor 2: epochs 1, 2 and 4
SET = {"train.epochs": EPOCHS, "data.train_size": 256, "data.test_size": 64}
VALIDATION = 256 // 10  # train.validation_size's default: 10% of the training images


def write_space(folder: Path, **changes) -> Path:
    space = {
        "base": str(SMOKE),
        "name": "tune-test",
        "out": str(folder / "out"),
        "set": SET,
        "metric": "val_accuracy",
        "mode": "max",
        "samples": 4,
        "concurrent": 2,
        "seed": 0,
        "cpus_per_trial": 1,
        "space": {"train.lr": {"loguniform": [1.0e-3, 1.0e-1]}, "task.temperature": {"uniform": [5.0, 20.0]}},
        "asha": {"grace_period": 1, "reduction_factor": 2},
        **changes,
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return path


@pytest.fixture(scope="module")
def local_ray():
    """A Ray instance of this machine alone, started by the test and stopped after it."""
    start_local(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def searched(local_ray, tmp_path_factory) -> tuple[Path, str]:
    """The search run once through the command line: (out, what it printed)."""
    folder = tmp_path_factory.mktemp("tune")
    result = CliRunner().invoke(app, ["tune", str(write_space(folder))])
    assert result.exit_code == 0, result.output
    return folder / "out", result.output


def trials(out: Path) -> list[dict[str, str]]:
    with open(out / "trials.csv") as stream:
        return list(csv.DictReader(stream))


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / HISTORY).read_text().splitlines()]


def test_four_trials_and_best_yaml_is_the_best_trial(searched):
    out, printed = searched
    rows = trials(out)
    assert len(rows) == 4
    assert len({row["train.lr"] for row in rows}) == 4  # Optuna proposed four different rates
    best = [row for row in rows if row["best"] == "best"]
    assert len(best) == 1
    best = best[0]
    assert float(best["final_val_accuracy"]) == max(float(row["final_val_accuracy"]) for row in rows)
    config = load_config(out / "best.yaml")
    assert config.train.lr == float(best["train.lr"])
    assert config.task.temperature == float(best["task.temperature"])
    # best.yaml is the config the best trial trained (less the trial's threads and progress bar)
    assert run_key(config) == run_key(load_config(Path(best["run"]) / CONFIG))
    assert (out / "trials.png").stat().st_size > 0 and (out / "trials.md").is_file()
    assert f"best config: {out / 'best.yaml'}" in printed
    assert best["trial"] in printed and "| train.lr |" in printed


def test_asha_stops_trials_only_at_its_rungs_and_only_behind_another(searched):
    out, _ = searched
    rows = trials(out)
    curves = {row["trial"]: [r["val_accuracy"] for r in history(Path(row["run"]))] for row in rows}
    for row in rows:
        epochs = int(row["epochs"])
        assert epochs in (1, 2, EPOCHS)
        assert len(curves[row["trial"]]) == epochs  # the run directory stopped where Tune saw it stop
        assert row["status"] == ("completed" if epochs == EPOCHS else "stopped by ASHA")
        assert (Path(row["run"]) / METRICS).is_file() == (epochs == EPOCHS)
        assert float(row["final_val_accuracy"]) == curves[row["trial"]][-1]
        if epochs < EPOCHS:  # stopped below the rung's cutoff: some other trial did better at that epoch
            others = [c[epochs - 1] for t, c in curves.items() if t != row["trial"] and len(c) >= epochs]
            assert float(row["final_val_accuracy"]) < max(others)
    # the first trial to reach a rung always passes it, so at least one trial runs every epoch
    assert any(int(row["epochs"]) == EPOCHS for row in rows)


def test_trials_are_scored_on_held_out_training_images(searched):
    out, _ = searched
    for row in trials(out):
        if row["status"] == "completed":
            metrics = read_json(Path(row["run"]) / METRICS)
            # the run's "test" split is the validation split: 10% of the 256 training images, not the 64 test images
            assert (metrics["train_size"], metrics["test_size"]) == (256 - VALIDATION, VALIDATION)
            assert "validation split" in metrics["data_source"]


def test_best_yaml_retrains_to_the_best_trials_score_and_trains_as_any_config(searched, tmp_path):
    from quaton.train.loop import train

    out, _ = searched
    best = next(row for row in trials(out) if row["best"])
    config = load_config(out / "best.yaml", ["train.threads=1", "train.progress=false"])  # as the trial ran
    reports: list[dict] = []
    train_trial(config, tmp_path / "again", reports.append)
    assert reports[int(best["epochs"]) - 1]["val_accuracy"] == pytest.approx(
        float(best["final_val_accuracy"]), abs=1e-9
    )
    metrics = train(
        config, tmp_path / "final"
    )  # what `quaton train best.yaml` does: the whole training set, the test set
    assert (metrics["train_size"], metrics["test_size"]) == (256 - VALIDATION, 64)  # its validation split held out
    assert metrics["test_accuracy"] > 0.2  # twice chance after 4 epochs of 256 digits


def test_a_trial_never_reads_the_test_set(monkeypatch, tmp_path):
    """With a test split of NaN images, a trial's validation metrics stay finite: it never evaluates
    the test set, and its validation images are training images held out of its training."""
    import quaton.builder as setup

    real = setup.prepare_data

    def poisoned(config):
        data = real(config)
        return setup.PreparedData(
            data.x_train, data.y_train, torch.full_like(data.x_test, math.nan), data.y_test, data.classes, data.source
        )

    monkeypatch.setattr(setup, "prepare_data", poisoned)
    config = build_config(
        load_config(SMOKE).model_dump(mode="json"),
        ["train.epochs=2", "data.train_size=256", "data.test_size=64", "train.progress=false"],
    )
    full = real(config)
    held = validation_data(config)
    # the trial's "test" split is the validation split its training holds out (the same seeded split)
    assert len(held.x_test) == VALIDATION and len(held.x_train) == 256
    pool = full.x_train.flatten(1)
    for image in torch.cat([held.x_test, held.x_train]).flatten(1):
        assert (pool == image).all(dim=1).any()  # every image of the trial is a training image
    assert (
        torch.unique(torch.cat([held.x_test, held.x_train]).flatten(1), dim=0).shape[0]
        == torch.unique(pool, dim=0).shape[0]
    )
    reports: list[dict] = []
    train_trial(config, tmp_path / "trial", reports.append)
    assert [r["epoch"] for r in reports] == [1, 2]
    assert all(math.isfinite(r["val_loss"]) and math.isfinite(r["val_accuracy"]) for r in reports)


def test_dry_run_prints_the_search_without_running_it(tmp_path):
    result = CliRunner().invoke(app, ["tune", str(write_space(tmp_path)), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "train.lr: loguniform [0.001, 0.1]" in result.output
    assert "4 trials of up to 4 epochs, 2 at a time, max val_accuracy" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"space": {"train.lrr": {"uniform": [0.01, 0.1]}}}, "space key 'train.lrr'"),
        ({"space": {"train.batch_size": {"randint": [0, 8]}}}, "space key 'train.batch_size' = 0"),
        ({"space": {"model.layers": {"uniform": [2, 5]}}}, "sample an integer key with randint or choice"),
        (
            {"space": {"train.lr": {"normal": [0.01, 0.1]}}},
            "unknown distribution 'normal'; choose one of uniform, loguniform, randint, choice",
        ),
        (
            {"space": {"train.lr": {"loguniform": [0.1, 0.001]}}},
            "space.train.lr: loguniform bounds must be ordered low < high",
        ),
        ({"space": {"train.lr": {"loguniform": [0.0, 0.1]}}}, "loguniform bounds must be positive"),
        ({"space": {"model.layers": {"randint": [1.5, 4]}}}, "randint bounds must be integers"),
        ({"space": {"model.grid": {"choice": []}}}, "choice takes a non-empty list"),
        ({"space": {"train.epochs": {"randint": [1, 4]}}}, "space.train.epochs cannot be searched"),
        ({"space": {}}, "space is empty"),
        ({"samples": 0}, "samples"),
        (
            {"metric": "val_ssim"},
            "metric 'val_ssim' is not reported every epoch by these runs; "
            "choose one of val_accuracy, val_loss, train_loss",
        ),
        ({"asha": {"grace_period": 5}}, "asha.grace_period (5) exceeds train.epochs (4)"),
        ({"sapce": {}}, "sapce"),
    ],
)
def test_a_malformed_space_file_is_refused_before_any_trial(tmp_path, changes, message):
    with pytest.raises(ConfigError) as error:
        plan_tune(write_space(tmp_path, **changes))
    assert message in str(error.value)


def test_an_earlier_search_in_out_is_not_mixed_in(tmp_path):
    path = write_space(tmp_path)
    (tmp_path / "out" / "trials").mkdir(parents=True)
    assert plan_tune(path).out == tmp_path / "out"  # a dry run still shows the search
    with pytest.raises(ConfigError, match="holds an earlier search"):
        run_tune(path)  # refused before Ray starts


def test_the_shipped_smoke_search_validates():
    plan = plan_tune(SMOKE.parent / "tune" / "smoke.yaml")
    assert (plan.metric, plan.mode, plan.spec.samples, plan.epochs) == ("val_accuracy", "max", 4, 4)
    assert [d.key for d in plan.dimensions] == ["train.lr", "task.temperature"]
