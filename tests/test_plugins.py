"""Plug-ins through entry points (issue 29): a package that declares a ``quaton.plugins`` entry
point gets its components registered in every quaton process, sweep workers included.

The plug-in is a real distribution on the path of the processes (a ``*.dist-info`` with its
``entry_points.txt``, as pip writes it), found by ``importlib.metadata``: nothing tells quaton its
name.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

SMOKE = Path(__file__).resolve().parents[1] / "configs" / "smoke.yaml"

PLUGIN = '''
"""A lab's components: a model kind (the D2NN's physics under the lab's own name)."""
from quaton.models import MODELS, register_model

_d2nn = MODELS["d2nn"]
register_model(
    "lab_d2nn",
    output="detector",
    reads=_d2nn.reads,
    fabricated=_d2nn.fabricated,
    memory=_d2nn.memory,
    example=_d2nn.example,
)(_d2nn.build)
'''


def install_plugin(site: Path) -> dict[str, str]:
    """Write the plug-in distribution under ``site``; the environment of a process that has it."""
    (site / "labplugin").mkdir(parents=True)
    (site / "labplugin" / "__init__.py").write_text(PLUGIN)
    info = site / "labplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: labplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[quaton.plugins]\nlab = labplugin\n")
    (info / "RECORD").write_text("")
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def quaton(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "quaton", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=900
    )


def test_a_plugin_kind_is_listed_and_unknown_without_the_plugin(tmp_path):
    env = install_plugin(tmp_path / "site")
    listed = quaton("list", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "lab_d2nn" in listed.stdout
    without = quaton("list", env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert "lab_d2nn" not in without.stdout


def test_a_plugin_kind_trains_in_every_worker_of_a_parallel_sweep(tmp_path):
    env = install_plugin(tmp_path / "site")
    sweep = {
        "base": str(SMOKE),
        "out": str(tmp_path / "sweep"),
        "set": {"train.epochs": 1, "data.train_size": 200, "data.test_size": 100},
        "grid": {"model.kind": ["lab_d2nn"], "seed": [0, 1]},
        "table": {"rows": ["seed"], "columns": "model.kind", "metric": "test_accuracy"},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    result = quaton("sweep", str(tmp_path / "sweep.yaml"), "--jobs", "2", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    runs = sorted((tmp_path / "sweep" / "runs").glob("*/metrics.json"))
    assert len(runs) == 2
    for metrics_file in runs:
        config = yaml.safe_load((metrics_file.parent / "config.yaml").read_text())
        assert config["model"]["kind"] == "lab_d2nn"
        assert json.loads(metrics_file.read_text())["test_accuracy"] > 0.15  # chance is 0.1
