"""What every model kind answers, and the registry that builds model kinds by name.

Evaluation, figures and export ask a model what they need through :class:`OpticalModel` instead
of testing its class: a new model kind is one file that implements the protocol and registers a
builder with :func:`register_model`; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import torch
from torch import nn

from quaton.registry import Options, Registry, docstring_summary

if TYPE_CHECKING:
    from quaton.config import Config
    from quaton.hardware import Readout

Output = Literal["detector", "logits"]
QuantizerFactory = Callable[[int], nn.Module | None]


@runtime_checkable
class OpticalModel(Protocol):
    """The questions evaluation (``quaton.evaluation``), figures and export ask of a model.

    Images are what the data pipeline prepares: float [B, s, s], s = ``input.object_size`` (in
    [0, 1] for image datasets, φ / input scale for phase maps). Intensities are in the simulation's
    units (|field|², a.u.; photons for a sensor with a photon budget).
    """

    def task_input(
        self, images: torch.Tensor, readout: Readout | None, full_scale: torch.Tensor | float
    ) -> torch.Tensor:
        """What the task sees for ``images``: a detector-plane intensity float [B, N, N] (through
        ``readout`` when given) for a model whose kind outputs ``detector``, class logits [B, C] for
        one that outputs ``logits`` (a camera inside: its read-out values divided by
        ``full_scale``, the read-out's calibrated full scale)."""
        ...

    def sensor_intensity(self, images: torch.Tensor) -> torch.Tensor | None:
        """The ideal intensities the read-out's full scale is calibrated from (float [B, H, W], the
        detector or sensor image without read-out effects); None: no camera, nothing to calibrate."""
        ...

    def phases(self) -> list[torch.Tensor]:
        """The fabricable phase masks as evaluated (hard-quantized in eval mode), float [H, W] in
        rad, [0, 2π), one per layer; [] when the model has none to export."""
        ...

    @property
    def mask_pitch(self) -> float | None:
        """Pixel pitch of the masks ``phases`` returns (m); None when there are none."""
        ...

    def design_fields(self) -> dict[str, Any]:
        """Entries design.json adds for this model beside the quaton-design v1 description of a
        D2NN ({} for a D2NN; e.g. ``kind``, ``pitch`` and ``element`` for an optical CNN's element)."""
        ...


@runtime_checkable
class MeasurableModel(Protocol):
    """What training against a physical system (``quaton.train.dat``: PAT, DAT) asks of a model:
    the planes a lab can measure, and the parameters a device is loaded with."""

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images float [B, s, s] -> the model's input fields (complex; [B, N, N] or [B, ports])."""
        ...

    def plane_states(
        self,
        fields: torch.Tensor,
        correction: list[Any] | None = None,
        replace: list[Any] | None = None,
    ) -> list[torch.Tensor]:
        """The complex fields at every measurable plane, the output last; ``correction[l]`` adds a
        predicted deviation x + c_l(x) at plane l (DAT's SEPNs), ``replace[l]`` then substitutes it."""
        ...

    @property
    def measured_planes(self) -> int:
        """How many planes ``plane_states`` returns."""
        ...

    @property
    def plane_shape(self) -> tuple[int, int]:
        """The 2-D shape a plane's field is given to a SEPN in."""
        ...

    def output_scores(self, power: torch.Tensor) -> torch.Tensor:
        """What the task reads of the output detectors' power (a detector image, or class scores)."""
        ...

    def device_params(self) -> list[Any]:
        """What a physical device is loaded with (as evaluated: call in eval mode)."""
        ...


def as_optical(model: nn.Module) -> OpticalModel:
    """``model`` as an :class:`OpticalModel`; TypeError naming what a model must answer otherwise."""
    if not isinstance(model, OpticalModel):
        raise TypeError(
            f"{type(model).__name__} does not implement quaton.models.OpticalModel (task_input, sensor_intensity, "
            "phases, mask_pitch, design_fields)"
        )
    return model


@dataclass(frozen=True)
class BuildContext:
    """What ``quaton.builder.build_model`` hands a model kind's builder besides the config.

    ``quantizer(layer)``: each phase layer's quantizer (None: full precision); ``encode``: images
    [B, s, s] -> input fields complex64 [B, N, N] (``input.encoding`` and ``input.scale`` on
    ``model.grid``); ``options``: the kind's validated options (None when it has none);
    ``classes``: number of classes."""

    quantizer: QuantizerFactory | None
    encode: Callable[[torch.Tensor], torch.Tensor]
    options: Options | None = None
    classes: int = 10


Builder = Callable[["Config", BuildContext], nn.Module]


@dataclass(frozen=True)
class Memory:
    """A model kind's memory estimate: ``bytes(config, batch, training, device)``, the peak bytes of a
    training step (``training``) or an evaluation pass of ``batch`` images, persistent tensors
    included; ``knobs(config)``: the keys that set it, with their values (what an out-of-memory
    message tells the user to lower beside the batch size)."""

    bytes: Callable[[Config, int, bool, torch.device], int]
    knobs: Callable[[Config], str]


@dataclass(frozen=True)
class ModelKind:
    """A registered model kind and everything the rest of quaton asks of it.

    ``build(config, context)`` returns a module implementing :class:`OpticalModel`; ``output`` is
    what its ``task_input`` gives the task ("detector": an intensity image read through detector
    regions or as a phase image; "logits": class scores of a digital head); ``section``: the model
    config section holding its options (``model.cnn``, ``model.mzi``; None: ``model.options``);
    ``reads``: the other config sections it reads besides model, input, data, task and train (e.g.
    ``("optics",)``); ``quantized(config)``: whether its phases are hard-quantized when
    ``quantization.method`` is not none; ``fabricated(config)``: whether it has a printed element
    (height maps, ``quaton export``); ``check(config)``: raises ValueError naming the keys when the
    config cannot build this kind; ``plausible(config)``: the first physically implausible setting
    for this kind (e.g. a D2NN gap too short for neurons to couple), as a message, or None;
    ``phase_mapping``: whether it honours ``model.phase_mapping: reflect`` (full-precision masks);
    ``memory``: its :class:`Memory` estimate (None: it has none, and the memory check says so
    instead of guessing).

    Training with a physical system (``quaton.train.dat``): ``physical`` says it can be trained
    against one (``physical.system``; it implements :class:`MeasurableModel`); ``system_loop`` that
    it trains through that loop even without one (an MZI mesh has no other trainer);
    ``system_camera`` that a camera (``hardware.readout``) may read the system's output; ``twin``
    names its parametric (calibrated) twin in ``quaton.systems.twins.TWINS`` (None: it cannot be
    calibrated); ``robust`` that robust training can draw errors into that twin; ``system_fields(config)``
    what a physical system's factory finds in ``design["model"]`` beside ``kind``.

    ``example``: config keys (nested, as in a YAML file) that make a small, fast config of this
    kind: what the contract suite (tests/contracts) builds and checks every registered kind with.
    """

    build: Builder
    output: Output
    section: str | None = None
    reads: tuple[str, ...] = ()
    quantized: Callable[[Config], bool] = lambda config: True
    fabricated: Callable[[Config], bool] = lambda config: False
    check: Callable[[Config], None] = lambda config: None
    memory: Memory | None = None
    plausible: Callable[[Config], str | None] = lambda config: None
    phase_mapping: bool = False
    physical: bool = False
    system_loop: bool = False
    system_camera: bool = False
    twin: str | None = None
    robust: bool = False
    system_fields: Callable[[Config], dict[str, Any]] = lambda config: {}
    example: Mapping[str, Any] = field(default_factory=dict)


MODELS: Registry[ModelKind] = Registry("model kind", "model.kind")


def register_model(
    name: str,
    *,
    output: Output,
    options: type[Options] | None = None,
    display: str | None = None,
    replace: bool = False,
    **capabilities: Any,
) -> Callable[[Builder], Builder]:
    """Decorator: register a builder ``(config, context) -> module`` as model kind ``name``, with its
    ``options`` model, ``display`` name and the capabilities of :class:`ModelKind` as keywords
    (``section``, ``reads``, ``quantized``, ``fabricated``, ``check``, ``memory``, ``physical``, ...);
    returns the builder unchanged. An unknown capability is a TypeError naming it."""
    if output not in ("detector", "logits"):
        raise ValueError(f"model kind {name!r}: output must be 'detector' or 'logits', not {output!r}")
    known = set(ModelKind.__dataclass_fields__) - {"build", "output"}
    unknown = sorted(set(capabilities) - known)
    if unknown:
        raise TypeError(f"model kind {name!r}: unknown capabilities {unknown}; known: {sorted(known)}")

    def add(build: Builder) -> Builder:
        kind = ModelKind(build=build, output=output, **capabilities)
        MODELS.register(name, kind, options=options, display=display, summary=docstring_summary(build), replace=replace)
        return build

    return add


def kind_of(config: Config) -> ModelKind:
    """The registered model kind of ``config`` (``model.kind``)."""
    return MODELS[config.model.kind]


def trains_with_system(config: Config) -> bool:
    """Whether ``config`` trains through the system loop (``quaton.train.dat``): with a physical
    system, or a kind that has no other trainer (``system_loop``)."""
    return config.physical.system is not None or kind_of(config).system_loop
