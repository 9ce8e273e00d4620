"""quaton simulate at another wavelength (issue 27): the light propagates at the new wavelength, the
layers keep their phases in radians (a re-programmed SLM), and the output says that a fixed element,
whose phase 2π(n(λ) − n₀)h/λ₀ changes with λ, is not what was modelled."""

import json

import numpy as np
from typer.testing import CliRunner

from quaton.cli import app
from quaton.export.simulate import simulate


def test_another_wavelength_is_simulated_as_a_reprogrammed_slm_and_says_so(trained, tmp_path):
    _, design_dir = trained
    runner = CliRunner()
    out = tmp_path / "sims"
    result = runner.invoke(app, ["simulate", str(design_dir), "--set", "optics.wavelength=600e-9", "--out", str(out)])
    assert result.exit_code == 0, result.output
    note = next(line for line in result.output.splitlines() if line.startswith("note:"))
    assert "re-programmed SLM" in note and "fixed" in note and "2π(n(λ) − n₀)h/λ₀" in note and "6e-07 m" in note
    kept = json.loads(next(out.glob("*/simulation.json")).read_text())
    assert kept["notes"] and "re-programmed SLM" in kept["notes"][0]
    # the wavelength is not ignored: the light at 600 nm lands elsewhere than at the design's 532 nm
    design_wavelength = json.loads((design_dir / "design.json").read_text())["wavelength"]
    at_design = simulate(design_dir, overrides=["data.test_size=100"])
    moved = simulate(design_dir, overrides=["data.test_size=100", "optics.wavelength=600e-9"])
    assert at_design["notes"] == [] and np.isclose(design_wavelength, 532e-9)
    assert moved["results"][0]["loss"] != at_design["results"][0]["loss"]
    help_text = runner.invoke(app, ["simulate", "--help"], env={"COLUMNS": "400"}).output
    assert "re-programmed SLM" in help_text and "not a fixed" in help_text
