"""The SQL of lang-portal, as plain functions ``(connection, ...) -> rows/dicts``.

One module per resource. Callers write ``queries.study_sessions.create(...)``, so a
query module never shares a name with the table it reads (``schema.study_sessions``)
or a model (``StudySession``). Nothing here knows of HTTP: failures are the domain
exceptions of :mod:`lang_portal.queries.problems`.
"""

from lang_portal.queries import (
    cards,
    dashboard,
    groups,
    learner_export,
    learners,
    problems,
    progress,
    reviews,
    sign_ins,
    statements,
    study_activities,
    study_sessions,
    vocabulary,
    words,
    xapi_outbox,
)

__all__ = [
    "cards",
    "dashboard",
    "groups",
    "learner_export",
    "learners",
    "problems",
    "progress",
    "reviews",
    "sign_ins",
    "statements",
    "study_activities",
    "study_sessions",
    "vocabulary",
    "words",
    "xapi_outbox",
]
