"""Progress output: a tqdm bar on a terminal, a few plain lines in a log (never one per step)."""

import io
import re
from pathlib import Path

import pytest
from tqdm import tqdm

from quaton import progress as progress_module
from quaton.config import load_config
from quaton.progress import LogProgress, progress
from quaton.train.loop import train

SMOKE = Path(__file__).parents[1] / "configs" / "smoke.yaml"
# The pattern tests/reliability/test_kill_resume.py follows training by: plain lines must keep matching it.
BAR = re.compile(r"epoch (\d+)/\d+:[^|\r\n]*\|[^|\r\n]*\| (\d+)/(\d+)")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """time.monotonic for quaton.progress, advancing ``step`` seconds per call after the first."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture(autouse=True)
def no_tqdm_environment(monkeypatch):
    monkeypatch.delenv("TQDM_MININTERVAL", raising=False)
    monkeypatch.delenv("TQDM_MINITERS", raising=False)


def test_a_terminal_gets_a_tqdm_bar_a_log_gets_plain_lines_and_disabled_gets_nothing():
    terminal = progress(range(3), 3, "epoch 1/1", stream=FakeTerminal())
    assert isinstance(terminal, tqdm) and not terminal.disable
    terminal.close()
    assert isinstance(progress(range(3), 3, "epoch 1/1", stream=io.StringIO()), LogProgress)
    log = io.StringIO()
    silent = progress(range(5), 5, "epoch 1/1", enabled=False, stream=log)
    silent.set_postfix(loss="0.1")
    assert list(silent) == [0, 1, 2, 3, 4] and log.getvalue() == ""


def test_plain_lines_at_each_tenth_with_the_bar_format_and_no_carriage_return(monkeypatch):
    monkeypatch.setattr(
        progress_module.time, "monotonic", Clock(0.125)
    )  # 12.5 s a tenth: over the 10 s minimum interval, under the 60 s maximum
    log = io.StringIO()
    bar = progress(range(1000), 1000, "epoch 3/7", stream=log)
    for step in bar:
        bar.set_postfix(loss=f"{step:.4f}")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) == 10
    assert [BAR.search(line).groups() for line in lines] == [("3", str(100 * k), "1000") for k in range(1, 11)]
    assert lines[-1].startswith("epoch 3/7: 100%") and lines[-1].endswith("loss=999.0000]")


def test_fast_epochs_print_no_lines_and_slow_steps_still_show_a_line_a_minute(monkeypatch):
    monkeypatch.setattr(progress_module.time, "monotonic", Clock(0.001))  # a 1 s epoch of 1000 steps
    log = io.StringIO()
    list(progress(range(1000), 1000, "epoch 1/1", stream=log))
    assert log.getvalue() == ""  # the epoch line says it all
    monkeypatch.setattr(progress_module.time, "monotonic", Clock(70.0))  # 70 s a step, 100 steps
    log = io.StringIO()
    list(progress(range(100), 100, "epoch 1/1", stream=log))
    assert len(log.getvalue().splitlines()) == 100  # every step ends more than MAX_INTERVAL after the last line


def test_tqdm_environment_variables_set_the_plain_lines_interval_and_stride(monkeypatch):
    monkeypatch.setenv("TQDM_MININTERVAL", "0")
    monkeypatch.setenv("TQDM_MINITERS", "1")
    log = io.StringIO()
    list(progress(range(20), 20, "epoch 2/5", stream=log))
    assert [int(BAR.search(line).group(2)) for line in log.getvalue().splitlines()] == list(range(1, 21))


def test_a_training_run_into_a_log_writes_a_bounded_number_of_progress_lines(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TQDM_MININTERVAL", "0")  # a line at every tenth, however fast the epoch
    config = load_config(SMOKE, ["train.epochs=2", "data.train_size=200", "data.test_size=50", "train.batch_size=4"])
    train(config, tmp_path / "run")
    captured = capsys.readouterr()
    steps = (200 - 20) // 4  # 20 of the 200 images held out for validation
    assert "\r" not in captured.err
    for epoch in (1, 2):
        lines = [line for line in captured.err.splitlines() if line.startswith(f"epoch {epoch}/2:")]
        assert 1 <= len(lines) <= 11 < steps, lines
        assert BAR.search(lines[-1]).groups() == (str(epoch), str(steps), str(steps))
        assert any(line.startswith(f"epoch {epoch}: train loss") for line in captured.out.splitlines())
