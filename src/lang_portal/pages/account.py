"""Signing in and out of the portal, and a learner's own password (accounts mode).

The forms post here, each with its CSRF token (checked for every page POST by
``pages.pages_need_a_sign_in``). A password is checked outside any write
transaction: argon2 takes tens of milliseconds, and SQLite writers would queue
behind it. An unknown name, a learner without a password and a wrong password all
get the same answer after the same work (see lang_portal.passwords); failures are
limited per name and per address (lang_portal.security.SignInFailures).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from lang_portal import db, identity, passwords, queries, security, sign_in
from lang_portal.pages import blueprint, current_learner_id
from lang_portal.pages.views import settings

NO_MATCH = "That name and password do not match. Check both and try again."


def _accounts_only() -> None:
    """The sign-in and password pages exist in the accounts mode only; else a 404 page."""
    if not identity.accounts_mode():
        abort(404, "This portal is open to everyone: there is nothing to sign in to.")


def _local_next(raw: str | None) -> str:
    """Where to go after signing in: a path on this portal, never another site.

    Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so
    ``/\t/evil.example`` would be ``//evil.example``, another site: any of those
    characters, like a scheme or a host, sends the learner to the dashboard instead.
    """
    home = url_for("pages.dashboard_page")
    if not raw or not raw.startswith("/") or "\\" in raw:
        return home
    if any(character.isspace() or not character.isprintable() for character in raw):
        return home
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or raw.startswith("//"):
        return home
    return raw


def _form(status: int = 200, **values: Any) -> ResponseReturnValue:
    page = render_template("sign_in.html", next=request.values.get("next", ""), **values)
    headers = identity.CHALLENGE if status == 401 else {}
    return page, status, headers


@blueprint.get("/portal/sign-in")
def sign_in_page() -> ResponseReturnValue:
    """The sign-in form; someone already signed in goes straight on."""
    _accounts_only()
    if sign_in.signed_in_learner() is not None:
        return redirect(_local_next(request.args.get("next")))
    return _form(signed_out=request.args.get("signed_out") == "1")


@blueprint.post("/portal/sign-in")
def sign_in_submit() -> ResponseReturnValue:
    """Check a name and password; on a match, a new sign-in and on to the page asked for."""
    _accounts_only()
    name = request.form.get("name", "").strip()
    password = request.form.get("password", "")
    failures = security.sign_in_failures()
    name_key = queries.learners.name_key(name)
    wait = failures.retry_after(name_key)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        message = (
            f"Too many failed sign-ins. Wait {minutes} minute{'s' if minutes > 1 else ''} "
            "and try again, or ask your teacher for a temporary password."
        )
        page = render_template("sign_in.html", next=request.form.get("next", ""), error=message)
        return page, 429, {"Retry-After": str(wait)}
    with db.reading() as connection:
        learner = queries.sign_ins.credentials(connection, name) if name else None
    stored_hash = learner["password_hash"] if learner else None
    # Checked for every name, known or not: the time of the answer tells nothing.
    matched = passwords.verify(stored_hash, password)
    if learner is None or not matched:
        failures.failed(name_key)
        return _form(401, error=NO_MATCH, name=name)
    # Hashing takes tens of milliseconds: done before the write transaction, not in it.
    stronger = passwords.hashed(password) if passwords.needs_rehash(stored_hash) else None
    with db.writing() as connection:
        if stronger is not None:
            queries.sign_ins.rehash(connection, learner["id"], stronger)
        sign_in.begin(connection, learner["id"])
    return redirect(_local_next(request.form.get("next")))


@blueprint.post("/portal/sign-out")
def sign_out() -> ResponseReturnValue:
    """End this sign-in, everywhere its cookie was copied to, and show the sign-in page."""
    _accounts_only()
    sign_in.end()
    return redirect(url_for("pages.sign_in_page", signed_out="1"))


@blueprint.post("/portal/settings/password")
def change_password() -> ResponseReturnValue:
    """A learner's new password, after their current one; every other sign-in ends."""
    _accounts_only()
    learner_id = current_learner_id()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    repeated = request.form.get("repeat_password", "")
    failures = security.sign_in_failures()
    with db.reading() as connection:
        profile = queries.learners.profile(connection, learner_id)
        stored_hash = queries.sign_ins.password_hash_of(connection, learner_id)
    assert profile is not None  # signed in: the learner exists
    name_key = queries.learners.name_key(profile["name"])
    wait = failures.retry_after(name_key)
    if wait is not None:
        refused = "Too many wrong passwords; wait a few minutes and try again."
        return settings(refusal=refused, status=429, headers={"Retry-After": str(wait)})
    if not passwords.verify(stored_hash, current):
        failures.failed(name_key)
        return settings(refusal="Your current password is not right.", status=400)
    try:
        new = passwords.checked(new)
    except passwords.BadPassword as error:
        return settings(refusal=f"That new password cannot be used: {error}.", status=400)
    if new != repeated:
        return settings(refusal="The two new passwords are not the same.", status=400)
    new_hash = passwords.hashed(new)  # before the write transaction: it takes a while
    with db.writing() as connection:
        queries.sign_ins.set_password(
            connection, learner_id, new_hash, temporary=False, keep_token=sign_in.token()
        )
    return redirect(url_for("pages.settings_page", done="password", _anchor="password"))
