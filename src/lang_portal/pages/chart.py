"""The dashboard's progress chart: reviews per day as SVG bars, laid out in Python.

The template only draws the rectangles and labels computed here, so the chart needs
no JavaScript and works under a Content-Security-Policy without inline styles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

WIDTH = 640
HEIGHT = 200
LEFT = 48  # room for the value labels
RIGHT = 8
TOP = 12
BOTTOM = 32  # room for the day labels
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM


@dataclass(frozen=True)
class Bar:
    """One day: the whole bar (all reviews) and its lower part (the correct ones)."""

    day: date
    reviews: int
    correct: int
    x: float
    width: float
    y: float
    height: float
    correct_y: float
    correct_height: float


@dataclass(frozen=True)
class Tick:
    """A horizontal grid line with its value."""

    y: float
    value: int


@dataclass(frozen=True)
class Chart:
    """Everything the template needs to draw the chart."""

    bars: list[Bar]
    ticks: list[Tick]
    total_reviews: int
    total_correct: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: int = HEIGHT - BOTTOM


def nice_ceiling(value: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``value`` (4 for 0)."""
    if value <= 0:
        return 4
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def reviews_chart(days: list[dict[str, Any]]) -> Chart:
    """Lay out ``[{day, reviews, correct}, ...]`` (oldest first) as bars on a fixed canvas."""
    top_value = nice_ceiling(max((entry["reviews"] for entry in days), default=0))
    slot = PLOT_WIDTH / max(len(days), 1)
    bar_width = max(slot * 0.7, 1.0)
    baseline = HEIGHT - BOTTOM

    def scale(value: int) -> float:
        return PLOT_HEIGHT * value / top_value

    bars = []
    for index, entry in enumerate(days):
        height = scale(entry["reviews"])
        correct_height = scale(entry["correct"])
        bars.append(
            Bar(
                day=entry["day"],
                reviews=entry["reviews"],
                correct=entry["correct"],
                x=round(LEFT + index * slot + (slot - bar_width) / 2, 2),
                width=round(bar_width, 2),
                y=round(baseline - height, 2),
                height=round(height, 2),
                correct_y=round(baseline - correct_height, 2),
                correct_height=round(correct_height, 2),
            )
        )
    ticks = [
        Tick(y=round(baseline - scale(value), 2), value=value)
        for value in sorted({0, top_value // 2, top_value})
    ]
    return Chart(
        bars=bars,
        ticks=ticks,
        total_reviews=sum(entry["reviews"] for entry in days),
        total_correct=sum(entry["correct"] for entry in days),
    )
