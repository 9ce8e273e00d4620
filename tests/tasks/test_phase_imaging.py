"""Phase imaging: the target and metrics, and a short real training run that raises SSIM."""

import math
from pathlib import Path

import pytest
import torch

from quaton.config import load_config
from quaton.tasks import PhaseImaging
from quaton.train.loop import evaluate, train
from quaton.train.setup import build_model, build_task, prepare_data

QPI = Path(__file__).parents[2] / "configs" / "qpi.yaml"


def test_a_perfect_phase_camera_scores_perfectly():
    task = PhaseImaging(grid=32, object_size=16)
    phases = torch.rand(3, 16, 16) * math.pi
    image = torch.zeros(3, 32, 32)
    image[:, 8:24, 8:24] = phases / math.pi
    metrics = task.batch_metrics(image, task.target(phases / math.pi))
    assert torch.allclose(metrics["ssim"], torch.ones(3), atol=1e-4)
    assert torch.allclose(metrics["phase_error"], torch.zeros(3), atol=1e-6)
    assert float(task.loss(image, task.target(phases / math.pi)).detach()) < 1e-12
    # a wrong image scores worse on every metric
    worse = task.batch_metrics(image.flip(-1), task.target(phases / math.pi))
    assert (worse["ssim"] < 0.5).all() and (worse["phase_error"] > 0.3).all()


def test_gain_is_one_learnable_scalar_and_the_ssim_loss_is_differentiable():
    task = PhaseImaging(grid=16, object_size=8, loss="mse_ssim")
    image = torch.rand(2, 16, 16, requires_grad=True)
    task.loss(image, torch.rand(2, 8, 8)).backward()
    assert task.log_gain.grad is not None and image.grad.abs().sum() > 0
    assert sum(p.numel() for p in task.parameters()) == 1


@pytest.mark.parametrize("method", ["none", "psq"])
def test_short_training_clearly_raises_ssim(tmp_path, method):
    overrides = [
        "model.grid=48", "model.layers=3", "input.object_size=24", "data.train_size=256", "data.test_size=64",
        "train.epochs=3", "train.batch_size=16", "train.lr=0.05", "train.progress=false", "task.loss=mse_ssim",
        f"quantization.method={method}", "quantization.levels=8",
    ]
    config = load_config(QPI, overrides)
    data = prepare_data(config)
    untrained = evaluate(config, build_model(config), build_task(config), data.x_test, data.y_test)
    trained = train(config, tmp_path / method, data=data)
    assert trained["test_ssim"] > untrained["ssim"] + 0.2
    assert trained["test_phase_error"] < untrained["phase_error"]
    assert (tmp_path / method / "figures" / "phase_images.png").is_file()


def test_pcc_loss_does_not_reward_a_dark_camera():
    """On a sparse object MSE prefers a dark output to a faithful image at the wrong scale; the
    correlation term does not: dark scores PCC 0, any positive multiple of the phase PCC 1."""
    target = torch.zeros(1, 8, 8)
    target[0, 3:5, 3:5] = 1.0
    task = PhaseImaging(grid=8, object_size=8, loss="mse_pcc")
    dark, faint = torch.zeros(1, 8, 8), 0.1 * target
    assert float(task.batch_metrics(dark, target)["pcc"]) == 0.0
    assert float(task.batch_metrics(faint, target)["pcc"]) == pytest.approx(1.0)
    assert float(task.loss(faint, target)) < float(task.loss(dark, target))
