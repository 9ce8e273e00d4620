"""Registries own names and options (issue 14): lookups with the nearest name, order, options
validated against the component's model, both spellings of an option one key."""

import pytest
import torch
from pydantic import Field

from quaton.builder import build_quantizer, build_readout, build_task
from quaton.config import build_config, dump_config
from quaton.errors import ConfigError
from quaton.registry import Options, Registry, UnknownNameError, fold_options, resolve_options


class WidthOptions(Options):
    width: int = Field(3, ge=1, description="how wide")
    soft: bool = False


def make_registry() -> Registry:
    registry = Registry("widget", "section.kind", extra=("none",))
    registry.register("alpha", dict, display="Alpha")
    registry.register("beta", list, options=WidthOptions)

    @registry.register("gamma", before="beta")
    class Gamma:
        """Gamma: the third widget.

        Details that a listing leaves out."""

    return registry


def test_lookup_order_and_unknown_names():
    registry = make_registry()
    assert list(registry) == ["alpha", "gamma", "beta"] and registry.choices() == ["none", "alpha", "gamma", "beta"]
    assert registry["alpha"] is dict and registry.entry("gamma").summary == "Gamma: the third widget."
    assert registry.display("alpha") == "Alpha" and registry.display("unregistered") == "unregistered"
    with pytest.raises(UnknownNameError) as error:
        registry["bta"]
    assert isinstance(error.value, KeyError) and isinstance(error.value, ConfigError)
    assert str(error.value) == (
        "section.kind: unknown widget 'bta' (did you mean `beta`?); choose one of none, alpha, gamma, beta"
    )
    assert registry.get("bta") is None and "bta" not in registry  # a Mapping: get and `in` work
    assert registry.check("none") == "none"
    with pytest.raises(ValueError, match="already registered"):
        registry.register("alpha", set)
    registry.register("alpha", set, replace=True)
    assert registry["alpha"] is set and list(registry)[0] == "alpha"
    registry.unregister("gamma")
    assert list(registry) == ["alpha", "beta"]


def test_options_are_parsed_listed_and_resolved():
    entry = make_registry().entry("beta")
    assert entry.parse_options({"width": "5"}).width == 5 and entry.defaults() == {"width": 3, "soft": False}
    with pytest.raises(ConfigError, match=r"unknown option 'widht' of widget beta \(did you mean `width`\?\); valid"):
        entry.parse_options({"widht": 2})
    with pytest.raises(ConfigError, match="width: Input should be greater than or equal to 1"):
        entry.parse_options({"width": 0})
    with pytest.raises(ConfigError, match="widget alpha takes no options; remove 'width'"):
        make_registry().entry("alpha").parse_options({"width": 1})
    assert entry.option_lines("section.options.") == [
        "section.options.width: int = 3  how wide",
        "section.options.soft: bool = False",
    ]

    class Section(Options):
        width: int = 7
        options: dict = {}

    # defaults < the section's flat key of the same name < the options mapping
    assert resolve_options(entry, Section()).width == 7
    assert resolve_options(entry, Section(), {"width": 9}).width == 9


def test_fold_options_moves_an_option_to_its_flat_key_once():
    entry = make_registry().entry("beta")
    data = {"kind": "beta", "options": {"width": 4, "other": 1}}
    assert fold_options(data, entry, "section", ("width",)) == {"kind": "beta", "options": {"other": 1}, "width": 4}
    assert fold_options(data, entry, "section", (), into="beta") == {
        "kind": "beta",
        "options": {"other": 1},
        "beta": {"width": 4},
    }
    with pytest.raises(ValueError, match=r"section.options.width \(4\) and section.width \(5\) are one key"):
        fold_options({**data, "width": 5}, entry, "section", ("width",))


def test_both_spellings_of_a_builtin_option_are_one_key():
    flat = build_config({"quantization": {"method": "gs", "levels": 4, "logit_scale": 5.0}})
    nested = build_config({"quantization": {"method": "gs", "levels": 4, "options": {"logit_scale": 5.0}}})
    assert nested == flat and nested.quantization.options == {}
    assert build_config({}, ["task.options.temperature=3"]).task.temperature == 3.0
    mzi = build_config({"model": {"kind": "mzi", "options": {"ports": 16}}})
    assert mzi.model.mzi.ports == 16 and mzi.model.options == {}
    assert build_quantizer(nested)(0).logit_scale == 5.0
    with pytest.raises(ConfigError, match="quantizer psq takes no options; remove 'logit_scale'"):
        build_config({"quantization": {"method": "psq", "levels": 4, "options": {"logit_scale": 5.0}}})
    with pytest.raises(ConfigError, match="quantization.method none .* takes no options"):
        build_config({"quantization": {"options": {"hard": False}}})


def test_a_readout_effect_set_by_name_is_the_flat_keys_effect():
    effects = {"adc": {"levels": 8}, "noise": {"sigma": 0.5, "levels": 8}}  # σ in steps of the 8-level ADC
    by_name = build_readout(build_config({"hardware": {"effects": effects}}))
    flat = build_readout(build_config({"hardware": {"readout": {"levels": 8, "noise": 0.5}}}))
    assert list(by_name.effects) == list(flat.effects) == ["noise", "adc"]
    image = torch.rand(2, 16, 16)
    by_name.eval(), flat.eval()
    by_name.reseed(), flat.reseed()
    assert torch.equal(by_name(image), flat(image))
    config = build_config({"hardware": {"effects": {"adc": {"levels": 8}}}})
    assert build_config(__import__("yaml").safe_load(dump_config(config))) == config


def test_the_task_registry_builds_what_the_model_outputs():
    assert type(build_task(build_config({}))).__name__ == "Classification"
    assert type(build_task(build_config({"model": {"kind": "digital_cnn"}}))).__name__ == "LogitClassification"
    with pytest.raises(ConfigError, match="model.kind mzi is a classifier .*task.kind phase_imaging reads a model"):
        build_config({"model": {"kind": "mzi"}, "task": {"kind": "phase_imaging", "loss": "mse"}})
    with pytest.raises(ConfigError, match="task.kind: unknown task 'phase_imagin' \\(did you mean `phase_imaging`"):
        build_config({"task": {"kind": "phase_imagin"}})
