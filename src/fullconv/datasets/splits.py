"""Seeds of data splits, derived from one root seed and the split's name.

The paper's code re-seeded one generator for every split, so its test images were copies of its
training images. Here every split has its own seed by construction.
"""
from __future__ import annotations

import hashlib
from typing import Literal, get_args

import torch


def split_seed(root_seed: int, *names: object) -> int:
    """A 63-bit seed for the split called ``names`` under ``root_seed``; distinct names give distinct seeds.

    Example:
        >>> split_seed(0, "train") != split_seed(0, "test")
        True
    """
    text = "/".join([str(int(root_seed))] + [str(name) for name in names])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


def split_generator(root_seed: int, *names: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`split_seed`."""
    return torch.Generator().manual_seed(split_seed(root_seed, *names))


def disjoint_indices(n_total: int, sizes: dict[str, int], root_seed: int, pool: str = "pool") -> dict[str, torch.Tensor]:
    """Draw disjoint index sets of the given sizes from ``range(n_total)``.

    One permutation of the pool (seeded by ``root_seed`` and ``pool``) is cut into consecutive
    parts, in the order of ``sizes``; raises if the pool is too small.
    """
    need = sum(sizes.values())
    if need > n_total:
        raise ValueError(f"need {need} distinct items for splits {sizes}, but the source has only {n_total}; "
                         f"use smaller splits or a larger source")
    order = torch.randperm(n_total, generator=split_generator(root_seed, pool))
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = order[start:start + size]
        start += size
    return out


#: How the splits of a generated data set relate. ``disjoint`` (ours): no image in two splits.
#: ``paper``: the paper's code's splits, whose validation and test images are copies of training
#: images (red-green) or the same images (quadrant); kept to compare with its numbers.
SplitProtocol = Literal["disjoint", "paper"]
SPLIT_PROTOCOLS: tuple[str, ...] = get_args(SplitProtocol)
