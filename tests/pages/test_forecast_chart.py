"""The dashboard forecast's layout (pages.chart.forecast_chart): bars on the reviews
chart's canvas, one per day, scaled to a round top value."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from lang_portal.pages import chart

TODAY = date(2026, 11, 22)


def days_of(counts: list[int]) -> list[dict]:
    return [{"day": TODAY + timedelta(days=n), "due": due} for n, due in enumerate(counts)]


def test_bars_fit_the_plot_in_day_order_and_scale_to_the_top_value():
    laid_out = chart.forecast_chart(days_of([12, 0, 3, 20, 7] + [0] * 9))
    assert [bar.day for bar in laid_out.bars] == [TODAY + timedelta(days=n) for n in range(14)]
    assert [bar.due for bar in laid_out.bars][:5] == [12, 0, 3, 20, 7]
    assert laid_out.total_due == 42
    assert [tick.value for tick in laid_out.ticks] == [0, 10, 20]  # 20 is the top
    tallest = laid_out.bars[3]
    assert tallest.height == pytest.approx(chart.PLOT_HEIGHT)
    assert tallest.y == pytest.approx(chart.TOP)
    assert laid_out.bars[0].height == pytest.approx(chart.PLOT_HEIGHT * 12 / 20)
    assert laid_out.bars[1].height == 0
    for left, right in zip(laid_out.bars, laid_out.bars[1:], strict=False):
        assert left.x + left.width < right.x  # in order, not overlapping
    for bar in laid_out.bars:
        assert bar.x >= chart.LEFT and bar.x + bar.width <= chart.WIDTH - chart.RIGHT
        assert bar.y + bar.height == pytest.approx(laid_out.baseline)


def test_an_empty_forecast_has_flat_bars_and_the_default_scale():
    laid_out = chart.forecast_chart(days_of([0] * 14))
    assert laid_out.total_due == 0
    assert all(bar.height == 0 for bar in laid_out.bars)
    assert [tick.value for tick in laid_out.ticks] == [0, 2, 4]
