"""The JSON API. Each resource module declares its routes on the shared registry."""

from __future__ import annotations

from flask import Flask

from lang_portal.api import (
    dashboard,
    decks,
    groups,
    launch_tokens,
    learner_export,
    learners,
    study,
    study_activities,
    study_sessions,
    words,
    xapi,
)
from lang_portal.api.routing import routes

__all__ = [
    "dashboard",
    "decks",
    "groups",
    "init_app",
    "launch_tokens",
    "learner_export",
    "learners",
    "study",
    "study_activities",
    "study_sessions",
    "words",
    "xapi",
]


def init_app(app: Flask) -> None:
    """Register every declared route on the app."""
    routes.register(app)
