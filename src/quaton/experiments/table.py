"""Sweep and comparison tables: Markdown, CSV and a bar chart of one metric.

A sweep table has rows by some grid keys and columns by one; a comparison table one row per run,
with the config keys in which the runs differ as columns. The best value of a row (of the
comparison) is bold by the metric's direction (``lower_is_better``), and the caption says what was
measured: which model, quantized or not, ideal or on the physical system (``describe``).
"""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from quaton.models import MODELS
from quaton.quant import QUANTIZERS
from quaton.runs import atomic_write_text


def method_name(method: Any) -> str:
    """A quantization method's display name (its registry entry's): FP for none, PQ, PSQ-LT, ..."""
    return "FP" if method == "none" else QUANTIZERS.display(str(method))


def model_name(kind: str) -> str:
    """A model kind's display name (its registry entry's): D2NN, optical CNN, ..."""
    return MODELS.display(kind)


def lower_is_better(metric: str) -> bool:
    """Losses and errors (test_loss, test_phase_error, ...) are better lower; accuracy, SSIM, PSNR and
    PCC higher."""
    return any(word in metric.lower() for word in ("loss", "error"))


def is_baseline(metric: str) -> bool:
    """A baseline metric (e.g. the dark camera's SSIM) scores no method: nothing to bold."""
    return "baseline" in metric.lower()


def _quantized(config: Any) -> bool:
    """Whether the evaluated device's phases are hard-quantized (a D2NN, or an optical CNN's phase element):
    a quantizer is configured and the model kind quantizes its phases (its registry entry)."""
    if config.quantization.method == "none" or config.model.kind not in MODELS:
        return False
    return MODELS[config.model.kind].quantized(config)


def describe(configs: list[Any], metric: str) -> str:
    """What ``metric`` was measured on, for a caption: "test_accuracy of the hard-quantized D2NN on
    the test set", "... of the D2NN on the physical system (...)", from the runs' configs."""
    models = " / ".join(_ordered([model_name(c.model.kind) for c in configs])) or "network"
    unit = " (%)" if metric.endswith("accuracy") else ""
    systems = _ordered([c.physical.system for c in configs if c.physical.system is not None])
    if metric.startswith("physical_"):
        subject = f"of the {models} measured on the physical system ({', '.join(systems)})"
    elif systems:
        subject = f"of the ideal {models} model (the trained parameters, without the physical system)"
    else:
        quantized = [_quantized(c) for c in configs]
        if all(quantized):
            subject = f"of the hard-quantized {models}"
        elif not any(quantized):
            subject = f"of the full-precision {models}"
        else:
            subject = f"of the {models}, hard-quantized where a quantizer was trained (FP: full precision)"
        hardware = [c.hardware != type(c.hardware)() for c in configs]
        if all(hardware):
            subject += ", read out through the configured read-out chain"
        elif any(hardware):
            subject += ", read out through the configured read-out chain where one is set"
    return f"{metric}{unit} {subject} on the test set"


def _bold_best(values: list[str], means: list[float | None], metric: str) -> tuple[list[str], bool]:
    """Bold the best of ``means`` (None: not a candidate) by the metric's direction; ties all bold.
    Returns the cells and whether anything was bolded (at least two candidates, not a baseline)."""
    candidates = [m for m in means if m is not None]
    if len(candidates) < 2 or is_baseline(metric):
        return values, False
    best = min(candidates) if lower_is_better(metric) else max(candidates)
    return [f"**{v}**" if m is not None and m == best else v for v, m in zip(values, means)], True


def _bold_note(metric: str, what: str) -> str:
    return f" Bold: best {what} ({'lowest' if lower_is_better(metric) else 'highest'} {metric})."


def _ordered(values: list[Any]) -> list[Any]:
    seen: list[Any] = []
    for v in values:
        if v not in seen:
            seen.append(v)
    return seen


def _label(value: Any) -> Any:
    """A grid value as a table label: mappings (e.g. physical.options) as 'key value, ...'."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def aggregate(rows: list[dict[str, Any]], row_keys: list[str], column_key: str, metric: str):
    """{(row values...): {column value: [metric values over the other axes]}} in grid order."""
    row_ids = _ordered([tuple(_label(r[k]) for k in row_keys) for r in rows])
    columns = _ordered([_label(r[column_key]) for r in rows])
    cells: dict[tuple, dict[Any, list[float]]] = {rid: {c: [] for c in columns} for rid in row_ids}
    for r in rows:
        cells[tuple(_label(r[k]) for k in row_keys)][_label(r[column_key])].append(float(r[metric]))
    return row_ids, columns, cells


def _cell(values: list[float], percent: bool) -> str:
    if not values:
        return "–"
    scale = 100.0 if percent else 1.0
    mean = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{mean:.1f}" if percent else f"{mean:.4f}"
    std = statistics.stdev(values) * scale
    return f"{mean:.1f} ± {std:.1f}" if percent else f"{mean:.4f} ± {std:.4f}"


def write_tables(out: Path, spec: Any, rows: list[dict[str, Any]], configs: list[Any] | None = None) -> None:
    """Write table.md, table.csv, table.png and runs.csv into ``out``; ``configs`` (the evaluated
    config of each row) let the caption say what was measured."""
    table = spec.table
    percent = table.metric.endswith("accuracy")
    row_ids, columns, cells = aggregate(rows, table.rows, table.columns, table.metric)
    by_method = table.columns == "quantization.method"
    names = [method_name(c) if by_method else str(c) for c in columns]
    row_header = " / ".join(k.split(".")[-1] for k in table.rows) or "run"
    lines = [f"| {row_header} | " + " | ".join(names) + " |", "|" + "---|" * (len(columns) + 1)]
    bolded = False
    for rid in row_ids:
        values = [_cell(cells[rid][c], percent) for c in columns]
        # full precision is the reference, not a contender, when the columns are quantization methods
        means = [
            statistics.fmean(cells[rid][c]) if cells[rid][c] and not (by_method and c == "none") else None
            for c in columns
        ]
        values, bold = _bold_best(values, means, table.metric)
        bolded |= bold
        lines.append(f"| {' / '.join(map(str, rid)) or '-'} | " + " | ".join(values) + " |")
    subject = (
        describe(configs, table.metric) if configs else f"{table.metric}{' (%)' if percent else ''} on the test set"
    )
    what = "quantized method per row" if by_method else f"{table.columns.split('.')[-1]} per row"
    caption = (
        f"\n{subject}"
        + (f"; {spec.caption}" if spec.caption else "")
        + "."
        + (_bold_note(table.metric, what) if bolded else "")
        + "\n"
    )
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n" + caption)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*table.rows, *names])
    for rid in row_ids:
        writer.writerow([*rid, *[f"{statistics.fmean(cells[rid][c]):.6f}" if cells[rid][c] else "" for c in columns]])
    atomic_write_text(out / "table.csv", buffer.getvalue())

    buffer = io.StringIO()
    keys = _ordered([k for r in rows for k in r])
    runs_writer = csv.DictWriter(buffer, fieldnames=keys, restval="")
    runs_writer.writeheader()
    runs_writer.writerows(rows)
    atomic_write_text(out / "runs.csv", buffer.getvalue())

    figure, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(row_ids) * len(columns) / 3), 3.8))
    width = 0.8 / max(1, len(columns))
    x = np.arange(len(row_ids))
    for i, c in enumerate(columns):
        heights = [statistics.fmean(cells[rid][c]) * (100 if percent else 1) if cells[rid][c] else 0 for rid in row_ids]
        ax.bar(x + (i - (len(columns) - 1) / 2) * width, heights, width, label=names[i])
    ax.set_xticks(x, [" / ".join(map(str, rid)) for rid in row_ids], rotation=20, ha="right")
    ax.set_ylabel(table.metric + (" (%)" if percent else ""))
    ax.legend(ncol=min(6, len(columns)), fontsize=8, loc="lower right")
    ax.set_title(spec.name or "sweep")
    figure.tight_layout()
    temporary = out / ".table.tmp.png"
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(out / "table.png")
    if getattr(spec, "plot", None) is not None:
        write_curves(out, spec, rows)


def write_comparison(out: Path, rows: list[dict[str, Any]], keys: list[str], metric: str, subject: str) -> None:
    """table.md, table.csv and table.png of runs side by side: one row per run (``rows[i]["run"]``),
    the config ``keys`` in which they differ as columns, then ``metric``; the best run bold."""
    percent = metric.endswith("accuracy")
    unit = " (%)" if percent else ""
    values = [_cell([float(r[metric])], percent) for r in rows]
    values, bolded = _bold_best(values, [float(r[metric]) for r in rows], metric)
    lines = ["| run | " + "".join(f"{k} | " for k in keys) + f"{metric}{unit} |", "|" + "---|" * (len(keys) + 2)]
    for r, value in zip(rows, values):
        lines.append(f"| {r['run']} | " + "".join(f"{_label(r[k])} | " for k in keys) + f"{value} |")
    count = f"{len(rows)} run{'' if len(rows) == 1 else 's'}"
    if len(rows) == 1:
        differ = ""
    elif keys:
        differ = f"; they differ only in {', '.join(keys)}"
    else:
        differ = "; their settings are identical"
    caption = f"\n{subject}, {count}{differ}." + (_bold_note(metric, "run") if bolded else "") + "\n"
    atomic_write_text(out / "table.md", "\n".join(lines) + "\n" + caption)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["run", *keys, metric])
    for r in rows:
        writer.writerow([r["run"], *[_label(r[k]) for k in keys], f"{float(r[metric]):.6f}"])
    atomic_write_text(out / "table.csv", buffer.getvalue())

    figure, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows)), 3.8))
    labels = [" / ".join(str(_label(r[k])) for k in keys) or str(r["run"]) for r in rows]
    ax.bar(np.arange(len(rows)), [float(r[metric]) * (100 if percent else 1) for r in rows])
    ax.set_xticks(np.arange(len(rows)), labels, rotation=20, ha="right")
    ax.set_ylabel(metric + unit)
    ax.set_title(" / ".join(k.split(".")[-1] for k in keys) or "comparison")
    figure.tight_layout()
    temporary = out / ".table.tmp.png"
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(out / "table.png")


def write_curves(out: Path, spec: Any, rows: list[dict[str, Any]]) -> None:
    """curves.png: the metric against ``plot.x``, one colour per ``plot.series`` value, dashed where
    ``plot.style`` is false (e.g. naive vs hardware-aware training), one panel per other row key."""
    plot, metric = spec.plot, spec.table.metric
    scale = 100.0 if metric.endswith("accuracy") else 1.0
    panel_keys = [k for k in spec.table.rows if k not in (plot.x, plot.series, plot.style)]
    panels = _ordered([tuple(r[k] for k in panel_keys) for r in rows])
    figure, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    series_values = _ordered([r.get(plot.series) for r in rows]) if plot.series else [None]
    style_values = _ordered([r.get(plot.style) for r in rows]) if plot.style else [None]
    for ax, panel in zip(axes[0], panels):
        for i, series in enumerate(series_values):
            for style in style_values:
                points: dict[Any, list[float]] = {}
                for r in rows:
                    if (
                        tuple(r[k] for k in panel_keys) != panel
                        or (plot.series and r[plot.series] != series)
                        or (plot.style and r[plot.style] != style)
                    ):
                        continue
                    points.setdefault(r[plot.x], []).append(float(r[metric]) * scale)
                if not points:
                    continue
                xs = sorted(points)
                label = " ".join(
                    part
                    for part in [
                        f"{plot.series.split('.')[-1]}={series}" if plot.series else "",
                        f"{plot.style.split('.')[-1]}={style}" if plot.style else "",
                    ]
                    if part
                )
                ax.plot(
                    xs,
                    [statistics.fmean(points[x]) for x in xs],
                    color=colours[i % len(colours)],
                    linestyle="-" if style in (True, None) else "--",
                    marker="o",
                    label=label,
                )
        ax.set_xlabel(plot.x)
        ax.set_ylabel(metric + (" (%)" if scale == 100 else ""))
        ax.set_title(" / ".join(map(str, panel)) or (spec.name or ""))
        ax.legend(fontsize=7)
    figure.tight_layout()
    temporary = out / ".curves.tmp.png"
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(out / "curves.png")
