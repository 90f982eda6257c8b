"""The dashboard: the last session studied and the learner's progress figures."""

from __future__ import annotations

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
    """Show the learner's progress figures."""
    return queries.dashboard.stats(connection, learner_id)
