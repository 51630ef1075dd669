"""Small bar charts drawn on the server as SVG geometry (no charting library, no script)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 320
HEIGHT = 150
TOP = 18
BOTTOM = 122  # the baseline; week labels sit below it
LEFT = 6
RIGHT = 314


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value_text: str
    label_x: float
    empty: bool
    show_label: bool = True


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int = WIDTH
    height: int = HEIGHT
    baseline: int = BOTTOM
    label_y: int = BOTTOM + 14
    left: int = LEFT
    right: int = RIGHT

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width} {self.height}"

    @property
    def mid_y(self) -> float:
        return (TOP + BOTTOM) / 2


def bar_chart(
    values: Sequence[float | None],
    labels: Sequence[str],
    *,
    text: Callable[[float], str] = lambda v: f"{v:g}",
    maximum: float | None = None,
) -> Chart:
    """One bar per value; None draws no bar and a dash, so "no data" never looks like zero."""
    present = [v for v in values if v is not None]
    top = maximum if maximum is not None else max(present, default=0)
    top = top or 1
    slot = (RIGHT - LEFT) / max(1, len(values))
    every = -(-len(values) // 9)  # week labels need room: at most nine under a chart
    width = min(28.0, slot * 0.62)
    bars = []
    for i, (value, label) in enumerate(zip(values, labels, strict=True)):
        centre = LEFT + slot * i + slot / 2
        height = 0.0 if value is None else max(0.0, min(1.0, value / top)) * (BOTTOM - TOP)
        if value is not None and value > 0:
            height = max(height, 1.5)  # a small non-zero value stays visible
        bars.append(
            Bar(
                x=round(centre - width / 2, 2),
                y=round(BOTTOM - height, 2),
                width=round(width, 2),
                height=round(height, 2),
                label=label,
                value_text="–" if value is None else text(value),
                label_x=round(centre, 2),
                empty=value is None,
                show_label=(len(values) - 1 - i) % every == 0,
            )
        )
    return Chart(bars=bars)


def percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def duration(seconds: float) -> str:
    """A compact duration: 45s, 12m, 3.5h, 2.0d."""
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"
