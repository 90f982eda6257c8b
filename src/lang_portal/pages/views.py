"""The portal's pages: dashboard, words, groups, study activities, sessions and settings.

Every view reads inside one read transaction, so each page shows one consistent
snapshot, and reads only through :mod:`lang_portal.queries`, like the JSON API. The
history shown is the caller's (:func:`lang_portal.identity.current`): in the open
mode, the default learner's.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, TypeVar

from flask import abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import Connection
from werkzeug.exceptions import HTTPException

from lang_portal import db, links, queries
from lang_portal.api.pagination import Pager
from lang_portal.pages import blueprint, current_learner_id
from lang_portal.pages.chart import forecast_chart, reviews_chart
from lang_portal.pages.params import choice, page_number
from lang_portal.pages.review import remember_due_now

WORDS_PER_PAGE = 50
GROUP_WORDS_PER_PAGE = 25
GROUPS_PER_PAGE = 20
SESSIONS_PER_PAGE = 20
RECENT_SESSIONS = 5
CHART_DAYS = 30
FORECAST_DAYS = 14

# The columns a table can be sorted by, as (sort key, heading): the whitelists' own.
WORD_HEADINGS = queries.words.HEADINGS
GROUP_HEADINGS = queries.groups.HEADINGS
ORDERS = ("asc", "desc")

Row = TypeVar("Row")


def _found(row: Row | None, what: str, row_id: int) -> Row:
    """The row a page's URL names; the HTML 404 page, in a sentence, when there is none."""
    if row is None:
        abort(404, f"There is no {what} with id {row_id}.")
    return row


def _sorting(default_sort: str, headings: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """The (sort_by, order) asked for in the query string; a key must have a heading."""
    sort_by = choice(request.args, "sort_by", [key for key, _ in headings], default_sort)
    order = choice(request.args, "order", ORDERS, "asc")
    return sort_by, order


def _table(sort_by: str, order: str, headings: tuple, pager: Pager) -> dict[str, Any]:
    """What a sortable, paged table needs from the view: the sort, its headings, the page."""
    return {"sort_by": sort_by, "order": order, "columns": headings, "pager": pager}


def _list_page(
    listing: ModuleType,
    headings: tuple,
    default_sort: str,
    per_page: int,
    active: str,
    whose: tuple[int, ...] = (),
) -> ResponseReturnValue:
    """A sortable, paged list of every row of ``listing`` (queries.words or queries.groups),
    rendered as ``{active}.html`` with the rows under the name ``active``. ``whose`` is
    the learner whose counts the rows carry, for a listing that takes one (the words)."""
    sort_by, order = _sorting(default_sort, headings)
    number = page_number(request.args)
    with db.reading() as connection:
        pager = Pager(number, per_page, listing.count(connection))
        rows = listing.page(
            connection, *whose, sort_by, order == "desc", pager.offset, pager.per_page
        )
    table = _table(sort_by, order, headings, pager)
    return render_template(f"{active}.html", active=active, **{active: rows}, **table)


@blueprint.get("/")
def dashboard_page() -> ResponseReturnValue:
    """The dashboard: the learner's figures, what is due, the last session, reviews per
    day and the cards due per day ahead."""
    return dashboard(current_learner_id())


def dashboard(learner_id: int, learner: dict[str, Any] | None = None, **shown: Any) -> str:
    """A learner's dashboard: their own, or, with ``learner`` (their profile), one a
    teacher reads in the class view, without any button that would act as them, and
    with the teacher's tools for them (``shown``: what the last tool did)."""
    now = queries.dashboard.utc_now()
    with db.reading() as connection:
        stats = queries.dashboard.stats(connection, learner_id)
        figures = queries.cards.figures(connection, learner_id, now)
        recent = queries.dashboard.recent_session(connection, learner_id)
        days = queries.progress.reviews_per_day(connection, learner_id, now.date(), CHART_DAYS)
        ahead = queries.cards.forecast(connection, learner_id, now, FORECAST_DAYS)
    if learner is None:  # the navigation's due count is the viewer's own
        remember_due_now(figures["due_now"])
    return render_template(
        "dashboard.html",
        active="dashboard" if learner is None else "class",
        learner=learner,
        stats=stats,
        figures=figures,
        recent=recent,
        chart=reviews_chart(days),
        first_day=days[0]["day"],
        last_day=days[-1]["day"],
        forecast=forecast_chart(ahead),
        **shown,
    )


@blueprint.get("/portal/")
@blueprint.get("/portal")
def portal_home() -> ResponseReturnValue:
    """``/portal`` itself is the dashboard, which lives at ``/``."""
    return redirect(url_for("pages.dashboard_page"))


@blueprint.get("/portal/words")
def words_page() -> ResponseReturnValue:
    """Every word with its review counts, sortable and 50 to a page."""
    return _list_page(
        queries.words, WORD_HEADINGS, "kanji", WORDS_PER_PAGE, "words", (current_learner_id(),)
    )


@blueprint.get("/portal/words/<id:word_id>")
def word_page(word_id: int) -> ResponseReturnValue:
    """One word: its reading, meaning, review counts and groups."""
    with db.reading() as connection:
        word = _found(queries.words.get(connection, current_learner_id(), word_id), "word", word_id)
    return render_template("word.html", active="words", word=word)


@blueprint.get("/portal/groups")
def groups_page() -> ResponseReturnValue:
    """Every word group, sortable by name or size."""
    return _list_page(queries.groups, GROUP_HEADINGS, "name", GROUPS_PER_PAGE, "groups")


def _group(connection: Connection, group_id: int) -> dict[str, Any]:
    """The group a page's URL names, with its sessions count, or the 404 page."""
    return _found(
        queries.groups.get_with_sessions_count(connection, current_learner_id(), group_id),
        "word group",
        group_id,
    )


@blueprint.get("/portal/groups/<id:group_id>")
def group_page(group_id: int) -> ResponseReturnValue:
    """One group: start an activity for it, its recent sessions and its words."""
    sort_by, order = _sorting("kanji", WORD_HEADINGS)
    number = page_number(request.args)
    with db.reading() as connection:
        group = _group(connection, group_id)
        pager = Pager(number, GROUP_WORDS_PER_PAGE, group["word_count"])
        items = queries.words.group_page(
            connection,
            current_learner_id(),
            group_id,
            sort_by,
            order == "desc",
            pager.offset,
            pager.per_page,
        )
        recent = queries.study_sessions.group_page(
            connection, current_learner_id(), group_id, "created_at", True, 0, RECENT_SESSIONS
        )
        activities = queries.study_activities.all_activities(connection, links.base_url())
    return render_template(
        "group.html",
        active="groups",
        group=group,
        words=items,
        sessions=recent,
        sessions_total=group["sessions_count"],
        activities=activities,
        **_table(sort_by, order, WORD_HEADINGS, pager),
    )


@blueprint.get("/portal/groups/<id:group_id>/sessions")
def group_sessions_page(group_id: int) -> ResponseReturnValue:
    """Every session of one group, newest first."""
    number = page_number(request.args)
    with db.reading() as connection:
        group = _group(connection, group_id)
        pager = Pager(number, SESSIONS_PER_PAGE, group["sessions_count"])
        items = queries.study_sessions.group_page(
            connection,
            current_learner_id(),
            group_id,
            "created_at",
            True,
            pager.offset,
            pager.per_page,
            pager.total,
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
        activity = _found(
            queries.study_activities.get(connection, study_activity_id, links.base_url()),
            "study activity",
            study_activity_id,
        )
        choices = queries.groups.all_names(connection)
        pager = Pager(
            number,
            SESSIONS_PER_PAGE,
            queries.study_activities.sessions_count(
                connection, current_learner_id(), study_activity_id
            ),
        )
        items = queries.study_sessions.activity_page(
            connection,
            current_learner_id(),
            study_activity_id,
            pager.offset,
            pager.per_page,
            pager.total,
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
        pager = Pager(
            number,
            SESSIONS_PER_PAGE,
            queries.progress.sessions_count(connection, current_learner_id()),
        )
        items = queries.study_sessions.page(
            connection, current_learner_id(), pager.offset, pager.per_page, pager.total
        )
    return render_template("sessions.html", active="sessions", sessions=items, pager=pager)


@blueprint.get("/portal/sessions/<id:study_session_id>")
def session_page(study_session_id: int) -> ResponseReturnValue:
    """One session: when, what, how it went, and each word reviewed in it."""
    number = page_number(request.args)
    with db.reading() as connection:
        study_session = _found(
            queries.study_sessions.get(connection, current_learner_id(), study_session_id),
            "study session",
            study_session_id,
        )
        reviewed, total = queries.study_sessions.reviewed_words(
            connection,
            current_learner_id(),
            study_session_id,
            Pager(number, WORDS_PER_PAGE).offset,
            WORDS_PER_PAGE,
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
    """Settings: how much study history there is, and a confirmed reset of it; in the
    accounts mode, the learner's password too."""
    return settings()


def settings(
    refusal: str | None = None, status: int = 200, headers: dict[str, str] | None = None
) -> ResponseReturnValue:
    """The Settings page, with what went wrong with a password change, if anything."""
    with db.reading() as connection:
        totals = queries.progress.history_totals(connection, current_learner_id())
    page = render_template(
        "settings.html",
        active="settings",
        totals=totals,
        public_url=links.base_url(),
        # Said only while it is true: a shared ?reset=done link cannot claim a reset.
        reset_done=request.args.get("reset") == "done" and totals["sessions"] == 0,
        refusal=refusal,
        password_changed=request.args.get("done") == "password",
    )
    return page, status, headers or {}


@blueprint.route("/portal/<path:unknown>", methods=["GET", "POST"])
def unknown_page(unknown: str) -> ResponseReturnValue:
    """Any other path under /portal, read or posted to (a form's URL with a bad id): the
    friendly 404 page, not the API's JSON one; a 405 page for the address of a form
    that was read, or of a page that was posted to."""
    other_method = "POST" if request.method == "GET" else "GET"
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, _ = adapter.match(method=other_method)
    except HTTPException:
        endpoint = request.endpoint
    if endpoint != request.endpoint:
        abort(405)
    abort(404, "There is no page at this address.")
