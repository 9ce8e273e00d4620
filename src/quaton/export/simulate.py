"""Re-evaluating an exported design on a dataset, as designed and under perturbations.

The device is evaluated as it was trained and evaluated: hard phases, the run's read-out chain
(hardware.readout, hardware.distortion of the training config, noise seeded by hardware.seed) with
the full scale calibrated at the end of training, and the modulator's phase response.

Perturbations (``NAME=VALUE``), each evaluated on its own, each with a physical range that is
checked before any work (see :data:`PERTURBATIONS`):

- ``phase_noise=σ`` (rad, 0 ≤ σ ≤ 2π): Gaussian phase error of standard deviation σ, drawn
  independently for every pixel of every layer; random, so evaluated over ``draws`` draws;
- ``height_error=e`` (relative, −1 < e ≤ 1): every printed height, hence every phase, of every
  layer scaled by (1 + e);
- ``shift=k`` or ``shift=L:k`` (pixels, integer, 0 ≤ k < N): every layer (or layer L, counted from
  1) moved k pixels along +x; the vacated pixels get phase 0;
- ``etch_depth=σ`` (relative, 0 ≤ σ ≤ 1): for layers of 2^k circular levels made by k binary-optics
  etch steps (quaton.export.gds), each step's depth off by a Gaussian relative error of standard
  deviation σ, independent per step and per layer; random, so evaluated over ``draws`` draws. The
  masks are those of the design's GDS polarity (design.json ``gds.polarity``; "etched" when the design
  was exported without GDS): an etched plate's region of open masks b_j has the phase
  −Σ_j b_j·(2π/2^j)·(1 + e_j), b_j the bits of the etched level (−L) mod 2^k;
- ``mask_overlay=σ`` (pixels, a fraction of the pitch, 0 ≤ σ ≤ 1): for the same binary-optics
  layers, each mask j ≥ 2 misaligned to mask j − 1 by a Gaussian offset of standard deviation σ
  pixels along x and along y (independent per step and per layer; mask 1 defines the layer's place,
  so a 2-level layer is unaffected). Slivers of wrong levels appear at level edges; each pixel's
  transmission is the area average of exp(iφ) over the rectangles its shifted masks cut it into
  (:func:`quaton.export.gds.fabricated_regions`): light in the slivers' sub-pixel detail, which the
  design grid cannot carry, is lost from the pixel's mean (|t| < 1). Random, over ``draws`` draws;
- ``distance_error=e`` (relative, −1 < e ≤ 1): every one of the L + 1 distances (input → layer 1,
  …, layer L → detector) scaled by the same factor (1 + e).

Perturbations are joined with commas to act together in one simulation, e.g.
``etch_depth=0.05,mask_overlay=0.2`` (each name at most once): per layer the fabrication errors
(etch depths, then overlay offsets) are drawn first, then phase_noise, height_error, shift and
distance_error act on the fabricated phases, in that order.

Random perturbations use draw d's generator ``numpy.random.default_rng([seed, d])``, d = 0…draws−1.

Another wavelength (``--set optics.wavelength=…``, the wavelength in the medium) propagates the light
at that wavelength through layers that keep their phases in radians: a re-programmed SLM (a phase
modulator driven for the new wavelength), not a fixed printed or etched element, whose height h has
the phase 2π(n(λ) − n₀)h/λ₀ at every wavelength (dispersion and the λ-scaling of a fixed relief are
not modelled). The simulation says so in its ``notes``.
Each simulation is kept: ``simulations/<id>/simulation.json`` and ``report.html``, listed in
``simulations/index.json``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from quaton import runs
from quaton.builder import build_readout, build_task, prepare_data
from quaton.config import Config, build_config
from quaton.errors import QuatonError
from quaton.evaluation import calibrate, evaluate
from quaton.export.design import Design, DesignError, design_config, load
from quaton.optics import PhaseMask, wrap_phase
from quaton.report import simulation_report


@dataclass(frozen=True)
class Perturbation:
    """One kind of perturbation: its unit, physical range, and what it does (for output and report)."""

    name: str
    unit: str
    low: float
    high: float
    low_inclusive: bool
    random: bool
    meaning: str  # formatted with {value}

    def range_text(self, grid: int | None = None) -> str:
        high = f"{grid}" if self.name == "shift" and grid else f"{self.high:g}" if self.high != 2 * math.pi else "2π"
        low_sign = "≤" if self.low_inclusive else "<"
        high_sign = "<" if self.name == "shift" else "≤"
        return f"{self.low:g} {low_sign} value {high_sign} {high} ({self.unit})"


PERTURBATIONS: dict[str, Perturbation] = {
    p.name: p
    for p in [
        Perturbation(
            "phase_noise",
            "rad, standard deviation",
            0.0,
            2 * math.pi,
            True,
            True,
            "Gaussian phase error, σ = {value} rad, drawn independently for every pixel of every layer",
        ),
        Perturbation(
            "height_error",
            "relative, a fraction",
            -1.0,
            1.0,
            False,
            False,
            "every printed height (hence phase) of every layer scaled by (1 + {value})",
        ),
        Perturbation(
            "shift",
            "pixels",
            0.0,
            math.inf,
            True,
            False,
            "{layers} moved {value} px along +x, vacated pixels at phase 0",
        ),
        Perturbation(
            "etch_depth",
            "relative, a fraction (standard deviation)",
            0.0,
            1.0,
            True,
            True,
            "binary-optics etch steps: each step's depth (mask j: phase 2π/2^j) off by a Gaussian relative error "
            "of σ = {value}, drawn independently per step and per layer (layers of 2^k circular levels)",
        ),
        Perturbation(
            "mask_overlay",
            "pixels, a fraction of the pitch (standard deviation)",
            0.0,
            1.0,
            True,
            True,
            "binary-optics masks: each mask j ≥ 2 misaligned to mask j − 1 by a Gaussian offset of σ = {value} px "
            "along x and y, drawn independently per step and per layer (layers of 2^k circular levels); "
            "pixel transmission = area average of exp(iφ) over the slivers",
        ),
        Perturbation(
            "distance_error",
            "relative, a fraction",
            -1.0,
            1.0,
            False,
            False,
            "every distance (all {gaps} gaps: input → layer 1 … layer L → detector) scaled by (1 + {value})",
        ),
    ]
}


@dataclass(frozen=True)
class Request:
    """A validated perturbation: ``value`` in its unit, ``layer`` (0-based) for a one-layer shift."""

    name: str
    text: str
    value: float
    layer: int | None = None

    @property
    def spec(self) -> Perturbation:
        return PERTURBATIONS[self.name]

    def describe(self, design: Design) -> str:
        layers = len(design.description["layers"])
        which = f"layer {self.layer + 1}" if self.layer is not None else f"every layer (all {layers})"
        value = int(self.value) if self.name == "shift" else self.value
        return self.spec.meaning.format(value=value, layers=which, gaps=layers + 1)


def parse_perturbation(text: str, grid: int | None = None, layers: int | None = None) -> Request:
    """'distance_error=0.02' -> a Request, or one DesignError naming the perturbation, its unit and range."""
    if "=" not in text:
        raise DesignError(f"perturbation {text!r}: expected NAME=VALUE with NAME one of {tuple(PERTURBATIONS)}")
    name, raw = (part.strip() for part in text.split("=", 1))
    if name not in PERTURBATIONS:
        raise DesignError(f"unknown perturbation {name!r}; choose one of {tuple(PERTURBATIONS)}")
    spec = PERTURBATIONS[name]
    layer = None
    if name == "shift":
        layer_text, _, raw = raw.rpartition(":")
        if layer_text:
            try:
                layer = int(layer_text) - 1
            except ValueError:
                raise DesignError(
                    f"perturbation shift={layer_text}:{raw}: the layer must be a whole number, e.g. shift=2:3"
                ) from None
            if layer < 0 or (layers is not None and layer >= layers):
                raise DesignError(
                    f"perturbation shift={layer_text}:{raw}: layer {layer_text} does not exist (layers 1 to {layers})"
                )
    try:
        value = int(raw) if name == "shift" else float(raw)
    except ValueError:
        kind = "a whole number of pixels" if name == "shift" else "a number"
        raise DesignError(f"perturbation {name}={raw}: the value must be {kind} ({spec.range_text(grid)})") from None
    high = grid if (name == "shift" and grid) else spec.high
    below = value < spec.low if spec.low_inclusive else value <= spec.low
    above = value >= high if name == "shift" else value > high
    if not math.isfinite(value) or below or above:
        raise DesignError(f"perturbation {name}={raw} is outside its physical range: {spec.range_text(grid)}")
    return Request(name, text.strip(), float(value), layer)


FABRICATION = ("etch_depth", "mask_overlay")  # perturbations of the binary-optics steps (2^k-level layers)
ORDER = ("etch_depth", "mask_overlay", "phase_noise", "height_error", "shift", "distance_error")  # as applied together


def parse_combination(text: str, grid: int | None = None, layers: int | None = None) -> tuple[Request, ...]:
    """'etch_depth=0.05,mask_overlay=0.2' -> the Requests that act together (one for a single NAME=VALUE),
    or one DesignError (a malformed part, a name twice)."""
    parts = text.split(",")
    if any(not part.strip() for part in parts):
        raise DesignError(f"perturbation {text!r}: join perturbations as NAME=VALUE,NAME=VALUE without empty parts")
    requests = tuple(parse_perturbation(part, grid, layers) for part in parts)
    names = [r.name for r in requests]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DesignError(
            f"perturbation {text!r} names {twice} more than once; give each perturbation once per combination"
        )
    return requests


def gds_polarity(design: Design) -> str:
    """The polarity of the binary-optics masks whose fabrication errors are simulated: the one the design's
    GDS was written with (a design written with GDS masks before polarities were stated holds relief masks),
    else the default GDS, an etched plate."""
    from quaton.export.gds import DEFAULT_POLARITY

    gds = design.description.get("gds")
    if not isinstance(gds, dict):
        return DEFAULT_POLARITY
    return str(gds.get("polarity", "relief"))


def check_binary_optics(design: Design, requests: tuple[Request, ...]) -> list[int]:
    """k per layer when ``requests`` perturb binary-optics steps (etch_depth, mask_overlay); a
    DesignError naming the perturbation when a layer is not made of 2^k circular levels."""
    from quaton.export.gds import check_gds, check_polarity

    fabrication = [r.name for r in requests if r.name in FABRICATION]
    if not fabrication:
        return []
    try:
        check_polarity(gds_polarity(design))
        return check_gds(design.description["layers"])
    except QuatonError as error:
        raise DesignError(f"perturbation {'+'.join(fabrication)}: {error}") from None


def at_wavelength(design: Design, wavelength: float) -> Design:
    """``design`` with the light at ``wavelength`` (m, in the medium) and every layer's phase kept in
    radians: a re-programmed SLM, not a fixed element (whose phase 2π(n(λ) − n₀)h/λ₀ would change)."""
    description = copy.deepcopy(design.description)
    description["wavelength"] = wavelength
    return Design(description, [p.numpy() for p in design.phases()])


def wavelength_note(design_wavelength: float, wavelength: float) -> str:
    """What evaluating a design at another wavelength models, for the output and simulation.json."""
    return (
        f"optics.wavelength {wavelength:.4g} m is not the design's {design_wavelength:.4g} m: the light propagates "
        "at the new wavelength through layers that keep their phases in radians, as a re-programmed SLM would; "
        "a fixed (printed or etched) element is not modelled: its height h gives the phase "
        "2π(n(λ) − n₀)h/λ₀, which changes with the wavelength (dispersion)"
    )


class AreaAveragedMask(PhaseMask):
    """A fabricated layer whose pixels hold slivers of different phases (misaligned masks): pixel
    transmission t = Σ_r w_r·exp(i·response(φ_r)), the area average of the transmission over the pixel.

    ``weights`` float64 [R]: area fraction of sliver r (the same in every pixel, summing to 1);
    ``phases`` float [R, N, N] (rad): the phase of sliver r in every pixel. A pixel whose slivers all
    have one phase transmits exactly exp(i·response(φ)), as a :class:`PhaseMask` of that phase would.
    """

    # buffers: each sliver's area fraction float64 [R], its phase float32 [R, N, N] (rad)
    weights: torch.Tensor
    region_phases: torch.Tensor

    def __init__(self, weights: np.ndarray, phases: np.ndarray) -> None:
        super().__init__(tuple(phases.shape[1:]), init="zeros")
        wrapped = np.mod(np.asarray(phases, dtype=np.float64), 2 * np.pi).astype(np.float32)
        with torch.no_grad():
            self.raw.copy_(torch.from_numpy(wrapped[int(np.argmax(weights))]))
        self.register_buffer("weights", torch.as_tensor(np.asarray(weights, dtype=np.float64)))
        self.register_buffer("region_phases", torch.from_numpy(wrapped))
        self.requires_grad_(False)

    def _average(self, response: bool, dtype: torch.dtype) -> torch.Tensor:
        real = torch.float64 if dtype == torch.complex128 else torch.float32
        phases = wrap_phase(self.region_phases)
        if response and self.response is not None:
            phases = self.response(phases)
        phases = phases.to(real)
        slivers = torch.polar(torch.ones_like(phases), phases)  # [R, N, N]
        average = (self.weights[:, None, None] * slivers.to(torch.complex128)).sum(dim=0).to(slivers.dtype)
        uniform = (phases == phases[:1]).all(dim=0)
        return torch.where(uniform, slivers[0], average).to(dtype)

    def transmission(self, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
        """Σ_r w_r·exp(i·response(φ_r)), complex [N, N]; |t| < 1 where a pixel holds slivers of different phases."""
        return self._average(True, dtype)

    def phase(self) -> torch.Tensor:
        """The phase of the area-averaged transmission (without the modulator response), float [N, N] in [0, 2π)."""
        return wrap_phase(torch.angle(self._average(False, torch.complex128))).float()


def perturbed(
    design: Design, request: Request | tuple[Request, ...] | str, value: str | None = None, seed: int = 0, draw: int = 0
) -> Design:
    """A copy of ``design`` with perturbations applied: a Request, Requests acting together, or the text
    (``request`` 'NAME=VALUE[,NAME=VALUE]' or a NAME with its ``value``). Draw ``draw`` of the random ones
    uses ``numpy.random.default_rng([seed, draw])``; see the module's docstring for the order."""
    from quaton.export.gds import fabricated_regions, level_map

    layers = len(design.description["layers"])
    polarity = gds_polarity(design)
    if isinstance(request, Request):
        requests: tuple[Request, ...] = (request,)
    elif isinstance(request, tuple):
        requests = request
    else:
        requests = parse_combination(request if value is None else f"{request}={value}", design.grid, layers)
    given = {r.name: r for r in requests}
    description = copy.deepcopy(design.description)
    rng = np.random.default_rng([seed, draw])
    # every layer as slivers: area fractions [R] and phases [R, N, N]; an unperturbed layer is one sliver
    regions = [(np.ones(1), p.double().numpy()[None]) for p in design.phases()]
    ks = check_binary_optics(design, requests)
    for t, k in enumerate(ks):
        errors = rng.normal(0.0, given["etch_depth"].value, k) if "etch_depth" in given else None
        offsets = None
        if "mask_overlay" in given:  # mask j ≥ 2 misaligned to mask j − 1: the offsets add up from mask 1
            steps = rng.normal(0.0, given["mask_overlay"].value, (k - 1, 2))
            offsets = np.concatenate([np.zeros((1, 2)), np.cumsum(steps, axis=0)])
        regions[t] = fabricated_regions(
            level_map(regions[t][1][0], description["layers"][t]["levels"]), k, offsets, errors, polarity
        )
    if "phase_noise" in given:
        regions = [(w, p + rng.normal(0.0, given["phase_noise"].value, p.shape[1:])) for w, p in regions]
    if "height_error" in given:
        regions = [(w, p * (1.0 + given["height_error"].value)) for w, p in regions]
    if "shift" in given:
        request_shift = given["shift"]
        k = int(request_shift.value)
        for t in [request_shift.layer] if request_shift.layer is not None else range(layers):
            weights, phases = regions[t]
            shifted = np.zeros_like(phases)
            shifted[:, :, k:] = phases[:, :, : phases.shape[2] - k]
            regions[t] = (weights, shifted)
    if "distance_error" in given:
        description["distances"] = [d * (1.0 + given["distance_error"].value) for d in description["distances"]]
    result = Design(description, [np.mod(p[0], 2 * np.pi).astype(np.float32) for _, p in regions])
    for t, (weights, phases) in enumerate(regions):
        if len(weights) > 1:
            result.network.masks[t] = AreaAveragedMask(weights, phases)
    return result


def _summary(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
    }


def _task_and_readout(design: Design, config: Config, data: Any) -> tuple[Any, Any]:
    """The design's task (with its stored output gain and black level) and read-out chain (with its
    stored full scale, or calibrated as training did for a design exported before it was stored)."""
    task = build_task(config, len(data.classes) or 10)
    # a task with a trained output (phase imaging: gain and black level) has it in design.json's output
    output = design.description.get("output", {})
    state = task.state_dict()
    stored = {"log_gain": float(np.log(output["gain"])) if "gain" in output else None}
    stored["black_level"] = output.get("black_level")
    updates = {
        key: torch.full_like(state[key], value) for key, value in stored.items() if key in state and value is not None
    }
    if updates:
        task.load_state_dict({**state, **updates})
    readout = build_readout(config)
    full_scale = design.description.get("hardware", {}).get("full_scale")
    if full_scale is not None:
        # a buffer of Readout (register_buffer), not declared for the type checker in quaton.hardware.readout
        readout.full_scale.fill_(float(full_scale))
    else:  # a design exported before the full scale was stored: calibrate as training did
        calibrate(config, design.network, readout, data.x_train)
    return task, readout


def _perturbed_row(
    design: Design, combination: tuple[Request, ...], metrics_of: Any, seed: int, draws: int, primary: str
) -> dict[str, Any]:
    """The result row of one perturbation (or combination): metrics averaged over ``draws`` random draws."""
    random = any(r.spec.random for r in combination)
    count = draws if random else 1
    runs = [metrics_of(perturbed(design, combination, seed=seed, draw=d)) for d in range(count)]
    label = ",".join(r.text for r in combination)
    single = len(combination) == 1
    row: dict[str, Any] = {
        "perturbation": combination[0].name if single else "combined",
        "value": combination[0].text.split("=", 1)[1].strip() if single else label,
        "unit": combination[0].spec.unit if single else "; ".join(f"{r.name}: {r.spec.unit}" for r in combination),
        "what": "; ".join(r.describe(design) for r in combination),
        "label": label,
        "draws": count,
        **{k: float(np.mean([r[k] for r in runs])) for k in runs[0]},
    }
    if random:
        row["seed"] = seed
        row[f"{primary}_over_draws"] = _summary([r[primary] for r in runs])
        row["per_draw"] = runs
    return row


def simulate(
    design_dir: str | Path,
    perturbations: list[str] | None = None,
    overrides: list[str] | None = None,
    seed: int = 0,
    draws: int = 1,
) -> dict[str, Any]:
    """Metrics of a design on its stored test set (``overrides`` change the data, hardware or wavelength,
    e.g. data.test_size=500), as designed and under each perturbation; random perturbations over
    ``draws`` Monte-Carlo draws. Every perturbation is checked before any work. Another
    optics.wavelength keeps every layer's phase in radians (a re-programmed SLM, not a fixed element;
    said in the result's ``notes``)."""
    if draws < 1:
        raise DesignError(f"draws must be at least 1, got {draws}")
    if seed < 0:
        raise DesignError(f"seed must be a non-negative integer, got {seed}")
    design = load(design_dir)
    layers = len(design.description["layers"])
    requests = [parse_combination(text, design.grid, layers) for text in perturbations or []]
    for combination in requests:
        check_binary_optics(design, combination)
    config = design_config(design)
    if overrides:
        config = build_config(config.model_dump(mode="json"), overrides)
    notes = []
    if not math.isclose(config.optics.wavelength, design.description["wavelength"], rel_tol=1e-12):
        notes.append(wavelength_note(design.description["wavelength"], config.optics.wavelength))
        design = at_wavelength(design, config.optics.wavelength)
    data = prepare_data(config)
    task, readout = _task_and_readout(design, config, data)

    def metrics_of(candidate: Design) -> dict[str, Any]:
        metrics = evaluate(config, candidate.network, task, data.x_test, data.y_test, readout)
        return {k: v for k, v in metrics.items() if k != "confusion"}

    primary = task.primary_metric
    results = [
        {
            "perturbation": "none",
            "value": "",
            "unit": "",
            "what": "the design as exported",
            "label": "none",
            "draws": 1,
            **metrics_of(design),
        }
    ]
    results.extend(_perturbed_row(design, c, metrics_of, seed, draws, primary) for c in requests)
    hardware = design.description.get("hardware")
    return {
        "design": str(design_dir),
        "dataset": config.data.dataset,
        "test_size": len(data.x_test),
        "primary_metric": primary,
        "seed": seed,
        "draws": draws,
        "random_draws": "numpy.random.default_rng([seed, draw]), draw = 0 … draws − 1",
        "hardware": "as trained: read-out chain and modulator response of the run"
        if hardware
        else "ideal read-out (design without a hardware section)",
        "overrides": list(overrides or []),
        "notes": notes,
        "results": results,
    }


def result_line(row: dict[str, Any], primary: str) -> str:
    """One line of output for a result row, with units, draws and what was perturbed."""
    if row["perturbation"] == "none":
        return f"{'as designed':>28}: {primary} {row[primary]:.4f}"
    label = row.get("label", f"{row['perturbation']}={row['value']}")
    text = f"{label:>28}: {primary} {row[primary]:.4f}"
    spread = row.get(f"{primary}_over_draws")
    if spread is not None:
        text += (
            f" ± {spread['std']:.4f} (min {spread['min']:.4f}, max {spread['max']:.4f}; "
            f"{row['draws']} draws, seed {row['seed']})"
        )
    return f"{text}  [{row['unit']}: {row['what']}]"


def save_simulation(result: dict[str, Any], design_dir: str | Path, out: str | Path | None = None) -> Path:
    """Keep one simulation: ``<out>/<id>/simulation.json`` and ``report.html``, listed in
    ``<out>/index.json`` (default out: DESIGN_DIR/simulations). Earlier simulations are never overwritten."""
    root = Path(out) if out is not None else Path(design_dir) / "simulations"
    request = json.dumps(
        {k: result[k] for k in ("seed", "draws", "overrides")}
        | {"perturbations": [r["label"] for r in result["results"]]},
        sort_keys=True,
    )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    base = f"{stamp}-{hashlib.sha256(request.encode()).hexdigest()[:8]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        name, counter = base, 1
        while True:
            try:
                (root / name).mkdir()
                break
            except FileExistsError:
                counter += 1
                name = f"{base}-{counter}"
    except OSError as error:
        raise DesignError(
            f"cannot create the simulation directory under {root}: {error.strerror or error}; choose another --out"
        ) from None
    target = root / name
    result = {"id": name, "created": stamp, **result}
    runs.write_json(target / "simulation.json", result)
    simulation_report(Path(design_dir), target, result)
    index_path = root / "index.json"
    try:
        index = json.loads(index_path.read_text()) if index_path.is_file() else []
    except (json.JSONDecodeError, UnicodeDecodeError):
        index = []  # a damaged index is rebuilt from what is listed now on; the simulations themselves stay
    if not isinstance(index, list):
        index = []
    primary = result["primary_metric"]
    index.append(
        {
            "id": name,
            "created": stamp,
            "file": f"{name}/simulation.json",
            "seed": result["seed"],
            "draws": result["draws"],
            "overrides": result["overrides"],
            "results": {r["label"]: r[primary] for r in result["results"]},
        }
    )
    runs.atomic_write_text(index_path, json.dumps(index, indent=2) + "\n")
    return target
