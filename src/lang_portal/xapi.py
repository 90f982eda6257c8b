"""Reviews as xAPI 1.0.3 statements: the one place that maps a review to a statement.

Every review a learner records is also an xAPI statement ("learner-7 answered 食べる"),
which the statements API (:mod:`lang_portal.api.xapi`) lists and the sender
(:mod:`lang_portal.xapi_sender`) posts to a Learning Record Store. Both build it here,
from the same record (:func:`lang_portal.queries.statements.review_records`), so a
statement read from the API and the one the LRS stored are equal.

Pure: no database, no Flask. A statement is a function of its review record and the
public URL alone, and its id is a function of the review id alone, so building it twice,
or sending it twice, gives the same statement (docs/xapi.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lang_portal import scheduling

XAPI_VERSION = "1.0.3"
# The namespace of every UUID lang-portal derives (uuid5): fixed forever, since changing
# it would give every review a new statement id and an LRS would store them all twice.
NAMESPACE = uuid.UUID("a9289a15-e676-4ee1-912e-b80e7890d146")
# The actor's homePage and the activity ids are IRIs and must be absolute. With no
# LANG_PORTAL_PUBLIC_URL they start with this: a local install's own address. Set the
# public URL before sending to an LRS that other installs send to as well.
FALLBACK_HOME_PAGE = "http://localhost"
VERB_ANSWERED = "http://adlnet.gov/expapi/verbs/answered"
PLATFORM = "lang-portal"
# The words are Japanese; their romaji is Japanese written in Latin script (RFC 5646).
WORD_LANGUAGE = "ja"
ROMAJI_LANGUAGE = "ja-Latn"
ENGLISH = "en"
# What :func:`statement` reads from a review record.
RECORD_KEYS = frozenset(
    {
        "id",
        "learner_id",
        "word_id",
        "kanji",
        "romaji",
        "english",
        "study_session_id",
        "group_id",
        "group_name",
        "study_activity_id",
        "study_activity_name",
        "correct",
        "rating",
        "reviewed_at",
        "duration_ms",
    }
)


def statement_id(review_id: int) -> str:
    """The statement id of a review: a UUID (version 5) of ``review:<id>`` in NAMESPACE,
    the same every time, so that a statement sent twice is one statement to an LRS."""
    return str(uuid.uuid5(NAMESPACE, f"review:{review_id}"))


def registration(study_session_id: int) -> str:
    """The xAPI registration of a study session: a UUID (version 5) of
    ``study-session:<id>`` in NAMESPACE; every review of the session shares it."""
    return str(uuid.uuid5(NAMESPACE, f"study-session:{study_session_id}"))


def home_page(config: Mapping[str, Any]) -> str:
    """The absolute URL statements are built on: the app's PUBLIC_URL (settings.py), or
    FALLBACK_HOME_PAGE when none is set. Never the URL of a request: a statement must
    be the same whether the API or the sender builds it."""
    return str(config.get("PUBLIC_URL") or FALLBACK_HOME_PAGE).rstrip("/")


def duration(milliseconds: int) -> str:
    """An ISO 8601 duration as xAPI writes it (``PT1.5S``, ``PT2M3.25S``), rounded to
    the hundredth of a second xAPI keeps. Raises ValueError for a negative duration."""
    if milliseconds < 0:
        raise ValueError("a duration is never negative")
    centiseconds = (milliseconds + 5) // 10
    minutes, centiseconds = divmod(centiseconds, 6000)
    hours, minutes = divmod(minutes, 60)
    whole, hundredths = divmod(centiseconds, 100)
    seconds = f"{whole}.{hundredths:02d}".rstrip("0").rstrip(".") if hundredths else str(whole)
    parts = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if whole or hundredths or not parts:
        parts += f"{seconds}S"
    return f"PT{parts}"


def timestamp(moment: datetime) -> str:
    """An aware time as an xAPI timestamp: ISO 8601 in UTC with ``Z``, to the
    millisecond an LRS keeps. Raises ValueError for a naive time."""
    if moment.tzinfo is None:
        raise ValueError("a naive time has no place on the timeline; pass an aware one")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def actor(learner_id: int, public_url: str) -> dict[str, Any]:
    """The learner as an xAPI Agent, identified by an account on the portal only.

    The learner's name is not sent: an LRS is often another organisation's, and the
    account is the one identifier xAPI requires (exactly one per Agent).
    """
    return {
        "objectType": "Agent",
        "account": {"homePage": public_url, "name": f"learner-{learner_id}"},
    }


def _activity(iri: str, name: Mapping[str, str], **definition: Any) -> dict[str, Any]:
    return {"objectType": "Activity", "id": iri, "definition": {"name": dict(name), **definition}}


def word_activity(record: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    """The reviewed word as the statement's object: its kanji (and romaji) as the name,
    its English meaning as the description."""
    return _activity(
        f"{public_url}/words/{record['word_id']}",
        {WORD_LANGUAGE: record["kanji"], ROMAJI_LANGUAGE: record["romaji"]},
        description={ENGLISH: record["english"]},
    )


def result(record: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the answer was right, the rating as the API names it (again, hard, good,
    easy), and how long it took when the activity said so."""
    outcome: dict[str, Any] = {
        "success": bool(record["correct"]),
        "response": scheduling.RATING_NAMES[record["rating"]],
    }
    if record["duration_ms"] is not None:
        outcome["duration"] = duration(record["duration_ms"])
    return outcome


def context(record: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    """The study session as the registration, and the group and study activity it
    studied as grouping context activities."""
    return {
        "registration": registration(record["study_session_id"]),
        "contextActivities": {
            "grouping": [
                _activity(
                    f"{public_url}/groups/{record['group_id']}",
                    {ENGLISH: record["group_name"]},
                ),
                _activity(
                    f"{public_url}/study-activities/{record['study_activity_id']}",
                    {ENGLISH: record["study_activity_name"]},
                ),
            ]
        },
        "platform": PLATFORM,
        "language": WORD_LANGUAGE,
    }


def statement(record: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    """One review as an xAPI 1.0.3 statement, a JSON-ready dict.

    ``record`` has the RECORD_KEYS (:func:`lang_portal.queries.statements.review_records`);
    ``public_url`` is :func:`home_page`'s. ``stored``, ``authority`` and ``version``
    are left to the LRS, as xAPI asks of a statement's sender.
    """
    public_url = public_url.rstrip("/")
    return {
        "id": statement_id(record["id"]),
        "actor": actor(record["learner_id"], public_url),
        "verb": {"id": VERB_ANSWERED, "display": {"en-US": "answered"}},
        "object": word_activity(record, public_url),
        "result": result(record),
        "context": context(record, public_url),
        "timestamp": timestamp(record["reviewed_at"]),
    }
