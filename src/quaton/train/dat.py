"""Training with a physical system: ideal deployment, physics-aware training (PAT) and dual adaptive
training (DAT, Zheng et al., Nat. Mach. Intell. 2023), for D2NNs and MZI networks.

The physical system is used only through its protocol (``load(params)``, ``measure(inputs)``;
see :mod:`quaton.systems.d2nn_twin`). Per training batch:

- ``ideal``: task loss on the ideal model; the system is not touched until deployment. With
  ``calibrate.enabled``: task loss on the calibrated model (below), in silico with the quantizers'
  training forms; the system is measured only to calibrate and to validate (model selection).
- ``pat``: the system is loaded with the current device parameters and measured; the task loss
  is computed on the measured output, its gradient taken through the ideal model (the measured
  output replaces the simulated one straight-through).
- ``dat``: (1) similarity step: the numerical model with one SEPN per measured plane,
  x_l ← x_l + SEPN_l(x_l), is compared with the measurements (relative MSE of the intensities at
  the output and, with ``dat.internal`` and a system that reports them, at every internal plane);
  only the SEPNs are updated (their own Adam, ``dat.lr``). (2) task step: the corrected model is
  run again with every measured state fused (measured amplitude, simulated phase, as the authors'
  code does), straight-through, so the task loss is that of the measured output while its gradient
  flows through the corrected model evaluated at the physical operating point; only the network
  parameters are updated. For the first ``dat.warmup_fraction`` of the epochs the SEPNs are
  trained but left out of the task forward pass (the authors: 20 of 50 epochs).
- ``calibrated``: ``dat`` through a calibrated twin: before training, a parametric model of the
  system (D2NN: shifts, rotations, distances, phase response, crosstalk, detector,
  :mod:`quaton.systems.calibrate`; MZI mesh: every coupler's split error and phase shifter's offset,
  :mod:`quaton.systems.calibrate_mzi`) is fitted to probe measurements (``calibrate.enabled`` does
  the same for ``ideal``, ``pat`` and ``dat``); the strategies then run through it, so the SEPNs
  learn only what it cannot explain.
  The fit, the truth when the system reports it (``true_parameters()``) and the measurement budget
  are written to ``calibration.json``.
- ``robust`` (D2NN): every batch runs through the parametric model with errors drawn afresh
  (:mod:`quaton.systems.robust`); like ``ideal``, the system is not touched until deployment.

The strategies that compare the model with measurements (pat, dat, calibrated) run it, ideal or
calibrated, at the quantized device's levels (hard phases in value, the training form's gradient):
the system is loaded with those levels, and early in PSQ the soft phases are far from them.

The camera: with a ``hardware.readout`` / ``hardware.distortion`` chain (D2NN), the system's output is
read through it (a noisy, low-precision camera: training noise in training, the reproducible
evaluation noise in every evaluation), so PAT and DAT train on, and every physical accuracy is
measured through, what the camera reports. Its full scale is set at the start of every epoch from
the ideal model's intensities (as for runs without a system), re-set every ``EXPOSURE_STEPS``
training steps (auto-exposure) and held through the epoch's validation. ``ideal``
and ``robust`` put the camera after the simulated output when ``train.hardware_aware`` (after
``train.ideal_epochs``); the validation and test accuracies on the model read through it too.

Model selection: ``train.validation_size`` training images are held out (10% by default); the
epoch with the best validation accuracy is kept: measured on the system for pat and dat and for
any strategy that calibrates (a system that can be calibrated can be measured), on the ideal model
for ideal and robust (an ideal deployment has no system to measure during training).
The test set is used once, at the end: ``test_accuracy`` is the kept parameters on the ideal
model, ``physical_test_accuracy`` the same parameters loaded into and measured on the system.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from quaton import quant
from quaton.builder import PreparedData, build_model, build_readout, build_task, split_validation
from quaton.config import Config
from quaton.errors import TrainingError
from quaton.evaluation import calibrate as set_full_scale
from quaton.export.design import design_description
from quaton.gradients import straight_through
from quaton.hardware import Readout
from quaton.models import kind_of
from quaton.models.protocol import MeasurableModel
from quaton.models.sepn import SEPN
from quaton.optics.elements import device_operating_point
from quaton.runs import CHECKPOINT, save_checkpoint, write_json
from quaton.systems.parametric import ParametricTwin
from quaton.systems.protocol import PhysicalSystem, load_system
from quaton.systems.twins import TWINS, TwinKind
from quaton.tasks import Classifier
from quaton.train import engine, rundir
from quaton.train.figures import plot_physical_history

SEPN_CLIP = 1.0  # gradient-norm clip of the SEPN step: a SEPN that jumps corrupts the task gradient it shapes
# Auto-exposure: training steps between re-settings of the camera's full scale. A network learning to
# focus light saturates a camera exposed for its random start within tens of steps (measured: 1 % of
# the pixels clipped at the first step, 29 % after 63), and a saturated read-out ties every class.
EXPOSURE_STEPS = 25


@dataclass
class Network:
    """A network as the strategies use it: the model's measurable planes
    (:class:`quaton.models.MeasurableModel`), through a parametric model of the system when there is
    one, and its camera. Any model kind that answers the protocol trains against a system."""

    config: Config
    model: nn.Module
    task: Classifier
    physics: ParametricTwin | None = None  # a calibrated (or randomised) system model; None: ideal
    camera: Readout | None = None  # the output camera's read-out chain; None: an ideal detector
    at_device: bool = True  # run at the quantized device's levels (strategies that measure)

    def __post_init__(self) -> None:
        if not isinstance(self.model, MeasurableModel):
            raise TrainingError(
                f"model.kind {self.config.model.kind!r} cannot train against a physical system: its model does not "
                "implement quaton.models.MeasurableModel (encode, plane_states, measured_planes, plane_shape, "
                "output_scores, device_params)"
            )
        self.measurable: MeasurableModel = self.model

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, s, s] -> input fields: complex [B, N, N] (D2NN) or [B, ports] (MZI)."""
        return self.measurable.encode(images)

    def states(
        self, fields: torch.Tensor, correction: list | None = None, replace: list | None = None, ideal: bool = False
    ) -> list[torch.Tensor]:
        """The complex fields at every measurable plane, the last one being the output; through
        ``physics`` when there is one (the device's phases, differentiable) unless ``ideal``."""
        if self.physics is not None and not ideal:
            return self.physics.run(self.model, fields, correction, replace, hard=self.at_device)
        with device_operating_point(self.model, self.at_device):
            return self.measurable.plane_states(fields, correction, replace)

    def observe(self, state: torch.Tensor) -> torch.Tensor:
        """What a detector reports of a state: its power |E|² (camera pixels, photodiodes per port)."""
        return state.real.square() + state.imag.square()

    def observed(self, states: list[torch.Tensor], ideal: bool = False) -> list[torch.Tensor]:
        """What the system's detectors report of each plane's state; the output through ``physics``'s
        detector (gain, offset) when there is one."""
        powers = [self.observe(state) for state in states]
        if self.physics is not None and not ideal:
            powers[-1] = self.physics.detect(powers[-1])
        return powers

    @staticmethod
    def amplitude(measured: torch.Tensor) -> torch.Tensor:
        """Amplitudes |E| of measured powers."""
        return measured.clamp_min(0).sqrt()

    def task_input(self, observed: torch.Tensor) -> torch.Tensor:
        """What the task reads of the output power: a detector image (D2NN), class scores (MZI)."""
        return self.measurable.output_scores(observed)

    @property
    def planes(self) -> int:
        """Measurable planes: a D2NN's L masks and detector, an MZI network's mesh outputs."""
        return self.measurable.measured_planes

    def sepn_shape(self) -> tuple[int, int]:
        return self.measurable.plane_shape

    @torch.no_grad()
    def device_params(self) -> list[Any]:
        """What the physical device is loaded with: hard-quantized phases (D2NN), phase-shifter values (MZI)."""
        was_training = self.model.training
        self.model.eval()
        params = self.measurable.device_params()
        self.model.train(was_training)
        return params


class CameraSystem:
    """A physical system whose output plane is read through a camera (a read-out chain): what
    training, calibration and evaluation measure. Everything else is the system's own."""

    def __init__(self, system: PhysicalSystem, camera: Readout) -> None:
        self.system, self.camera = system, camera

    def load(self, params: list[Any]) -> None:
        self.system.load(params)

    @torch.no_grad()
    def measure(self, inputs: torch.Tensor) -> dict[str, Any]:
        measurement = self.system.measure(inputs)
        if isinstance(measurement, dict) and "output" in measurement:
            output = torch.as_tensor(measurement["output"]).to(inputs.device).float()
            measurement = {**measurement, "output": self.camera(output)}
        return measurement

    def __getattr__(self, name: str) -> Any:  # true_parameters() and the like
        return getattr(self.__dict__["system"], name)


def design_for(config: Config) -> dict[str, Any]:
    """The description a physical system's factory receives (quaton-design v1, without layer files):
    a model read through a detector is described as a design file describes it, any other by its
    config; ``model`` holds the kind and what the kind adds (``system_fields``: an MZI mesh's ports)."""
    kind = kind_of(config)
    if kind.output == "detector":
        description = design_description(config, {}, config.regions())
    else:
        description = {
            "format": "quaton-design",
            "version": 1,
            "task": {"kind": config.task.kind},
            "training_config": config.model_dump(mode="json"),
        }
    description["model"] = {"kind": config.model.kind, **kind.system_fields(config)}
    return description


def twin_of(config: Config) -> TwinKind:
    """The parametric twin of ``config``'s model kind (``twin`` in its registration)."""
    name = kind_of(config).twin
    if name is None:
        raise TrainingError(f"model.kind {config.model.kind} has no parametric twin to calibrate or draw errors into")
    return TWINS[name]


def relative_mse(simulated: torch.Tensor, measured: torch.Tensor) -> torch.Tensor:
    """mean((s − m)²) / mean(m²): a similarity loss that does not depend on the intensity scale."""
    return (simulated - measured).square().mean() / measured.square().mean().clamp_min(1e-30)


def _fuser(network: Network, measured: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    def fuse(state: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            fused = torch.polar(network.amplitude(measured), torch.angle(state)).to(state.dtype)
        return straight_through(fused, state)

    return fuse


def _measured_planes(network: Network, measurement: dict[str, Any], use_internal: bool) -> list[torch.Tensor | None]:
    """Measurements aligned with the network's planes (None where the system measures nothing)."""
    planes = network.planes
    internal = list(measurement.get("internal") or []) if use_internal else []
    if internal and len(internal) != planes - 1:
        raise TrainingError(
            f"the physical system reported {len(internal)} internal measurements; "
            f"{planes - 1} (one per internal plane) or none expected"
        )
    aligned: list[torch.Tensor | None] = [None] * planes
    for index, value in enumerate(internal):
        aligned[index] = torch.as_tensor(value)
    aligned[-1] = torch.as_tensor(measurement["output"])
    return aligned


def _measure(system: PhysicalSystem, network: Network, fields: torch.Tensor) -> dict[str, Any]:
    measurement = system.measure(fields.detach())
    if not isinstance(measurement, dict) or "output" not in measurement:
        raise TrainingError("the physical system's measure(inputs) must return a dict with an 'output' entry")
    device = fields.device
    measurement["output"] = torch.as_tensor(measurement["output"]).to(device)
    if measurement.get("internal"):
        measurement["internal"] = [torch.as_tensor(v).to(device) for v in measurement["internal"]]
    return measurement


@torch.no_grad()
def accuracies(
    network: Network, system: PhysicalSystem | None, images: torch.Tensor, labels: torch.Tensor, batch: int
) -> dict[str, float]:
    """Accuracy of the current parameters on the ideal model and, given a system, measured on it."""
    was_training = network.model.training
    network.model.eval()
    camera = network.camera
    if camera is not None:
        camera_was_training = camera.training
        camera.eval()
        camera.reseed()  # every evaluation reads the same camera noise
    device = next(network.model.parameters()).device
    if system is not None:
        system.load(network.device_params())
    correct = {"ideal": 0, "physical": 0}
    for start in range(0, len(images), batch):
        x, y = images[start : start + batch].to(device), labels[start : start + batch].to(device)
        fields = network.encode(x)
        observed = network.observe(network.states(fields, ideal=True)[-1])
        if camera is not None:
            observed = camera(observed)
        correct["ideal"] += int((network.task.predict(network.task_input(observed)) == y).sum())
        if system is not None:
            measured = _measure(system, network, fields)["output"]
            correct["physical"] += int((network.task.predict(network.task_input(measured)) == y).sum())
    network.model.train(was_training)
    if camera is not None:
        camera.train(camera_was_training)
    result = {"accuracy": correct["ideal"] / len(images)}
    if system is not None:
        result["physical_accuracy"] = correct["physical"] / len(images)
    return result


def _schedulers(
    config: Config, optimizers: Sequence[torch.optim.Optimizer]
) -> list[torch.optim.lr_scheduler.LRScheduler]:
    if config.train.schedule_step:
        return [torch.optim.lr_scheduler.StepLR(o, step_size=config.train.schedule_step, gamma=0.5) for o in optimizers]
    if config.train.scheduler == "cosine":
        return [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=max(1, config.train.epochs)) for o in optimizers]
    return [torch.optim.lr_scheduler.LambdaLR(o, lambda epoch: 1.0) for o in optimizers]


def _calibrate(
    config: Config, network: Network, system: PhysicalSystem | None, data: PreparedData, device: torch.device
) -> dict[str, Any]:
    """Fit ``network.physics`` to the system (``calibrate:``); the report for calibration.json."""
    if system is None:
        raise TrainingError("calibration measures a physical system: set physical.system")
    settings = config.calibrate
    count = min(settings.inputs, len(data.x_train))
    fields = network.encode(data.x_train[:count].to(device))
    physics = network.physics
    if physics is None:
        raise TrainingError("calibration fits a parametric model of the system; this network has none")
    fit: Any = {"groups": settings.fit, "probes": settings.probes, "steps": settings.steps, "lr": settings.lr}
    camera = network.camera
    saturation = float(camera.full_scale) if camera is not None else None  # the camera clips there
    result = twin_of(config).fit(system, physics, network.model, fields, seed=config.seed, saturation=saturation, **fit)
    for p in cast(nn.Module, physics).parameters():
        p.requires_grad_(False)
    reported = getattr(system, "true_parameters", None)  # a twin reports its truth; a lab system does not
    truth = reported() if callable(reported) else None
    return result.report(truth)


class SystemTraining:
    """The strategies against a physical system (``train.strategy``; see the module doc): held-out
    validation images, the epoch with the best validation accuracy kept, the test set used once."""

    resume_key = "optimizers"

    def __init__(self, config: Config, data: PreparedData, device: torch.device, rank: int, world: int) -> None:
        self.config, self.device, self.strategy = config, device, config.train.strategy
        self.label = f"{self.strategy} "
        self.data, self.x_val, self.y_val = split_validation(config, data)
        self.model = build_model(config).to(device)
        task = build_task(config, len(data.classes)).to(device)
        if not isinstance(task, Classifier):
            raise TrainingError(f"training against a physical system classifies: task.kind {config.task.kind!r}")
        self.task = task
        self.readout = build_readout(config).to(device)
        self.readout.seed_training(config.seed)  # fresh camera noise at every training read-out
        self.network = Network(config, self.model, self.task, camera=None if self.readout.ideal else self.readout)
        self.design = design_for(config)
        self.system = self._system()
        self.measures = self.strategy not in ("ideal", "robust")  # the system is measured in training
        self.uses_sepns = self.strategy in ("dat", "calibrated")
        self.calibrating = self.strategy == "calibrated" or (
            config.calibrate.enabled and self.strategy in ("ideal", "pat", "dat")
        )
        self.network.at_device = self.measures
        self.sepns = self._sepns() if self.uses_sepns else None
        self.robust_draws = torch.Generator().manual_seed(config.seed + 15485863)
        if self.calibrating or self.strategy == "robust":
            self.network.physics = self._physics().to(device)
            for p in self.network.physics.parameters():
                p.requires_grad_(False)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizers = [torch.optim.Adam(trainable, lr=config.train.lr)]
        if self.sepns is not None:
            self.optimizers.append(torch.optim.Adam(self.sepns.parameters(), lr=config.dat.lr))
        self.optimizer = self.optimizers[0]
        self.schedulers = _schedulers(config, self.optimizers)
        self.calibration: dict[str, Any] | None = None
        self.warmup = round(config.dat.warmup_fraction * config.train.epochs)
        measured = self.system is not None and (self.measures or self.calibrating)
        self.selection = "val_physical_accuracy" if measured else "val_accuracy"
        self.similarity = 0.0
        self.steps = 0  # training steps this epoch (auto-exposure)

    def _system(self) -> PhysicalSystem | None:
        physical = self.config.physical
        if not physical.system:
            return None
        system = load_system(physical.system, self.design, physical.options)
        if self.network.camera is not None:
            system = CameraSystem(system, self.readout)
            set_full_scale(self.config, self.model, self.readout, self.data.x_train)  # before calibration reads it
        return system

    def _physics(self) -> ParametricTwin:
        """The parametric model of the system: the model kind's twin (a D2NN's misalignment model, an
        MZI mesh's error model), without errors."""
        return twin_of(self.config).model(self.design)

    def _sepns(self) -> nn.ModuleList:
        shape, dat = self.network.sepn_shape(), self.config.dat
        return nn.ModuleList(
            SEPN(shape, cast(tuple[int, int, int], tuple(dat.features)), dat.convs) for _ in range(self.network.planes)
        ).to(self.device)

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        physics = self.network.physics
        if physics is not None and state.get("physics"):
            physics.load_state_dict(state["physics"])
            self.calibration = state.get("calibration")
            if self.strategy == "robust":
                rundir.restore_rng(state["robust_rng"], self.robust_draws)
        if self.sepns is not None:
            self.sepns.load_state_dict(state["sepns"])
        for optimizer, saved in zip(self.optimizers, state["optimizers"]):
            optimizer.load_state_dict(saved)
        for scheduler, saved in zip(self.schedulers, state["schedulers"]):
            scheduler.load_state_dict(saved)
        if "readout" in state:
            self.readout.load_state_dict(state["readout"])
            self.readout.set_noise_state(state["rng"]["readout"])

    def begin(self, run_dir: Path) -> None:
        if self.calibrating and self.calibration is None:
            self.calibration = _calibrate(self.config, self.network, self.system, self.data, self.device)
            write_json(run_dir / "calibration.json", self.calibration)

    def begin_epoch(self, epoch: int) -> None:
        if self.network.camera is not None:  # held through the epoch and its validation
            set_full_scale(self.config, self.model, self.readout, self.data.x_train)
        self.model.train()
        self.readout.train()
        self.similarity = 0.0
        self.steps = 0

    def _similarity_step(self, fields: torch.Tensor, measured: list[torch.Tensor | None]) -> float:
        """``dat.sepn_steps`` updates of the SEPNs towards the measurements; the last similarity loss."""
        assert self.sepns is not None
        for _ in range(self.config.dat.sepn_steps):
            states = self.network.states(fields, correction=list(self.sepns))
            observed = self.network.observed(states)
            similarity = torch.stack([relative_mse(o, m) for o, m in zip(observed, measured) if m is not None]).sum()
            self.optimizers[1].zero_grad(set_to_none=True)
            similarity.backward()
            nn.utils.clip_grad_norm_(self.sepns.parameters(), SEPN_CLIP)
            self.optimizers[1].step()
        return float(similarity.detach())

    def loss(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> torch.Tensor:
        network, config = self.network, self.config
        if network.camera is not None and self.steps and self.steps % EXPOSURE_STEPS == 0:
            set_full_scale(config, self.model, self.readout, self.data.x_train)  # auto-exposure
        self.steps += 1
        fields = network.encode(x)
        replace = None
        if self.strategy == "robust":  # the config allows robust only for a twin that draws errors
            cast(Callable, twin_of(config).draw)(network.physics, config.robust, self.robust_draws)
        measured: list[torch.Tensor | None] = []
        if self.measures:
            if self.system is None:
                raise TrainingError(f"train.strategy {self.strategy} measures a physical system: set physical.system")
            self.system.load(network.device_params())
            measurement = _measure(self.system, network, fields)
            measured = _measured_planes(network, measurement, self.uses_sepns and config.dat.internal)
        if self.sepns is not None:
            self.similarity += self._similarity_step(fields, measured) * len(x)
            replace = [_fuser(network, m) if m is not None else (lambda s: s) for m in measured]
        correction = list(self.sepns) if self.sepns is not None and epoch > self.warmup else None
        states = network.states(fields, correction=correction, replace=replace)
        observed = network.observed(states[-1:])[-1]
        aware = config.train.hardware_aware and epoch > config.train.ideal_epochs
        if self.strategy == "pat" and measured[-1] is not None:
            observed = straight_through(measured[-1], observed)
        elif not self.measures and network.camera is not None and aware:
            observed = network.camera(observed)
        return self.task.loss(network.task_input(observed), y) + quant.regularization(self.model).to(x.device)

    def state(self) -> dict[str, Any]:
        physics = self.network.physics
        return {
            "model": self.model.state_dict(),
            "sepns": self.sepns.state_dict() if self.sepns is not None else {},
            "optimizers": [o.state_dict() for o in self.optimizers],
            "schedulers": [s.state_dict() for s in self.schedulers],
            "rng": {"readout": self.readout.noise_state()},
            "readout": self.readout.state_dict(),
            "physics": physics.state_dict() if physics is not None else {},
            "calibration": self.calibration,
            "robust_rng": rundir.rng_state(self.robust_draws),
        }

    def measure(self, epoch: int, samples: int) -> dict[str, Any]:
        validation = accuracies(self.network, self.system, self.x_val, self.y_val, self.config.train.eval_batch_size)
        record = {f"val_{k}": v for k, v in validation.items()}
        if self.sepns is not None:
            record["similarity_loss"] = self.similarity / max(samples, 1)
        return record

    def describe(self, record: dict[str, Any]) -> str:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in record.items() if k.startswith("val_"))
        return f"epoch {record['epoch']}: task loss {record['train_loss']:.4f}, {shown}"

    def finish(self, run_dir: Path, checkpoint: dict[str, Any] | None, best: dict[str, Any]) -> dict[str, Any]:
        config, system = self.config, self.system
        if self.network.camera is not None and checkpoint is None:  # no epoch set the camera's full scale
            set_full_scale(config, self.model, self.readout, self.data.x_train)
        final = accuracies(self.network, system, self.data.x_test, self.data.y_test, config.train.eval_batch_size)
        metrics: dict[str, Any] = {
            "test_accuracy": final["accuracy"],
            **({"physical_test_accuracy": final["physical_accuracy"]} if system is not None else {}),
            "primary_metric": "physical_test_accuracy" if system is not None else "test_accuracy",
            "strategy": self.strategy,
            "selected_epoch": best.get("epoch", 0),
            "selected_by": self.selection,
            "val_score": best.get("score"),
            "validation_size": len(self.x_val),
        }
        if self.calibration is not None:
            metrics["calibration_measurements"] = self.calibration["budget"]["fields_measured"]
            metrics["calibration_relative_mse"] = self.calibration["relative_mse"]["calibrated_model"]
        if self.sepns is not None:
            metrics["sepn_parameters"] = sum(p.numel() for p in self.sepns[0].parameters())
        if checkpoint is not None:  # the kept (selected) parameters become the checkpoint's model, for eval and export
            save_checkpoint(run_dir / CHECKPOINT, {**checkpoint, "model": self.model.state_dict()})
        return metrics

    def figures(self, run_dir: Path, metrics: dict[str, Any], history: list[dict[str, Any]]) -> None:
        plot_physical_history(history, run_dir / "figures" / "history.png")


def train_with_system(
    config: Config,
    run_dir: Path,
    data: PreparedData | None = None,
    resume: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train a D2NN or MZI network with ``train.strategy`` against ``physical.system`` (see the module
    doc), in one process; the run lifecycle is :func:`quaton.train.engine.run`'s.

    ``on_epoch`` gets each epoch's history record (``val_*`` on the held-out training images) after
    its checkpoint is written."""
    return engine.run(config, Path(run_dir), SystemTraining, data, resume, on_epoch, world_allowed=False)
