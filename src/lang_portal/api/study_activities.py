"""Study activities: the apps the launchpad starts for a word group, and a school's own.

A teacher registers an outside activity with ``POST /api/study-activities``; its fields
follow :mod:`lang_portal.activity_fields`, the rule ``lang-portal activities add``
follows too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection

from lang_portal import links, queries
from lang_portal.activity_fields import NewStudyActivity
from lang_portal.api.lookup import found
from lang_portal.api.routing import Reply, routes
from lang_portal.api.study_sessions import SessionPageQuery, StudySessionPage, session_page


class StudyActivity(BaseModel):
    """An activity; ``launch_url`` and ``preview_url`` are absolute (see lang_portal.links)."""

    id: int
    title: str
    description: str
    launch_url: str
    preview_url: str


class LaunchGroup(BaseModel):
    """A group the activity can be launched for."""

    id: int
    name: str


class LaunchData(BaseModel):
    """What the launch form needs: the activity and every group to choose from."""

    activity: StudyActivity
    groups: list[LaunchGroup]


def get_or_404(connection: Connection, study_activity_id: int) -> dict[str, Any]:
    """The activity with this id, or a 404."""
    activity = queries.study_activities.get(connection, study_activity_id, links.base_url())
    return found(activity, "study activity")


@routes.get("/study-activities", response=list[StudyActivity])
def list_study_activities(connection: Connection) -> list[dict[str, Any]]:
    """List every study activity."""
    return queries.study_activities.all_activities(connection, links.base_url())


@routes.post(
    "/study-activities",
    body=NewStudyActivity,
    response=StudyActivity,
    status=201,
    teacher_only=True,
    errors=(400, 409),
)
def create_study_activity(connection: Connection, body: NewStudyActivity) -> Reply:
    """Register an outside study activity: its title, description and absolute URLs.

    ``launch_url`` and ``preview_url`` are absolute http or https URLs, shown unchanged. A
    title already taken (compared exactly, case included) is a 409.
    """
    study_activity_id = queries.study_activities.add(
        connection, body.title, body.description, body.launch_url, body.preview_url
    )
    return Reply(
        get_or_404(connection, study_activity_id),
        201,
        location=f"/api/study-activities/{study_activity_id}",
    )


@routes.get("/study-activities/<id:study_activity_id>", response=StudyActivity, errors=(404,))
def get_study_activity(connection: Connection, study_activity_id: int) -> dict[str, Any]:
    """Show one study activity."""
    return get_or_404(connection, study_activity_id)


@routes.get(
    "/study-activities/<id:study_activity_id>/sessions",
    query=SessionPageQuery,
    response=StudySessionPage,
    scoped=True,
    errors=(400, 404),
)
def list_study_activity_sessions(
    connection: Connection, learner_id: int, study_activity_id: int, query: SessionPageQuery
) -> dict[str, Any]:
    """List the learner's sessions started with one activity, newest first, by page
    number or after the `next_after` cursor of the page before."""
    total = found(
        queries.study_activities.sessions_count(connection, learner_id, study_activity_id),
        "study activity",
    )
    return session_page(connection, learner_id, query, total, study_activity_id)


@routes.get("/study-activities/<id:study_activity_id>/launch", response=LaunchData, errors=(404,))
def get_study_activity_launch(connection: Connection, study_activity_id: int) -> dict[str, Any]:
    """Show an activity with the groups it can be launched for."""
    return {
        "activity": get_or_404(connection, study_activity_id),
        "groups": queries.groups.all_names(connection),
    }
