"""Study activities: the apps the launchpad starts for a word group."""

from __future__ import annotations

from typing import Any

from flask import current_app
from pydantic import BaseModel
from sqlalchemy import Connection

from lang_portal.api.routing import api
from lang_portal.errors import not_found
from lang_portal.queries import study_activities


class StudyActivity(BaseModel):
    """An activity; ``launch_url`` and ``preview_url`` are absolute."""

    id: int
    title: str
    description: str
    launch_url: str
    preview_url: str


def get_or_404(connection: Connection, study_activity_id: int) -> dict[str, Any]:
    """The activity with this id, or a 404."""
    activity = study_activities.get(connection, study_activity_id, current_app.config["PUBLIC_URL"])
    if activity is None:
        raise not_found("study activity")
    return activity


@api.get("/study-activities", response=list[StudyActivity])
def list_study_activities(connection: Connection) -> list[dict[str, Any]]:
    """List every study activity."""
    return study_activities.all_activities(connection, current_app.config["PUBLIC_URL"])


@api.get("/study-activities/<id:study_activity_id>", response=StudyActivity, errors=(404,))
def get_study_activity(connection: Connection, study_activity_id: int) -> dict[str, Any]:
    """Show one study activity."""
    return get_or_404(connection, study_activity_id)
