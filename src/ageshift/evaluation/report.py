"""The evaluation report on disk: ``metrics.json``, ``per_image.csv``, image grids, age plots and a
self-contained ``index.html`` (relative links only, so the folder can be moved or served as is).

Two-domain models get per-direction grids and age histograms; conditional models a time-machine grid (the
judged age under every tile), one grid per attribute and a target-vs-achieved age scatter plot;
super-resolution models (``metrics["upscaling"]``) a PSNR/SSIM table against bicubic and Lanczos.

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
from PIL import Image, ImageDraw, ImageFont

from ..image import make_grid, tensor_to_pil
from ..io import atomic_write, save_image
from .conditional import NO_JUDGE

GRID_COLUMNS = 8
GRID_KINDS = ("random", "best", "worst")
SECTION_TITLES = {
    "age": "Age: is it older / younger?",
    "identity": "Identity: is it the same person?",
    "realism": "Realism: does it look real?",
    "cycle": "Cycle consistency: A→B→A reconstruction",
}
#: Grid tiles are enlarged (nearest neighbour) to at least this side, so the captions under them fit.
MIN_TILE = 80
CAPTION_HEIGHT = 14


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
    # A list: matplotlib's stubs type ``bins`` as a sequence, which an array is not.
    bins = np.linspace(math.floor(low) - 1, math.ceil(high) + 1, 30).tolist()
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


def captioned_grid(
    header: list[str], rows: list[list[torch.Tensor]], captions: list[list[str]]
) -> Image.Image:
    """Tiles with a caption under each and a header over each column.

    Args:
        header: one label per column.
        rows: rows of ``(3, S, S)`` tensors in ``[-1, 1]``, one per column.
        captions: one text per tile.

    Returns:
        An RGB image; tiles smaller than ``MIN_TILE`` are enlarged (nearest) so the text fits.
    """
    side = rows[0][0].shape[-1]
    tile = side * max(1, math.ceil(MIN_TILE / side))
    pad = 2
    width = len(header) * (tile + pad) + pad
    height = CAPTION_HEIGHT + len(rows) * (tile + CAPTION_HEIGHT + pad) + pad
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for column, label in enumerate(header):
        draw.text((pad + column * (tile + pad) + 2, 1), label, fill="black", font=font)
    for row, (images, texts) in enumerate(zip(rows, captions, strict=True)):
        top = CAPTION_HEIGHT + pad + row * (tile + CAPTION_HEIGHT + pad)
        for column, (image, text) in enumerate(zip(images, texts, strict=True)):
            left = pad + column * (tile + pad)
            canvas.paste(tensor_to_pil(image).resize((tile, tile), Image.Resampling.NEAREST), (left, top))
            draw.text((left + 2, top + tile + 1), text, fill="black", font=font)
    return canvas


def _age_text(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.0f}"


def write_time_machine(result: Any, out_dir: Path) -> str | None:
    """The time-machine grid: rows are faces, columns the input (true age) and each target age (judged age)."""
    runs = [run for run in result.runs if run.target_age is not None]
    if not runs:
        return None
    index = torch.as_tensor(result.grid_index, dtype=torch.long)
    inputs = result.split.images[index]
    rows, captions = [], []
    for position, face in enumerate(result.grid_index):
        rows.append([inputs[position], *(run.grid[position] for run in runs)])
        true_age = _age_text(result.split.ages[face])
        captions.append(
            [f"true {true_age}" if true_age else "input"]
            + [_age_text(None if run.achieved_ages is None else run.achieved_ages[face]) for run in runs]
        )
    header = ["input", *(f"age {run.target_age:g}" for run in runs)]
    relative = "grids/time_machine.png"
    save_image(captioned_grid(header, rows, captions), out_dir / relative)
    return relative


def write_attribute_grids(result: Any, out_dir: Path) -> dict[str, str]:
    """One grid per attribute: rows are faces, columns the input and each value (the judge's reading below)."""
    written = {}
    index = torch.as_tensor(result.grid_index, dtype=torch.long)
    inputs = result.split.images[index]
    names = dict.fromkeys(run.attribute[0] for run in result.runs if run.attribute is not None)
    for name in names:
        runs = [run for run in result.runs if run.attribute is not None and run.attribute[0] == name]
        reading = result.input_attributes.get(name)
        truth = result.split.attributes.get(name)
        rows, captions = [], []
        for position, face in enumerate(result.grid_index):
            rows.append([inputs[position], *(run.grid[position] for run in runs)])
            first = (
                f"true {truth[face]}" if truth and truth[face] else f"read {reading[face]}" if reading else ""
            )
            captions.append([first] + [run.measured[face] if run.measured else "" for run in runs])
        relative = f"grids/attribute_{name}.png"
        save_image(
            captioned_grid(["input", *(run.attribute[1] for run in runs)], rows, captions), out_dir / relative
        )
        written[name] = relative
    return written


def write_age_scatter(result: Any, out_dir: Path) -> str | None:
    """Target age (x) vs achieved age (y) of every output, the mean per target, the identity line, and the
    judge's reading of the inputs against their true ages (its own error)."""
    runs = [run for run in result.runs if run.target_age is not None and run.achieved_ages is not None]
    if not runs:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    from matplotlib import pyplot

    targets = np.concatenate([np.full(len(run.achieved_ages), run.target_age) for run in runs])
    achieved = np.concatenate([run.achieved_ages for run in runs])
    # A little sideways jitter so that outputs of one target age do not hide each other.
    jitter = np.random.default_rng(0).uniform(-1.0, 1.0, len(targets))
    figure, axes = pyplot.subplots(figsize=(5.5, 5), dpi=100)
    axes.scatter(targets + jitter, achieved, s=9, alpha=0.35, label="outputs")
    axes.plot(
        [run.target_age for run in runs], [float(np.mean(run.achieved_ages)) for run in runs],
        "o-", color="tab:red", label="mean achieved",
    )  # fmt: skip
    known = ~np.isnan(result.split.ages)
    values = [targets, achieved]
    if result.input_ages is not None and known.any():
        truth, reading = result.split.ages[known], result.input_ages[known]
        axes.scatter(
            truth, reading, s=12, marker="x", color="grey", alpha=0.6, label="inputs: judged vs true age"
        )
        values += [truth, reading]
    low, high = min(v.min() for v in values), max(v.max() for v in values)
    axes.plot([low, high], [low, high], "k--", linewidth=1, label="achieved = target")
    axes.set_xlabel("target age (years)")
    axes.set_ylabel(f"achieved age ({result.age_estimator})")
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    pyplot.close(figure)
    relative = "plots/age_target_vs_achieved.png"
    with atomic_write(out_dir / relative) as stream:
        stream.write(buffer.getvalue())
    return relative


def write_conditional_per_image(result: Any, path: Path) -> None:
    """One CSV row per face and condition: true labels, the judges' readings and the identity distance."""
    columns = ["file", "condition", "target_age", "true_age", "achieved_age", "attribute", "target_value"]
    columns += ["true_value", "measured_value", "identity_distance"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for run in result.runs:
        name, value = run.attribute or ("", "")
        truth = result.split.attributes.get(name) if name else None
        for face, file in enumerate(result.split.files):
            writer.writerow(
                [
                    file, run.label, "" if run.target_age is None else f"{run.target_age:g}",
                    _number(result.split.ages[face]),
                    _number(run.achieved_ages[face]) if run.achieved_ages is not None else "",
                    name, value, (truth[face] or "") if truth else "",
                    run.measured[face] if run.measured else "",
                    _number(run.distances[face]) if run.distances is not None else "",
                ]
            )  # fmt: skip
    with atomic_write(path, "w") as stream:
        stream.write(buffer.getvalue())


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else ""


def _write_conditional(metrics: dict[str, Any], result: Any, out: Path) -> None:
    summary = metrics["conditional"]
    summary["grids"] = {
        "time_machine": write_time_machine(result, out),
        "attributes": write_attribute_grids(result, out),
    }
    try:
        summary["plots"] = {"age_scatter": write_age_scatter(result, out)}
    except ImportError:
        metrics["notes"].append("plots: matplotlib is missing; install it with pip install 'ageshift[eval]'")
    write_conditional_per_image(result, out / "per_image.csv")


def write_report(
    metrics: dict[str, Any],
    out_dir: str | Path,
    results: dict[str, Any] | None = None,
    seed: int = 0,
    conditional: Any = None,
) -> Path:
    """Write the report folder.

    Args:
        metrics: the dict from :func:`ageshift.evaluation.runner.evaluate_model` (grid and plot paths are
            added to it in place when ``results`` or ``conditional`` are given).
        out_dir: the report folder (created).
        results: per-direction :class:`~ageshift.evaluation.runner.DirectionResult` for grids, plots and
            ``per_image.csv``; without them only ``metrics.json`` and ``index.html`` are written.
        seed: seed of the random grid.
        conditional: a conditional model's
            :class:`~ageshift.evaluation.conditional.ConditionalResult` (grids, scatter, ``per_image.csv``).

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
    if conditional is not None:
        _write_conditional(metrics, conditional, out)
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


def _flat(entries: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entries.items() if not isinstance(value, dict | list)}


def _rows_table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{_format(value)}</td>" for value in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _image(base: str, path: str | None, alt: str) -> str:
    return f"<p><img src='{html.escape(base + path)}' alt='{html.escape(alt)}'></p>" if path else ""


def _skip_note(section: dict[str, Any]) -> str:
    return (
        f"<p class='note'>skipped: {html.escape(str(section['skipped']))}</p>" if "skipped" in section else ""
    )


def _conditional_age_html(
    age: dict[str, Any], identity: dict[str, Any], base: str, grids: dict, plots: dict
) -> str:
    parts = ["<h3>Age: target vs achieved</h3>", _skip_note(age)]
    if "by_target" in age:
        parts.append(_table(_flat(age)))
        by_identity = {entry["target_age"]: entry for entry in identity.get("by_target", [])}
        rows = [
            [
                entry["target_age"], entry["mean_achieved_age"], entry["std_achieved_age"], entry["mae"],
                entry["unchanged_mae"], by_identity.get(entry["target_age"], {}).get("mean_distance", "–"),
                by_identity.get(entry["target_age"], {}).get("share_same_person", "–"),
            ]
            for entry in age["by_target"]
        ]  # fmt: skip
        header = ["target age", "mean achieved", "std", "MAE", "MAE if unchanged", "identity distance"]
        parts.append(_rows_table([*header, "same person"], rows))
        parts.append(
            f"<h4>The judge on the untranslated inputs vs their true ages</h4>{_table(age['judge_on_inputs'])}"
        )
    parts.append(_image(base, plots.get("age_scatter"), "target vs achieved age"))
    if grids.get("time_machine"):
        parts.append("<h4>Time machine (rows: faces; under each tile: the judged age)</h4>")
        parts.append(_image(base, grids["time_machine"], "time machine grid"))
    return "".join(parts)


def _conditional_attributes_html(
    attributes: dict[str, Any], identity: dict[str, Any], base: str, grids: dict
) -> str:
    parts = ["<h3>Attributes: is it the requested value?</h3>", _skip_note(attributes)]
    if "by_attribute" in attributes:
        parts.append(_table(_flat(attributes)))
    by_identity = identity.get("by_attribute", {})
    for name, entry in attributes.get("by_attribute", {}).items():
        parts.append(f"<h4>{html.escape(name)}</h4>{_skip_note(entry)}")
        if "values" in entry:
            parts.append(f"<p>judge: {html.escape(entry['judge'])}</p>")
            rows = [
                [value, scores["accuracy"], scores["unchanged_accuracy"],
                 by_identity.get(f"{name}={value}", {}).get("mean_distance", "–"),
                 by_identity.get(f"{name}={value}", {}).get("share_same_person", "–")]
                for value, scores in entry["values"].items()
            ]  # fmt: skip
            header = ["value", "accuracy", "accuracy if unchanged", "identity distance", "same person"]
            parts.append(_rows_table(header, rows))
            parts.append(
                f"<p>the judge on the inputs vs their labels: {_format_judge(entry['judge_on_inputs'])}</p>"
            )
        parts.append(_image(base, (grids.get("attributes") or {}).get(name), f"{name} grid"))
    return "".join(parts)


def _format_judge(entry: dict[str, Any]) -> str:
    if "skipped" in entry:
        return html.escape(entry["skipped"])
    return f"accuracy {_format(entry['accuracy'])} on {entry['count']} faces"


def conditional_html(summary: dict[str, Any], base: str = "") -> str:
    """The conditional model's section of the report: age, attributes, identity and realism.

    Args:
        summary: ``metrics["conditional"]``.
        base: prefix for image links.

    Returns:
        An HTML fragment.
    """
    judges = summary.get("judges", {})
    attribute_judges = ", ".join(
        f"{name}: {judge or NO_JUDGE}" for name, judge in judges.get("attributes", {}).items()
    )
    parts = [
        f"<h2>Conditional model: {summary['num_images']} held-out faces</h2>",
        f"<p>judges (never the model itself): age {html.escape(str(judges.get('age')))}, identity "
        f"{html.escape(str(judges.get('identity')))}; attributes {html.escape(attribute_judges or '–')}</p>",
    ]
    identity = summary.get("identity", {})
    grids, plots = summary.get("grids") or {}, summary.get("plots") or {}
    if "age" in summary:
        parts.append(_conditional_age_html(summary["age"], identity, base, grids, plots))
    if "attributes" in summary:
        parts.append(_conditional_attributes_html(summary["attributes"], identity, base, grids))
    if "identity" in summary:
        parts.append(f"<h3>{SECTION_TITLES['identity']}</h3>{_skip_note(identity)}{_table(_flat(identity))}")
    if "realism" in summary:
        realism = summary["realism"]
        parts.append(f"<h3>{SECTION_TITLES['realism']}</h3>{_skip_note(realism)}")
        if "by_condition" in realism:
            parts.append(f"<p>against {html.escape(realism['compared_with'])}</p>")
            keys = sorted({key for entry in realism["by_condition"].values() for key in entry})
            rows = [
                [label, *(entry.get(key, "") for key in keys)]
                for label, entry in realism["by_condition"].items()
            ]
            parts.append(_rows_table(["condition", *keys], rows))
    return "\n".join(parts)


#: How the upscaling section names each restoration method.
UPSCALING_METHODS = {"model": "this model", "bicubic": "bicubic", "lanczos": "Lanczos"}


def upscaling_html(summary: dict[str, Any], name: str | None = None) -> str:
    """A super-resolution model's section: PSNR and SSIM against the originals, next to bicubic and Lanczos.

    Args:
        summary: ``metrics["upscaling"]``, what :func:`ageshift.models.superres.evaluate.evaluate_upscaling`
            returns.
        name: the model's folder or packaged name, for the heading.

    Returns:
        An HTML fragment.
    """
    methods = summary.get("methods", {})
    names = [name for name in UPSCALING_METHODS if name in methods]
    parts = [
        f"<h2>Upscaling{': ' + html.escape(name) if name else ''}, ×{summary['scale']} on "
        f"{summary['images']} photo(s)</h2>",
        f"<p>Each photo is shrunk ×{summary['scale']} with bicubic and restored by each method; PSNR and SSIM "
        "on RGB against the original, a 4-pixel border left out (means over photos).</p>",
        _rows_table(
            ["method", "PSNR dB", "SSIM"],
            [[UPSCALING_METHODS[name], methods[name]["psnr_db"], methods[name]["ssim"]] for name in names],
        ),
    ]
    if "model" in methods and "bicubic" in methods:
        gain = methods["model"]["psnr_db"] - methods["bicubic"]["psnr_db"]
        parts.append(f"<p>PSNR gain of this model over bicubic: {gain:+.2f} dB</p>")
    rows = [
        [row["image"], *(row[name][key] for key in ("psnr_db", "ssim") for name in names)]
        for row in summary.get("per_image", [])
    ]
    header = [f"{key} {UPSCALING_METHODS[name]}" for key in ("PSNR", "SSIM") for name in names]
    parts.append(f"<h3>Per photo</h3>{_rows_table(['photo', *header], rows)}")
    if summary.get("skipped"):
        parts.append("<h3>Photos left out</h3><ul>")
        parts += [f"<li>{html.escape(item)}</li>" for item in summary["skipped"]]
        parts.append("</ul>")
    return "\n".join(parts)


def report_html(metrics: dict[str, Any], base: str = "") -> str:
    """The report's HTML body (no ``<html>`` wrapper), for embedding in another page.

    Args:
        metrics: the metrics dict (as written to ``metrics.json``).
        base: prefix for image links (the report folder as seen from the embedding page, with a slash).

    Returns:
        An HTML fragment.
    """
    # Super-resolution models are judged against the originals alone: no age estimator.
    estimator = (
        ""
        if "upscaling" in metrics or "makeup" in metrics
        else f", age estimator {html.escape(str(metrics.get('age_estimator')))}"
    )
    parts = [
        "<h1>ageshift evaluation</h1>",
        f"<p>data <code>{html.escape(str(metrics.get('data')))}</code> ({html.escape(str(metrics.get('dataset')))}), "
        f"model family {html.escape(str(metrics.get('model', {}).get('family')))}{estimator}</p>",
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
    if metrics.get("conditional"):
        parts.append(conditional_html(metrics["conditional"], base))
    if metrics.get("makeup"):
        from .makeup import makeup_html

        parts.append(makeup_html(metrics["makeup"], base))
    if metrics.get("upscaling"):
        parts.append(upscaling_html(metrics["upscaling"], metrics.get("model", {}).get("name")))
    if metrics.get("skipped_files"):
        parts.append("<h3>Unreadable files</h3><ul>")
        parts += [f"<li>{html.escape(item)}</li>" for item in metrics["skipped_files"]]
        parts.append("</ul>")
    return "\n".join(parts)
