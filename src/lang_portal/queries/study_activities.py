"""Queries for study activities: the apps a learner launches for a group."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, select

from lang_portal import db, schema
from lang_portal.queries.problems import TitleTaken


def _absolute(url: str, public_url: str) -> str:
    """Make a stored URL absolute: relative ones are served by lang-portal itself."""
    return url if "://" in url else public_url + "/" + url.lstrip("/")


def _shape(row: Any, public_url: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.name,
        "description": row.description,
        "launch_url": _absolute(row.url, public_url),
        "preview_url": _absolute(row.preview_url, public_url) if row.preview_url else "",
    }


def all_activities(connection: Connection, public_url: str) -> list[dict[str, Any]]:
    """Every activity as ``{id, title, description, launch_url, preview_url}``, by id."""
    rows = connection.execute(
        select(schema.study_activities).order_by(schema.study_activities.c.id)
    )
    return [_shape(row, public_url) for row in rows]


def get(connection: Connection, study_activity_id: int, public_url: str) -> dict[str, Any] | None:
    """One activity, or None."""
    row = connection.execute(
        select(schema.study_activities).where(schema.study_activities.c.id == study_activity_id)
    ).one_or_none()
    return _shape(row, public_url) if row else None


def add(
    connection: Connection, title: str, description: str, launch_url: str, preview_url: str
) -> int:
    """Register a study activity; returns its id. Raises TitleTaken.

    The URLs are stored as given: absolute ones are shown unchanged (see ``_absolute``).
    """
    # The unique name decides, also between two requests racing for one title.
    study_activity_id = connection.execute(
        db.upsert(connection, schema.study_activities, ["name"])
        .values(name=title, description=description, url=launch_url, preview_url=preview_url)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(schema.study_activities.c.id)
    ).scalar_one_or_none()
    if study_activity_id is None:
        raise TitleTaken(title)
    return study_activity_id


def sessions_count(connection: Connection, learner_id: int, study_activity_id: int) -> int | None:
    """How many sessions the learner started with this activity (None: no such activity)."""
    activities = schema.study_activities
    progress = schema.activity_progress
    return connection.execute(
        select(func.coalesce(progress.c.sessions_count, 0))
        .select_from(
            activities.outerjoin(
                progress,
                and_(
                    progress.c.study_activity_id == activities.c.id,
                    progress.c.learner_id == learner_id,
                ),
            )
        )
        .where(activities.c.id == study_activity_id)
    ).scalar_one_or_none()
