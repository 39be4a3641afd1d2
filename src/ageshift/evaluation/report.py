"""The evaluation report on disk: ``metrics.json``, ``per_image.csv``, image grids, age histograms and a
self-contained ``index.html`` (relative links only, so the folder can be moved or served as is).

``report_html(metrics)`` gives the HTML body alone for pages that embed the report (the demo).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..image import make_grid, tensor_to_pil
from ..io import atomic_write, save_image

GRID_COLUMNS = 8
GRID_KINDS = ("random", "best", "worst")
SECTION_TITLES = {
    "age": "Age: is it older / younger?",
    "identity": "Identity: is it the same person?",
    "realism": "Realism: does it look real?",
    "cycle": "Cycle consistency: A→B→A reconstruction",
}


def pick_grid_indices(result: Any, direction: str, seed: int) -> dict[str, np.ndarray]:
    """Indices for the random, best and worst grids (best/worst by age shift in the wanted direction)."""
    count = len(result.files)
    columns = min(GRID_COLUMNS, count)
    picks = {"random": np.sort(np.random.default_rng(seed).choice(count, columns, replace=False))}
    if "age_before" in result.per_image:
        shift = result.per_image["age_after"] - result.per_image["age_before"]
        wanted = shift if direction == "older" else -shift
        order = np.argsort(-wanted, kind="stable")
        picks["best"] = order[:columns]
        picks["worst"] = np.ascontiguousarray(order[::-1][:columns])
    return picks


def write_grids(result: Any, direction: str, out_dir: Path, seed: int) -> dict[str, str]:
    """Save grids (rows: input, output, reconstruction) as PNG; returns kind → path relative to ``out_dir``."""
    written = {}
    for kind, indices in pick_grid_indices(result, direction, seed).items():
        index = torch.as_tensor(indices, dtype=torch.long)
        rows = [result.inputs[index], result.outputs[index]]
        if result.reconstructions is not None:
            rows.append(result.reconstructions[index])
        relative = f"grids/{direction}_{kind}.png"
        save_image(tensor_to_pil(make_grid(rows)), out_dir / relative)
        written[kind] = relative
    return written


def write_age_histogram(result: Any, direction: str, summary: dict[str, Any], out_dir: Path) -> str | None:
    """Histogram of predicted ages before/after (and of real target images), target range shaded."""
    if "age_before" not in result.per_image:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    from matplotlib import pyplot

    ages = result.per_image
    figure, axes = pyplot.subplots(figsize=(6, 3.4), dpi=100)
    low = min(ages["age_before"].min(), ages["age_after"].min(), ages["age_real"].min(initial=200))
    high = max(ages["age_before"].max(), ages["age_after"].max(), ages["age_real"].max(initial=-100))
    bins = np.linspace(math.floor(low) - 1, math.ceil(high) + 1, 30)
    target_range = summary.get("age", {}).get("target_range")
    if target_range:
        axes.axvspan(*target_range, color="tab:green", alpha=0.12, label="target range")
    axes.hist(ages["age_before"], bins, alpha=0.6, label="input")
    axes.hist(ages["age_after"], bins, alpha=0.6, label="output")
    if len(ages["age_real"]):
        axes.hist(ages["age_real"], bins, histtype="step", color="black", label="real target")
    axes.set_xlabel(f"predicted age ({summary.get('age', {}).get('estimator', '')})")
    axes.set_ylabel("images")
    axes.set_title(f"{direction}: {summary['source_domain']} → {summary['target_domain']}")
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    relative = f"plots/{direction}_age_histogram.png"
    with atomic_write(out_dir / relative) as stream:
        stream.write(buffer.getvalue())
    return relative


def write_per_image(results: dict[str, Any], path: Path) -> None:
    """One CSV row per evaluated image: direction, file and every per-image measurement."""
    keys = sorted({key for result in results.values() for key in result.per_image if key != "age_real"})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["direction", "file", *keys])
    for direction, result in results.items():
        for row, name in enumerate(result.files):
            values = [result.per_image[key][row] if key in result.per_image else "" for key in keys]
            writer.writerow(
                [direction, name, *(f"{v:.4f}" if isinstance(v, float | np.floating) else v for v in values)]
            )
    with atomic_write(path, "w") as stream:
        stream.write(buffer.getvalue())


def write_report(
    metrics: dict[str, Any], out_dir: str | Path, results: dict[str, Any] | None = None, seed: int = 0
) -> Path:
    """Write the report folder.

    Args:
        metrics: the dict from :func:`ageshift.evaluation.runner.evaluate_model` (grid and plot paths are
            added to it in place when ``results`` are given).
        out_dir: the report folder (created).
        results: per-direction :class:`~ageshift.evaluation.runner.DirectionResult` for grids, plots and
            ``per_image.csv``; without them only ``metrics.json`` and ``index.html`` are written.
        seed: seed of the random grid.

    Returns:
        Path of ``index.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for direction, result in (results or {}).items():
        summary = metrics["directions"][direction]
        summary["grids"] = write_grids(result, direction, out, seed)
        try:
            summary["plots"] = {"age_histogram": write_age_histogram(result, direction, summary, out)}
        except ImportError:
            metrics["notes"].append(
                "plots: matplotlib is missing; install it with pip install 'ageshift[eval]'"
            )
    if results:
        write_per_image(results, out / "per_image.csv")
    with atomic_write(out / "metrics.json", "w") as stream:
        json.dump(_json_safe(metrics), stream, indent=2)
    page = (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>ageshift evaluation</title>{STYLE}</head>"
    )
    page += f"<body>{report_html(metrics)}</body></html>\n"
    with atomic_write(out / "index.html", "w") as stream:
        stream.write(page)
    return out / "index.html"


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf (not valid JSON) by ``None`` and numpy scalars by Python numbers."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


STYLE = (
    "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:auto;padding:1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    "img{max-width:100%;image-rendering:pixelated}.note{color:#a60}</style>"
)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(_format(item) for item in value)
    return html.escape(str(value))


def _table(entries: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(key)}</th><td>{_format(value)}</td></tr>"
        for key, value in entries.items()
        if not isinstance(value, dict)
    )
    return f"<table>{rows}</table>"


def _groups_html(groups: dict[str, Any]) -> str:
    parts = []
    for column, values in groups.items():
        keys = sorted({key for entry in values.values() for key in entry})
        header = "".join(f"<th>{html.escape(key)}</th>" for key in keys)
        body = "".join(
            f"<tr><th>{html.escape(name)}</th>"
            + "".join(f"<td>{_format(entry.get(k, ''))}</td>" for k in keys)
            + "</tr>"
            for name, entry in values.items()
        )
        parts.append(f"<h4>by {html.escape(column)}</h4><table><tr><th></th>{header}</tr>{body}</table>")
    return "".join(parts)


def report_html(metrics: dict[str, Any], base: str = "") -> str:
    """The report's HTML body (no ``<html>`` wrapper), for embedding in another page.

    Args:
        metrics: the metrics dict (as written to ``metrics.json``).
        base: prefix for image links (the report folder as seen from the embedding page, with a slash).

    Returns:
        An HTML fragment.
    """
    parts = [
        "<h1>ageshift evaluation</h1>",
        f"<p>data <code>{html.escape(str(metrics.get('data')))}</code> ({html.escape(str(metrics.get('dataset')))}), "
        f"model family {html.escape(str(metrics.get('model', {}).get('family')))}, "
        f"age estimator {html.escape(str(metrics.get('age_estimator')))}</p>",
    ]
    parts += [f"<p class='note'>{html.escape(note)}</p>" for note in metrics.get("notes", [])]
    for direction, summary in metrics.get("directions", {}).items():
        parts.append(
            f"<h2>{html.escape(direction)}: {summary['source_domain']} → {summary['target_domain']} "
            f"({summary['num_images']} images)</h2>"
        )
        for section, title in SECTION_TITLES.items():
            if section in summary:
                parts.append(f"<h3>{title}</h3>{_table(summary[section])}")
        if summary.get("groups"):
            parts.append(f"<h3>Per group</h3>{_groups_html(summary['groups'])}")
        for name, path in (summary.get("plots") or {}).items():
            if path:
                parts.append(f"<p><img src='{html.escape(base + path)}' alt='{html.escape(name)}'></p>")
        for kind, path in (summary.get("grids") or {}).items():
            parts.append(
                f"<h4>{kind} (rows: input, output, reconstruction)</h4>"
                f"<p><img src='{html.escape(base + path)}' alt='{kind} grid'></p>"
            )
    if metrics.get("skipped_files"):
        parts.append("<h3>Unreadable files</h3><ul>")
        parts += [f"<li>{html.escape(item)}</li>" for item in metrics["skipped_files"]]
        parts.append("</ul>")
    return "\n".join(parts)
