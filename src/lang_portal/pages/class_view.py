"""The teacher's class view (accounts mode): every learner's progress, each learner's
dashboard read-only, and the teacher's tools: add a learner, set a temporary password,
give a new token.

Only teachers reach it (a 403 page for learners); in the open mode there is no class
(a 404 page). A token is shown once, on the page that answers the form that made it,
and never kept: that page is not cached (``Cache-Control: no-store`` on every page of
the accounts mode) and the token is not put in a redirect's URL or in the cookie.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from lang_portal import db, identity, names, passwords, queries
from lang_portal.api.pagination import Pager
from lang_portal.pages import blueprint
from lang_portal.pages.params import choice, page_number
from lang_portal.pages.views import ORDERS, dashboard

LEARNERS_PER_PAGE = 50
# The columns the class can be sorted by, as (sort key, heading): the whitelist.
HEADINGS = (
    ("name", "Name"),
    ("words_studied", "Words studied"),
    ("mastered_words", "Mastered"),
    ("due_now", "Due now"),
    ("current_streak", "Streak"),
    ("last_active_at", "Last activity"),
)
_NEVER = datetime.min.replace(tzinfo=UTC)


def _teachers_only() -> None:
    """A 404 page in the open mode, a 403 page for a learner."""
    if not identity.accounts_mode():
        abort(404, "This portal is open to everyone: it has no class to manage.")
    if not identity.current(write=False).is_teacher:
        abort(403, "Only a teacher can see the class and manage learners.")


def _sort_value(key: str) -> Any:
    if key == "name":
        return lambda learner: queries.learners.name_key(learner["name"])
    if key == "last_active_at":
        return lambda learner: learner["last_active_at"] or _NEVER
    return lambda learner: learner[key]


def _class_page(status: int = 200, **shown: Any) -> ResponseReturnValue:
    """The class: every learner with their figures, sorted and paged as asked, and the
    add-a-learner form (``shown``: what the last form did, or what went wrong)."""
    sort_by = choice(request.args, "sort_by", [key for key, _ in HEADINGS], "name")
    order = choice(request.args, "order", ORDERS, "asc")
    number = page_number(request.args)
    with db.reading() as connection:
        total = queries.learners.count(connection)
        everyone = queries.learners.page(connection, 0, max(total, 1))
    # A class is tens or hundreds of learners: each figure is one query for all of them,
    # and any column sorts here without an index per figure.
    everyone.sort(key=_sort_value(sort_by), reverse=order == "desc")
    pager = Pager(number, LEARNERS_PER_PAGE, total)
    page = render_template(
        "class.html",
        active="class",
        learners=everyone[pager.offset : pager.offset + pager.per_page],
        columns=HEADINGS,
        sort_by=sort_by,
        order=order,
        pager=pager,
        roles=queries.learners.ROLES,
        **shown,
    )
    return page, status


@blueprint.get("/portal/class")
def class_page() -> ResponseReturnValue:
    """Every learner with words studied, mastered, due now, streak and last activity."""
    _teachers_only()
    return _class_page()


@blueprint.post("/portal/class/learners")
def add_learner() -> ResponseReturnValue:
    """Add a learner and show their first token, this once."""
    _teachers_only()
    role = request.form.get("role", queries.learners.LEARNER)
    if role not in queries.learners.ROLES:
        return _class_page(400, add_error="Choose a role: learner or teacher.")
    try:
        name = names.checked(request.form.get("name", ""))
    except names.BadName as error:
        return _class_page(400, add_error=f"That name cannot be used: it {error}.")
    with db.writing() as connection:
        try:
            created = queries.learners.create(connection, name, role)
        except queries.problems.NameTaken:
            return _class_page(409, add_error=f"There is already a learner called {name}.")
        token = queries.learners.issue_token(connection, created["id"])
    return _learner_page(created["id"], 201, new_token=token)


def _learner_page(learner_id: int, status: int = 200, **shown: Any) -> ResponseReturnValue:
    """One learner's dashboard, read-only, with the teacher's tools for them."""
    with db.reading() as connection:
        learner = queries.learners.profile(connection, learner_id)
    if learner is None:
        abort(404, f"There is no learner with id {learner_id}.")
    return dashboard(learner_id, learner, **shown), status


@blueprint.get("/portal/class/<id:learner_id>")
def learner_page(learner_id: int) -> ResponseReturnValue:
    """A learner's dashboard, as they see it, and the teacher's tools for them."""
    _teachers_only()
    return _learner_page(learner_id, temporary_set=request.args.get("done") == "temporary")


@blueprint.post("/portal/class/<id:learner_id>/password")
def set_temporary_password(learner_id: int) -> ResponseReturnValue:
    """Give a learner a temporary password: they choose their own at their next sign-in,
    and every sign-in of theirs ends now."""
    _teachers_only()
    try:
        password = passwords.checked(request.form.get("password", ""))
    except passwords.BadPassword as error:
        return _learner_page(learner_id, 400, refusal=f"That password cannot be used: {error}.")
    password_hash = passwords.hashed(password)  # before the write transaction: it takes a while
    with db.writing() as connection:
        try:
            queries.sign_ins.set_password(connection, learner_id, password_hash, temporary=True)
        except queries.problems.UnknownLearner:
            abort(404, f"There is no learner with id {learner_id}.")
    return redirect(url_for("pages.learner_page", learner_id=learner_id, done="temporary"))


@blueprint.post("/portal/class/<id:learner_id>/token")
def rotate_token(learner_id: int) -> ResponseReturnValue:
    """Give a learner a new token, shown this once; their earlier tokens stop working."""
    _teachers_only()
    with db.writing() as connection:
        try:
            token = queries.learners.issue_token(connection, learner_id)
        except queries.problems.UnknownLearner:
            abort(404, f"There is no learner with id {learner_id}.")
    return _learner_page(learner_id, 201, new_token=token)
