"""Sweep tables: Markdown, CSV and a bar chart of one metric, rows by some grid keys, columns by one."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from quaton.train import rundir  # noqa: E402

DISPLAY = {"none": "FP", "pq": "PQ", "ste": "STE", "gs": "GS", "psq": "PSQ", "psq-lt": "PSQ-LT"}


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


def write_tables(out: Path, spec: Any, rows: list[dict[str, Any]]) -> None:
    """Write table.md, table.csv, table.png and runs.csv into ``out``."""
    table = spec.table
    percent = table.metric.endswith("accuracy")
    row_ids, columns, cells = aggregate(rows, table.rows, table.columns, table.metric)
    names = [DISPLAY.get(c, str(c)) if table.columns == "quantization.method" else str(c) for c in columns]
    row_header = " / ".join(k.split(".")[-1] for k in table.rows) or "run"
    unit = " (%)" if percent else ""
    lines = [f"| {row_header} | " + " | ".join(names) + " |", "|" + "---|" * (len(columns) + 1)]
    for rid in row_ids:
        values = [_cell(cells[rid][c], percent) for c in columns]
        best = max((statistics.fmean(cells[rid][c]) for c in columns if c != "none" and cells[rid][c]), default=None)
        for i, c in enumerate(columns):
            if best is not None and c != "none" and cells[rid][c] and statistics.fmean(cells[rid][c]) == best:
                values[i] = f"**{values[i]}**"
        lines.append(f"| {' / '.join(map(str, rid)) or '-'} | " + " | ".join(values) + " |")
    caption = f"\n{table.metric}{unit} of the hard-quantized device on the test set" + (f"; {spec.caption}" if spec.caption else "") + ". Bold: best quantized method per row.\n"
    rundir.atomic_write_text(out / "table.md", "\n".join(lines) + "\n" + caption)

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*table.rows, *names])
    for rid in row_ids:
        writer.writerow([*rid, *[f"{statistics.fmean(cells[rid][c]):.6f}" if cells[rid][c] else "" for c in columns]])
    rundir.atomic_write_text(out / "table.csv", buffer.getvalue())

    buffer = io.StringIO()
    keys = _ordered([k for r in rows for k in r])
    writer = csv.DictWriter(buffer, fieldnames=keys, restval="")
    writer.writeheader()
    writer.writerows(rows)
    rundir.atomic_write_text(out / "runs.csv", buffer.getvalue())

    figure, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(row_ids) * len(columns) / 3), 3.8))
    width = 0.8 / max(1, len(columns))
    x = np.arange(len(row_ids))
    for i, c in enumerate(columns):
        means = [statistics.fmean(cells[rid][c]) * (100 if percent else 1) if cells[rid][c] else 0 for rid in row_ids]
        ax.bar(x + (i - (len(columns) - 1) / 2) * width, means, width, label=names[i])
    ax.set_xticks(x, [" / ".join(map(str, rid)) for rid in row_ids], rotation=20, ha="right")
    ax.set_ylabel(table.metric + unit)
    ax.legend(ncol=min(6, len(columns)), fontsize=8, loc="lower right")
    ax.set_title(spec.name or "sweep")
    figure.tight_layout()
    temporary = out / ".table.tmp.png"
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(out / "table.png")
    if getattr(spec, "plot", None) is not None:
        write_curves(out, spec, rows)


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
                    if tuple(r[k] for k in panel_keys) != panel or (plot.series and r[plot.series] != series) or (plot.style and r[plot.style] != style):
                        continue
                    points.setdefault(r[plot.x], []).append(float(r[metric]) * scale)
                if not points:
                    continue
                xs = sorted(points)
                label = " ".join(
                    part for part in [f"{plot.series.split('.')[-1]}={series}" if plot.series else "", f"{plot.style.split('.')[-1]}={style}" if plot.style else ""] if part
                )
                ax.plot(xs, [statistics.fmean(points[x]) for x in xs], color=colours[i % len(colours)], linestyle="-" if style in (True, None) else "--", marker="o", label=label)
        ax.set_xlabel(plot.x)
        ax.set_ylabel(metric + (" (%)" if scale == 100 else ""))
        ax.set_title(" / ".join(map(str, panel)) or (spec.name or ""))
        ax.legend(fontsize=7)
    figure.tight_layout()
    temporary = out / ".curves.tmp.png"
    figure.savefig(temporary, dpi=110)
    plt.close(figure)
    temporary.replace(out / "curves.png")
