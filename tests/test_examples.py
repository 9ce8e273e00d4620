"""Every script in examples/ runs as a user runs it (issue 29), at smoke size, in an empty working
directory, and prints what it promises."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PROMISES = {  # what each script's output must say
    "psq_vs_full_precision.py": ["full precision: test accuracy", "PSQ, 4 levels: test accuracy"],
    "fabrication_tolerance.py": ["masks.gds", "height_error=0.05: accuracy", "phase_noise=0.3: accuracy"],
    "qpi_own_phase_images.py": ["test SSIM", "Pearson correlation"],
    "stub_lab.py": ["pat: simulated", "measured on the bench"],
    "own_model_kind.py": ["one 4-level mask: test accuracy", "design.json"],
}


def test_every_example_is_listed_and_has_a_promise():
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(PROMISES)
    listing = (EXAMPLES / "README.md").read_text()
    assert all(f"`{name}`" in listing for name in scripts)


@pytest.mark.parametrize("script", sorted(PROMISES))
def test_an_example_runs_at_smoke_size(script, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--smoke", "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for promise in PROMISES[script]:
        assert promise in result.stdout, result.stdout
