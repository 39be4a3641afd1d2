"""The main job on an embedded default: synthetic faces → train the `fast` CycleGAN → export → translate
the held-out faces both ways → an HTML page with the sample grids and the measured age-cue shift."""

from __future__ import annotations

import csv
import html
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import DataError
from .image import make_grid, pil_to_tensor, tensor_to_pil
from .io import atomic_write, list_images, load_image, save_image

#: Faces per direction shown in the page's translation grid.
GRID_COLUMNS = 8
#: metrics.csv columns that are not loss terms (everything else is charted).
NOT_LOSSES = frozenset({"step", "lr", "images_per_second", "steps_per_second", "size"})
#: Held-out faces per domain in the demo's evaluation report.
EVALUATION_LIMIT = 32


@dataclass
class DemoDirection:
    """How one direction moved the measured age cue on the held-out faces (apparent ages in years)."""

    direction: str
    count: int
    cue_before: float
    cue_after: float
    moved_right_way: float
    grid: str


@dataclass
class DemoResult:
    """What the demo wrote and measured."""

    out_dir: Path
    run_dir: Path
    model_dir: Path
    page: Path
    seconds: float
    directions: list[DemoDirection] = field(default_factory=list)
    report: Path | None = None


def run_demo(
    out_dir: str | Path = "demo-out",
    count: int = 1200,
    steps: int | None = None,
    seed: int = 0,
    quiet: bool = False,
    evaluate: bool = True,
) -> DemoResult:
    """Run the whole demo and write ``out_dir/index.html``.

    Args:
        out_dir: output folder (data, runs, model, translated images, page); an earlier demo there is replaced.
        count: number of synthetic faces (both domains together).
        steps: training steps (default: the `fast` preset's).
        seed: seed for the data and the training.
        quiet: no progress bars.
        evaluate: also write the evaluation report (``ageshift evaluate``) when its extras are installed.

    Returns:
        A :class:`DemoResult` with the measured cue shift per direction.
    """
    from .data.synthetic import make_synthetic_dataset
    from .training import export_run, train, train_config

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "data"
    _say(quiet, f"1/4 rendering {count} synthetic faces into {data_dir}")
    make_synthetic_dataset(data_dir, count=count, seed=seed, overwrite=True, progress=not quiet)
    overrides: dict[str, Any] = {"seed": seed}
    if steps is not None:
        overrides["stages"] = [asdict(train_config("fast").stages[0]) | {"steps": steps}]
    config = train_config("fast", overrides=overrides)
    _say(quiet, f"2/4 training the fast CycleGAN for {config.total_steps} steps on {config.device}")
    runs_dir = out / "runs"
    run_dir = train(config, data_dir, runs_dir, name="demo", quiet=quiet)
    model_dir = out / "model"
    _say(quiet, f"3/4 exporting to {model_dir} and translating the held-out faces")
    translator = export_run(run_dir, model_dir)
    results = [
        _translate_and_measure(translator, data_dir / "testA", out / "translated" / "older", "older"),
        _translate_and_measure(translator, data_dir / "testB", out / "translated" / "younger", "younger"),
    ]
    report = None
    if evaluate:
        report = _try_evaluation(model_dir, data_dir, out / "report", quiet)
    result = DemoResult(
        out, run_dir, model_dir, out / "index.html", time.perf_counter() - started, results, report
    )
    _say(quiet, f"4/4 writing {result.page}")
    write_demo_page(result)
    with atomic_write(out / "demo.json", "w") as stream:
        json.dump(_jsonable(result), stream, indent=2)
    return result


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        from rich.console import Console

        Console(stderr=True).print(f"[bold cyan]demo[/] {message}", highlight=False)


def _translate_and_measure(translator: Any, source: Path, target: Path, direction: str) -> DemoDirection:
    """Translate every image of ``source`` into ``target`` and measure the cue before and after."""
    from .data.synthetic import measure_age_cue

    paths = list_images(source)
    if not paths:
        raise DataError(f"{source}: no held-out images to translate")
    inputs = torch.stack([pil_to_tensor(load_image(path)) for path in paths])
    outputs = translator.translate_batch(inputs, direction=direction)
    for path, image in zip(paths, outputs, strict=True):
        save_image(tensor_to_pil(image), target / f"{path.stem}.png")
    before, after = measure_age_cue(inputs), measure_age_cue(outputs)
    sign = 1.0 if direction == "older" else -1.0
    moved = float(np.mean(sign * (after - before) > 0))
    grid_path = target.parent / f"grid-{direction}.png"
    columns = min(GRID_COLUMNS, len(paths))
    save_image(tensor_to_pil(make_grid([inputs[:columns], outputs[:columns]])), grid_path)
    return DemoDirection(
        direction, len(paths), float(before.mean()), float(after.mean()), moved, str(grid_path)
    )


def _try_evaluation(model_dir: Path, data_dir: Path, report_dir: Path, quiet: bool) -> Path | None:
    """Write the full evaluation report when the evaluation module and its extras are available."""
    try:
        from .evaluation import evaluate_model
        from .models.translator import load
    except ImportError:
        return None
    try:
        # A sample keeps the FID network (about 0.3 s per image on 2 cores) within the demo's time budget.
        evaluate_model(load(model_dir), data_dir, report_dir, limit=EVALUATION_LIMIT, progress=not quiet)
    except Exception as error:  # the report is a bonus: the demo's own page must still be written
        _say(quiet, f"evaluation report skipped: {error}")
        return None
    page = report_dir / "index.html"
    return page if page.exists() else None


def _read_losses(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    path = run_dir / "metrics.csv"
    series: dict[str, list[tuple[int, float]]] = {}
    if not path.exists():
        return series
    with path.open(encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            for key, value in row.items():
                if key not in NOT_LOSSES and value not in ("", None):
                    series.setdefault(key, []).append((int(row["step"]), float(value)))
    return series


def loss_chart_svg(series: dict[str, list[tuple[int, float]]], width: int = 640, height: int = 240) -> str:
    """An inline SVG line chart of loss curves (no plotting dependency needed)."""
    if not series:
        return "<p>No metrics were logged.</p>"
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    steps = [s for points in series.values() for s, _ in points]
    values = [v for points in series.values() for _, v in points]
    x0, x1 = min(steps), max(max(steps), min(steps) + 1)
    y0, y1 = 0.0, max(max(values), 1e-6)
    pad = 36

    def xy(step: int, value: float) -> str:
        x = pad + (step - x0) / (x1 - x0) * (width - 2 * pad)
        y = height - pad - (value - y0) / (y1 - y0) * (height - 2 * pad)
        return f"{x:.1f},{y:.1f}"

    lines, legend = [], []
    for i, (name, points) in enumerate(sorted(series.items())):
        colour = colours[i % len(colours)]
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{" ".join(xy(s, v) for s, v in points)}"/>'
        )
        legend.append(f'<span style="color:{colour}">&#9632; {html.escape(name)}</span>')
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>'
        f'<text x="{pad}" y="{height - 8}" font-size="11">step {x0}</text>'
        f'<text x="{width - pad - 60}" y="{height - 8}" font-size="11">step {x1}</text>'
        f'<text x="2" y="{pad}" font-size="11">{y1:.2f}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{axes}{"".join(lines)}</svg>'
        f'<div class="legend">{" ".join(legend)}</div>'
    )


def write_demo_page(result: DemoResult) -> Path:
    """Write the demo's self-contained HTML page (images referenced relative to it)."""
    out = result.out_dir

    def rel(path: Path | str) -> str:
        return html.escape(Path(path).resolve().relative_to(out.resolve()).as_posix())

    rows = "".join(
        f"<tr><td>{d.direction}</td><td>{d.count}</td><td>{d.cue_before:.1f}</td><td>{d.cue_after:.1f}</td>"
        f"<td>{d.cue_after - d.cue_before:+.1f}</td><td>{d.moved_right_way:.0%}</td></tr>"
        for d in result.directions
    )
    grids = "".join(
        f"<h3>{d.direction}: held-out inputs (top) and outputs (bottom)</h3><img src='{rel(d.grid)}'>"
        for d in result.directions
    )
    samples = sorted((result.run_dir / "samples").glob("*.png"))
    sample_html = "".join(
        f"<figure><img src='{rel(p)}'><figcaption>{p.stem}</figcaption></figure>" for p in samples[-3:]
    )
    report = f"<p><a href='{rel(result.report)}'>Full evaluation report</a></p>" if result.report else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ageshift demo</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}img{{image-rendering:pixelated;max-width:100%}}
figure{{display:inline-block;margin:0 1em 1em 0}}.legend span{{margin-right:1em}}</style></head><body>
<h1>ageshift demo</h1>
<p>A CycleGAN (<code>fast</code> preset) trained for {html.escape(str(_steps(result)))} steps on synthetic faces whose
age shows as greying hair and wrinkle lines, in {result.seconds / 60:.1f} minutes. The cue is measured from
the pixels by <code>ageshift.data.synthetic.measure_age_cue</code> as an apparent age in years.</p>
<h2>Measured age cue on held-out faces</h2>
<table><tr><th>direction</th><th>faces</th><th>before</th><th>after</th><th>shift</th><th>moved the right way</th></tr>
{rows}</table>
{report}
<h2>Translations</h2>{grids}
<h2>Training samples (rows: young → older → back; old → younger → back)</h2>{sample_html}
<h2>Losses</h2>{loss_chart_svg(_read_losses(result.run_dir))}
<p>Run folder: <code>{html.escape(str(result.run_dir))}</code>; model: <code>{html.escape(str(result.model_dir))}</code></p>
</body></html>
"""
    with atomic_write(result.page, "w") as stream:
        stream.write(page)
    return result.page


def _steps(result: DemoResult) -> int | str:
    config = json.loads((result.model_dir / "config.json").read_text(encoding="utf-8"))
    return config.get("metadata", {}).get("training", {}).get("steps", "?")


def _jsonable(result: DemoResult) -> dict[str, Any]:
    data = asdict(result)
    return json.loads(json.dumps(data, default=str))
