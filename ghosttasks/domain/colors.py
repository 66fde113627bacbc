"""The two colours of a blue-green environment."""

from __future__ import annotations

from typing import Literal

Color = Literal["blue", "green"]
COLORS: tuple[Color, ...] = ("blue", "green")


def other(color: Color) -> Color:
    """The colour that is not `color`."""
    return "green" if color == "blue" else "blue"
