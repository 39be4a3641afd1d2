"""Conditions are data: what a model accepts (directions, a target age range, attribute values) and checks.

Every inference model carries a :class:`ConditionSpec`. The CLI options, the web page's controls and the
validation errors are built from it, never from family names:

- two-domain models (CycleGAN) accept ``direction`` (``"older"``/``"younger"``);
- conditional models (StarGAN) accept ``target_age`` in a range and ``attributes`` (name → one of its values);
- every model accepts ``strength`` in ``[0, 1]``: how far from the input towards the requested condition
  (0 returns the input, 1 the full edit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import AgeshiftError


class ConditionError(AgeshiftError):
    """A requested condition is not one the model accepts; the message names what it accepts."""


@dataclass(frozen=True)
class Condition:
    """One resolved request: a direction, or a target age and/or attribute values, plus the strength."""

    direction: str | None = None
    target_age: float | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    strength: float = 1.0

    def label(self) -> str:
        """A short human description: ``"older"``, ``"age 70, hair=blond"``."""
        parts = [self.direction] if self.direction else []
        if self.target_age is not None:
            parts.append(f"age {self.target_age:g}")
        parts += [f"{name}={value}" for name, value in sorted(self.attributes.items())]
        if self.strength != 1.0:
            parts.append(f"strength {self.strength:g}")
        return ", ".join(parts) or "no change"

    def to_json(self) -> dict[str, Any]:
        """A JSON-able form (for reports)."""
        return {
            "direction": self.direction,
            "target_age": self.target_age,
            "attributes": dict(self.attributes),
            "strength": self.strength,
        }


@dataclass(frozen=True)
class ConditionSpec:
    """What a model accepts.

    Attributes:
        directions: named directions of a two-domain model (empty for conditional models).
        age: ``(min, max)`` target ages in years a conditional model accepts, or ``None``.
        attributes: attribute name → allowed values, in the model's order.
    """

    directions: tuple[str, ...] = ()
    age: tuple[float, float] | None = None
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        """Whether the model takes a target age or attributes (rather than a direction)."""
        return self.age is not None or bool(self.attributes)

    def describe(self) -> list[dict[str, Any]]:
        """One entry per accepted option: ``{"name", "type", "choices" | "min"/"max", "help"}``.

        ``type`` is ``"choice"`` or ``"number"``; attribute entries are named ``attributes.NAME``. The CLI's
        help, the web page's controls and error messages are made from this list.
        """
        entries: list[dict[str, Any]] = []
        if self.directions:
            entries.append(
                {"name": "direction", "type": "choice", "choices": list(self.directions), "help": "direction"}
            )
        if self.age is not None:
            entries.append(
                {
                    "name": "target_age",
                    "type": "number",
                    "min": self.age[0],
                    "max": self.age[1],
                    "help": "years",
                }
            )
        for name, values in self.attributes.items():
            entries.append(
                {"name": f"attributes.{name}", "type": "choice", "choices": list(values), "help": name}
            )
        entries.append(
            {"name": "strength", "type": "number", "min": 0.0, "max": 1.0, "help": "0 input, 1 full"}
        )
        return entries

    def accepts(self) -> str:
        """One line listing what the model accepts, for error messages."""
        parts = []
        if self.directions:
            parts.append(f"--direction {' or '.join(self.directions)}")
        if self.age is not None:
            parts.append(f"--target-age {self.age[0]:g}..{self.age[1]:g}")
        for name, values in self.attributes.items():
            parts.append(f"--attribute {name}={'|'.join(values)}")
        return "; ".join(parts) if parts else "no condition"

    def resolve(
        self,
        direction: str | None = None,
        target_age: float | None = None,
        attributes: Mapping[str, str] | None = None,
        strength: float | None = 1.0,
    ) -> Condition:
        """Check a request against the spec and return it as a :class:`Condition`.

        Args:
            direction: for two-domain models; may be omitted when the model has exactly one.
            target_age: for models with an age range.
            attributes: ``{"hair": "blond"}``; names and values must be ones the model accepts.
            strength: ``[0, 1]``; ``None`` means 1.

        Raises:
            ConditionError: naming the bad value and what the model accepts.
        """
        strength = 1.0 if strength is None else _number(strength, "strength")
        if not (0.0 <= strength <= 1.0) or math.isnan(strength):
            raise ConditionError(f"strength must be between 0 and 1, got {strength}")
        attributes = dict(attributes or {})
        if self.directions:
            if target_age is not None or attributes:
                raise ConditionError(
                    f"this model translates between two domains and takes no target age or attributes; "
                    f"it accepts {self.accepts()}"
                )
            if direction is None:
                if len(self.directions) != 1:
                    raise ConditionError(f"choose a direction: this model accepts {self.accepts()}")
                direction = self.directions[0]
            if direction not in self.directions:
                raise ConditionError(f"unknown direction {direction!r}; this model accepts {self.accepts()}")
            return Condition(direction=direction, strength=strength)
        if direction is not None:
            raise ConditionError(
                f"this model takes a target, not a direction ({direction!r}); it accepts {self.accepts()}"
            )
        if target_age is None and not attributes:
            raise ConditionError(f"say what to change: this model accepts {self.accepts()}")
        if target_age is not None:
            if self.age is None:
                raise ConditionError(f"this model takes no target age; it accepts {self.accepts()}")
            age = _number(target_age, "target age")
            low, high = self.age
            if math.isnan(age) or not low <= age <= high:
                raise ConditionError(f"target age {age:g} is outside this model's range {low:g}..{high:g}")
            target_age = age
        for name, value in attributes.items():
            if name not in self.attributes:
                known = ", ".join(self.attributes) or "none"
                raise ConditionError(f"unknown attribute {name!r}; this model knows: {known}")
            if value not in self.attributes[name]:
                raise ConditionError(
                    f"attribute {name}={value!r} is not allowed; choose one of {', '.join(self.attributes[name])}"
                )
        return Condition(target_age=target_age, attributes=attributes, strength=strength)

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in a model's ``config.json``."""
        data: dict[str, Any] = {}
        if self.directions:
            data["directions"] = list(self.directions)
        if self.age is not None:
            data["age"] = {"min": self.age[0], "max": self.age[1]}
        if self.attributes:
            data["attributes"] = {name: list(values) for name, values in self.attributes.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ConditionSpec:
        """Inverse of :meth:`to_json`."""
        data = data or {}
        age = data.get("age")
        return cls(
            directions=tuple(data.get("directions", ())),
            age=(float(age["min"]), float(age["max"])) if age else None,
            attributes={
                str(k): tuple(str(v) for v in vs) for k, vs in (data.get("attributes") or {}).items()
            },
        )


def upscaling_condition(
    direction: str | None = None,
    target_age: float | None = None,
    attributes: Mapping[str, str] | None = None,
    strength: float | None = 1.0,
) -> Condition:
    """The only request a super-resolution model takes (PyTorch and ONNX alike): none, at full strength.

    Raises:
        ConditionError: a direction, target age or attributes, or a strength other than 1.
    """
    if direction is not None or target_age is not None or attributes:
        raise ConditionError("a super-resolution model takes no direction, target age or attributes")
    if strength is not None and float(strength) != 1.0:
        raise ConditionError(
            f"a super-resolution model takes no strength (got {strength}); it always upscales"
        )
    return Condition(strength=1.0)


def _number(value: Any, name: str) -> float:
    """``value`` as a float, or a :class:`ConditionError` naming it (Python callers may pass any object)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConditionError(f"{name} must be a number, got {value!r}") from None


def parse_attribute_options(options: list[str] | None) -> dict[str, str]:
    """Turn ``["hair=blond", "glasses=none"]`` (CLI ``--attribute`` values) into a dict.

    Raises:
        ConditionError: an entry is not ``NAME=VALUE`` or names an attribute twice.
    """
    parsed: dict[str, str] = {}
    for option in options or []:
        name, sep, value = option.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ConditionError(f"--attribute {option!r}: expected NAME=VALUE, e.g. hair=blond")
        if name in parsed:
            raise ConditionError(f"--attribute {name} is given twice")
        parsed[name] = value
    return parsed
