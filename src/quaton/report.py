"""Self-contained HTML reports (images embedded as base64 PNG) for runs and simulations."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from quaton import runs

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:.5em 0}h2{margin-top:1.6em}"""

CAPTIONS = {
    "phases.png": "Phase masks (rad), with each layer's level count",
    "heights.png": "Printed height maps (µm)",
    "outputs.png": "Test inputs and detector-plane intensities (predicted region in green)",
    "phase_images.png": "Input phase, output intensity × π, and their difference (rad)",
    "sensor.png": "Inputs and the optical convolution layer's sensor image (feature maps tiled)",
    "confusion.png": "Confusion matrix on the test set",
    "history.png": "Loss and metric per epoch",
}


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<figure><img alt="{html.escape(path.name)}" src="data:image/png;base64,{data}"><figcaption>{html.escape(CAPTIONS.get(path.name, path.name))}</figcaption></figure>'


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


def write_html(path: Path, title: str, sections: list[tuple[str, str]]) -> None:
    body = "".join(f"<h2>{html.escape(heading)}</h2>{content}" for heading, content in sections)
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    runs.atomic_write_text(path, page)


def run_report(run_dir: Path, metrics: dict[str, Any] | None = None) -> Path:
    """RUN_DIR/report.html: final metrics, the resolved config and every figure."""
    run_dir = Path(run_dir)
    metrics = metrics if metrics is not None else runs.read_json(run_dir / runs.METRICS)
    shown = [{"metric": k, "value": v} for k, v in metrics.items() if k != "confusion"]
    figures = sorted((run_dir / "figures").glob("*.png"), key=lambda p: list(CAPTIONS).index(p.name) if p.name in CAPTIONS else 99)
    config = (run_dir / runs.CONFIG).read_text()
    sections = [("Metrics", _table(shown)), ("Figures", "".join(_image(p) for p in figures)), ("Config", f"<pre>{html.escape(config)}</pre>")]
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
        rows.append({
            "perturbation": r["perturbation"], "value": r["value"], "unit": r.get("unit", ""), "what": r.get("what", ""),
            "draws": r.get("draws", 1), f"{primary} (mean)": r[primary], "std over draws": spread["std"] if spread else "",
        })
    figure, ax = plt.subplots(figsize=(6, 3))
    labels = [r.get("label") or (r["perturbation"] if r["perturbation"] == "none" else f"{r['perturbation']}={r['value']}") for r in result["results"]]
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
    setup = (f"<p>Test set: {html.escape(str(result.get('dataset')))}, {result.get('test_size')} images. Device: "
             f"{html.escape(str(result.get('hardware', '')))}. Random perturbations: {result.get('draws', 1)} draws, seed "
             f"{result.get('seed', 0)} ({html.escape(str(result.get('random_draws', '')))}); error bars: std over draws.</p>")
    sections = [
        ("Robustness", setup + _table(rows) + _image(chart)),
        ("Design", f"<pre>{html.escape(json.dumps(summary, indent=1))}</pre>"),
    ]
    write_html(out / "report.html", f"quaton simulate: {Path(design_dir).name}", sections)
    return out / "report.html"
