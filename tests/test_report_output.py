"""The run report: durations people can read, and only the config sections the run uses."""

import json
import re
from pathlib import Path

import pytest
import yaml

from quaton.config import build_config, dump_config, load_config
from quaton.report import config_sections, format_duration, run_report

SMOKE = Path(__file__).parents[1] / "configs" / "smoke.yaml"
TWIN = "physical.system=quaton.systems.d2nn_twin:d2nn_twin"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.0042, "0.0042 s"),
        (0.53, "0.53 s"),
        (4.234, "4.2 s"),
        (12.44, "12.4 s"),
        (59.96, "1 min 0 s"),
        (200.4, "3 min 20 s"),
        (3599.6, "1 h 0 min"),
        (7512.0, "2 h 5 min"),
    ],
)
def test_durations_in_seconds_with_sensible_rounding(seconds, shown):
    assert format_duration(seconds) == shown


def _sections(overrides: list[str]) -> tuple[set[str], list[str], list[str], str]:
    shown, omitted, changed = config_sections(dump_config(load_config(SMOKE, overrides)))
    data = yaml.safe_load(shown)
    names = set(data) | {
        f"{key}.{sub}" for key in ("model", "data") for sub in data[key] if isinstance(data[key][sub], dict)
    }
    return names, omitted, changed, shown


ALWAYS = {"name", "seed", "model", "input", "data", "task", "train"}


@pytest.mark.parametrize(
    ("overrides", "used", "unused"),
    [
        (
            [],
            {"optics", "detector", "fabrication"},
            {
                "quantization",
                "hardware",
                "physical",
                "dat",
                "calibrate",
                "robust",
                "model.cnn",
                "model.mzi",
                "data.rbc",
            },
        ),
        (
            ["quantization.method=psq", "quantization.levels=4", "hardware.readout.levels=16"],
            {"quantization", "hardware"},
            {"physical", "dat"},
        ),
        (["hardware.distortion.slm_gamma=1.1"], {"hardware"}, {"physical"}),
        ([TWIN, "train.strategy=pat"], {"physical"}, {"dat", "calibrate", "robust"}),
        ([TWIN, "train.strategy=dat"], {"physical", "dat"}, {"calibrate", "robust"}),
        ([TWIN, "train.strategy=calibrated"], {"physical", "dat", "calibrate"}, {"robust"}),
        ([TWIN, "train.strategy=pat", "calibrate.enabled=true"], {"physical", "calibrate"}, {"dat", "robust"}),
        ([TWIN, "train.strategy=robust"], {"physical", "robust"}, {"dat", "calibrate"}),
        (
            ["model.kind=mzi", "model.mzi.ports=16", "quantization.method=psq", "quantization.levels=4"],
            {"model.mzi"},
            {"optics", "detector", "fabrication", "quantization", "model.cnn"},
        ),
        (
            ["model.kind=optical_cnn", "model.cnn.element=amplitude"],
            {"optics", "model.cnn"},
            {"fabrication", "detector", "model.mzi"},
        ),
    ],
)
def test_the_report_shows_the_sections_the_run_uses(overrides, used, unused):
    names, omitted, _, _ = _sections(overrides)
    assert ALWAYS | used <= names
    assert not names & unused and unused <= set(omitted)


def test_omitted_sections_that_were_set_are_named_and_the_shown_config_reproduces_the_run():
    _, omitted, changed, _ = _sections(["robust.shift=1.0", "quantization.levels=4"])  # both without effect here
    assert changed == ["quantization", "robust"] and {"quantization", "robust"} <= set(omitted)
    overrides = [
        TWIN,
        "train.strategy=dat",
        "hardware.readout.levels=16",
        "quantization.method=pq",
        "quantization.levels=8",
    ]
    _, _, changed, shown = _sections(overrides)
    assert changed == []
    assert build_config(yaml.safe_load(shown)) == load_config(SMOKE, overrides)  # omitted = defaults: nothing lost


def test_run_report_formats_durations_and_cuts_the_config(tmp_path):
    config = load_config(SMOKE, ["hardware.readout.levels=16"])
    (tmp_path / "config.yaml").write_text(dump_config(config))
    metrics = {"test_accuracy": 0.69, "train_seconds": 200.4, "epochs": 2}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    page = run_report(tmp_path).read_text()
    assert "<td>3 min 20 s</td>" in page and "200.4" not in page and "<td>0.6900</td>" in page
    config_text = page.split("<h2>Config</h2>", 1)[1]
    assert re.search(r"^hardware:", config_text, re.MULTILINE) and not re.search(
        r"^(physical|dat|robust|calibrate|quantization):", config_text, re.MULTILINE
    )
    assert "Not used by this run, so not shown: " in config_text and "quantization" in config_text.split("<pre>")[0]


def test_a_config_this_version_cannot_read_is_shown_whole():
    text = "name: old\nlegacy_section:\n  value: 1\n"
    assert config_sections(text) == (text, [], [])
