"""The dashboard's charts as SVG bars, laid out in Python: reviews per day (the last
30 days) and cards due per day (the forecast).

The template only draws the rectangles and labels computed here, so the charts need
no JavaScript and work under a Content-Security-Policy without inline styles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

WIDTH = 640
HEIGHT = 200
LEFT = 48  # room for the value labels
RIGHT = 8
TOP = 12
BOTTOM = 32  # room for the day labels
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
BASELINE = HEIGHT - BOTTOM


class Box(NamedTuple):
    """A bar's rectangle: its left edge, width, top edge and height."""

    x: float
    width: float
    y: float
    height: float


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
class DueBar:
    """One day of the forecast: the cards due that day."""

    day: date
    due: int
    x: float
    width: float
    y: float
    height: float


@dataclass(frozen=True)
class Tick:
    """A horizontal grid line with its value."""

    y: float
    value: int


@dataclass(frozen=True, kw_only=True)
class Canvas:
    """The drawing area every chart shares: its size and where the plot sits in it."""

    ticks: list[Tick]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: int = BASELINE


@dataclass(frozen=True, kw_only=True)
class Chart(Canvas):
    """Everything the template needs to draw the reviews chart."""

    bars: list[Bar]
    total_reviews: int
    total_correct: int


@dataclass(frozen=True, kw_only=True)
class ForecastChart(Canvas):
    """Everything the template needs to draw the forecast."""

    bars: list[DueBar]
    total_due: int


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


@dataclass(frozen=True)
class _Scale:
    """Where the bars of ``count`` days go on the canvas, and how tall a value is."""

    count: int
    top_value: int

    @property
    def slot(self) -> float:
        return PLOT_WIDTH / max(self.count, 1)

    @property
    def bar_width(self) -> float:
        return max(self.slot * 0.7, 1.0)

    def x(self, index: int) -> float:
        return round(LEFT + index * self.slot + (self.slot - self.bar_width) / 2, 2)

    def height(self, value: int) -> float:
        return PLOT_HEIGHT * value / self.top_value

    def box(self, index: int, value: int) -> Box:
        """The rectangle of the ``index``-th day's bar of ``value``, standing on the baseline."""
        height = self.height(value)
        return Box(
            self.x(index), round(self.bar_width, 2), round(BASELINE - height, 2), round(height, 2)
        )

    def ticks(self) -> list[Tick]:
        values = sorted({0, self.top_value // 2, self.top_value})
        return [Tick(y=round(BASELINE - self.height(value), 2), value=value) for value in values]


def reviews_chart(days: list[dict[str, Any]]) -> Chart:
    """Lay out ``[{day, reviews, correct}, ...]`` (oldest first) as bars on a fixed canvas."""
    scale = _Scale(len(days), nice_ceiling(max((entry["reviews"] for entry in days), default=0)))
    bars = []
    for index, entry in enumerate(days):
        box = scale.box(index, entry["reviews"])
        correct = scale.box(index, entry["correct"])
        bars.append(
            Bar(
                day=entry["day"],
                reviews=entry["reviews"],
                correct=entry["correct"],
                x=box.x,
                width=box.width,
                y=box.y,
                height=box.height,
                correct_y=correct.y,
                correct_height=correct.height,
            )
        )
    return Chart(
        bars=bars,
        ticks=scale.ticks(),
        total_reviews=sum(entry["reviews"] for entry in days),
        total_correct=sum(entry["correct"] for entry in days),
    )


def forecast_chart(days: list[dict[str, Any]]) -> ForecastChart:
    """Lay out ``[{day, due}, ...]`` (today first) as bars on the same canvas."""
    scale = _Scale(len(days), nice_ceiling(max((entry["due"] for entry in days), default=0)))
    bars = [
        DueBar(entry["day"], entry["due"], *scale.box(index, entry["due"]))
        for index, entry in enumerate(days)
    ]
    return ForecastChart(
        bars=bars, ticks=scale.ticks(), total_due=sum(entry["due"] for entry in days)
    )
