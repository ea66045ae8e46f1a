"""Models by name: ``create(name, **kwargs)`` builds fullconv's zoo, torchvision's and timm's models.

Names, in the order ``create`` tries them:

* a zoo entry, registered with :func:`register` next to its factory (``small_resnet``, ``bagnet33``,
  ...). An entry's name may hold integer fields, ``resnet18-w{width}``: ``resnet18-w8`` calls the
  factory with ``width=8``;
* a torchvision name (``torchvision.models.list_models()``), built with ``weights=None``;
* ``timm:NAME`` for any of ``timm.list_models()``, built with ``pretrained=False``.

Nothing is downloaded. ``kwargs`` go to the factory unchanged, so ``create`` builds exactly what the
factory builds and draws the same random numbers: under the same seed, the same weights.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable, TypeVar

import torch.nn as nn

Factory = TypeVar("Factory", bound=Callable[..., nn.Module])
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class _Entry:
    name: str                  # as registered, e.g. "resnet18-w{width}"
    factory: Callable[..., nn.Module]
    pattern: re.Pattern        # matches the names of this entry; its groups are the integer fields


_ENTRIES: dict[str, _Entry] = {}
_ALIASES: dict[str, str] = {}


class UnknownModelError(ValueError):
    """A name that :func:`create` cannot build; ``close`` holds the nearest valid names."""

    def __init__(self, name: str, close: list[str], forms: str | None = None) -> None:
        self.name, self.close = name, close
        hint = f" (closest: {', '.join(close)})" if close else ""
        forms = forms or (f"give a fullconv name ({', '.join(sorted(_ENTRIES))}), a torchvision name "
                          f"(fullconv.models.list_models()), or timm:NAME")
        super().__init__(f"unknown model {name!r}{hint}; {forms}")


def register(name: str | None = None, *, aliases: tuple[str, ...] = ()) -> Callable[[Factory], Factory]:
    """Decorator: register a factory (a function or class returning an ``nn.Module``) under ``name``.

    ``name`` defaults to the factory's ``__name__``; ``{field}`` in it matches an integer passed as
    keyword ``field``. ``aliases`` are older spellings that result files or presets still use.
    """
    def decorate(factory: Factory) -> Factory:
        key = name or factory.__name__
        for taken in (key, *aliases):
            if taken in _ENTRIES or taken in _ALIASES:
                raise ValueError(f"model name {taken!r} is registered twice; give the new model another name")
        parts = _FIELD.split(key)  # literal, field, literal, field, ..., literal
        regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>\\d+)" for i, part in enumerate(parts))
        _ENTRIES[key] = _Entry(key, factory, re.compile(regex + r"\Z"))
        _ALIASES.update((alias, key) for alias in aliases)
        return factory
    return decorate


def list_models(module: str | None = None) -> list[str]:
    """Sorted names that :func:`create` builds: ``"fullconv"`` the zoo, ``"torchvision"`` torchvision's, None both.

    timm's names are not listed (``timm:NAME`` for any of ``timm.list_models()``).

    Example:
        >>> [name for name in list_models("fullconv") if "resnet" in name]
        ['resnet18-w{width}', 'resnet3d', 'small_resnet']
    """
    if module not in (None, "fullconv", "torchvision"):
        raise ValueError(f"unknown model source {module!r}; choose fullconv, torchvision or None (both)")
    names = sorted(_ENTRIES) if module in (None, "fullconv") else []
    return names + (_torchvision_names() if module in (None, "torchvision") else [])


def create(name: str, **kwargs) -> nn.Module:
    """The model ``name`` built by its factory with ``kwargs``, randomly initialised (nothing is downloaded).

    Raises:
        UnknownModelError: (a ValueError) ``name`` names no model; the message lists close names.

    Example:
        >>> import torch
        >>> net = create("resnet18-w4", num_classes=3)
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 3])
    """
    if name.startswith("timm:"):
        return _timm(name.removeprefix("timm:"), kwargs)
    entry, fields = _lookup(_ALIASES.get(name, name))
    if entry is not None:
        clash = sorted(set(fields) & set(kwargs))
        if clash:
            raise ValueError(f"model {name!r} sets {', '.join(clash)} by its name; drop that keyword argument")
        return entry.factory(**fields, **kwargs)
    if name in _torchvision_names():
        import torchvision

        return torchvision.models.get_model(name, weights=None, **kwargs)
    raise UnknownModelError(name, _close(name))


def resolve(name: str) -> str:
    """The canonical spelling of ``name`` (an alias becomes its entry's name); unknown: UnknownModelError."""
    if name.startswith("timm:"):
        _timm_check(name.removeprefix("timm:"))
        return name
    canonical = _ALIASES.get(name, name)
    if _lookup(canonical)[0] is not None or canonical in _torchvision_names():
        return canonical
    raise UnknownModelError(name, _close(name))


def _lookup(name: str) -> tuple[_Entry | None, dict[str, int]]:
    if name in _ENTRIES and not _FIELD.search(name):
        return _ENTRIES[name], {}
    for entry in _ENTRIES.values():
        match = entry.pattern.match(name)
        if match:
            return entry, {field: int(value) for field, value in match.groupdict().items()}
    return None, {}


def _close(name: str) -> list[str]:
    return difflib.get_close_matches(name, list_models() + list(_ALIASES), n=5, cutoff=0.6)


def _torchvision_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models()


def _timm_check(name: str):
    try:
        import timm
    except ModuleNotFoundError:
        raise ValueError(f"model 'timm:{name}' needs timm; install it with 'pip install timm'") from None
    if not timm.is_model(name):
        raise UnknownModelError(f"timm:{name}", difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6),
                                forms="see timm.list_models() for the names")
    return timm


def _timm(name: str, kwargs: dict) -> nn.Module:
    return _timm_check(name).create_model(name, pretrained=False, **kwargs)
