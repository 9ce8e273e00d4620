"""Self-contained HTML reports (images embedded as base64 PNG) for runs and simulations."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from quaton import runs
from quaton.config import Config, DistortionConfig, ReadoutConfig
from quaton.models import MODELS, kind_of
from quaton.tasks import task_of

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.5em 0}h2{margin-top:1.6em}"""

CAPTIONS = {
    "phases.png": "Phase masks (rad), with each layer's level count",
    "heights.png": "Printed height maps (µm)",
    "outputs.png": (
        "Test inputs and detector-plane intensities (a.u., each on its own scale; predicted region in green)"
    ),
    "phase_images.png": "Input phase, output intensity × π, and their difference (rad)",
    "sensor.png": "Inputs and the optical convolution layer's sensor image (feature maps tiled)",
    "confusion.png": "Confusion matrix on the test set",
    "history.png": "Loss and metric per epoch",
}


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (
        f'<figure><img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(CAPTIONS.get(path.name, path.name))}</figcaption></figure>"
    )


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)
    body = "".join("<tr>" + "".join(f"<td>{_format(r.get(k))}</td>" for k in keys) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def format_duration(seconds: float) -> str:
    """A duration for people: 0.53 s, 12.4 s, 3 min 20 s, 2 h 5 min (two significant figures under
    a second, tenths under a minute, whole seconds under an hour, whole minutes beyond)."""
    if not math.isfinite(seconds) or seconds < 0:
        return f"{seconds} s"
    if seconds < 0.995:
        return f"{seconds:.2g} s"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    if round(seconds) < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


def _metric_value(key: str, value: Any) -> Any:
    """A metric for the table: durations as :func:`format_duration`, a diffraction efficiency as a
    percentage of the input power."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    if key.endswith("seconds"):
        return format_duration(value)
    if key.endswith("diffraction_efficiency"):
        return f"{100 * value:.2f} % of the input power in the detector regions"
    return value


def _metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics table: every metric but the confusion matrix (a figure); durations (keys ending
    in "seconds") as :func:`format_duration`, diffraction efficiencies in percent."""
    return [{"metric": key, "value": _metric_value(key, value)} for key, value in metrics.items() if key != "confusion"]


def _quantized(config: Config) -> bool:
    """The model kind's phases are quantized (a D2NN's layers, an optical CNN's phase element; an MZI
    mesh, a digital CNN and an amplitude element ignore quantization)."""
    return config.quantization.method != "none" and kind_of(config).quantized(config)


def _sub_section(name: str) -> Callable[[Config], bool]:
    """``model.<name>``: shown when the model kind keeps its options there."""
    return lambda config: kind_of(config).section == name


# The config sections (and sub-sections) a run may not use, and when it does. Every other section
# (name, seed, model, input, data, task, train) is always shown.
SECTION_USE: dict[str, Callable[[Config], bool]] = {
    "optics": lambda c: "optics" in kind_of(c).reads,  # an MZI mesh and a digital CNN have no free-space optics
    # model.cnn, model.mzi: the sub-sections the registered kinds keep their options in
    **{f"model.{kind.section}": _sub_section(kind.section) for kind in MODELS.values() if kind.section},
    # the class regions of a model read through a detector
    "detector": lambda c: kind_of(c).output == "detector" and task_of(c).classes,
    "data.rbc": lambda c: c.data.dataset == "rbc",
    "quantization": _quantized,
    "fabrication": lambda c: kind_of(c).fabricated(c),  # a printed element (heights.png, quaton export)
    "hardware": lambda c: (
        c.hardware.readout != ReadoutConfig()
        or c.hardware.distortion != DistortionConfig()
        or c.hardware.camera is not None
    ),  # not an ideal read-out
    "physical": lambda c: c.physical.system is not None,
    "dat": lambda c: c.physical.system is not None and c.train.strategy in ("dat", "calibrated"),  # the SEPNs
    "calibrate": lambda c: c.physical.system is not None and (c.train.strategy == "calibrated" or c.calibrate.enabled),
    "robust": lambda c: c.physical.system is not None and c.train.strategy == "robust",
}


def _pop(data: dict[str, Any], dotted: str) -> Any:
    *parents, last = dotted.split(".")
    for key in parents:
        data = data.get(key, {})
    return data.pop(last, None)


def _lookup(data: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        data = data.get(key, {}) if isinstance(data, dict) else {}
    return data


def config_sections(text: str) -> tuple[str, list[str], list[str]]:
    """A resolved config (config.yaml ``text``) cut to the sections its run uses (:data:`SECTION_USE`):
    the shown YAML, the omitted sections, and those of them that differ from the defaults (set, but
    without effect on this run). A config this version cannot read is shown whole."""
    try:
        data = yaml.safe_load(text)
        config = Config.model_validate(data)
    except (yaml.YAMLError, ValidationError):
        return text, [], []
    defaults = Config().model_dump(mode="json")
    omitted = [name for name, used in SECTION_USE.items() if not used(config)]
    changed = [name for name in omitted if _lookup(data, name) != _lookup(defaults, name)]
    for name in omitted:
        _pop(data, name)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True), omitted, changed


def _config_html(text: str) -> str:
    shown, omitted, changed = config_sections(text)
    note = ""
    if omitted:
        listed = ", ".join(f"{name} (set, but not used)" if name in changed else name for name in omitted)
        note = f"<p>Not used by this run, so not shown: {html.escape(listed)}. config.yaml has every section.</p>"
    return f"{note}<pre>{html.escape(shown)}</pre>"


def write_html(path: Path, title: str, sections: list[tuple[str, str]]) -> None:
    body = "".join(f"<h2>{html.escape(heading)}</h2>{content}" for heading, content in sections)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    runs.atomic_write_text(path, page)


def run_report(run_dir: Path, metrics: dict[str, Any] | None = None) -> Path:
    """RUN_DIR/report.html: final metrics (durations as 12.4 s, 3 min 20 s), every figure, and the
    resolved config's sections that the run uses (:func:`config_sections`)."""
    run_dir = Path(run_dir)
    metrics = metrics if metrics is not None else runs.read_json(run_dir / runs.METRICS)
    figures = sorted(
        (run_dir / "figures").glob("*.png"), key=lambda p: list(CAPTIONS).index(p.name) if p.name in CAPTIONS else 99
    )
    config = _config_html((run_dir / runs.CONFIG).read_text())
    sections = [
        ("Metrics", _table(_metric_rows(metrics))),
        ("Figures", "".join(_image(p) for p in figures)),
        ("Config", config),
    ]
    write_html(run_dir / "report.html", f"quaton run: {run_dir.name}", sections)
    return run_dir / "report.html"


def simulation_report(design_dir: Path, out: Path, result: dict[str, Any]) -> Path:
    """OUT/report.html: the design's metric as designed and under each perturbation, with a bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    primary = result["primary_metric"]
    rows = []
    for r in result["results"]:
        spread = r.get(f"{primary}_over_draws")
        rows.append(
            {
                "perturbation": r["perturbation"],
                "value": r["value"],
                "unit": r.get("unit", ""),
                "what": r.get("what", ""),
                "draws": r.get("draws", 1),
                f"{primary} (mean)": r[primary],
                "std over draws": spread["std"] if spread else "",
            }
        )
    figure, ax = plt.subplots(figsize=(6, 3))
    labels = [
        r.get("label") or (r["perturbation"] if r["perturbation"] == "none" else f"{r['perturbation']}={r['value']}")
        for r in result["results"]
    ]
    errors = [r["std over draws"] or 0.0 for r in rows]
    ax.bar(range(len(rows)), [r[f"{primary} (mean)"] for r in rows], yerr=errors, capsize=3, color="tab:blue")
    ax.set_xticks(range(len(rows)), labels, rotation=20, ha="right")
    ax.set_ylabel(primary)
    figure.tight_layout()
    chart = out / "robustness.png"
    figure.savefig(chart, dpi=110)
    plt.close(figure)
    description = json.loads((Path(design_dir) / "design.json").read_text())
    summary = {k: description[k] for k in ("wavelength", "pitch", "grid", "distances") if k in description}
    setup = (
        f"<p>Test set: {html.escape(str(result.get('dataset')))}, {result.get('test_size')} images. Device: "
        f"{html.escape(str(result.get('hardware', '')))}. Random perturbations: {result.get('draws', 1)} draws, seed "
        f"{result.get('seed', 0)} ({html.escape(str(result.get('random_draws', '')))}); error bars: std over draws.</p>"
    )
    sections = [
        ("Robustness", setup + _table(rows) + _image(chart)),
        ("Design", f"<pre>{html.escape(json.dumps(summary, indent=1))}</pre>"),
    ]
    write_html(out / "report.html", f"quaton simulate: {Path(design_dir).name}", sections)
    return out / "report.html"
