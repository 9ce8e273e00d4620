"""Config validation: one clear error naming the key, before any work starts."""

from pathlib import Path

import pytest

from quaton.config import build_config, dump_config, load_config
from quaton.errors import ConfigError

CONFIGS = Path(__file__).parent.parent / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")))
def test_shipped_configs_are_valid(path):
    load_config(path)


@pytest.mark.parametrize(
    "data,key",
    [
        ({"model": {"distances": -1e-6}}, "model.distances"),
        ({"model": {"gird": 64}}, "model.gird"),
        ({"optcs": {}}, "optcs"),
        ({"model": {"grid": "big"}}, "model.grid"),
        ({"optics": {"pitch": 0}}, "optics.pitch"),
        ({"optics": {"wavelength": float("nan")}}, "optics.wavelength"),
        ({"optics": {"method": "raytrace"}}, "optics.method"),
        ({"model": {"layers": 2, "distances": [1e-4, 1e-4]}}, "model.distances"),
        ({"model": {"grid": 16}, "input": {"object_size": 28}}, "input.object_size"),
        ({"detector": {"regions": [[0, 0, 100, 100]]}}, "detector"),
        ({"train": {"epochs": -1}}, "train.epochs"),
    ],
)
def test_bad_values_name_their_key(data, key):
    with pytest.raises(ConfigError) as error:
        build_config(data)
    assert key in str(error.value)


def test_overrides_are_dotted_and_typed():
    config = build_config({}, ["train.epochs=3", "model.distances=[1e-4, 2e-4, 3e-4]", "model.layers=2"])
    assert config.train.epochs == 3 and config.model.distance_list() == [1e-4, 2e-4, 3e-4]
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        build_config({}, ["train.epochs"])
    with pytest.raises(ConfigError, match="train.epoch"):
        build_config({}, ["train.epoch=3"])


def test_resolved_config_round_trips(tmp_path):
    config = build_config({"model": {"layers": 3}})
    (tmp_path / "c.yaml").write_text(dump_config(config))
    assert load_config(tmp_path / "c.yaml") == config


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")
