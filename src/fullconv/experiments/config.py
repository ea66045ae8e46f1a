"""Experiment configs: frozen dataclasses whose defaults are the paper's protocol, presets, and ``--set``.

``--set key=value`` is parsed against the field's type: int, float, bool, str, ``X | None``
(``none``), ``Literal[...]`` and tuples (comma lists: ``borders=same,full``; ``sizes=1,2,3``).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's config: how many seeds to run (seeds 0 … seeds-1)."""

    seeds: int = 1


def field_types(config_cls: type) -> dict[str, Any]:
    """Field name -> resolved type of a config dataclass (string annotations included)."""
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def parse_value(text: str, kind: Any, key: str) -> Any:
    """Parse ``text`` as a value of type ``kind`` (the field ``key``), or raise a ValueError saying what was expected."""
    try:
        return _parse(text, kind)
    except ValueError as error:
        raise ValueError(f"--set {key}={text}: {error}") from None


def _parse(text: str, kind: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if text.lower() == "none" and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return _parse(text, option)
            except ValueError as error:
                last = error
        if len(options) == 1:
            raise last
        raise ValueError(f"expected one of {', '.join(_type_name(a) for a in args)}")
    if origin is typing.Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        raise ValueError(f"choose one of: {', '.join(str(a) for a in args)}")
    if origin is tuple:
        items = [part.strip() for part in text.split(",")] if text.strip() else []
        kinds = [args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis else list(args) or [str] * len(items)
        if len(kinds) != len(items):
            raise ValueError(f"expected {len(kinds)} comma-separated values")
        values = []
        for item, item_kind in zip(items, kinds):
            try:
                values.append(_parse(item, item_kind))
            except ValueError as error:
                raise ValueError(f"item {item!r}: {error}") from None
        return tuple(values)
    if kind is bool:
        if text.lower() in TRUE:
            return True
        if text.lower() in FALSE:
            return False
        raise ValueError("expected a bool (true/false, yes/no, 1/0)")
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"expected {kind.__name__}") from None
    if kind is str:
        return text
    raise ValueError(f"fields of type {_type_name(kind)} cannot be set from the command line")


def _type_name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


def parse_sets(config_cls: type, items: Iterable[str]) -> dict[str, Any]:
    """``["key=value", ...]`` -> typed overrides of ``config_cls``; unknown keys and bad values raise ValueError."""
    kinds = field_types(config_cls)
    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected key=value")
        if key not in kinds:
            raise ValueError(f"--set {key}: unknown key; choose one of: {', '.join(kinds)}")
        overrides[key] = parse_value(text.strip(), kinds[key], key)
    return overrides


def apply_preset(config_cls: type, presets: Mapping[str, Mapping[str, Any]], preset: str,
                 overrides: Mapping[str, Any] = ()) -> Any:
    """The config of ``preset`` (named overrides of the defaults), then ``overrides`` on top."""
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(presets)}")
    values = {**presets[preset], **dict(overrides)}
    names = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"preset {preset!r} sets unknown fields {', '.join(unknown)} of {config_cls.__name__}")
    return config_cls(**values)


def config_dict(config: Any) -> dict[str, Any]:
    """The config as JSON-able values (tuples become lists)."""
    return json_ready(dataclasses.asdict(config))


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value
