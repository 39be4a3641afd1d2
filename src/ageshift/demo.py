"""The main job on an embedded default: synthetic faces of every age → train the `fast` conditional model →
export → sweep the held-out faces from 20 to 80 with the measured age under each image → an HTML page.

The faces are procedural (``ageshift.data.synthetic``): their age shows as greying hair and wrinkle lines and
their hair colour, beard and glasses are drawn attributes, all measurable from pixels, so the page can say
how close each face got to the requested age and colour. No real face is involved: see README.
"""

from __future__ import annotations

import csv
import html
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .io import atomic_write

#: metrics.csv columns that are not loss terms (everything else is charted).
NOT_LOSSES = frozenset({"step", "lr", "images_per_second", "steps_per_second", "size"})
#: Held-out faces in the demo's evaluation (each is translated to every target age and attribute value).
EVALUATION_LIMIT = 48
#: Target ages of the sweep.
SWEEP_AGES = (20, 30, 40, 50, 60, 70, 80)
#: Attributes the demo's model is conditioned on (besides age); the others vary but are left alone.
DEMO_ATTRIBUTES = ("hair",)


@dataclass
class DemoResult:
    """What the demo wrote and measured (ages in years, as the synthetic age cue reads them)."""

    out_dir: Path
    run_dir: Path
    model_dir: Path
    page: Path
    seconds: float
    train_seconds: float
    by_target: list[dict[str, Any]] = field(default_factory=list)
    age_mae: float | None = None
    unchanged_age_mae: float | None = None
    attribute_accuracy: dict[str, float | None] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None


def run_demo(
    out_dir: str | Path = "demo-out",
    count: int = 1200,
    steps: int | None = None,
    seed: int = 0,
    quiet: bool = False,
    evaluate: bool = True,
    attributes: tuple[str, ...] = DEMO_ATTRIBUTES,
    overrides: dict[str, Any] | None = None,
) -> DemoResult:
    """Run the whole demo and write ``out_dir/index.html``.

    Args:
        out_dir: output folder (data, runs, model, report, page); an earlier demo there is replaced.
        count: number of synthetic faces.
        steps: training steps (default: the conditional `fast` preset's).
        seed: seed for the data and the training.
        quiet: no progress bars.
        evaluate: also measure realism (FID/KID with the packaged Inception; slow on a CPU).
        attributes: the attributes the model is conditioned on, besides age.
        overrides: further training config overrides (nested, e.g. ``{"model": {"generator": {...}}}``).

    Returns:
        A :class:`DemoResult` with the measured age error per target age and the attribute accuracies.
    """
    from .config import merge
    from .data.synthetic import make_synthetic_dataset
    from .evaluation import evaluate_model
    from .models.translator import load
    from .training import export_run, train, train_config

    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "data"
    _say(quiet, f"1/4 rendering {count} synthetic faces aged 15-80 into {data_dir}")
    make_synthetic_dataset(
        data_dir, count=count, seed=seed, overwrite=True, progress=not quiet, all_ages=True
    )
    extra = overrides
    overrides = {"seed": seed, "model": {"use_attributes": list(attributes)}}
    if steps is not None:
        stage = train_config("fast", family="stargan").stages[0]
        overrides["stages"] = [asdict(stage) | {"steps": steps}]
    config = train_config("fast", family="stargan", overrides=merge(overrides, extra or {}))
    _say(quiet, f"2/4 training the fast conditional model for {config.total_steps} steps on {config.device}")
    train_started = time.perf_counter()
    run_dir = train(config, data_dir, out / "runs", name="demo", quiet=quiet)
    train_seconds = time.perf_counter() - train_started
    model_dir = out / "model"
    _say(
        quiet,
        f"3/4 exporting to {model_dir}; sweeping held-out faces over ages {SWEEP_AGES[0]}-{SWEEP_AGES[-1]}",
    )
    export_run(run_dir, model_dir)
    sections = ("age", "attributes", "identity") + (("realism",) if evaluate else ())
    metrics = evaluate_model(
        load(model_dir), data_dir, out / "report", limit=EVALUATION_LIMIT, sections=sections,
        seed=seed, progress=not quiet, target_ages=list(SWEEP_AGES),
    )  # fmt: skip
    conditional = metrics.get("conditional", {})
    age = conditional.get("age", {})
    result = DemoResult(
        out, run_dir, model_dir, out / "index.html", time.perf_counter() - started, train_seconds,
        by_target=age.get("by_target", []), age_mae=age.get("mae"), unchanged_age_mae=age.get("unchanged_mae"),
        attribute_accuracy={
            name: entry.get("accuracy")
            for name, entry in conditional.get("attributes", {}).get("by_attribute", {}).items()
        },
        identity=conditional.get("identity", {}), report=out / "report" / "index.html",
    )  # fmt: skip
    _say(quiet, f"4/4 writing {result.page}")
    write_demo_page(result)
    with atomic_write(out / "demo.json", "w") as stream:
        json.dump(_jsonable(result), stream, indent=2)
    return result


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        from rich.console import Console

        Console(stderr=True).print(f"[bold cyan]demo[/] {message}", highlight=False)


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

    def number(value: Any, digits: int = 1) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    rows = "".join(
        f"<tr><td>{entry['target_age']:g}</td><td>{number(entry['mean_achieved_age'])}</td>"
        f"<td>{number(entry['mae'])}</td><td>{number(entry['unchanged_mae'])}</td></tr>"
        for entry in result.by_target
    )
    accuracy = "".join(
        f"<li>{html.escape(name)}: {number(None if value is None else 100 * value, 0)} % of outputs show the "
        "requested value</li>"
        for name, value in result.attribute_accuracy.items()
    )
    identity = result.identity
    identity_line = (
        f"<p>Identity: mean identity-feature distance {number(identity.get('mean_distance'), 3)}, "
        f"{number(100 * identity['share_same_person'], 0)} % of outputs within the tolerance.</p>"
        if identity.get("share_same_person") is not None
        else ""
    )
    report_dir = result.report.parent if result.report else out / "report"
    grids = [
        report_dir / "grids" / "time_machine.png",
        *sorted((report_dir / "grids").glob("attribute_*.png")),
    ]
    grid_html = "".join(
        f"<p><img src='{rel(p)}' alt='{html.escape(p.stem)}'></p>" for p in grids if p.exists()
    )
    plot = report_dir / "plots" / "age_target_vs_achieved.png"
    plot_html = f"<p><img src='{rel(plot)}' alt='target vs achieved age'></p>" if plot.exists() else ""
    samples = sorted((result.run_dir / "samples").glob("*.png"))
    sample_html = "".join(
        f"<figure><img src='{rel(p)}'><figcaption>{p.stem}</figcaption></figure>" for p in samples[-2:]
    )
    report = f"<p><a href='{rel(result.report)}'>Full evaluation report</a></p>" if result.report else ""
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ageshift demo</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}img{{max-width:100%}}
figure{{display:inline-block;margin:0 1em 1em 0}}.legend span{{margin-right:1em}}</style></head><body>
<h1>ageshift demo: one model, any target age</h1>
<p>A conditional (StarGAN-style, <code>fast</code> preset) model trained for {html.escape(str(_steps(result)))} steps
({result.train_seconds / 60:.1f} min; {result.seconds / 60:.1f} min in all) on procedural faces aged 15-80 whose age shows
as greying hair and wrinkle lines. Each held-out face is asked for every age from {SWEEP_AGES[0]} to {SWEEP_AGES[-1]};
the age under each image is read back from the pixels by <code>ageshift.data.measure_age_cue</code>. These are
synthetic faces: no model trained here works on real photos (that needs an age-labelled face set such as
UTKFace, which must be downloaded by you; see the README).</p>
<h2>Requested vs measured age on held-out faces</h2>
<table><tr><th>target age</th><th>mean measured age</th><th>mean abs. error</th><th>error if unchanged</th></tr>
{rows}</table>
<p>Overall mean absolute error {number(result.age_mae)} years (a model that changed nothing: {number(result.unchanged_age_mae)}).</p>
<ul>{accuracy}</ul>
{identity_line}
{report}
<h2>The time machine (rows: held-out faces; columns: the input, then each target age)</h2>{grid_html}{plot_html}
<h2>Training samples (input, then five ages across the range, then each hair colour)</h2>{sample_html}
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
