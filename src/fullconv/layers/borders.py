"""The border variants: names, validation and what each one pads with."""
from __future__ import annotations

#: Every border variant, by the name that experiments, result files and users refer to.
BORDERS: tuple[str, ...] = (
    "valid",
    "same",
    "same-circular",
    "same-reflect",
    "same-replicate",
    "same-partial",
    "full",
    "full-exact",
)

#: Borders that pad d·(k-1)/2 on every side and keep the spatial size at stride 1.
SAME_BORDERS: tuple[str, ...] = tuple(b for b in BORDERS if b.startswith("same"))
#: Borders that pad d·(k-1) on every side and keep every response.
FULL_BORDERS: tuple[str, ...] = ("full", "full-exact")

#: F.pad mode of each explicitly padded same-border.
PAD_MODE: dict[str, str] = {
    "same": "constant",
    "same-partial": "constant",
    "same-circular": "circular",
    "same-reflect": "reflect",
    "same-replicate": "replicate",
    "full": "constant",
    "full-exact": "constant",
}


def check_border(border: str) -> str:
    """Return ``border`` if it is a known variant, else raise a ValueError that lists them."""
    if border not in BORDERS:
        raise ValueError(f"unknown border {border!r}; choose one of: {', '.join(BORDERS)}")
    return border
