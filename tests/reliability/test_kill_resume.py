"""A training process killed with SIGKILL at random points resumes to the same result, bit for bit."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"
SETTINGS = ["train.epochs=4", "train.progress=false", "data.train_size=160", "data.test_size=40", "quantization.method=psq", "quantization.levels=4"]


def command(run_dir: Path) -> list[str]:
    sets = [item for s in SETTINGS for item in ("--set", s)]
    return [sys.executable, "-m", "quaton", "train", str(SMOKE), *sets, "--run-dir", str(run_dir)]


def test_sigkill_at_random_points_then_resume_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    subprocess.run(command(reference), check=True, capture_output=True, timeout=300)
    killed = tmp_path / "killed"
    rng = random.Random(int(os.environ.get("QUATON_KILL_SEED", "7")))
    kills = 0
    for _ in range(int(os.environ.get("QUATON_KILLS", "3"))):
        process = subprocess.Popen(command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 9.0))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
        if (killed / "metrics.json").exists():
            break
    assert kills >= 1
    if (killed / "checkpoint.pt").exists():  # whatever checkpoint survived must load
        torch.load(killed / "checkpoint.pt", weights_only=True)
    subprocess.run(command(killed), check=True, capture_output=True, timeout=300)
    a = json.loads((reference / "metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    for key in ("test_accuracy", "test_loss", "confusion"):
        assert a[key] == b[key]
    ma = torch.load(reference / "checkpoint.pt", weights_only=True)["model"]
    mb = torch.load(killed / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 4
    print(f"kills survived: {kills}, differences: 0")
