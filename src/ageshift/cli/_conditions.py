"""The condition options every command that runs a model shares, checked against the model's description.

Commands declare ``--direction``, ``--target-age``, ``--attribute NAME=VALUE`` and ``--strength`` with the
help texts below, then call :func:`condition_request`: what is valid comes from the model's
``ConditionSpec``, never from family names, and a bad request is one line naming what the model accepts.
"""

from __future__ import annotations

from typing import Any

import typer

DIRECTION_HELP = "Two-domain models: older or younger (see `ageshift info MODEL`)."
TARGET_AGE_HELP = "Conditional models: the age to show, in the model's range."
ATTRIBUTE_HELP = "Conditional models: NAME=VALUE, e.g. hair=blond (repeatable)."
DETECTOR_HELP = (
    "Face detector: mtcnn (faces from 40 px), blazeface or blazeface:front (fast, large faces only; needs "
    "MediaPipe's graphs: $AGESHIFT_BLAZEFACE) or dlib."
)
STRENGTH_HELP = "0..1: how far from the input towards the requested condition (default 1)."


def direction_option() -> Any:
    return typer.Option(None, "--direction", "-d", help=DIRECTION_HELP)


def target_age_option() -> Any:
    return typer.Option(None, "--target-age", "-a", help=TARGET_AGE_HELP)


def attribute_option() -> Any:
    return typer.Option(None, "--attribute", help=ATTRIBUTE_HELP)


def strength_option() -> Any:
    return typer.Option(None, "--strength", help=STRENGTH_HELP)


def condition_request(
    translator: Any,
    direction: str | None,
    target_age: float | None,
    attributes: list[str] | None,
    strength: float | None,
) -> dict[str, Any]:
    """Keyword arguments for ``translator.translate``/``age_photo``, checked against the model.

    Raises:
        ConditionError: a condition the model does not accept (the message lists what it accepts).
    """
    from ..models.conditions import parse_attribute_options

    parsed = parse_attribute_options(attributes)
    condition = translator.condition(direction, target_age, parsed, strength)
    return {
        "direction": condition.direction,
        "target_age": condition.target_age,
        "attributes": condition.attributes or None,
        "strength": condition.strength,
    }
