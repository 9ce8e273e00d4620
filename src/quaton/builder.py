"""Building data, model, read-out and task from a validated config, and a trained model from its run
directory (``load_run``).

Below train/ and export/: training builds its pieces here, and export and simulate rebuild a
trained device here without importing any training code."""

from __future__ import annotations

import math
import typing
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from quaton import runs
from quaton.config import Config, TrainConfig, load_config
from quaton.data import DATASETS, DataNotFoundError, encode, load_dataset, resize_images
from quaton.data.phase_objects import (
    RBCParameters,
    load_phase_maps,
    natural_image_patches,
    natural_image_source,
    rbc_phase_maps,
)
from quaton.errors import ConfigError, QuatonError, RunDirError
from quaton.hardware import EFFECTS, Readout, configured_effects, slm_response
from quaton.models import MODELS, BuildContext
from quaton.quant import QUANTIZERS, Quantizer, Schedule
from quaton.registry import Entry, Registry, resolve_options
from quaton.tasks import TASKS, Task, TaskContext, task_of


@dataclass(frozen=True)
class PreparedData:
    """Images resized to the object size, float32 [N, s, s] in [0, 1]; labels int64 [N]."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    source: str = ""  # where the images came from (directory, file, or generator), for metrics.json and the report


def split_validation(config: Config, data: PreparedData) -> tuple[PreparedData, torch.Tensor, torch.Tensor]:
    """Hold out ``train.validation_size`` training images (10% by default), seeded by ``seed``.

    Every training run holds them out: the epoch record measures them (``val_*``), recipes are
    chosen on them, and the test set is measured once, on the final model. Returns the data less
    the held-out images, and the held-out images and labels."""
    count = config.train.validation_size or max(1, len(data.x_train) // 10)
    if count >= len(data.x_train):
        raise ConfigError(
            f"train.validation_size ({count}) leaves no training images (of {len(data.x_train)}): "
            "lower train.validation_size or raise data.train_size"
        )
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(config.seed + 7919))
    held, kept = order[:count], order[count:]
    train = PreparedData(data.x_train[kept], data.y_train[kept], data.x_test, data.y_test, data.classes, data.source)
    return train, data.x_train[held], data.y_train[held]


# Generated and patch datasets have no natural size: these are their defaults.
GENERATED_TRAIN, GENERATED_TEST = 2000, 500


def _phase_data(config: Config) -> PreparedData | None:
    """Phase-imaging datasets that are not image-classification sets, as x = φ / input scale."""
    data, size = config.data, config.input.object_size
    scale = config.input.scale or math.pi
    n_train, n_test = data.train_size or GENERATED_TRAIN, data.test_size or GENERATED_TEST
    if data.dataset == "rbc":
        parameters = rbc_parameters(config)
        # the test cells come from their own seed: never seen in training, the same whatever train_size is
        train_maps, test_maps = (
            rbc_phase_maps(
                n, size, config.optics.pitch, config.optics.wavelength, parameters, seed=(config.seed, stream)
            )
            for n, stream in ((n_train, 0), (n_test, 1))
        )
        x_train, x_test = torch.from_numpy(train_maps) / scale, torch.from_numpy(test_maps) / scale
        return PreparedData(
            x_train,
            torch.zeros(n_train, dtype=torch.int64),
            x_test,
            torch.zeros(n_test, dtype=torch.int64),
            [],
            "generated red blood cells",
        )
    if data.dataset == "natural":
        patches = natural_image_patches(n_train + n_test, size, seed=config.seed, root=data.root)
        x = resize_images(patches, size)
        n_train = len(x) * n_train // (n_train + n_test)
        source = natural_image_source(data.root)
        return PreparedData(
            x[:n_train],
            torch.zeros(n_train, dtype=torch.int64),
            x[n_train:],
            torch.zeros(len(x) - n_train, dtype=torch.int64),
            [],
            source,
        )
    path = Path(data.dataset).expanduser()
    is_image_npz = path.suffix == ".npz" and path.is_file() and _npz_keys(path) >= {"x_train"}
    if data.dataset in DATASETS or is_image_npz:
        return None
    maps = load_phase_maps(path)
    order = np.random.default_rng(config.seed).permutation(len(maps))
    test = max(1, len(maps) // 5)
    x = resize_images(torch.from_numpy(maps[order]), size) / scale
    return PreparedData(
        x[test:],
        torch.zeros(len(x) - test, dtype=torch.int64),
        x[:test],
        torch.zeros(test, dtype=torch.int64),
        [],
        str(path),
    )


def rbc_parameters(config: Config) -> RBCParameters:
    """The generator's ranges from ``data.rbc``."""
    rbc = config.data.rbc
    return RBCParameters(
        diameter=rbc.diameter,
        index_contrast=rbc.index_contrast,
        peak_phase=rbc.peak_phase,
        tilt=(math.radians(rbc.tilt_deg[0]), math.radians(rbc.tilt_deg[1])),
        count=rbc.count,
        aberration_rms=rbc.aberration_rms,
        aberration_length=rbc.aberration_length,
        noise_rms=rbc.noise_rms,
    )


def _npz_keys(path: Path) -> set[str]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return set(archive.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataNotFoundError(f"cannot read {path}: {error}") from None


def prepare_data(config: Config) -> PreparedData:
    """Load, subset (stratified, seeded) and resize the configured dataset."""
    data = config.data
    if not task_of(config).classes:  # an imaging task may use generated phase objects (no labels)
        prepared = _phase_data(config)
        if prepared is not None:
            return prepared
    dataset = load_dataset(data.dataset, data.root, download=data.download)
    dataset = dataset.subset(data.train_size, data.test_size, seed=config.seed)
    size = config.input.object_size
    return PreparedData(
        resize_images(dataset.x_train, size),
        torch.as_tensor(dataset.y_train, dtype=torch.int64),
        resize_images(dataset.x_test, size),
        torch.as_tensor(dataset.y_test, dtype=torch.int64),
        dataset.classes,
        dataset.source,
    )


# Temperature schedules when the config leaves them open (each quantizer's registered
# ``temperatures``): PSQ hardens 1 -> 20 (QuATON), GS cools 2 -> 0.1; others hold 1.
DEFAULT_TEMPERATURES = {e.name: tuple(e.info["temperatures"]) for e in QUANTIZERS.entries() if "temperatures" in e.info}


def build_quantizer(config: Config) -> Callable[[int], Quantizer | None] | None:
    """A factory of each layer's quantizer (None for full precision): the registered class of
    ``quantization.method`` with its options (the flat keys, then ``quantization.options``)."""
    quant = config.quantization
    if quant.method == "none":
        return None
    entry = QUANTIZERS.entry(quant.method)
    levels = quant.layer_levels(config.model.layers)
    start, end = entry.info.get("temperatures", (1.0, 1.0))
    schedule = Schedule(
        start=quant.schedule.start or start,
        end=quant.schedule.end or end,
        kind=quant.schedule.kind,
        per=quant.schedule.per,
        epochs=config.train.epochs,
        warmup_epochs=quant.schedule.warmup_epochs,
    )
    parsed = resolve_options(entry, quant, quant.options)
    options = parsed.model_dump() if parsed is not None else {}
    cls = entry.target

    def make(layer: int) -> Quantizer:
        layer_levels = levels[layer]
        if layer_levels is None:  # the config refuses this; a config built without validation may not
            raise ConfigError(f"quantization.levels is required for method {quant.method!r} (e.g. 4)")
        quantizer = cls(layer_levels, quant.range, schedule, **options)
        if "chord" in quantizer.relaxations:
            quantizer.relaxation = quant.relaxation
        return quantizer

    return make


def build_model(config: Config, *, initialize: bool = True) -> torch.nn.Module:
    """The configured network; with ``initialize`` and ``train.init_from``, its phases start from
    that run's checkpoint (quantization-aware training from a trained network)."""
    network = _build_network(config)
    if initialize and config.train.init_from is not None:
        initialize_from_run(network, Path(config.train.init_from))
    return network


def initialize_from_run(model: torch.nn.Module, source: Path) -> None:
    """Copy the trained parameters and buffers of the run directory (or checkpoint file) ``source``
    into ``model`` where names and shapes match, leaving the quantizers' own state alone, then let
    each quantizer initialise itself from the loaded phases (GS builds its logits from them).

    Raises ConfigError when the source has no checkpoint or none of its tensors fits the model.
    """
    path = source / runs.CHECKPOINT if source.is_dir() else source
    if not path.is_file():
        raise ConfigError(f"train.init_from: {source} holds no {runs.CHECKPOINT}; give a finished run directory")
    try:
        state = runs.load_checkpoint(path)["model"]
    except QuatonError as error:
        raise ConfigError(f"train.init_from: {error}") from None
    own = model.state_dict()
    loaded = {k: v for k, v in state.items() if ".quantizer." not in k and k in own and own[k].shape == v.shape}
    mismatched = sorted(k for k in state if k in own and ".quantizer." not in k and own[k].shape != state[k].shape)
    if mismatched or not loaded:
        detail = (
            f"{mismatched[0]} is {tuple(state[mismatched[0]].shape)} there, {tuple(own[mismatched[0]].shape)} here"
            if mismatched
            else "no tensor matches"
        )
        raise ConfigError(
            f"train.init_from: {source} is a different network ({detail}); "
            "start from a run of the same model, grid and layers"
        )
    model.load_state_dict(loaded, strict=False)
    for module in model.modules():
        quantizer = getattr(module, "quantizer", None)
        raw = getattr(module, "raw", None)
        if isinstance(quantizer, Quantizer) and isinstance(raw, torch.nn.Parameter):
            quantizer.initialize(raw.detach())


def _build_network(config: Config) -> torch.nn.Module:
    """The registered builder of ``model.kind``, with its options (its section, or ``model.options``)."""
    model = config.model
    entry = MODELS.entry(model.kind)
    section = entry.target.section
    options = getattr(model, section) if section else resolve_options(entry, model, model.options)
    context = BuildContext(
        quantizer=build_quantizer(config),
        encode=lambda images: encode_batch(config, images),
        options=options,
    )
    return entry.target.build(config, context)


def build_readout(config: Config) -> Readout:
    """The configured read-out chain (only the effects that are not identities)."""
    return Readout(configured_effects(config.hardware), config.hardware.readout.percentile, config.hardware.seed)


def set_modulator(config: Config, model: torch.nn.Module, on: bool) -> None:
    """Switch the modulator's modelled phase response (hardware.distortion.slm_gamma) on or off."""
    gamma = config.hardware.distortion.slm_gamma
    for mask in getattr(model, "masks", []):
        mask.response = (lambda phase: slm_response(phase, gamma)) if (on and gamma != 1.0) else None


def build_task(config: Config, num_classes: int = 10) -> Task:
    """The registered task of ``task.kind`` for what the model kind outputs, with its options."""
    entry = TASKS.entry(config.task.kind)
    output = MODELS[config.model.kind].output
    context = TaskContext(num_classes, output, resolve_options(entry, config.task, config.task.options))
    task = entry.target.build(config, context)
    if not isinstance(task, Task):
        raise TypeError(
            f"task {config.task.kind!r} built a {type(task).__name__}, which does not implement quaton.tasks.Task "
            "(primary_metric, target, loss, batch_metrics)"
        )
    return task


def registries() -> dict[str, Registry]:
    """Every registry of components a config names, by what they are (``quaton list``)."""
    return {"quantizers": QUANTIZERS, "models": MODELS, "tasks": TASKS, "read-out effects": EFFECTS}


def _option_prefix(registry: Registry, entry: Entry) -> str:
    """Where a component's options are set: quantization.options.NAME, model.cnn.NAME, ..."""
    if registry is MODELS:
        return f"model.{entry.target.section or 'options'}."
    if registry is EFFECTS:
        return f"hardware.effects.{entry.name}."
    return f"{registry.key.split('.')[0]}.options."


def _details(registry: Registry, entry: Entry) -> str:
    if registry is MODELS:
        return f", output {entry.target.output}"
    if registry is TASKS:
        return "".join(f", {output}: {' / '.join(losses)}" for output, losses in entry.target.losses.items())
    return ""


def component_listing() -> list[str]:
    """``quaton list``: every registered component under the config key that selects it, with its
    display name, summary and one line per option (``key: type = default  description``)."""
    lines = []
    for title, registry in registries().items():
        lines.append(f"{title} ({registry.key}):")
        if registry is QUANTIZERS:
            lines.append("  none: full precision (no quantizer)")
        for entry in registry.entries():
            shown = f" ({entry.display})" if entry.display != entry.name else ""
            lines.append(f"  {entry.name}{shown}{_details(registry, entry)}: {entry.summary or '-'}")
            lines.extend(f"    {line}" for line in entry.option_lines(_option_prefix(registry, entry)))
        lines.append("")
    strategies = typing.get_args(TrainConfig.model_fields["strategy"].annotation)
    lines.append(f"training strategies (train.strategy): {', '.join(strategies)}")
    return lines


def encode_batch(config: Config, images: torch.Tensor) -> torch.Tensor:
    """Resized images [B, s, s] -> input fields complex64 [B, N, N], as in training."""
    return encode(images, config.model.grid, config.input.encoding, config.input.scale)


def load_run(run_dir: str | Path, overrides: list[str] | None = None) -> tuple[Config, torch.nn.Module, dict]:
    """The resolved config (with ``overrides``), the trained model (eval mode) and the checkpoint of a run directory."""
    run_dir = Path(run_dir)
    if not (run_dir / runs.CONFIG).is_file():
        raise RunDirError(f"{run_dir} is not a quaton run directory (no {runs.CONFIG})")
    config = load_config(run_dir / runs.CONFIG, overrides)
    state = runs.load_checkpoint(run_dir / runs.CHECKPOINT)
    model = build_model(config, initialize=False)
    # post-training quantization (PQ): a full-precision run evaluated with quantization.method=pq has no
    # quantizer state to load; its quantizers are fixed by the config (levels, hard rounding in eval mode)
    trained_method = load_config(run_dir / runs.CONFIG).quantization.method
    post_quantized = trained_method == "none" and config.quantization.method == "pq"
    try:
        missing, unexpected = model.load_state_dict(state["model"], strict=not post_quantized)
    except RuntimeError as error:
        raise RunDirError(f"checkpoint in {run_dir} does not fit its config: {error}") from None
    if unexpected or any(".quantizer." not in key for key in missing):
        detail = f"missing {missing}, unexpected {unexpected}"
        raise RunDirError(f"checkpoint in {run_dir} does not fit its config: {detail}")
    return config, model.eval(), state
