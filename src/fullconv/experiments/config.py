"""Experiment configs: frozen dataclasses whose defaults are the paper's protocol, presets, and ``--set``.

``--set key=value`` is parsed against the field's type: int, float, bool, str, ``X | None``
(``none``), ``Literal[...]`` and tuples (comma lists: ``borders=same,full``; ``sizes=1,2,3``).
Every config built from a preset is checked by :func:`validate_config` (ranges, ``Literal``
choices such as border names, lists without repeats) before a run writes anything. A field's
one-line meaning (``fullconv run NAME --help``) is the comment after it in the class's source,
else :data:`GLOSSARY`'s entry.
"""
from __future__ import annotations

import dataclasses
import inspect
import io
import math
import re
import tokenize
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Mapping


TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class ExperimentConfig:
    """Base of every experiment's config: how many seeds to run (seeds 0 … seeds-1).

    Integer fields are at least 0; those in :data:`COUNTS` at least 1, and tuples hold at least one
    value, except the fields a config names in ``zero_allowed`` (where 0 or an empty tuple means
    "all" or "none").
    """

    seeds: int = 1  # seeds 0 … seeds-1 are run
    zero_allowed: ClassVar[frozenset[str]] = frozenset()


#: Integer fields that count something, so 0 or less is a mistake.
COUNTS = frozenset({
    "seeds", "epochs", "batch_size", "n_train", "n_val", "n_test", "head_epochs", "pretrain_images",
    "pretrain_epochs", "image_size", "patch_size", "block", "item", "width", "crop", "blur_size", "num_classes",
    "consistency_pairs", "step_size", "stages", "stem_stride", "val_per_class", "test_pairs", "frames", "size",
    "train_clips", "val_clips", "classes", "item_size", "plateau_patience", "fold", "workers", "threads",
})

#: Meanings of fields that many configs share, for those without a comment of their own.
GLOSSARY = {
    "seeds": "seeds 0 … seeds-1 are run",
    "borders": "border variants compared (fullconv.BORDERS)",
    "epochs": "training epochs (at most, with early stopping)",
    "batch_size": "training batch size",
    "optimizer": "sgd | adadelta | adam | adamw",
    "lr": "learning rate",
    "momentum": "SGD momentum",
    "nesterov": "Nesterov momentum",
    "weight_decay": "L2 weight decay",
    "rho": "Adadelta's running-average factor",
    "eps": "Adadelta's epsilon",
    "schedule": "learning-rate schedule: none | step | cosine | plateau",
    "step_size": "step schedule: epochs between lr drops",
    "plateau_patience": "epochs without val-loss improvement before the lr drops",
    "min_lr": "stop once the learning rate falls below this",
    "early_stopping": "stop after this many epochs without val-loss improvement (0: never)",
    "n_train": "training items",
    "n_val": "validation items",
    "n_test": "test items",
    "data_seed": "root seed of the generated data (split seeds derive from it)",
    "num_workers": "DataLoader worker processes (changes the augmentation draws, so part of the results)",
    "arch": "network architecture",
    "archs": "network architectures compared",
    "width": "channels of the first stage",
    "num_classes": "classes of the classifier",
    "source": "where the images come from",
    "dataset": "which data set is read",
    "datasets": "data sets compared",
    "image_size": "image side in pixels",
    "item": "side of one item (image) in pixels",
}


def field_types(config_cls: type) -> dict[str, Any]:
    """Key -> resolved type of every settable field of a config dataclass (string annotations included).

    A field whose type is itself a dataclass (an experiment's ``train: TrainConfig``) is a group:
    its fields appear as dotted keys, ``train.lr``.
    """
    hints = typing.get_type_hints(config_cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config_cls):
        kind = hints[f.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            out.update({f"{f.name}.{key}": sub for key, sub in field_types(kind).items()})
        else:
            out[f.name] = kind
    return out


def canonical_key(config_cls: type, key: str, kinds: Mapping[str, Any] | None = None) -> str:
    """``key`` as :func:`field_types` names it: a flat name of a group's field (``lr``) is an alias
    of its dotted key (``train.lr``) unless the config has a field of that name itself."""
    kinds = field_types(config_cls) if kinds is None else kinds
    if key in kinds:
        return key
    dotted = [k for k in kinds if k.partition(".")[2] == key]
    if len(dotted) == 1:
        return dotted[0]
    raise ValueError(f"--set {key}: unknown key; choose one of: {', '.join(kinds)}")


def build(config_cls: type, values: Mapping[str, Any]) -> Any:
    """``config_cls`` from keys of :func:`field_types` (or their flat aliases); groups start from their defaults."""
    kinds = field_types(config_cls)
    top: dict[str, Any] = {}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        group, _, name = canonical_key(config_cls, key, kinds).rpartition(".")
        (groups.setdefault(group, {}) if group else top)[name] = value
    for group, changes in groups.items():
        if group in top:
            raise ValueError(f"{group} is given whole and by its fields ({', '.join(changes)}); give one of them")
        default = next(f.default for f in dataclasses.fields(config_cls) if f.name == group)
        top[group] = dataclasses.replace(default, **changes)
    return config_cls(**top)


def get_value(config: Any, key: str) -> Any:
    """The value of a (dotted) key of :func:`field_types` in ``config``."""
    for part in key.split("."):
        config = getattr(config, part)
    return config


def parse_value(text: str, kind: Any, key: str) -> Any:
    """Parse ``text`` as a value of type ``kind`` (the field ``key``), or raise a ValueError saying what was expected."""
    try:
        return _parse(text, kind)
    except _NotAChoice as error:  # a name, alone or in a list: the error names the one that is not a choice
        raise _unknown_choice(key, error.value, error.kind) from None
    except ValueError as error:
        raise ValueError(f"--set {key}={text}: {error}") from None


class _NotAChoice(ValueError):
    """``value`` is not one of the ``Literal`` type ``kind``'s choices."""

    def __init__(self, value: Any, kind: Any) -> None:
        super().__init__(f"choose one of: {', '.join(map(str, typing.get_args(kind)))}")
        self.value, self.kind = value, kind


def _unknown_choice(name: str, value: Any, kind: Any) -> ValueError:
    choices = ", ".join(map(str, typing.get_args(kind)))
    return ValueError(f"--set {name}: unknown {name.removesuffix('s')} {value!r}; choose one of: {choices}")


def check_choice(name: str, value: Any, kind: Any) -> None:
    """Raise unless ``value`` is one of the ``Literal`` type ``kind``'s choices (no-op for other types)."""
    if typing.get_origin(kind) is typing.Literal and value not in typing.get_args(kind):
        raise _unknown_choice(name, value, kind)


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
        raise _NotAChoice(text, kind)
    if origin is tuple:
        items = [part.strip() for part in text.split(",")] if text.strip() else []
        kinds = [args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis else list(args) or [str] * len(items)
        if len(kinds) != len(items):
            raise ValueError(f"expected {len(kinds)} comma-separated values")
        values = []
        for item, item_kind in zip(items, kinds):
            try:
                values.append(_parse(item, item_kind))
            except _NotAChoice:
                raise  # named as it is, not by its place in the list
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
    """``["key=value", ...]`` -> typed overrides of ``config_cls``; unknown keys and bad values raise ValueError.

    Keys stay as written (``lr`` or ``train.lr``), so that later errors name them as the user did.
    """
    kinds = field_types(config_cls)
    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected key=value")
        overrides[key] = parse_value(text.strip(), kinds[canonical_key(config_cls, key, kinds)], key)
    return overrides


def apply_preset(config_cls: type, presets: Mapping[str, Mapping[str, Any]], preset: str,
                 overrides: Mapping[str, Any] = ()) -> Any:
    """The config of ``preset`` (named overrides of the defaults), then ``overrides`` on top; validated."""
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(presets)}")
    kinds = field_types(config_cls)
    zero_allowed = getattr(config_cls, "zero_allowed", frozenset())
    values: dict[str, Any] = {}
    for source in (presets[preset], dict(overrides)):
        for key, value in source.items():
            try:
                canonical = canonical_key(config_cls, key, kinds)
            except ValueError:
                raise ValueError(f"preset {preset!r} sets unknown fields {key} of {config_cls.__name__}") from None
            # checked before the config is built: a group's own checks (TrainConfig's) cannot name the key
            check_field(key, value, kinds[canonical], zero_allowed)
            values[canonical] = value
    return validate_config(build(config_cls, values))


def validate_config(config: Any) -> Any:
    """``config`` if every field is in range, else a ValueError naming the field and what it needs.

    Integers are at least 0 (at least 1 for :data:`COUNTS`), floats finite, ``lr`` positive,
    lists non-empty without repeats, and a ``Literal`` field (such as ``BorderName``) one of its
    choices: whether the value came from a preset, a default or ``--set``.
    """
    zero_allowed = getattr(config, "zero_allowed", frozenset())
    for name, kind in field_types(type(config)).items():
        check_field(name, get_value(config, name), kind, zero_allowed)
    return config


def check_field(name: str, value: Any, kind: Any, zero_allowed: frozenset[str] = frozenset()) -> None:
    """Raise a ValueError naming ``name`` (as the user wrote it) unless ``value`` is a valid value of type ``kind``."""
    leaf = name.rpartition(".")[2]
    least = 1 if leaf in COUNTS and leaf not in zero_allowed else 0
    if isinstance(value, tuple) and typing.get_origin(kind) is tuple and typing.get_args(kind)[-1:] == (...,):
        if not value and leaf not in zero_allowed:
            raise ValueError(f"--set {name}: give at least one value")
        repeated = sorted({str(v) for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"--set {name}: {', '.join(repeated)} given more than once; list each value once")
        for item in value:
            _check_value(name, item, 0, typing.get_args(kind)[0])
    else:
        _check_value(name, value, least, kind)


def _check_value(name: str, value: Any, least: int, kind: Any) -> None:
    check_choice(name, value, kind)
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int) and value < least:
        raise ValueError(f"--set {name}={value}: must be at least {least}")
    rate = name.rpartition(".")[2] == "lr"
    if isinstance(value, float) and (not math.isfinite(value) or (rate and value <= 0)):
        raise ValueError(f"--set {name}={value}: must be a finite{' positive' if rate else ''} number")


def field_help(config_cls: type) -> dict[str, str]:
    """Key -> one-line meaning: the comment after the field in its class's source, else the glossary.

    A group's key (``train.lr``) takes the comment after ``lr=...`` in the config's source (where
    the experiment sets the group's default, e.g. ``train: TrainConfig = TrainConfig(lr=0.1,  #
    main.py --lr 0.1``), else the comment in the group's own class, else the glossary.
    """
    fields, keywords = _comments(config_cls)
    hints = typing.get_type_hints(config_cls)
    groups: dict[str, dict[str, str]] = {}  # each group's own help, read once
    out = {}
    for key in field_types(config_cls):
        group, _, leaf = key.rpartition(".")
        if group:
            if group not in groups:
                groups[group] = field_help(hints[group])
            out[key] = keywords.get(leaf) or groups[group].get(leaf) or GLOSSARY.get(leaf, "")
        else:
            out[key] = fields.get(key) or GLOSSARY.get(key, "")
    return out


def _comments(config_cls: type) -> tuple[dict[str, str], dict[str, str]]:
    """Comments after ``name: type`` fields and after ``name=value`` keywords in a config's class sources."""
    fields: dict[str, str] = {}
    keywords: dict[str, str] = {}
    for cls in reversed(config_cls.__mro__):
        if not dataclasses.is_dataclass(cls) or cls is object:
            continue
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for line in _field_lines(source):
            match = re.match(r"^\s+(\w+)\s*:[^#]*#\s*(.+)$", line)
            if match:
                fields[match.group(1)] = match.group(2).strip()
            for match in re.finditer(r"(\w+)=[^,#]*,?\s*#\s*(.+)$", line):
                keywords[match.group(1)] = match.group(2).strip()
    return fields, keywords


def _field_lines(source: str) -> list[str]:
    """Lines of ``source`` whose comment is a real comment (not a ``#`` inside a string)."""
    lines = source.splitlines()
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found.append(lines[token.start[0] - 1])
    return found


def type_name(kind: Any) -> str:
    """A field's type as users write it: ``int``, ``tuple[str, ...]``, ``int | None`` (a ``Literal`` is a ``str``)."""
    if typing.get_origin(kind) is typing.Literal:
        return "str"
    if typing.get_origin(kind) is tuple:
        items = typing.get_args(kind)
        return f"tuple[{', '.join('...' if a is Ellipsis else type_name(a) for a in items)}]"
    if isinstance(kind, type) and typing.get_origin(kind) is None:
        return kind.__name__
    return str(kind).replace("typing.", "")


def config_dict(config: Any) -> dict[str, Any]:
    """The config as JSON-able values (tuples become lists)."""
    return json_ready(dataclasses.asdict(config))


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def config_help(config_cls: type, presets: Mapping[str, Mapping[str, Any]]) -> str:
    """Text for ``fullconv run NAME --help``: the presets and every ``--set`` key with type, default and meaning."""
    lines = ["presets (named overrides of the defaults, which are the paper's protocol):"]
    for name, overrides in presets.items():
        shown = ", ".join(f"{k}={_text(v)}" for k, v in overrides.items()) or "the defaults"
        lines.append(f"  {name:<10} {shown}")
    kinds, meanings = field_types(config_cls), field_help(config_cls)
    defaults = config_cls()
    rows = [(name, type_name(kind), _text(get_value(defaults, name))) for name, kind in kinds.items()]
    widths = [min(24, max(len(row[i]) for row in rows)) for i in range(3)]  # a long default overflows
    lines.append("--set KEY=VALUE keys (type, default, meaning; tuples as comma lists):")
    for row in rows:
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)) +
                     f"  {meanings[row[0]]}".rstrip())
    return "\n".join(lines)


def _text(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(_text(v) for v in value)
    return "none" if value is None else str(value)
