"""Export a training run of any family as an inference model: ``config.json`` + ``model.safetensors``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import to_dict
from ..errors import ModelLoadError
from ..models.family import ModelFamily, TrainingModel
from ..models.translator import Translator
from ..pretrained import model_card
from ..registry import get_family
from .checkpoint import load_checkpoint, use_latest_checkpoint, using_checkpoint
from .config import TrainConfig, config_from_dict
from .rundir import read_dataset_info
from .state import upgrade_checkpoint


def export_run(run_dir: str | Path, out_dir: str | Path, checkpoint: str | Path | None = None) -> Translator:
    """Turn a run's checkpoint into a model folder that ``ageshift.load`` reads.

    Args:
        run_dir: the run folder (``RUNS/NNN-name``).
        out_dir: where to write ``config.json`` and ``model.safetensors`` (created).
        checkpoint: a specific checkpoint file; default the run's newest loadable one.

    Returns:
        The exported :class:`Translator` (on the CPU, in eval mode). Its metadata holds the data's
        ``domains`` and ``crop`` (from the run's ``dataset.json``) and a training summary; its model card
        the training data, the licences of what it was made from, and the family.
    """
    run_dir = Path(run_dir)
    if checkpoint is None:
        # The newest checkpoint that loads, fits its networks and is finite; older ones stand in (with a
        # warning naming the file) for one that does not.
        checkpoint_file, state, (config, family, model_config, model) = use_latest_checkpoint(
            run_dir, _rebuild
        )
    else:
        checkpoint_file, state = Path(checkpoint), load_checkpoint(checkpoint)
        config, family, model_config, model = using_checkpoint(_rebuild, checkpoint_file, state)
    state = upgrade_checkpoint(state)
    dataset_info = read_dataset_info(run_dir)
    data = state.get("data", {})
    metadata = {
        "domains": dataset_info.get("domains"),
        "crop": dataset_info.get("crop"),
        "dataset": dataset_info.get("name"),
        "training": {
            "steps": int(state["step"]),
            "total_steps": config.total_steps,
            "preset": config.preset,
            "model_preset": config.model_preset,
            "stages": [to_dict(stage) for stage in config.stages],
            "date": state.get("saved_at"),
            "run": run_dir.name,
            "checkpoint": checkpoint_file.name,
        },
    }
    card = model_card(
        family.name,
        family.summary,
        training_data=_training_data(dataset_info, data),
        licences=_licences(dataset_info, family.licences, model_config),
    )
    translator = family.export(model.cpu().eval(), config.final_size, metadata, card)
    translator.save_pretrained(out_dir)
    return translator


def _rebuild(path: Path, state: dict[str, Any]) -> tuple[TrainConfig, type[ModelFamily], Any, TrainingModel]:
    """The networks of a checkpoint, refusing one that lacks entries, does not fit, or holds NaN/inf weights."""
    state = upgrade_checkpoint(state)
    config = config_from_dict(state["config"])
    family = get_family(config.family)
    model_config = (
        family.config_from_dict(state["model_config"]) if "model_config" in state else config.model_config()
    )
    broken = [
        name
        for name, tensor in state["model"].items()
        if isinstance(tensor, torch.Tensor)
        and tensor.is_floating_point()
        and not bool(torch.isfinite(tensor).all())
    ]
    if broken:
        raise ModelLoadError(
            f"{path}: weights {broken[0]!r} hold NaN or infinite values (the run diverged); export an earlier "
            "checkpoint with --checkpoint"
        )
    model = family.build(model_config)
    model.load_state_dict(state["model"])
    return config, family, model_config, model


def _training_data(dataset_info: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The model card's training-data entry: name, size, labels used, licence and source."""
    return {
        "name": dataset_info.get("name") or data.get("root") or data.get("folder_a"),
        "size": data.get("counts"),
        "labels": data.get("labels") or dataset_info.get("labels"),
        "domains": dataset_info.get("domains"),
        "licence": dataset_info.get("licence"),
        "source": dataset_info.get("source"),
    }


def _licences(dataset_info: dict[str, Any], family_licences: list[dict[str, str]], model_config: Any) -> list:
    """Licences of the data and of every third-party weight the model was trained with."""
    entries = []
    if dataset_info.get("licence"):
        entries.append(
            {
                "name": dataset_info.get("name", "training data"),
                "licence": dataset_info["licence"],
                "origin": dataset_info.get("source", ""),
                "used_for": "training data",
            }
        )
    uses = getattr(model_config, "third_party", None)
    extra = uses() if callable(uses) else []
    return entries + list(family_licences) + list(extra)
