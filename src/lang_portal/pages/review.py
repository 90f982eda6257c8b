"""The Review page: what is due now, per word group, and the buttons that start a round.

A review round is a study session of one group with the Review activity, because a
session needs a group (``POST /api/study-sessions`` is unchanged). "Review all" starts
the group with the most cards due now, the lowest group id on a tie; when no card is
due, the first group with new words left. Each group's own button starts that group.

The navigation's Review entry shows the cards due now across all groups
(:func:`due_now_count`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask import current_app, g, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection

from lang_portal import db, links, queries
from lang_portal.pages import blueprint, current_learner_id
from lang_portal.pages.activities import REVIEW_PATH


def _now() -> datetime:
    """The pages' clock (UTC), the one the dashboard's figures use."""
    return queries.dashboard.utc_now()


def remember_due_now(count: int) -> None:
    """Keep the due count a view has read, so the navigation does not read it again."""
    g.due_now = count


@blueprint.app_template_global()
def due_now_count() -> int:
    """Cards due now across all groups, for the navigation's Review entry.

    Read once per request, unless the view already read it (:func:`remember_due_now`).
    Error pages do not ask (templates/error.html): they may be answering a database
    failure, and in the accounts mode they show nobody's history.
    """
    if "due_now" not in g:
        with db.reading() as connection:
            learner_id = current_learner_id()
            due = queries.cards.due_now_of(connection, [learner_id], _now())
            remember_due_now(due[learner_id])
    return g.due_now


def review_all_target(groups: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The group "Review all" starts: the most cards due now, the lowest group id on a
    tie; when nothing is due, the lowest-id group with new words left. None when no
    group has anything to review."""
    candidates = [group for group in groups if group["due_count"] or group["new_count"]]
    if not candidates:
        return None
    return min(candidates, key=lambda group: (-group["due_count"], group["group_id"]))


def review_activity(connection: Connection) -> dict[str, Any] | None:
    """The built-in Review activity as the API lists it, or None when this database
    was seeded before it existed (``lang-portal init-db`` adds it)."""
    base = links.base_url()
    activities = queries.study_activities.all_activities(connection, base)
    return next((a for a in activities if a["launch_url"] == base + REVIEW_PATH), None)


@blueprint.get("/portal/review")
def review_page() -> ResponseReturnValue:
    """What is due now in every group, new words left today, and where to start."""
    now = _now()
    learner_id = current_learner_id()
    new_words_per_day = current_app.config["NEW_WORDS_PER_DAY"]
    with db.reading() as connection:
        groups = queries.cards.due_counts_by_group(connection, learner_id, now, new_words_per_day)
        # Across all groups: a word in two groups is one card, counted once.
        overall = queries.cards.due_queue(connection, learner_id, now, new_words_per_day, 1)
        activity = review_activity(connection)
    remember_due_now(overall["due_count"])
    return render_template(
        "review.html",
        active="review",
        groups=groups,
        due_count=overall["due_count"],
        new_count=overall["new_count"],
        next_due_at=overall["next_due_at"],
        target=review_all_target(groups),
        activity=activity,
    )
