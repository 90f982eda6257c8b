"""Study activities that lang-portal serves itself: flashcards.

The seed registers Flashcards with the URL ``/activities/flashcards/``, made absolute
with LANG_PORTAL_PUBLIC_URL. The page is a shell: its script reads ``group_id`` and
``session_id`` from the URL and talks to the JSON API like any external activity.
"""

from __future__ import annotations

from flask import abort, render_template
from flask.typing import ResponseReturnValue

from lang_portal.pages import blueprint


@blueprint.get("/activities/flashcards/")
def flashcards() -> ResponseReturnValue:
    """The flashcards activity: kanji on the front, reading and meaning on the back."""
    return render_template("activities/flashcards.html")


@blueprint.route("/activities/<path:unknown>")
def unknown_activity(unknown: str) -> ResponseReturnValue:
    """Any other path under /activities: the friendly 404 page."""
    abort(404, "There is no study activity at this address.")
