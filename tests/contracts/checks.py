"""What every registered component must answer (issue 28), as functions that list the problems of
one registry entry: the contract suite (test_contracts.py) runs them over every registry, and a toy
plug-in that lacks a capability is caught by them (test_toy_plugins.py).

Each check builds the component from a minimal config (a model kind's ``example``, a read-out
effect's ``example`` for its required options) and asks what the rest of quaton asks of it.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from quaton.builder import build_model
from quaton.config import Config, ModelConfig, build_config
from quaton.hardware import EFFECTS
from quaton.models import MODELS, OpticalModel
from quaton.models.protocol import MeasurableModel
from quaton.quant import QUANTIZERS
from quaton.registry import Entry
from quaton.systems.twins import TWINS
from quaton.tasks import TASKS, Classifier, Task, TaskContext

BATCH = 2


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


def example_config(kind: str, **extra: Any) -> Config:
    """The model kind's ``example`` config, with ``extra`` keys (nested) on top."""
    example = _merge(dict(MODELS[kind].example), {"model": {"kind": kind}})
    return build_config(_merge(example, extra))


def options_round_trip(entry: Entry, values: dict[str, Any] | None = None) -> list[str]:
    """The options model parses its own dump to the same options."""
    if entry.options is None:
        return []
    try:
        parsed = entry.parse_options({**entry.defaults(), **(values or {})})
    except Exception as error:  # noqa: BLE001 (a contract failure is reported, whatever it is)
        return [f"{entry.what} {entry.name}: its defaults do not parse ({error})"]
    assert parsed is not None
    again = entry.parse_options(parsed.model_dump(mode="json"))
    return [] if again == parsed else [f"{entry.what} {entry.name}: options do not round-trip"]


def _finite(tensor: torch.Tensor) -> bool:
    return bool(torch.isfinite(tensor).all())


def model_kind_problems(name: str) -> list[str]:
    """What is wrong with model kind ``name``'s registration and model (empty: it keeps the contract)."""
    entry, kind = MODELS.entry(name), MODELS[name]
    where = f"model kind {name}"
    problems = options_round_trip(entry)
    if not entry.summary:
        problems.append(f"{where}: no summary (a docstring on its builder)")
    unknown = [section for section in kind.reads if section not in Config.model_fields]
    if unknown:
        problems.append(f"{where}: reads {unknown}, which are not config sections")
    if kind.section is not None and kind.section not in ModelConfig.model_fields:
        problems.append(f"{where}: its options section model.{kind.section} is not a model config section")
    if kind.memory is None:
        problems.append(f"{where}: no memory estimate (register_model(..., memory=Memory(...)))")
    if kind.system_loop and not kind.physical:
        problems.append(f"{where}: trains through the system loop but says it cannot train against a system")
    if kind.twin is not None and kind.twin not in TWINS:
        problems.append(f"{where}: its twin {kind.twin!r} is not registered in quaton.systems.twins.TWINS")
    if kind.robust and (kind.twin is None or kind.twin not in TWINS or TWINS[kind.twin].draw is None):
        problems.append(f"{where}: robust training needs a twin that draws errors")
    try:
        config = example_config(name)
    except Exception as error:  # noqa: BLE001
        return [*problems, f"{where}: its example config does not validate ({error})"]
    if kind.plausible(config) is not None:
        problems.append(f"{where}: its example is implausible: {kind.plausible(config)}")
    return problems + _model_problems(name, config)


def _model_problems(name: str, config: Config) -> list[str]:
    kind, where = MODELS[name], f"model kind {name}"
    model = build_model(config).eval()
    if not isinstance(model, OpticalModel):
        return [f"{where}: its model does not implement quaton.models.OpticalModel"]
    problems = []
    size = config.input.object_size
    with torch.no_grad():
        output = model.task_input(torch.rand(BATCH, size, size), None, 1.0)
        phases = model.phases()
    shape_ok = output.dim() == 3 if kind.output == "detector" else tuple(output.shape) == (BATCH, 10)
    if output.shape[0] != BATCH or not shape_ok or not _finite(output):
        problems.append(f"{where}: task_input gives {tuple(output.shape)}, not finite {kind.output} for {BATCH} images")
    if any(not _finite(p) or float(p.min()) < 0 or float(p.max()) >= 2 * math.pi for p in phases):
        problems.append(f"{where}: phases() are not in [0, 2π)")
    if kind.fabricated(config) and not (phases and model.mask_pitch):
        problems.append(f"{where}: says it is fabricated but has no phase masks with a pitch to export")
    try:
        json.dumps(model.design_fields())
    except TypeError:
        problems.append(f"{where}: design_fields() is not JSON")
    if kind.physical and not isinstance(model, MeasurableModel):
        problems.append(f"{where}: says it trains against a physical system but is not a MeasurableModel")
    if kind.memory is not None:
        parameters = sum(p.numel() * p.element_size() for p in model.parameters())
        needed = kind.memory.bytes(config, BATCH, True, torch.device("cpu"))
        if not needed >= parameters > 0 and not (parameters == 0 and needed > 0):
            problems.append(f"{where}: its memory estimate ({needed} B) is below its parameters ({parameters} B)")
    if kind.quantized(config):
        problems += _quantized_problems(name)
    return problems


def _quantized_problems(name: str) -> list[str]:
    """A kind that says its phases are quantized evaluates on the levels."""
    config = example_config(name, quantization={"method": "ste", "levels": 4})
    model = build_model(config).eval()
    with torch.no_grad():
        counts = [len(torch.unique(torch.round(phase * 1e4))) for phase in model.phases()]
    if not counts or max(counts) > 4:
        return [f"model kind {name}: quantized to 4 levels, its evaluated phases take {counts} values"]
    return []


def task_problems(name: str) -> list[str]:
    """What is wrong with task ``name`` for every model output it reads."""
    entry, kind = TASKS.entry(name), TASKS[name]
    problems = options_round_trip(entry)
    for output, losses in kind.losses.items():
        model_kind = next((k for k in MODELS if MODELS[k].output == output and MODELS[k].example), None)
        if model_kind is None:
            continue
        for loss in losses:
            problems += _task_output_problems(name, model_kind, output, loss)
    return problems


def _task_output_problems(name: str, model_kind: str, output: str, loss: str) -> list[str]:
    kind, where = TASKS[name], f"task {name} ({output}, {loss})"
    config = example_config(model_kind, task={"kind": name, "loss": loss})
    task = kind.build(config, TaskContext(10, output, TASKS.entry(name).parse_options(config.task.options)))
    if not isinstance(task, Task):
        return [f"{where}: builds a {type(task).__name__}, not a quaton.tasks.Task"]
    problems = []
    if task.primary_metric != kind.primary:
        problems.append(f"{where}: primary_metric {task.primary_metric!r} is not its registered {kind.primary!r}")
    if kind.classes != isinstance(task, Classifier):
        problems.append(f"{where}: classes={kind.classes} but the task is {'not ' if kind.classes else ''}a Classifier")
    size, grid = config.input.object_size, config.model.grid
    images, labels = torch.rand(BATCH, size, size), torch.arange(BATCH) % 10
    out = (
        torch.rand(BATCH, grid, grid, requires_grad=True)
        if output == "detector"
        else torch.randn(BATCH, 10, requires_grad=True)
    )
    target = task.target(images, labels)
    value = task.loss(out, target)
    value.backward()
    if value.dim() != 0 or not _finite(value) or out.grad is None or not _finite(out.grad):
        problems.append(f"{where}: loss is not a finite scalar with a finite gradient")
    metrics = task.batch_metrics(out.detach(), target)
    missing = [m for m in kind.metrics if m not in metrics or metrics[m].shape != (BATCH,)]
    if missing:
        problems.append(f"{where}: batch_metrics lacks per-sample {missing}")
    if kind.classes and "predicted" not in metrics:
        problems.append(f"{where}: a classifier's batch_metrics must give 'predicted' (the confusion matrix)")
    return problems


def quantizer_problems(name: str) -> list[str]:
    """A quantizer's hard device is on its levels, its training form has a gradient."""
    entry = QUANTIZERS.entry(name)
    problems = options_round_trip(entry)
    options = entry.parse_options({})
    quantizer = entry.target(4, **(options.model_dump() if options is not None else {}))
    raw = (torch.rand(8, 8) * 4 * math.pi).requires_grad_(True)
    quantizer.initialize(raw)  # a mask does this when it is given the quantizer
    hard = quantizer.hard(raw.detach())
    distance = (torch.remainder(hard, 2 * math.pi)[..., None] - quantizer.values).abs().amin(dim=-1)
    if float(distance.max()) > 1e-5:
        problems.append(f"quantizer {name}: hard() is off its 4 levels by up to {float(distance.max()):.3g} rad")
    quantizer.train()
    (torch.cos(quantizer(raw)) * torch.rand(8, 8)).sum().backward()
    grads = [p.grad for p in [raw, *quantizer.parameters()] if p.grad is not None]
    if not grads or not all(_finite(g) for g in grads) or not any(bool(g.abs().sum() > 0) for g in grads):
        problems.append(f"quantizer {name}: its training form has no finite, non-zero gradient")
    if not entry.display or not entry.summary:
        problems.append(f"quantizer {name}: no display name or summary")
    return problems


def effect_problems(name: str) -> list[str]:
    """A read-out effect builds from its options (its ``example`` for the required ones) and maps an
    intensity image to a finite image of the same shape."""
    entry = EFFECTS.entry(name)
    example = dict(entry.info.get("example", {}))
    problems = options_round_trip(entry, example)
    try:
        options = entry.parse_options(example)
    except Exception as error:  # noqa: BLE001
        return [*problems, f"read-out effect {name}: its options do not parse without an example ({error})"]
    effect = entry.target(**(options.model_dump() if options is not None else {})).eval()
    image = torch.rand(BATCH, 8, 8)
    with torch.no_grad():
        out = effect(image, torch.tensor(1.0), torch.Generator().manual_seed(0))
    if out.shape != image.shape or not _finite(out):
        problems.append(f"read-out effect {name}: maps {tuple(image.shape)} to {tuple(out.shape)} or non-finite values")
    if not entry.summary:
        problems.append(f"read-out effect {name}: no summary")
    return problems
