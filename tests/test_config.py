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


# --- units slips (issue 13, item 16): plausible physics at config time, the likely slip named ----

SHIPPED = sorted(CONFIGS.rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(CONFIGS)) for p in SHIPPED])
def test_every_shipped_config_and_sweep_validates(path):
    import yaml

    from quaton.experiments.sweep import plan

    data = yaml.safe_load(path.read_text())
    if "space" in data:  # a tune space: every key's bounds give a valid config
        from quaton.experiments.tune import plan_tune

        assert plan_tune(path).dimensions
    elif "grid" in data or "base" in data:  # a sweep: every run of its grid validates
        assert plan(path)[2]
    else:
        load_config(path)


@pytest.mark.parametrize(
    "override,expected",
    [
        (
            "optics.wavelength=532",
            "optics.wavelength: 532 m is outside the plausible 100 nm to 1 mm: did you mean 532e-9?",
        ),
        ("optics.wavelength=1.55", "did you mean 1.55e-6?"),
        ("optics.pitch=1", "optics.pitch: 1 m is outside the plausible 10 nm to 10 mm: did you mean 1e-6?"),
        ("optics.pitch=20", "did you mean 20e-6?"),  # not 20e-9: a pitch far below the wavelength is no likelier
        ("model.distances=200", "model.distances: 200 m is too long"),
        ("model.distances=200", "did you mean 200e-6?"),
        ("model.distances=[200e-6, 200e-6, 200e-6, 200e-6, 200e-6, 0.2]", "model.distances[5]: 0.2 m is too long"),
        ("model.distances=200e-9", "model.distances: 2e-07 m is too short for neurons to couple"),
        ("optics.wavelength=532e-6", "optics.wavelength: 0.000532 m is longer than the padded window"),
        ("fabrication.base_thickness=20", "did you mean 20e-6?"),
    ],
)
def test_units_slips_are_refused_naming_the_likely_slip(override, expected):
    with pytest.raises(ConfigError) as error:
        build_config({}, [override])
    assert expected in str(error.value)
    assert "<config>" not in str(error.value)


@pytest.mark.parametrize(
    "override,expected",
    [
        ("model.distances=200um", "model.distances: '200um' is not a number: lengths are in metres, e.g. 200e-6"),
        ("model.distances=2 mm", "e.g. 2e-3"),
        ("optics.wavelength=532nm", "optics.wavelength: '532nm' is not a number: lengths are in metres, e.g. 532e-9"),
    ],
)
def test_a_length_with_a_unit_says_metres_not_pydantic_union_internals(override, expected):
    with pytest.raises(ConfigError) as error:
        build_config({}, [override])
    message = str(error.value)
    assert expected in message
    assert "list[float]" not in message and ".float" not in message and message.count(";") == 0


def test_a_value_no_union_member_accepts_gets_one_error():
    with pytest.raises(ConfigError) as error:
        build_config({}, ["quantization.levels={}"])
    assert str(error.value) == "invalid config: quantization.levels: expected int or list[int], got {}"


def test_the_refused_lengths_really_pass_only_the_mean():
    """The distance rule is the band limit's: at the refused 200 m the kernel holds the DC term only,
    at the longest accepted distance it holds more (so the rule refuses no working set-up)."""
    import torch

    from quaton.optics.propagation import transfer_function

    default = build_config({})
    window, wavelength = 128 * default.optics.pitch, default.optics.wavelength
    kernel = transfer_function((128, 128), wavelength=wavelength, pitch=default.optics.pitch, distance=200.0)
    assert int((kernel.abs() > 0).sum()) == 1 and kernel[0, 0].abs() == pytest.approx(1.0)
    longest = window / 2 * (((window / wavelength) ** 2 - 1) ** 0.5)
    build_config({}, [f"model.distances={longest * 0.99}"])
    kernel = transfer_function((128, 128), wavelength=wavelength, pitch=default.optics.pitch, distance=longest * 0.99)
    assert int((kernel.abs() > 0).sum()) > 1
    assert torch.isfinite(kernel.abs()).all()


def test_physically_sensible_set_ups_far_from_the_defaults_pass():
    # the first D2NN (Lin et al., Science 2018): 0.4 THz, λ = 0.75 mm, 0.4 mm pitch, 3 cm gaps
    build_config({"optics": {"wavelength": 0.75e-3, "pitch": 0.4e-3}, "model": {"distances": 3e-2}})
    # a near-infrared metasurface network: λ = 1.55 µm, 0.5 µm pitch, 50 µm gaps
    build_config({"optics": {"wavelength": 1.55e-6, "pitch": 0.5e-6}, "model": {"distances": 50e-6}})


def test_rbc_cells_must_fit_the_field_of_view():
    qpi = {"task": {"kind": "phase_imaging", "loss": "mse"}, "data": {"dataset": "rbc"}, "input": {"object_size": 32}}
    build_config(qpi)
    with pytest.raises(
        ConfigError,
        match=r"data.rbc.diameter: cells up to 8.5 m do not fit the 32 µm field of view.*did you mean 8.5e-6\?",
    ):
        build_config(qpi, ["data.rbc.diameter=[7, 8.5]"])


def test_load_config_refuses_a_units_slip_in_a_file(tmp_path):
    (tmp_path / "nm.yaml").write_text("optics:\n  wavelength: 532\n")
    with pytest.raises(ConfigError, match="did you mean 532e-9"):
        load_config(tmp_path / "nm.yaml")


@pytest.mark.parametrize(
    "override,expected",
    [("optics.wavelength=532", "did you mean 532e-9?"), ("model.distances=200um", "metres, e.g. 200e-6")],
)
def test_cli_train_refuses_a_units_slip_before_any_work(tmp_path, override, expected):
    from typer.testing import CliRunner

    from quaton.cli import app

    result = CliRunner().invoke(
        app, ["train", str(CONFIGS / "smoke.yaml"), "--set", override, "--run-dir", str(tmp_path / "run")]
    )
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_build_config_refuses_data_that_is_not_a_mapping():
    with pytest.raises(ConfigError, match="mapping of sections"):
        build_config("just text", ["train.epochs=1"])


def test_quaton_version_prints_the_installed_version():
    from importlib.metadata import version

    from typer.testing import CliRunner

    from quaton.cli import app

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"quaton {version('quaton')}"


def test_quaton_config_prints_the_defaults_and_the_schema():
    import json as json_module

    import yaml as yaml_module
    from typer.testing import CliRunner

    from quaton.cli import app
    from quaton.config import build_config

    defaults = CliRunner().invoke(app, ["config", "--defaults"])
    assert defaults.exit_code == 0
    assert build_config(yaml_module.safe_load(defaults.output)) == build_config({})
    schema = json_module.loads(CliRunner().invoke(app, ["config", "--schema"]).output)
    assert {"optics", "model", "quantization", "train"} <= set(schema["properties"])


def test_a_misspelt_key_gets_the_nearest_valid_one():
    from quaton.config import build_config

    with pytest.raises(ConfigError, match=r"optics.wavelenght: unknown key \(did you mean `wavelength`\?\)"):
        build_config({"optics": {"wavelenght": 5e-7}})
    with pytest.raises(ConfigError, match=r"train.epoch: unknown key \(did you mean `epochs`\?\)"):
        build_config({"train": {"epoch": 3}})


def test_a_detector_layout_too_large_for_a_smaller_grid_names_the_grid():
    """Shrinking model.grid under a detector layout names model.grid (a config fuzz example found the
    error naming only the detector section, which the user had not changed)."""
    with pytest.raises(ConfigError, match=r"model\.grid is 64: make detector\.size or detector\.gap smaller"):
        paper = Path(__file__).parents[1] / "configs" / "d2nn_paper.yaml"
        load_config(paper, ["model.grid=64", "input.object_size=28"])


def test_a_camera_light_budget_and_the_optical_cnns_photon_count_are_not_both_set():
    """Both would put shot noise on the sensor: one light budget, or the noise is counted twice."""
    base = Path(__file__).parents[1] / "configs" / "mixed_signal" / "smoke.yaml"
    camera = ["hardware.camera={photon_rate: 1.0e6}", "hardware.readout.noise=0"]
    load_config(base, camera)  # the camera alone is a light budget
    with pytest.raises(ConfigError, match="photons_per_pixel"):
        load_config(base, [*camera, "model.cnn.photons_per_pixel=1.0e4"])
