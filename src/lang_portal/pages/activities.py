"""Study activities that lang-portal serves itself: Flashcards, Typing Tutor, Kanji Match
and Review.

The seed registers each with a path (``/activities/flashcards/`` and so on), so its
links follow the host the portal is reached on. Each page is a shell: its script reads
``group_id`` and ``session_id`` from the URL and talks to the JSON API like any
external activity (js/activity.js holds what they share).
"""

from __future__ import annotations

from flask import abort, render_template
from flask.typing import ResponseReturnValue

from lang_portal import scheduling
from lang_portal.pages import blueprint

# Where the Review activity is served; the seed registers it at this path, and the
# Review page finds it among the study activities by it.
REVIEW_PATH = "/activities/review/"


@blueprint.get("/activities/flashcards/")
def flashcards() -> ResponseReturnValue:
    """The flashcards activity: kanji on the front, reading and meaning on the back."""
    return render_template("activities/flashcards.html")


@blueprint.get("/activities/typing-tutor/")
def typing_tutor() -> ResponseReturnValue:
    """The Typing Tutor: the English meaning is shown, the learner types the romaji."""
    return render_template("activities/typing-tutor.html")


@blueprint.get("/activities/kanji-match/")
def kanji_match() -> ResponseReturnValue:
    """Kanji Match: pair kanji tiles with their readings or meanings against a clock."""
    return render_template("activities/kanji-match.html")


@blueprint.get(REVIEW_PATH)
def review() -> ResponseReturnValue:
    """The Review activity: the group's due queue as flashcards, each answer rated with
    one of the scheduler's ratings (Again, Hard, Good, Easy; keys 1 to 4)."""
    return render_template("activities/review.html", ratings=scheduling.RATINGS)


@blueprint.route("/activities/<path:unknown>")
def unknown_activity(unknown: str) -> ResponseReturnValue:
    """Any other path under /activities: the friendly 404 page."""
    abort(404, "There is no study activity at this address.")
