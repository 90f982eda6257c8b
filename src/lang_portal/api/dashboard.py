"""The dashboard: the last session studied and the learner's progress figures."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import Connection

from lang_portal import queries
from lang_portal.api.routing import routes


class RecentSession(BaseModel):
    """The newest study session, with its review counts."""

    id: int
    group_id: int
    group_name: str
    activity_name: str
    created_at: AwareDatetime
    correct_count: int
    wrong_count: int


class DashboardStats(BaseModel):
    """The learner's progress, each figure as the API contract defines it."""

    total_vocabulary: int = Field(description="Words stored.")
    total_words_studied: int = Field(description="Distinct words with at least one review.")
    mastered_words: int = Field(description="Words with >= 5 reviews, >= 80 % of them correct.")
    success_rate: float = Field(
        ge=0, le=1, description="Correct reviews / all reviews; 0 when there are none."
    )
    total_sessions: int = Field(description="Study sessions stored.")
    active_groups: int = Field(description="Distinct groups with a session in the last 30 days.")
    current_streak: int = Field(
        description="Consecutive UTC days with a session, ending today (or yesterday when "
        "there is none yet today)."
    )
    due_now: int = Field(description="Cards due now.")
    due_today: int = Field(description="Cards due before the end of the UTC day.")
    mature_words: int = Field(description="Cards with a stability of at least 21 days.")
    retention_30d: float | None = Field(
        ge=0,
        le=1,
        description="The share of the last 30 days' reviews of cards in the review state "
        "that were not again; null when there were none.",
    )


class ForecastQuery(BaseModel):
    """``?days``: how many UTC days from today."""

    days: int = Field(14, ge=1, le=90, description="Days to forecast, 1 to 90.")


class ForecastDay(BaseModel):
    """Cards due on one UTC day."""

    day: date
    due: int


class Forecast(BaseModel):
    """Cards due per UTC day from today; today includes the overdue ones."""

    days: list[ForecastDay]


@routes.get(
    "/dashboard/recent-session",
    response=RecentSession | None,
    legacy=True,
    scoped=True,
)
def get_recent_session(connection: Connection, learner_id: int) -> dict[str, Any] | None:
    """Show the learner's most recent study session, or ``null`` when there is none."""
    return queries.dashboard.recent_session(connection, learner_id)


@routes.get("/dashboard/stats", response=DashboardStats, legacy=True, scoped=True)
def get_dashboard_stats(connection: Connection, learner_id: int) -> dict[str, Any]:
    """Show the learner's progress figures, the spaced-repetition ones included."""
    now = queries.dashboard.utc_now()
    return {
        **queries.dashboard.stats(connection, learner_id),
        **queries.cards.figures(connection, learner_id, now),
    }


@routes.get(
    "/dashboard/forecast", query=ForecastQuery, response=Forecast, scoped=True, errors=(400,)
)
def get_forecast(connection: Connection, learner_id: int, query: ForecastQuery) -> dict[str, Any]:
    """Show how many of the learner's cards fall due on each of the next days."""
    now = queries.dashboard.utc_now()
    return {"days": queries.cards.forecast(connection, learner_id, now, query.days)}
