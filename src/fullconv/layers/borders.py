"""The border variants: one :class:`Border` value per name, resolved once, and what each one pads with.

A border is two choices, as kornia keeps them apart (``border_type`` and the padding amount):

- its **extent**, how far a window may reach past the map: ``valid`` (not at all), ``same``
  (``d·(k-1)/2``, the map size is kept at stride 1) or ``full`` (``d·(k-1)``, every response kept);
- its **fill**, what the padded positions hold: ``zeros``, ``circular``, ``reflect``,
  ``replicate``, ``partial`` (zeros, with the response rescaled by window size / taps inside)
  or ``background`` (the map's own background value, so that bias and BatchNorm add no border).

:data:`BORDERS` is the one table from the user-facing names to their values. Layers resolve a
name once with :func:`get_border` (as timm resolves a padding string at construction) and branch on
the fields. Adding a variant is one entry here, plus its fill where :meth:`Border.pad` does not
have it yet.

Example:
    >>> border = get_border("full-exact")
    >>> border.extent, border.fill, border.pads(3), border.pads(3, dilation=2)
    ('full', 'background', (2, 2), (4, 4))
    >>> get_border("same").pads(4)  # an even extent puts the extra tap on the right
    (1, 2)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence, get_args

from torch import Tensor

from .padding import corner_background, crop, effective_kernel, pad_constant, pad_mode

Extent = Literal["valid", "same", "full"]
Fill = Literal["zeros", "circular", "reflect", "replicate", "partial", "background"]
AlignFill = Literal["crop", "zeros", "background"]

#: F.pad mode of each fill (``partial`` pads zeros and rescales; ``background`` pads a constant).
_PAD_MODE = {"zeros": "constant", "partial": "constant", "background": "constant", "circular": "circular",
             "reflect": "reflect", "replicate": "replicate"}


@dataclass(frozen=True)
class Border:
    """A border variant: its ``name``, its ``extent`` and its ``fill`` (see the module docstring).

    Frozen and hashable; ``str(border)`` is its name. Build one with :func:`get_border`.
    """

    name: str
    extent: Extent
    fill: Fill

    def __post_init__(self) -> None:
        if self.extent not in get_args(Extent) or self.fill not in get_args(Fill):
            raise ValueError(f"border {self.name!r}: extent must be one of {get_args(Extent)} and fill one of "
                             f"{get_args(Fill)}; got {self.extent!r}, {self.fill!r}")

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"Border({self.name!r})"

    @property
    def exact(self) -> bool:
        """Pads with the map's background (``full-exact``): equivariant on a constant canvas."""
        return self.fill == "background"

    def pads(self, kernel_size: int, dilation: int = 1) -> tuple[int, int]:
        """``(left, right)`` padding of one dimension before a window of ``kernel_size`` taps.

        ``same`` follows ``scipy.signal.correlate`` mode 'same' and PyTorch's ``padding='same'``
        (for an even extent the extra tap goes right); ``full`` pads ``d·(k-1)`` on both sides.
        """
        reach = effective_kernel(kernel_size, dilation) - 1
        if self.extent == "valid":
            return (0, 0)
        if self.extent == "full":
            return (reach, reach)
        return (reach // 2, reach - reach // 2)

    def strided_lead(self, reach: int, stride: int, original_left: int, lead_in: int, margin: int = 0) -> int:
        """How many outputs a strided window layer puts before the original model's first output.

        Output ``i`` of the original layer (left padding ``p_o``) reads input ``s·i - p_o``; the
        converted layer's output ``i + lead`` reads the same input when its left padding is
        ``s·lead + p_o - lead_in`` (its input starts ``lead_in`` steps earlier). ``full`` takes the
        smallest ``lead`` whose padding is at least ``reach + margin`` (``reach = d·(k-1)``: its
        first output is computed from padding and the first input element only), ``valid`` the
        largest whose padding is at most 0. ``same`` keeps the original layer's sizes and grids.

        Example:
            >>> full, valid = get_border("full"), get_border("valid")
            >>> full.strided_lead(reach=2, stride=2, original_left=1, lead_in=0), valid.strided_lead(2, 2, 1, 0)
            (1, -1)
        """
        if self.extent == "full":
            return -(-(reach + margin - original_left + lead_in) // stride)
        if self.extent == "valid":
            return (lead_in - original_left) // stride
        raise ValueError(f"border {self.name!r} keeps the original layer's sampling grid; it has no strided lead")

    def pad(self, x: Tensor, pads: Sequence[tuple[int, int]], background: Tensor | float | None = None) -> Tensor:
        """Pad ``x`` as this variant does before a convolution (``partial``: with zeros; the layer rescales).

        Args:
            x: (B, C, *S).
            pads: ``(left, right)`` per padded (trailing) dimension; a negative amount crops.
            background: the padded value of a ``background`` fill (a number or a (B, C, 1, ...)
                tensor); ``None`` reads it from ``x``'s first element. Ignored by the other fills.

        Returns:
            (B, C, *S') with ``S'_i = S_i + left_i + right_i``.
        """
        if not any(left or right for left, right in pads):
            return x
        if self.extent == "valid":
            return crop(x, pads)
        mode = _PAD_MODE[self.fill]
        if mode == "constant":
            value = 0.0
            if self.exact:
                value = corner_background(x, len(pads)) if background is None else background
            return pad_constant(x, pads, value)
        return pad_mode(crop(x, pads), tuple((max(left, 0), max(right, 0)) for left, right in pads), mode)

    def pool_fill(self, kind: str) -> float | None:
        """The value a pooling layer pads with, or ``None`` for the map's background.

        ``same`` and ``valid`` pooling keep the original layer's padding: -inf for max pooling
        (which invents no value), zeros for average pooling. ``full`` pads zeros (after a ReLU the
        same as -inf for max pooling, and finite where the grid alignment of strided layers makes
        windows of padding only); ``background`` pads the background, so pooling background gives
        background.
        """
        if self.exact:
            return None
        if kind == "max" and self.extent != "full":
            return float("-inf")
        return 0.0

    @property
    def align_fill(self) -> AlignFill:
        """What :func:`~fullconv.layers.align` does where branches meet: ``crop`` to the common
        positions (``valid``), pad the missing ones with each map's ``background``, or ``zeros``."""
        if self.extent == "valid":
            return "crop"
        return "background" if self.exact else "zeros"

    def blur_fill(self) -> Border:
        """The border a blur-and-subsample layer pads with: plain ``same`` blurs with reflection,
        as Zhang 2019's BlurPool does; every other variant with its own fill."""
        return BORDERS["same-reflect"] if self.name == "same" else self


#: Every border variant, by the name that experiments, result files and users refer to.
BORDERS: dict[str, Border] = {border.name: border for border in (
    Border("valid", "valid", "zeros"),
    Border("same", "same", "zeros"),
    Border("same-circular", "same", "circular"),
    Border("same-reflect", "same", "reflect"),
    Border("same-replicate", "same", "replicate"),
    Border("same-partial", "same", "partial"),
    Border("full", "full", "zeros"),
    Border("full-exact", "full", "background"),
)}
#: The user-facing names as a type, for config fields (``tuple[BorderName, ...]``): parsing and
#: validating a config accept exactly the names of :data:`BORDERS`.
BorderName = Literal[tuple(BORDERS)]  # type: ignore[valid-type]  # built from the table: one place to add a name

#: Borders that pad d·(k-1)/2 on every side and keep the spatial size at stride 1.
SAME_BORDERS: tuple[str, ...] = tuple(name for name, b in BORDERS.items() if b.extent == "same")
#: Borders that pad d·(k-1) on every side and keep every response.
FULL_BORDERS: tuple[str, ...] = tuple(name for name, b in BORDERS.items() if b.extent == "full")


def get_border(border: str | Border) -> Border:
    """The :class:`Border` of a name (or the value itself); an unknown name raises a ValueError listing them.

    Example:
        >>> get_border("same-reflect")
        Border('same-reflect')
        >>> get_border("ful")
        Traceback (most recent call last):
        ...
        ValueError: unknown border 'ful'; choose one of: valid, same, same-circular, same-reflect, same-replicate, same-partial, full, full-exact
    """
    if isinstance(border, Border):
        return border
    found = BORDERS.get(border) if isinstance(border, str) else None
    if found is None:
        raise ValueError(f"unknown border {border!r}; choose one of: {', '.join(BORDERS)}")
    return found
