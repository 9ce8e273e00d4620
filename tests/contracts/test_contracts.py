"""The contract suite (issue 28, in the style of timm's model tests): every registered model kind,
task, quantizer and read-out effect builds from a minimal config and answers what quaton asks of
its kind. A plug-in is tested by registering it: the parametrization reads the registries."""

import pytest

from quaton.hardware import EFFECTS
from quaton.models import MODELS
from quaton.quant import QUANTIZERS
from quaton.tasks import TASKS
from tests.contracts.checks import effect_problems, model_kind_problems, quantizer_problems, task_problems


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_kind_keeps_the_contract(name):
    assert model_kind_problems(name) == []


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_keeps_the_contract(name):
    assert task_problems(name) == []


@pytest.mark.parametrize("name", list(QUANTIZERS))
def test_every_quantizer_keeps_the_contract(name):
    assert quantizer_problems(name) == []


@pytest.mark.parametrize("name", list(EFFECTS))
def test_every_readout_effect_keeps_the_contract(name):
    assert effect_problems(name) == []


def test_the_suite_covers_the_built_in_components():
    """The parametrization sees every built-in (a registry emptied by an import error would pass)."""
    assert {"d2nn", "optical_cnn", "digital_cnn", "mzi"} <= set(MODELS)
    assert {"classification", "phase_imaging"} <= set(TASKS)
    assert {"pq", "ste", "gs", "psq", "psq-lt"} <= set(QUANTIZERS)
    assert {"camera", "crosstalk", "adc", "noise"} <= set(EFFECTS)
