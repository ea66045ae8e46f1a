"""Models for ``fullconv probe``: a name of :func:`fullconv.models.create`, ``module:factory``, saved models."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import torch
import torch.nn as nn

from ..models.registry import UnknownModelError, create

MODEL_FORMS = ("a fullconv or torchvision name (resnet50; fullconv.models.list_models()), timm:NAME, module:factory, "
               "or a file saved with torch.save(model)")


def load_model(spec: str, seed: int = 0) -> nn.Module:
    """The model named by ``spec``; a built one is initialised from ``seed`` (nothing is downloaded).

    The same ``spec`` and ``seed`` give the same weights, so a later run finds its cached features;
    the global random state is left as it was.

    Raises:
        ValueError: an unknown name, a factory that does not exist or returns no ``nn.Module``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(spec)


def _build(spec: str) -> nn.Module:
    path = Path(spec).expanduser()
    if path.is_file():
        try:
            model = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # pickle raises many types
            raise ValueError(f"cannot read a model from {path}: {_first_line(error)}; "
                             f"save the whole model with torch.save(model, PATH)") from None
        if not isinstance(model, nn.Module):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a model; pass a state_dict as --weights "
                             f"and the architecture as MODEL")
        return model
    if ":" in spec and not spec.startswith("timm:"):
        return _from_factory(spec)
    try:
        return create(spec)
    except UnknownModelError as error:
        if spec.startswith("timm:"):
            raise
        raise UnknownModelError(spec, error.close, forms=f"give {MODEL_FORMS}") from None


def _from_factory(spec: str) -> nn.Module:
    module_name, _, factory_name = spec.partition(":")
    here = str(Path.cwd())
    sys.path.insert(0, here)  # a user's own module next to where they run the command
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ValueError(f"cannot import module {module_name!r} of model {spec!r} ({_first_line(error)}); "
                         f"give {MODEL_FORMS}") from None
    finally:
        sys.path.remove(here)
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ValueError(f"module {module_name!r} has no callable {factory_name!r}; give module:factory")
    model = factory()
    if not isinstance(model, nn.Module):
        raise ValueError(f"{spec} returned a {type(model).__name__}, not an nn.Module")
    return model


def load_weights(model: nn.Module, path: Path | str, name: str) -> nn.Module:
    """Load a state_dict file into ``model`` (strict); a file for another architecture is a ValueError."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found; pass a state_dict saved with torch.save")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"cannot read weights {path}: {_first_line(error)}; pass a state_dict file") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"weights {path} hold a {type(state).__name__}, not a state_dict")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = [f"{len(v)} {what} (e.g. {v[0]})" for what, v in
                 (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", mismatched)) if v]
        raise ValueError(f"weights {path} do not fit {name}: {', '.join(parts)}; pass weights of this architecture")
    model.load_state_dict(state)
    return model


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
