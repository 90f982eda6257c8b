"""The portal's pages: dashboard, words, groups, study activities, sessions and settings.

Every view reads inside one read transaction, so each page shows one consistent
snapshot, and reads only through :mod:`lang_portal.queries`, like the JSON API.
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection

from lang_portal import db, links, queries
from lang_portal.pages import blueprint
from lang_portal.pages.chart import reviews_chart
from lang_portal.pages.params import Pager, choice, page_number

WORDS_PER_PAGE = 50
GROUP_WORDS_PER_PAGE = 25
GROUPS_PER_PAGE = 20
SESSIONS_PER_PAGE = 20
RECENT_SESSIONS = 5
CHART_DAYS = 30

# Columns a word table can be sorted by, as (sort key, heading); the keys are the
# whitelist of queries.words.SORT_COLUMNS.
WORD_HEADINGS = (
    ("kanji", "Japanese"),
    ("romaji", "Reading"),
    ("english", "English"),
    ("correct_count", "Right"),
    ("wrong_count", "Wrong"),
)
GROUP_HEADINGS = (("name", "Group"), ("words_count", "Words"))
ORDERS = ("asc", "desc")


def _sorting(default_sort: str, allowed: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """The (sort_by, order) asked for in the query string, checked against ``allowed``."""
    sort_by = choice(request.args, "sort_by", [key for key, _ in allowed], default_sort)
    order = choice(request.args, "order", ORDERS, "asc")
    return sort_by, order


def _group_or_404(connection: Connection, group_id: int) -> dict[str, Any]:
    group = queries.groups.get(connection, group_id)
    if group is None:
        abort(404, f"There is no word group with id {group_id}.")
    return group


def _activity_or_404(connection: Connection, study_activity_id: int) -> dict[str, Any]:
    activity = queries.study_activities.get(connection, study_activity_id, links.base_url())
    if activity is None:
        abort(404, f"There is no study activity with id {study_activity_id}.")
    return activity


@blueprint.get("/")
def dashboard_page() -> ResponseReturnValue:
    """The dashboard: the learner's figures, the last session and reviews per day."""
    today = queries.dashboard.utc_now().date()
    with db.reading() as connection:
        stats = queries.dashboard.stats(connection)
        recent = queries.dashboard.recent_session(connection)
        recent_group = queries.groups.get(connection, recent["group_id"]) if recent else None
        days = queries.progress.reviews_per_day(connection, today, CHART_DAYS)
    return render_template(
        "dashboard.html",
        active="dashboard",
        stats=stats,
        recent=recent,
        recent_group=recent_group,
        chart=reviews_chart(days),
        first_day=days[0]["day"],
        last_day=days[-1]["day"],
    )


@blueprint.get("/portal/")
@blueprint.get("/portal")
def portal_home() -> ResponseReturnValue:
    """``/portal`` itself is the dashboard, which lives at ``/``."""
    return redirect(url_for("pages.dashboard_page"))


@blueprint.get("/portal/words")
def words_page() -> ResponseReturnValue:
    """Every word with its review counts, sortable and 50 to a page."""
    sort_by, order = _sorting("kanji", WORD_HEADINGS)
    number = page_number(request.args)
    with db.reading() as connection:
        pager = Pager(number, WORDS_PER_PAGE, queries.words.count(connection))
        items = queries.words.page(
            connection, sort_by, order == "desc", pager.offset, pager.per_page
        )
    return render_template(
        "words.html",
        active="words",
        words=items,
        pager=pager,
        sort_by=sort_by,
        order=order,
        columns=WORD_HEADINGS,
    )


@blueprint.get("/portal/words/<id:word_id>")
def word_page(word_id: int) -> ResponseReturnValue:
    """One word: its reading, meaning, review counts and groups."""
    with db.reading() as connection:
        word = queries.words.get(connection, word_id)
    if word is None:
        abort(404, f"There is no word with id {word_id}.")
    return render_template("word.html", active="words", word=word)


@blueprint.get("/portal/groups")
def groups_page() -> ResponseReturnValue:
    """Every word group, sortable by name or size."""
    sort_by, order = _sorting("name", GROUP_HEADINGS)
    number = page_number(request.args)
    with db.reading() as connection:
        pager = Pager(number, GROUPS_PER_PAGE, queries.groups.count(connection))
        items = queries.groups.page(
            connection, sort_by, order == "desc", pager.offset, pager.per_page
        )
    return render_template(
        "groups.html",
        active="groups",
        groups=items,
        pager=pager,
        sort_by=sort_by,
        order=order,
        columns=GROUP_HEADINGS,
    )


@blueprint.get("/portal/groups/<id:group_id>")
def group_page(group_id: int) -> ResponseReturnValue:
    """One group: start an activity for it, its recent sessions and its words."""
    sort_by, order = _sorting("kanji", WORD_HEADINGS)
    number = page_number(request.args)
    with db.reading() as connection:
        group = _group_or_404(connection, group_id)
        pager = Pager(number, GROUP_WORDS_PER_PAGE, group["word_count"])
        items = queries.words.group_page(
            connection, group_id, sort_by, order == "desc", pager.offset, pager.per_page
        )
        sessions_total = queries.groups.sessions_count(connection, group_id) or 0
        recent = queries.study_sessions.group_page(
            connection, group_id, "created_at", True, 0, RECENT_SESSIONS
        )
        activities = queries.study_activities.all_activities(connection, links.base_url())
    return render_template(
        "group.html",
        active="groups",
        group=group,
        words=items,
        pager=pager,
        sort_by=sort_by,
        order=order,
        columns=WORD_HEADINGS,
        sessions=recent,
        sessions_total=sessions_total,
        activities=activities,
    )


@blueprint.get("/portal/groups/<id:group_id>/sessions")
def group_sessions_page(group_id: int) -> ResponseReturnValue:
    """Every session of one group, newest first."""
    number = page_number(request.args)
    with db.reading() as connection:
        group = _group_or_404(connection, group_id)
        pager = Pager(
            number, SESSIONS_PER_PAGE, queries.groups.sessions_count(connection, group_id) or 0
        )
        items = queries.study_sessions.group_page(
            connection, group_id, "created_at", True, pager.offset, pager.per_page
        )
    return render_template(
        "group_sessions.html", active="groups", group=group, sessions=items, pager=pager
    )


@blueprint.get("/portal/study-activities")
def study_activities_page() -> ResponseReturnValue:
    """The launchpad: every study activity, each with a way to start it."""
    with db.reading() as connection:
        activities = queries.study_activities.all_activities(connection, links.base_url())
    return render_template("study_activities.html", active="study", activities=activities)


@blueprint.get("/portal/study-activities/<id:study_activity_id>")
def study_activity_page(study_activity_id: int) -> ResponseReturnValue:
    """One activity: a form to launch it for a group, and its sessions."""
    number = page_number(request.args)
    with db.reading() as connection:
        activity = _activity_or_404(connection, study_activity_id)
        choices = queries.groups.all_names(connection)
        pager = Pager(
            number,
            SESSIONS_PER_PAGE,
            queries.study_activities.sessions_count(connection, study_activity_id),
        )
        items = queries.study_sessions.activity_page(
            connection, study_activity_id, pager.offset, pager.per_page
        )
    chosen = request.args.get("group_id", "")
    return render_template(
        "study_activity.html",
        active="study",
        activity=activity,
        groups=choices,
        chosen_group_id=int(chosen) if chosen.isdecimal() else None,
        sessions=items,
        pager=pager,
    )


@blueprint.get("/portal/sessions")
def sessions_page() -> ResponseReturnValue:
    """Every study session, newest first."""
    number = page_number(request.args)
    with db.reading() as connection:
        pager = Pager(number, SESSIONS_PER_PAGE, queries.study_sessions.count(connection))
        items = queries.study_sessions.page(connection, pager.offset, pager.per_page)
    return render_template("sessions.html", active="sessions", sessions=items, pager=pager)


@blueprint.get("/portal/sessions/<id:study_session_id>")
def session_page(study_session_id: int) -> ResponseReturnValue:
    """One session: when, what, how it went, and each word reviewed in it."""
    number = page_number(request.args)
    with db.reading() as connection:
        study_session = queries.study_sessions.get(connection, study_session_id)
        if study_session is None:
            abort(404, f"There is no study session with id {study_session_id}.")
        reviewed, total = queries.study_sessions.reviewed_words(
            connection, study_session_id, (number - 1) * WORDS_PER_PAGE, WORDS_PER_PAGE
        )
    return render_template(
        "session.html",
        active="sessions",
        study_session=study_session,
        words=reviewed,
        pager=Pager(number, WORDS_PER_PAGE, total),
    )


@blueprint.get("/portal/settings")
def settings_page() -> ResponseReturnValue:
    """Settings: how much study history there is, and a confirmed reset of it."""
    with db.reading() as connection:
        totals = queries.progress.history_totals(connection)
    return render_template(
        "settings.html",
        active="settings",
        totals=totals,
        public_url=links.base_url(),
        # Said only while it is true: a shared ?reset=done link cannot claim a reset.
        reset_done=request.args.get("reset") == "done" and totals["sessions"] == 0,
    )


@blueprint.route("/portal/<path:unknown>")
def unknown_page(unknown: str) -> ResponseReturnValue:
    """Any other path under /portal: the friendly 404 page, not the API's JSON one."""
    abort(404, "There is no page at this address.")
