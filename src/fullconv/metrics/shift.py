"""Image-shift metrics of Zhang (ICML 2019) and the paper: consistency and diagonal-shift accuracy.

Both crop windows of size ``crop`` out of larger images at given offsets and compare the model's
top-1 classes. Images come as one tensor or as a map-style data set (e.g. an ImageFolder of
256-px centre crops); they are read in batches and moved to the model's device. Under
``torch.distributed`` every process scores its own share of the images (index ``rank`` modulo
``world_size``) and the counts are summed, so the result equals that of one process.
"""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn as nn
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset

from ..utils import distributed

Images = Tensor | Dataset


def crop_at(x: Tensor, top: Tensor, left: Tensor, size: int) -> Tensor:
    """Crop every image at its own offset.

    Args:
        x: (B, C, H, W).
        top, left: (B,) integer offsets of the crops' first row and column.
        size: side of the square crops.

    Returns:
        (B, C, size, size) with ``out[b] = x[b, :, top[b]:top[b]+size, left[b]:left[b]+size]``.
    """
    steps = torch.arange(size, device=x.device)
    rows = (top.to(x.device)[:, None] + steps)[:, :, None]
    cols = (left.to(x.device)[:, None] + steps)[:, None, :]
    batch = torch.arange(x.shape[0], device=x.device)[:, None, None]
    return x[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()


def paste_at(content: Tensor, top: Tensor, left: Tensor, side: int, background: float = 0.0) -> Tensor:
    """Paste every image on its own ``background`` canvas at its own offset: the inverse of :func:`crop_at`.

    Args:
        content: (B, C, h, w).
        top, left: (B,) integer offsets of the content's first row and column.
        side: side of the square canvases.

    Returns:
        (B, C, side, side) with ``out[b, :, top[b]:top[b]+h, left[b]:left[b]+w] = content[b]`` and
        ``background`` elsewhere.
    """
    b, c, h, w = content.shape
    canvas = content.new_full((b, c, side, side), background)
    rows = (top.to(content.device)[:, None] + torch.arange(h, device=content.device))[:, :, None]
    cols = (left.to(content.device)[:, None] + torch.arange(w, device=content.device))[:, None, :]
    batch = torch.arange(b, device=content.device)[:, None, None]
    canvas[batch, :, rows, cols] = content.permute(0, 2, 3, 1)
    return canvas


def consistency(model: nn.Module, images: Images, crop: int, max_shift: int = 32, pairs: int = 5,
                generator: torch.Generator | None = None, *, batch_size: int = 128,
                device: torch.device | str | None = None, amp: bool = False, num_workers: int = 0) -> float:
    """Probability (%) that two random crops of an image get the same top-1 class.

    Each image is cropped ``pairs`` times at two offsets drawn uniformly from
    ``[0, max_shift)²`` (each image its own offsets, drawn from ``generator`` in image order, so
    the draw does not depend on the batch size or the number of processes).

    Args:
        model: classifier returning logits (B, K).
        images: (N, C, H, W) tensor with ``H, W >= crop + max_shift - 1``, or a data set yielding
            such (C, H, W) images or (image, label) pairs.
        crop: side of the crops (the network's input size; 224 on ImageNet).
        max_shift: offsets are drawn from ``[0, max_shift)`` (32 on ImageNet).
        pairs: crop pairs per image (Zhang 2019 evaluates 5 passes over the data).
        generator: CPU generator of the offsets; ``None`` seeds one with 0.

    Returns:
        consistency in percent (0-100).
    """
    n = len(images)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    offsets = torch.randint(max_shift, (n, pairs, 2, 2), generator=generator)
    model, device, restore = _prepare(model, device)
    counts = torch.zeros(2, dtype=torch.float64, device=device)
    try:
        for index, x, _ in _batches(images, None, batch_size, num_workers):
            x = _check_size(x.to(device, non_blocking=True), crop + max_shift - 1, "consistency")
            for p in range(pairs):
                first, second = offsets[index, p, 0], offsets[index, p, 1]
                both = torch.cat([crop_at(x, first[:, 0], first[:, 1], crop),
                                  crop_at(x, second[:, 0], second[:, 1], crop)])
                top1 = _top1(model, both, amp).view(2, -1)
                counts[0] += (top1[0] == top1[1]).sum()
                counts[1] += top1.shape[1]
    finally:
        model.train(restore)
    agree, total = distributed.all_reduce_sum(counts).cpu().tolist()
    return 100.0 * agree / max(total, 1.0)


def canvas_consistency(model: nn.Module, images: Images, crop: int, max_shift: int = 32, pairs: int = 5,
                       generator: torch.Generator | None = None, *, background: float = 0.0, batch_size: int = 128,
                       device: torch.device | str | None = None, amp: bool = False, num_workers: int = 0) -> float:
    """Probability (%) that one content at two places on a constant canvas gets the same top-1 class.

    The centre ``crop`` x ``crop`` of each image is pasted on a canvas of side ``crop + max_shift``
    filled with ``background``, ``pairs`` times at two offsets drawn uniformly from
    ``[0, max_shift]²`` (drawn from ``generator`` in image order). Unlike :func:`consistency`, no
    content enters or leaves the view: a network exactly invariant to canvas shifts
    (``convert(..., "full-exact", downsample="polyphase")``) scores 100 %.

    Args:
        model: classifier returning logits (B, K).
        images: (N, C, H, W) tensor with ``H, W >= crop``, or a data set yielding such images or
            (image, label) pairs.
        crop: side of the pasted content.
        max_shift: offsets are drawn from ``[0, max_shift]``.
        pairs: placement pairs per image.
        generator: CPU generator of the offsets; ``None`` seeds one with 0.
        background: the canvas value (0 for black images; 0 is the mean colour of normalised ones).

    Returns:
        consistency in percent (0-100).

    Example:
        >>> import torch.nn as nn
        >>> pooled = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())  # invariant: 100 %
        >>> canvas_consistency(pooled, torch.rand(8, 3, 6, 6), crop=4, max_shift=3)
        100.0
    """
    n = len(images)
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    offsets = torch.randint(max_shift + 1, (n, pairs, 2, 2), generator=generator)
    model, device, restore = _prepare(model, device)
    counts = torch.zeros(2, dtype=torch.float64, device=device)
    side = crop + max_shift
    try:
        for index, x, _ in _batches(images, None, batch_size, num_workers):
            x = _check_size(x.to(device, non_blocking=True), crop, "canvas consistency")
            top, left = (x.shape[-2] - crop) // 2, (x.shape[-1] - crop) // 2
            content = x[..., top:top + crop, left:left + crop]
            for p in range(pairs):
                first, second = offsets[index, p, 0], offsets[index, p, 1]
                canvases = torch.cat([paste_at(content, first[:, 0], first[:, 1], side, background),
                                      paste_at(content, second[:, 0], second[:, 1], side, background)])
                top1 = _top1(model, canvases, amp).view(2, -1)
                counts[0] += (top1[0] == top1[1]).sum()
                counts[1] += top1.shape[1]
    finally:
        model.train(restore)
    agree, total = distributed.all_reduce_sum(counts).cpu().tolist()
    return 100.0 * agree / max(total, 1.0)


def diagonal_accuracy(model: nn.Module, images: Images, labels: Tensor | None = None, crop: int = 224,
                      offsets: int = 33, *, batch_size: int = 128, device: torch.device | str | None = None,
                      amp: bool = False, num_workers: int = 0) -> tuple[float, list[float]]:
    """Top-1 accuracy (%) of crops at offsets ``(o, o)``, ``o = 0 .. offsets-1``, and their mean.

    Args:
        model: classifier returning logits (B, K).
        images: (N, C, H, W) tensor with ``H, W >= crop + offsets - 1``, or a data set yielding
            (image, label) pairs.
        labels: (N,) class indices when ``images`` is a tensor; ``None`` for a data set.
        crop: side of the crops (224 on ImageNet).
        offsets: number of diagonal positions (33 on ImageNet: 0 to 32).

    Returns:
        (mean accuracy over the offsets, accuracy at each offset), in percent.
    """
    if isinstance(images, Tensor) and (labels is None or len(labels) != len(images)):
        raise ValueError(f"diagonal_accuracy needs one label per image; got {len(images)} images and "
                         f"{'no' if labels is None else len(labels)} labels")
    model, device, restore = _prepare(model, device)
    counts = torch.zeros(offsets + 1, dtype=torch.float64, device=device)
    try:
        for _, x, y in _batches(images, labels, batch_size, num_workers):
            x = _check_size(x.to(device, non_blocking=True), crop + offsets - 1, "diagonal accuracy")
            y = y.to(device, non_blocking=True)
            for o in range(offsets):
                counts[o] += (_top1(model, x[:, :, o:o + crop, o:o + crop], amp) == y).sum()
            counts[offsets] += y.numel()
    finally:
        model.train(restore)
    counts = distributed.all_reduce_sum(counts).cpu()
    curve = (100.0 * counts[:offsets] / counts[offsets].clamp(min=1.0)).tolist()
    return sum(curve) / len(curve), curve


def _prepare(model: nn.Module, device) -> tuple[nn.Module, torch.device, bool]:
    """Unwrap DDP, put the model in eval mode; return it, its device and its former mode."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    restore = model.training
    model.eval()
    return model, torch.device(device), restore


@torch.no_grad()
def _top1(model: nn.Module, x: Tensor, amp: bool) -> Tensor:
    with torch.autocast(x.device.type, enabled=amp and x.device.type == "cuda"):
        return model(x).argmax(dim=1)


def _check_size(x: Tensor, need: int, what: str) -> Tensor:
    if x.dim() != 4 or min(x.shape[-2:]) < need:
        raise ValueError(f"{what} needs images (B, C, H, W) of at least {need}x{need} pixels (crop + shifts); "
                         f"got shape {tuple(x.shape)}: use larger images or a smaller crop")
    return x


def _batches(images: Images, labels: Tensor | None, batch_size: int,
             num_workers: int) -> Iterator[tuple[Tensor, Tensor, Tensor | None]]:
    """Yield (global indices (B,), images (B, C, H, W), labels (B,) or None) of this process's share."""
    shard = distributed.info()
    rank, world = shard.rank, shard.world_size
    index = torch.arange(rank, len(images), world)
    if isinstance(images, Tensor):
        for chunk in index.split(batch_size):
            yield chunk, images[chunk], None if labels is None else labels[chunk]
        return
    loader = DataLoader(Subset(images, index.tolist()), batch_size=batch_size, shuffle=False,
                        num_workers=num_workers, pin_memory=torch.cuda.is_available())
    for chunk, item in zip(index.split(batch_size), loader):
        x, y = item if isinstance(item, (tuple, list)) else (item, None)
        yield chunk, x, y
