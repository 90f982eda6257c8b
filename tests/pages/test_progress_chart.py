"""Reviews per day (queries.progress) and the dashboard chart's layout (pages.chart)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from lang_portal import db, schema
from lang_portal.pages import chart
from lang_portal.queries import progress
from lang_portal.queries.learners import DEFAULT_LEARNER_ID

TODAY = date(2026, 11, 22)


def add_days(
    engine, rows: list[tuple[date, int, int, int]], learner_id: int = DEFAULT_LEARNER_ID
) -> None:
    """Insert a learner's daily_activity rows as (day, sessions, reviews, correct)."""
    with db.writing(engine) as connection:
        connection.execute(
            insert(schema.daily_activity),
            [
                {
                    "learner_id": learner_id,
                    "day": d,
                    "sessions_count": s,
                    "reviews_count": r,
                    "correct_count": c,
                }
                for d, s, r, c in rows
            ],
        )


def test_reviews_per_day_fills_gaps_and_keeps_only_the_window(engine):
    add_days(
        engine,
        [
            (TODAY, 1, 12, 9),
            (TODAY - timedelta(days=2), 2, 5, 5),
            (TODAY - timedelta(days=29), 1, 3, 0),  # the oldest day shown
            (TODAY - timedelta(days=30), 1, 7, 7),  # one day too old
            (TODAY + timedelta(days=1), 1, 4, 4),  # the future (a clock change) is not shown
        ],
    )
    with db.reading(engine) as connection:
        days = progress.reviews_per_day(connection, DEFAULT_LEARNER_ID, TODAY, 30)
    assert len(days) == 30
    assert [entry["day"] for entry in days] == [
        TODAY - timedelta(days=29 - offset) for offset in range(30)
    ]
    by_day = {entry["day"]: (entry["reviews"], entry["correct"]) for entry in days}
    assert by_day[TODAY] == (12, 9)
    assert by_day[TODAY - timedelta(days=2)] == (5, 5)
    assert by_day[TODAY - timedelta(days=29)] == (3, 0)
    assert by_day[TODAY - timedelta(days=1)] == (0, 0)
    assert sum(reviews for reviews, _ in by_day.values()) == 20

    with db.reading(engine) as connection:
        totals = progress.history_totals(connection, DEFAULT_LEARNER_ID)
        assert totals == {"sessions": 6, "reviews": 31, "correct": 25}
        assert progress.sessions_count(connection, DEFAULT_LEARNER_ID) == 6


def test_history_totals_of_an_empty_history_are_zero(engine):
    with db.reading(engine) as connection:
        totals = progress.history_totals(connection, DEFAULT_LEARNER_ID)
        assert totals == {"sessions": 0, "reviews": 0, "correct": 0}
        assert progress.sessions_count(connection, DEFAULT_LEARNER_ID) == 0
        days = progress.reviews_per_day(connection, DEFAULT_LEARNER_ID, TODAY, 7)
        assert all(e["reviews"] == 0 for e in days)


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 4), (1, 1), (2, 2), (3, 5), (5, 5), (6, 10), (11, 20), (36, 50), (101, 200), (999, 1000)],
)
def test_nice_ceiling(value, ceiling):
    assert chart.nice_ceiling(value) == ceiling


def test_bars_fit_the_plot_and_the_correct_part_fits_its_bar():
    days = [
        {"day": TODAY - timedelta(days=2 - i), "reviews": r, "correct": c}
        for i, (r, c) in enumerate([(0, 0), (40, 10), (50, 50)])
    ]
    laid_out = chart.reviews_chart(days)
    empty, partial, full = laid_out.bars
    assert empty.height == 0
    assert full.height == pytest.approx(chart.PLOT_HEIGHT)  # 50 is the top of the scale
    assert full.y == pytest.approx(chart.TOP)
    assert partial.height == pytest.approx(chart.PLOT_HEIGHT * 40 / 50)
    assert partial.correct_height == pytest.approx(chart.PLOT_HEIGHT * 10 / 50)
    for bar in laid_out.bars:
        assert bar.x >= chart.LEFT and bar.x + bar.width <= chart.WIDTH - chart.RIGHT
        assert bar.y + bar.height == pytest.approx(laid_out.baseline)
        assert bar.correct_y + bar.correct_height == pytest.approx(laid_out.baseline)
        assert bar.correct_height <= bar.height
    assert [tick.value for tick in laid_out.ticks] == [0, 25, 50]
    assert (laid_out.total_reviews, laid_out.total_correct) == (90, 60)
