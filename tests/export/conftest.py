"""Shared by the export tests: one tiny trained design, exported in every format."""

from pathlib import Path

import pytest

from quaton.config import load_config
from quaton.export import export_run
from quaton.train.loop import train

SMOKE = Path(__file__).parents[2] / "configs" / "smoke.yaml"


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A tiny 4-level D2NN (smoke config, 1 epoch on 200 digits), exported in every format."""
    root = tmp_path_factory.mktemp("gds_physics")
    config = load_config(
        SMOKE,
        [
            "train.progress=false",
            "train.epochs=1",
            "quantization.method=psq",
            "quantization.levels=4",
            "data.train_size=200",
            "data.test_size=100",
        ],
    )
    train(config, root / "run")
    design_dir = export_run(root / "run", root / "design", formats=("npy", "tiff", "stl", "gds"))
    return config, design_dir
