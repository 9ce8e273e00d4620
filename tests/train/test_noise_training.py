"""Hardware-aware training: read-out noise is fresh at every training read-out, never the test
noise, and part of a run's resumable state (issue 13, item 1)."""

from pathlib import Path

import pytest
import torch

import quaton.hardware.noise as noise_module
from quaton.config import load_config
from quaton.train import loop
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
# 64 training images in 2 batches of 32, 32 test images in one evaluation batch of 32: every read-out
# draws [32, 32, 32] values; hardware.seed equals seed (0), as in the shipped configs.
NOISY = [
    "train.progress=false",
    "data.train_size=64",
    "data.test_size=32",
    "train.batch_size=32",
    "train.eval_batch_size=32",
    "train.hardware_aware=true",
    "hardware.readout.levels=16",
    "hardware.readout.noise=0.5",
]


def record_draws(monkeypatch) -> list[torch.Tensor]:
    draws: list[torch.Tensor] = []
    original = noise_module.normal_like

    def recording(like, generator):
        value = original(like, generator)
        draws.append(value.detach().clone())
        return value

    monkeypatch.setattr(noise_module, "normal_like", recording)
    return draws


def test_every_epoch_draws_new_training_noise_never_the_test_noise(tmp_path, monkeypatch):
    draws = record_draws(monkeypatch)
    train(load_config(SMOKE, [*NOISY, "train.epochs=3"]), tmp_path / "run")
    # per epoch: 2 training read-outs, then 1 read-out of the validation split; the test set once at the end
    assert len(draws) == 10
    epochs = [draws[3 * e : 3 * e + 2] for e in range(3)]
    tests = [draws[3 * e + 2] for e in range(3)]
    assert all(torch.equal(tests[0], t) for t in tests)  # evaluation stays reproducible
    for a in range(3):
        for b in range(a + 1, 3):
            assert not any(torch.equal(x, y) for x in epochs[a] for y in epochs[b]), (
                f"epochs {a + 1} and {b + 1} drew the same noise"
            )
    assert not any(torch.equal(x, tests[0]) for epoch in epochs for x in epoch), "training drew the test noise"


def test_a_noisy_hardware_aware_run_interrupted_and_resumed_ends_bit_for_bit_equal(tmp_path, monkeypatch):
    config = load_config(SMOKE, [*NOISY, "train.epochs=3", "quantization.method=psq", "quantization.levels=4"])
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
    torch.manual_seed(12345)  # a resumed process starts with other global random state
    resumed = train(config, tmp_path / "resumed")
    for key in ("test_accuracy", "test_loss", "confusion"):
        assert resumed[key] == reference[key]
    a = torch.load(tmp_path / "reference" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert torch.equal(a["rng"]["readout"][0], b["rng"]["readout"][0])


def test_each_evaluation_reads_out_with_the_full_scale_its_epoch_trained_with(tmp_path, monkeypatch):
    """The calibrated full scale is the ADC's range and the digital head's unit: an evaluation under
    another full scale than the one trained with evaluates a device that was never trained."""
    from quaton.hardware import Readout

    seen: list[tuple[bool, float]] = []
    original = Readout.forward

    def recording(self, image):
        seen.append((self.training, float(self.full_scale)))
        return original(self, image)

    monkeypatch.setattr(Readout, "forward", recording)
    train(load_config(SMOKE, [*NOISY, "train.epochs=2", "train.lr=0.2"]), tmp_path / "run")
    assert [training for training, _ in seen] == [True, True, False] * 2 + [False]  # the test set once, at the end
    assert seen[-1][1] == seen[-2][1]  # with the full scale of the last epoch, the kept one
    for epoch in range(2):
        trained = {scale for _, scale in seen[3 * epoch : 3 * epoch + 2]}
        assert trained == {seen[3 * epoch + 2][1]}, (
            f"epoch {epoch + 1}: trained with {trained}, evaluated with {seen[3 * epoch + 2][1]}"
        )
    assert seen[0][1] != seen[3][1]  # the network changed, so did its calibration
