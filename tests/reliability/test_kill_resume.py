"""A hardware-aware, quantized training process killed with SIGKILL inside its training epochs,
several times, resumes to the result of an uninterrupted run, bit for bit.

The run has every kind of state a resume must restore: a PSQ quantizer (temperature schedule), a
noisy hardware-aware read-out (16 levels, 0.5 step of read noise: the training noise generator),
Adam's moments, the data order and torch's global generator. Each process is killed at a random
training step of the epoch after its last checkpoint: the progress bar (one update per step) says
which step the process is at, so every kill lands inside a training loop, never in imports or
figure writing.

    QUATON_KILLS=3 QUATON_KILL_SEED=7 pytest tests/reliability/test_kill_resume.py
"""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import torch

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
KILLS = int(os.environ.get("QUATON_KILLS", "3"))
EPOCHS = KILLS + 2  # first checkpoint, one epoch per kill, one to finish
SETTINGS = [
    f"train.epochs={EPOCHS}",
    "train.progress=true",
    "data.train_size=640",
    "data.test_size=64",
    "train.batch_size=32",
    "quantization.method=psq",
    "quantization.levels=4",
    "train.hardware_aware=true",
    "hardware.readout.levels=16",
    "hardware.readout.noise=0.5",
]
STEPS = 640 // 32
BAR = re.compile(r"epoch (\d+)/\d+:[^|\r\n]*\|[^|\r\n]*\| (\d+)/(\d+)")
ENV = {**os.environ, "TQDM_MININTERVAL": "0", "TQDM_MINITERS": "1", "OMP_NUM_THREADS": "1"}  # one bar update per step


def command(run_dir: Path) -> list[str]:
    sets = [item for s in SETTINGS for item in ("--set", s)]
    return [sys.executable, "-m", "quaton", "train", str(SMOKE), *sets, "--run-dir", str(run_dir)]


def completed_epochs(run_dir: Path) -> int:
    history = run_dir / "metrics.jsonl"
    return len(history.read_text().splitlines()) if history.exists() else 0


def kill_during_training(run_dir: Path, epoch: int, step: int) -> int:
    """Start a training process, SIGKILL it once its progress bar shows ``step`` of ``epoch``; returns
    the step it was at."""
    process = subprocess.Popen(command(run_dir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    seen: list[tuple[int, int]] = []
    reached = threading.Event()

    def watch() -> None:
        text = ""
        while chunk := os.read(process.stderr.fileno(), 4096):
            text = (text + chunk.decode(errors="replace"))[-4096:]
            for match in BAR.finditer(text):
                at = (int(match.group(1)), int(match.group(2)))
                if at[0] == epoch and at[1] >= step and not reached.is_set():
                    os.kill(process.pid, signal.SIGKILL)
                    seen.append(at)
                    reached.set()

    reader = threading.Thread(target=watch, daemon=True)
    reader.start()
    process.wait(timeout=300)
    reader.join(timeout=10)
    assert reached.is_set(), f"the process ended (exit {process.returncode}) before epoch {epoch}, step {step}"
    return seen[0][1]


def test_sigkill_inside_training_epochs_then_resume_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(command(reference), check=True, capture_output=True, timeout=300, env=ENV)
    killed = tmp_path / "killed"
    rng = random.Random(int(os.environ.get("QUATON_KILL_SEED", "7")))
    for kill in range(KILLS):
        done = completed_epochs(killed)
        epoch = max(2, done + 1)  # the first kill comes after the first checkpoint
        step = rng.randint(1, STEPS // 2)  # a random step, with half an epoch of margin before its end
        kill_during_training(killed, epoch, step)
        assert completed_epochs(killed) == epoch - 1, "the kill landed after the epoch's end"
        state = torch.load(killed / "checkpoint.pt", weights_only=True)  # what survived must load
        assert state["epoch"] == epoch - 1 and not (killed / "metrics.json").exists()
    subprocess.run(command(killed), check=True, capture_output=True, timeout=300, env=ENV)
    a = json.loads((reference / "metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "confusion"):
        assert a[key] == b[key], key
    ca = torch.load(reference / "checkpoint.pt", weights_only=True)
    cb = torch.load(killed / "checkpoint.pt", weights_only=True)
    for part in ("model", "task", "readout"):
        assert ca[part].keys() == cb[part].keys()
        assert all(torch.equal(ca[part][k], cb[part][k]) for k in ca[part]), part
    for name in ("torch", "shuffle"):
        assert torch.equal(ca["rng"][name], cb["rng"][name])
    assert torch.equal(ca["rng"]["readout"][0], cb["rng"]["readout"][0])
    history_a = [json.loads(line) for line in (reference / "metrics.jsonl").read_text().splitlines()]
    history_b = [json.loads(line) for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in history_a] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in history_b
    ]
    print(f"kills survived: {KILLS}, differences: 0")
