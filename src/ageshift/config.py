"""Configuration as plain dataclasses: built from dicts or YAML, with dotted ``key=value`` overrides.

Unknown keys fail loudly with the list of valid ones, so a typo never trains the wrong model silently.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from .errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def to_dict(config: Any) -> dict[str, Any]:
    """A nested plain-dict copy of a dataclass (tuples become lists, for JSON/YAML)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(config)


#: The largest image side a model config may ask for: larger ones would allocate absurd memory per image.
MAX_IMAGE_SIZE = 4096


def within(
    low: float | None = None,
    high: float | None = None,
    *,
    above: float | None = None,
    below: float | None = None,
) -> dict[str, Any]:
    """Field metadata declaring the range a number (or every number of a list/tuple) must lie in.

    Use as ``channels: int = field(default=64, metadata=within(1, 1024))``; :func:`from_dict` and
    :func:`validate_fields` check it, so a config file can never ask for a negative or absurd size.

    Args:
        low, high: inclusive bounds (``None``: unbounded).
        above, below: exclusive bounds (``within(above=0)`` for a learning rate).

    Returns:
        ``{"range": (low, high, above, below)}`` for ``dataclasses.field(metadata=...)``.
    """
    return {"range": (low, high, above, below)}


def validate_fields(config: Any, where: str = "") -> None:
    """Check every field of a dataclass instance, nested ones included, against its type and declared range.

    Config dataclasses call it first in ``__post_init__`` so that directly constructed configs are held to
    the same rules as those read by :func:`from_dict`.

    Args:
        config: a dataclass instance.
        where: dotted prefix used in error messages (e.g. ``"model"``).

    Raises:
        ConfigError: naming the field, the value and what was expected.
    """
    hints = typing.get_type_hints(type(config))
    for spec in dataclasses.fields(config):
        value, name = getattr(config, spec.name), _join(where, spec.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            validate_fields(value, name)
            continue
        _check_range(spec, _coerce(hints[spec.name], value, name), name)


def _check_range(spec: dataclasses.Field, value: Any, where: str) -> None:
    bounds = spec.metadata.get("range")
    if bounds is None or value is None:
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_range(spec, item, f"{where}[{index}]")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    low, high, above, below = bounds
    wanted = [
        text
        for text, bad in (
            (f">= {low}", low is not None and value < low),
            (f"<= {high}", high is not None and value > high),
            (f"> {above}", above is not None and value <= above),
            (f"< {below}", below is not None and value >= below),
        )
        if bad
    ]
    if wanted:
        raise ConfigError(f"{where} must be {' and '.join(wanted)}, got {value!r}")


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict, checking keys, types and declared ranges (:func:`within`).

    Args:
        cls: a dataclass type whose fields may themselves be dataclasses.
        data: values; missing keys keep their defaults (a field without a default must be given).
        where: dotted prefix used in error messages.

    Returns:
        An instance of ``cls``.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields), key=str)
    if unknown:
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(_join(where, str(k)) for k in unknown)}; valid keys here: {', '.join(sorted(fields))}"
        )
    required = [
        name
        for name, spec in fields.items()
        if name not in data
        and spec.default is dataclasses.MISSING
        and spec.default_factory is dataclasses.MISSING
        and spec.init
    ]
    if required:
        raise ConfigError(f"{', '.join(_join(where, name) for name in required)}: missing (required)")
    values = {}
    for name, value in data.items():
        # Ranges are checked before the dataclass is built: its __post_init__ may compute with the values
        # (2**num_downsamples), and an absurd one must never get that far.
        values[name] = _coerce(hints[name], value, _join(where, name))
        _check_range(fields[name], values[name], _join(where, name))
    try:
        return cls(**values)
    except (TypeError, ValueError, OverflowError) as error:
        raise ConfigError(f"{where or cls.__name__}: {error}") from None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if dataclasses.is_dataclass(value):
            return value
        return from_dict(hint, value, where)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        real = [option for option in options if option is not type(None)]
        if len(real) == 1 and value is not None and _describe(real[0]) != "an object":
            return _coerce(real[0], value, where)  # its own message names the item at fault
        for option in real:
            try:
                return _coerce(option, value, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: expected {_describe(hint)}, got {_short(value)}")
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            # tuple[float, float]: exactly that many items, each of its own type
            if len(value) != len(args):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)} ({list(value)!r})")
            return tuple(
                _coerce(item, v, f"{where}[{i}]") for i, (item, v) in enumerate(zip(args, value, strict=True))
            )
        item = args[0] if args else Any
        if item is Ellipsis or item is Any:
            converted = list(value)
        else:
            converted = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(converted) if origin is tuple else converted
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is not Any:
            return {key: _coerce(args[1], item, f"{where}.{key}") for key, item in value.items()}
        return dict(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):  # JSON and YAML both spell NaN and infinity
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _describe(hint: Any) -> str:
    """How a message names what a type hint accepts: ``an object or null``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(option) for option in typing.get_args(hint))
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    if hint is type(None):
        return "null"
    if origin is dict or hint is dict or (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        return "an object"
    if origin in (list, tuple) or hint in (list, tuple):
        return "a list"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, str(hint))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Turn ``["train.lr=1e-4", "model.generator.channels=32"]`` into a nested dict (values parsed as YAML)."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, str):
            # YAML 1.1 reads "1e-4" as a string; users mean a number.
            with contextlib.suppress(ValueError):
                value = float(value)
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override of {part}")
        node[parts[-1]] = value
    return nested


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``; nested dicts merge, everything else replaces."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` with a clear error for a missing or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data
