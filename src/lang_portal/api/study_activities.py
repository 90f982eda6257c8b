"""Study activities: the apps the launchpad starts for a word group."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection

from lang_portal import links, queries
from lang_portal.api.lookup import found
from lang_portal.api.pagination import PageQuery, page_body
from lang_portal.api.routing import routes
from lang_portal.api.study_sessions import StudySessionPage


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


@routes.get("/study-activities/<id:study_activity_id>", response=StudyActivity, errors=(404,))
def get_study_activity(connection: Connection, study_activity_id: int) -> dict[str, Any]:
    """Show one study activity."""
    return get_or_404(connection, study_activity_id)


@routes.get(
    "/study-activities/<id:study_activity_id>/sessions",
    query=PageQuery,
    response=StudySessionPage,
    scoped=True,
    errors=(400, 404),
)
def list_study_activity_sessions(
    connection: Connection, learner_id: int, study_activity_id: int, query: PageQuery
) -> dict[str, Any]:
    """List the learner's sessions started with one activity, newest first."""
    total = found(
        queries.study_activities.sessions_count(connection, learner_id, study_activity_id),
        "study activity",
    )
    items = queries.study_sessions.activity_page(
        connection, learner_id, study_activity_id, query.offset, query.per_page
    )
    return page_body(items, total, query)


@routes.get("/study-activities/<id:study_activity_id>/launch", response=LaunchData, errors=(404,))
def get_study_activity_launch(connection: Connection, study_activity_id: int) -> dict[str, Any]:
    """Show an activity with the groups it can be launched for."""
    return {
        "activity": get_or_404(connection, study_activity_id),
        "groups": queries.groups.all_names(connection),
    }
