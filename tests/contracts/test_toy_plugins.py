"""The contract suite catches a plug-in that lacks a capability: toy components, each missing one
thing, are registered for the test and the suite's checks name what they lack."""

from collections.abc import Iterator

import pytest
from torch import nn

from quaton.builder import build_model
from quaton.config import Config
from quaton.hardware import EFFECTS
from quaton.models import MODELS, BuildContext, register_model
from quaton.quant import QUANTIZERS, Quantizer
from quaton.tasks import TASKS, Task, TaskContext, register_task
from tests.contracts.checks import effect_problems, model_kind_problems, quantizer_problems, task_problems


class Unmeasurable(nn.Module):
    """A D2NN that answers OpticalModel but hides the planes a lab would measure."""

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.inner = build_model(config.model_copy(update={"model": config.model.model_copy(update={"kind": "d2nn"})}))

    def task_input(self, images, readout=None, full_scale=1.0):
        return self.inner.task_input(images, readout, full_scale)

    def sensor_intensity(self, images):
        return self.inner.sensor_intensity(images)

    def phases(self):
        return self.inner.phases()

    @property
    def mask_pitch(self):
        return self.inner.mask_pitch

    def design_fields(self):
        return {}


@pytest.fixture
def registered() -> Iterator[list[tuple]]:
    """Registrations made in a test, removed after it."""
    names: list[tuple] = []
    yield names
    for registry, name in names:
        registry.unregister(name)


def test_a_model_kind_without_memory_estimate_or_measurable_planes_is_caught(registered):
    example = dict(MODELS["d2nn"].example)

    @register_model("toy_unmeasurable", output="detector", physical=True, example=example)
    def build(config: Config, context: BuildContext) -> nn.Module:
        """A toy D2NN that cannot be measured and has no memory estimate."""
        return Unmeasurable(config)

    registered.append((MODELS, "toy_unmeasurable"))
    problems = model_kind_problems("toy_unmeasurable")
    assert any("no memory estimate" in p for p in problems)
    assert any("not a MeasurableModel" in p for p in problems)
    assert len(problems) == 2, problems


def test_a_model_kind_that_says_it_is_fabricated_but_has_no_masks_is_caught(registered):
    kind = MODELS["digital_cnn"]
    register_model(
        "toy_printed_cnn",
        output="logits",
        options=MODELS.entry("digital_cnn").options,
        section="cnn",
        memory=kind.memory,
        quantized=lambda config: False,
        fabricated=lambda config: True,
        example=kind.example,
    )(kind.build)
    registered.append((MODELS, "toy_printed_cnn"))
    assert model_kind_problems("toy_printed_cnn") == [
        "model kind toy_printed_cnn: says it is fabricated but has no phase masks with a pitch to export"
    ]


class ForgetfulTask(Task):
    """Says its primary metric is accuracy but measures none."""

    primary_metric = "accuracy"

    def target(self, images, labels):
        return labels

    def loss(self, output, target):
        return output.mean()

    def batch_metrics(self, output, target):
        return {}


def test_a_task_whose_metrics_lack_its_primary_one_is_caught(registered):
    @register_task("toy_forgetful", losses={"logits": ("cross_entropy",)}, metrics=("accuracy",), primary="accuracy")
    def build(config: Config, context: TaskContext) -> Task:
        return ForgetfulTask()

    registered.append((TASKS, "toy_forgetful"))
    assert task_problems("toy_forgetful") == [
        "task toy_forgetful (logits, cross_entropy): batch_metrics lacks per-sample ['accuracy']"
    ]


class OffLevels(Quantizer):
    """Rounds to the levels, then adds a little: not what the fab makes."""

    def hard(self, raw):
        return super().hard(raw) + 0.1

    def soft(self, raw):
        return raw


def test_a_quantizer_off_its_levels_is_caught(registered):
    QUANTIZERS.register("toy_off", OffLevels, display="OFF")
    registered.append((QUANTIZERS, "toy_off"))
    problems = quantizer_problems("toy_off")
    assert len(problems) == 1 and "off its 4 levels" in problems[0]


class Cropping(nn.Module):
    """Drops the last column: a read-out effect that changes the image's shape."""

    def forward(self, image, full_scale, generator=None):
        return image[..., :-1]


def test_a_readout_effect_that_changes_the_shape_is_caught(registered):
    EFFECTS.register("toy_crop", Cropping, summary="crops")
    registered.append((EFFECTS, "toy_crop"))
    assert effect_problems("toy_crop") == ["read-out effect toy_crop: maps (2, 8, 8) to (2, 8, 7) or non-finite values"]


def test_a_registered_plugin_passes_when_it_keeps_the_contract(registered):
    """A kind registered with every capability of the D2NN's passes: the checks are not just strict."""
    kind = MODELS["d2nn"]
    register_model(
        "toy_d2nn",
        output="detector",
        reads=kind.reads,
        fabricated=kind.fabricated,
        memory=kind.memory,
        example=kind.example,
    )(kind.build)
    registered.append((MODELS, "toy_d2nn"))
    assert model_kind_problems("toy_d2nn") == []
