"""Everyday conventions of the command line (issue 29): exit codes, -q / -v, shell completion, the
install hints in --help, and `quaton list` describing each component in its own words."""

import re

import typer.main
from typer.testing import CliRunner

from quaton.cli import app

SMALL = ["--set", "train.epochs=1", "--set", "data.train_size=60", "--set", "data.test_size=20"]


def test_a_config_error_exits_2_and_a_run_time_failure_exits_1(tmp_path):
    bad = CliRunner().invoke(app, ["train", "smoke", "--set", "model.gird=3", "--run-dir", str(tmp_path / "a")])
    assert bad.exit_code == 2 and "model.gird" in bad.output
    # a training step of 8192² neurons cannot fit: refused before any allocation, at run time
    big = ["--set", "model.grid=8192", "--set", "model.layers=20"]
    huge = CliRunner().invoke(app, ["train", "smoke", *big, "--run-dir", str(tmp_path / "b")])
    assert huge.exit_code == 1 and "GiB" in huge.output and "Traceback" not in huge.output


def test_quiet_prints_the_result_only_and_verbose_logs_steps(tmp_path, monkeypatch):
    # -q sets QUATON_QUIET for the process and its workers: set it through monkeypatch first, so
    # that it is removed again after the test (a plain delenv of an absent variable records nothing)
    monkeypatch.setenv("QUATON_QUIET", "")
    quiet = CliRunner().invoke(app, ["-q", "train", "smoke", *SMALL, "--run-dir", str(tmp_path / "q")])
    assert quiet.exit_code == 0, quiet.output
    assert [line for line in quiet.output.splitlines() if line.strip()] == [
        line for line in quiet.output.splitlines() if line.startswith("test accuracy:")
    ]
    monkeypatch.setenv("QUATON_QUIET", "")  # a new process would not have it
    loud = CliRunner().invoke(app, ["-v", "train", "smoke", *SMALL, "--run-dir", str(tmp_path / "v")])
    assert loud.exit_code == 0 and "training d2nn on mnist_5k" in loud.output and "run directory:" in loud.output


def test_shell_completion_is_offered():
    result = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in result.output and "--show-completion" in result.output


def test_every_install_hint_in_the_help_names_its_extra():
    """Rich markup once ate the brackets of pip install 'quaton[ray]' in --help."""
    runner = CliRunner()
    texts = [
        runner.invoke(app, [name, "--help"], terminal_width=200).output for name in typer.main.get_command(app).commands
    ]  # type: ignore[attr-defined]
    hints = [hint for text in texts for hint in re.findall(r"pip install '([^']*)'", text)]
    assert hints and all(re.fullmatch(r"quaton\[[a-z]+\]", hint) for hint in hints), hints


def test_quaton_list_describes_each_task_by_its_own_docstring():
    output = CliRunner().invoke(app, ["list"], terminal_width=400).output
    tasks = output[output.index("tasks (task.kind):") :]
    assert "One class per detector region" in tasks and "Quantitative phase imaging" in tasks
    assert "A registered task" not in output
