"""Export a training run as an inference model: ``config.json`` + ``model.safetensors`` (a Translator)."""

from __future__ import annotations

from pathlib import Path

from ..config import to_dict
from ..models.cyclegan import CycleGAN
from ..models.translator import Translator
from .checkpoint import load_checkpoint, load_latest_checkpoint
from .config import config_from_dict
from .rundir import read_dataset_info


def export_run(run_dir: str | Path, out_dir: str | Path, checkpoint: str | Path | None = None) -> Translator:
    """Turn a run's checkpoint into a model folder that ``ageshift.load`` reads.

    Args:
        run_dir: the run folder (``RUNS/NNN-name``).
        out_dir: where to write ``config.json`` and ``model.safetensors`` (created).
        checkpoint: a specific checkpoint file; default the run's newest loadable one.

    Returns:
        The exported :class:`Translator` (generators on the CPU, in eval mode). Its metadata holds the
        data's ``domains`` and ``crop`` (from the run's ``dataset.json``) and a training summary.
    """
    run_dir = Path(run_dir)
    if checkpoint is None:
        checkpoint_file, state = load_latest_checkpoint(run_dir)
    else:
        checkpoint_file, state = Path(checkpoint), load_checkpoint(checkpoint)
    config = config_from_dict(state["config"])
    model_config = config.model_config()
    model = CycleGAN(model_config)
    model.load_state_dict(state["model"])
    dataset_info = read_dataset_info(run_dir)
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
    translator = Translator(
        {"older": model.generator_older, "younger": model.generator_younger},
        family="cyclegan",
        model_config=to_dict(model_config),
        image_size=config.final_size,
        metadata=metadata,
    )
    translator.save_pretrained(out_dir)
    return translator
