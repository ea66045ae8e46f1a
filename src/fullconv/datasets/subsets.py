"""Nested training subsets with a fixed number of images per class.

Every class's images are put in one seeded order; the validation images are the head of that
order and a subset of ``n`` images per class is the next ``n``. So every subset comes from the
same pool, smaller subsets are contained in larger ones, and none touches the validation images.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from .splits import split_generator

#: ``per_class`` value meaning every image of the pool.
ALL = 0


@dataclass(frozen=True)
class NestedSubsets:
    """Indices into a labelled set: ``validation`` (V,) and ``subsets[per_class]`` (n·K,), sorted."""

    validation: Tensor
    subsets: dict[int, Tensor]

    def to_json(self) -> dict:
        """Plain lists, to be saved with the results (``per_class`` keys as strings)."""
        return {"validation": self.validation.tolist(),
                "subsets": {str(n): indices.tolist() for n, indices in self.subsets.items()}}


def class_orders(labels: Tensor, seed: int) -> dict[int, Tensor]:
    """Each class's indices in an order drawn from ``seed`` and the class (labels: (N,))."""
    labels = torch.as_tensor(labels).reshape(-1)
    orders = {}
    for label in torch.unique(labels).tolist():
        members = torch.nonzero(labels == label).flatten()
        order = torch.randperm(members.numel(), generator=split_generator(seed, "class-order", label))
        orders[int(label)] = members[order]
    return orders


def nested_subsets(labels: Tensor, per_class: Sequence[int], seed: int, *,
                   val_per_class: int = 0) -> NestedSubsets:
    """Draw a validation set and nested training subsets from one labelled pool.

    Args:
        labels: (N,) class of every image of the training source.
        per_class: subset sizes in images per class; ``ALL`` (0) takes the whole pool.
        seed: the subsets' seed; the same seed gives the same indices.
        val_per_class: validation images per class, taken before (and disjoint from) every subset.

    Returns:
        :class:`NestedSubsets` with sorted int64 indices into ``labels``.

    Example:
        >>> drawn = nested_subsets(torch.tensor([0, 1] * 10), (2, 5), seed=0, val_per_class=1)
        >>> [drawn.subsets[n].numel() for n in (2, 5)], drawn.validation.numel()
        ([4, 10], 2)
    """
    orders = class_orders(labels, seed)
    for n in per_class:
        if n < 0:
            raise ValueError(f"per_class must be positive (or {ALL} for the whole pool); got {n}")
    for label, order in orders.items():
        need = val_per_class + max(per_class, default=0)
        if need > order.numel():
            raise ValueError(
                f"class {label} has {order.numel()} images, fewer than the {need} needed "
                f"({val_per_class} validation + {max(per_class)} training); lower per_class or val_per_class")
    validation = torch.cat([order[:val_per_class] for order in orders.values()]).sort().values
    subsets = {}
    for n in per_class:
        stop = None if n == ALL else val_per_class + n
        subsets[int(n)] = torch.cat([order[val_per_class:stop] for order in orders.values()]).sort().values
    return NestedSubsets(validation, subsets)
