"""Makeup models judged on held-out pairs: does the output wear the reference's colours, and is it the same person?

For each bare source paired with a made-up reference (another person) the model's output is measured from its
pixels (:func:`~ageshift.data.synthetic_makeup.region_colours`: median CIE L*a*b* of each region):

- **colour**: ΔE (CIE76) between each region of the source and the reference's same region before transfer,
  and between the output and the reference after; the ratio after/before (lips and eye shadow are what the
  makeup loss targets; skin carries foundation and blush);
- **identity**: the synthetic identity features (skin, head shape, iris, background) on procedural faces, dlib's
  descriptor distance on real ones; each next to the distance between two different people of the same set;
- **removal**: the reference with its makeup removed, against bare faces: ΔE between each of its regions and the
  median colour of that region over the bare sources, before (wearing makeup) and after removal (no ground truth
  of the same person bare exists, so the bare population's median stands for "no makeup");
- **outside**: the mean change outside lips and eye shadow, in 0-255 levels;
- **realism**: FID/KID of the outputs against the references (the makeup domain).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.synthetic_makeup import delta_e, region_colours
from ..errors import AgeshiftError
from ..faces.regions import REGIONS
from ..image import make_grid, tensor_to_pil, tensor_to_uint8
from ..io import save_image

MAKEUP_SECTIONS = ("colour", "identity", "realism")
#: Pairs shown in the report's grid.
GRID_PAIRS = 8


def _identity_kind(root: Path, requested: str) -> str:
    if requested != "auto":
        return requested
    try:
        origin = json.loads((root / "landmarks.json").read_text(encoding="utf-8")).get("origin", {})
    except (OSError, ValueError):
        origin = {}
    return "synthetic" if origin.get("kind") == "synthetic" else "dlib"


def _identity_distances(kind: str, first: torch.Tensor, second: torch.Tensor) -> np.ndarray:
    if kind == "synthetic":
        from ..data.synthetic_identity import identity_distance, measure_identity

        return np.asarray(identity_distance(measure_identity(first), measure_identity(second)), np.float64)
    if kind == "dlib":
        from ..latent.scoring import packaged_identity_distance

        return packaged_identity_distance()(first, second)
    raise AgeshiftError(f"identity must be auto, synthetic or dlib, got {kind!r}")


def _median(values: list[float]) -> float | None:
    finite = [value for value in values if np.isfinite(value)]
    return float(np.median(finite)) if finite else None


def evaluate_makeup(
    model: Any,
    data: str | Path,
    out: str | Path | None = None,
    limit: int | None = None,
    identity: str = "auto",
    sections: tuple[str, ...] = MAKEUP_SECTIONS,
    fid_weights: str | Path | None = None,
) -> dict[str, Any]:
    """Figures of a makeup model (:class:`~ageshift.models.beautygan.MakeupTranslator`) on a prepared folder.

    Args:
        model: the loaded makeup model.
        data: a makeup data folder (``ageshift prepare makeup``); ``test/`` pairs when it has them.
        out: when given, ``grid.png`` (rows: source, reference, made up, reference with makeup removed) is
            written there and its name recorded.
        limit: at most this many pairs.
        identity: ``auto`` (synthetic features on procedural data, else dlib), ``synthetic`` or ``dlib``.
        sections: any of :data:`MAKEUP_SECTIONS`.
        fid_weights: TorchScript FID feature network (default: the packaged TF-Inception).

    Returns:
        ``{"pairs", "regions": {region: {"before", "after", "ratio"}}, "removal": {same}, "identity": {...},
        "outside_change_255",
        "realism": {...}, "grid"}``.
    """
    from ..models.beautygan.data import held_out_pairs

    if not hasattr(model, "transfer_pairs"):
        raise AgeshiftError(f"evaluate makeup: a {getattr(model, 'family', '?')} model is not a makeup model")
    root = Path(data)
    pairs = held_out_pairs(root, model.image_size, limit)
    sources, references = pairs["source"], pairs["reference"]
    made_up, removed = model.transfer_pairs(sources, references)
    size = sources.shape[-1]
    figures: dict[str, Any] = {"pairs": int(sources.shape[0]), "image_size": size}
    if "colour" in sections:
        figures.update(_colour_figures(pairs, sources, references, made_up, removed))
    if "identity" in sections:
        kind = _identity_kind(root, identity)
        kept = _identity_distances(kind, sources, made_up)
        others = _identity_distances(kind, sources, references)
        figures["identity"] = {
            "measure": kind,
            "source_to_output": _median(list(kept)),
            "different_people": _median(list(others)),
        }
    if "realism" in sections:
        figures["realism"] = _realism(made_up, removed, references, sources, fid_weights)
    if out is not None:
        out = Path(out)
        count = min(GRID_PAIRS, sources.shape[0])
        rows = [batch[:count] for batch in (sources, references, made_up, removed)]
        save_image(tensor_to_pil(make_grid(rows)), out / "makeup_grid.png")
        figures["grid"] = "makeup_grid.png"
    return figures


def _colour_figures(
    pairs: dict[str, Any],
    sources: torch.Tensor,
    references: torch.Tensor,
    made_up: torch.Tensor,
    removed: torch.Tensor,
) -> dict[str, Any]:
    """``regions`` (transfer), ``removal`` and ``outside_change_255``; see the module docstring."""
    count = sources.shape[0]
    source_colours = [
        region_colours(tensor_to_uint8(sources[i]), pairs["source_points"][i]) for i in range(count)
    ]
    bare = {region: _median_colour([colours[region] for colours in source_colours]) for region in REGIONS}
    transfer: dict[str, tuple[list[float], list[float]]] = {region: ([], []) for region in REGIONS}
    removal: dict[str, tuple[list[float], list[float]]] = {region: ([], []) for region in REGIONS}
    outside_change = []
    for index in range(count):
        source_points, reference_points = pairs["source_points"][index], pairs["reference_points"][index]
        target = region_colours(tensor_to_uint8(references[index]), reference_points)
        end = region_colours(tensor_to_uint8(made_up[index]), source_points)
        cleaned = region_colours(tensor_to_uint8(removed[index]), reference_points)
        for region in REGIONS:
            wanted, first, last = target[region], source_colours[index][region], end[region]
            if wanted is not None and first is not None and last is not None:
                transfer[region][0].append(delta_e(first, wanted))
                transfer[region][1].append(delta_e(last, wanted))
            plain, after = bare[region], cleaned[region]
            if plain is not None and wanted is not None and after is not None:
                removal[region][0].append(delta_e(wanted, plain))
                removal[region][1].append(delta_e(after, plain))
        outside = ~(pairs["source_masks"][index, 0] | pairs["source_masks"][index, 1]).numpy()
        change = (made_up[index] - sources[index]).abs().numpy().transpose(1, 2, 0)[outside]
        outside_change.append(float(change.mean()) * 127.5)
    return {
        "regions": {region: _before_after(*transfer[region]) for region in REGIONS},
        "removal": {region: _before_after(*removal[region]) for region in REGIONS},
        "outside_change_255": float(np.mean(outside_change)),
    }


def _median_colour(colours: list[Any]) -> np.ndarray | None:
    """Per-channel median of the Lab colours that exist."""
    present = [np.asarray(colour, np.float64) for colour in colours if colour is not None]
    return np.median(np.stack(present), axis=0) if present else None


def _before_after(before: list[float], after: list[float]) -> dict[str, float | None]:
    low, high = _median(before), _median(after)
    return {"before": low, "after": high, "ratio": high / low if low and high is not None else None}


def _realism(
    made_up: torch.Tensor,
    removed: torch.Tensor,
    references: torch.Tensor,
    sources: torch.Tensor,
    weights: str | Path | None,
) -> dict[str, Any]:
    if made_up.shape[0] < 2:
        return {"skipped": "FID/KID need at least two pairs"}
    from .fid import InceptionFeatures, fid_from_features, kid_from_features

    network = InceptionFeatures(weights)
    result: dict[str, Any] = {}
    for name, fakes, reals in (
        ("made_up_vs_makeup", made_up, references),
        ("removed_vs_bare", removed, sources),
    ):
        fake_features, real_features = network(fakes), network(reals)
        kid, kid_std = kid_from_features(fake_features, real_features)
        result[name] = {
            "fid": fid_from_features(fake_features, real_features),
            "kid": kid,
            "kid_std": kid_std,
        }
    return result


def makeup_html(summary: dict[str, Any], base: str = "") -> str:
    """The report section of a makeup model (``metrics["makeup"]``)."""
    import html

    from .report import _rows_table

    parts = [f"<h2>Makeup transfer on {summary['pairs']} held-out pair(s) at {summary['image_size']}²</h2>"]
    if "regions" in summary:
        parts.append(
            "<p>Median CIE76 ΔE between each region and the reference's same region: before (the bare source) "
            "and after transfer. Lower after is better; the ratio is after/before.</p>"
        )
        rows = [
            [region, values["before"], values["after"], values["ratio"]]
            for region, values in summary["regions"].items()
        ]
        parts.append(_rows_table(["region", "ΔE before", "ΔE after", "after/before"], rows))
        parts.append(
            f"<p>Mean change outside lips and eye shadow: {summary['outside_change_255']:.2f} of 255 levels.</p>"
        )
    if "removal" in summary:
        parts.append(
            "<p>Removal: median ΔE between each region of the reference and the median colour of that region "
            "over the bare sources, wearing makeup and after removal (lower after is better).</p>"
        )
        rows = [
            [region, values["before"], values["after"], values["ratio"]]
            for region, values in summary["removal"].items()
        ]
        parts.append(_rows_table(["region", "ΔE wearing", "ΔE removed", "removed/wearing"], rows))
    if "identity" in summary:
        entry = summary["identity"]
        parts.append(
            f"<p>Identity ({html.escape(entry['measure'])}): source to output {_fmt(entry['source_to_output'])}, "
            f"two different people {_fmt(entry['different_people'])}.</p>"
        )
    realism = summary.get("realism", {})
    if realism and "skipped" not in realism:
        rows = [[name, values["fid"], values["kid"]] for name, values in realism.items()]
        parts.append(_rows_table(["outputs vs domain", "FID", "KID"], rows))
    if summary.get("grid"):
        parts.append(
            "<h3>Rows: source, reference, source wearing the makeup, reference with it removed</h3>"
            f"<p><img src='{html.escape(base + summary['grid'])}' alt='makeup grid'></p>"
        )
    return "\n".join(parts)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
