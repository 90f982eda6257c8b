"""lang_portal.xapi: a review as an xAPI 1.0.3 statement, held to the statement rules.

The rules are written here, not taken from lang_portal: a JSON schema of the parts of
xAPI 1.0.3 (section 2.4) that a statement from lang-portal uses, and the grammars of
UUIDs, absolute IRIs, timestamps and durations. No database: the mapping is pure.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from lang_portal import xapi

UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
# ISO 8601 durations as xAPI keeps them: hours, minutes, seconds to 0.01 s, at least one.
DURATION_PATTERN = r"^PT(?=\d)(\d+H)?(\d+M)?(\d+(\.\d{1,2})?S)?$"
# RFC 5646 language tags, as simple as lang-portal's need: a language and subtags.
LANGUAGE_TAG = r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"
LANGUAGE_MAP = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"pattern": LANGUAGE_TAG},
    "additionalProperties": {"type": "string"},
}
ACTIVITY = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "objectType": {"const": "Activity"},
        "id": {"type": "string"},
        "definition": {
            "type": "object",
            "properties": {"name": LANGUAGE_MAP, "description": LANGUAGE_MAP},
        },
    },
}
# An Agent has exactly one inverse functional identifier (xAPI 2.4.2.1).
IDENTIFIERS = ("mbox", "mbox_sha1sum", "openid", "account")
STATEMENT_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "actor", "verb", "object", "timestamp"],
    # What a statement may hold; stored, authority and version are the LRS's to set.
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": UUID_PATTERN},
        "actor": {
            "type": "object",
            "required": ["objectType", "account"],
            "properties": {
                "objectType": {"const": "Agent"},
                "account": {
                    "type": "object",
                    "required": ["homePage", "name"],
                    "additionalProperties": False,
                    "properties": {"homePage": {"type": "string"}, "name": {"type": "string"}},
                },
            },
            "oneOf": [{"required": [name]} for name in IDENTIFIERS],
        },
        "verb": {
            "type": "object",
            "required": ["id"],
            "properties": {"id": {"type": "string"}, "display": LANGUAGE_MAP},
        },
        "object": ACTIVITY,
        "result": {
            "type": "object",
            "required": ["success", "response"],
            "properties": {
                "success": {"type": "boolean"},
                "response": {"type": "string"},
                "duration": {"type": "string", "pattern": DURATION_PATTERN},
            },
        },
        "context": {
            "type": "object",
            "required": ["registration"],
            "properties": {
                "registration": {"type": "string", "pattern": UUID_PATTERN},
                "contextActivities": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        kind: {"type": "array", "items": ACTIVITY}
                        for kind in ("parent", "grouping", "category", "other")
                    },
                },
                "platform": {"type": "string"},
                "language": {"type": "string", "pattern": LANGUAGE_TAG},
            },
        },
        "timestamp": {"type": "string"},
    },
}
ANSWERED = "http://adlnet.gov/expapi/verbs/answered"

REVIEWED_AT = datetime(2026, 3, 14, 9, 26, 53, 589_793, tzinfo=UTC)


def review_record(**changes: Any) -> dict[str, Any]:
    """A review as queries.statements.review_records gives it, with ``changes``."""
    record = {
        "id": 41,
        "learner_id": 7,
        "word_id": 12,
        "kanji": "食べる",
        "romaji": "taberu",
        "english": "to eat",
        "study_session_id": 5,
        "group_id": 2,
        "group_name": "Core Verbs",
        "study_activity_id": 3,
        "study_activity_name": "Flashcards",
        "correct": True,
        "rating": 3,
        "reviewed_at": REVIEWED_AT,
        "duration_ms": 1520,
    }
    return record | changes


RECORDS = {
    "with a duration": review_record(),
    "no duration": review_record(duration_ms=None),
    "wrong answer": review_record(correct=False, rating=1, duration_ms=0),
    "non-ASCII kanji": review_record(kanji="鬱蒼とした", romaji="ussō to shita", english="dense"),
    "an hour long": review_record(duration_ms=3_600_000),
}
PUBLIC_URLS = {
    "host": "https://portal.example.org",
    "path prefix": "https://school.example/jp",
    "port": "http://127.0.0.1:5000",
    "non-ASCII host": "https://日本語.example",
}


def iris_of(statement: dict[str, Any]) -> list[str]:
    """Every IRI of a statement: the actor's homePage, the verb's and activities' ids."""
    grouping = statement["context"]["contextActivities"]["grouping"]
    return [
        statement["actor"]["account"]["homePage"],
        statement["verb"]["id"],
        statement["object"]["id"],
        *(activity["id"] for activity in grouping),
    ]


def is_absolute_iri(iri: str) -> bool:
    parts = urlsplit(iri)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in iri


@pytest.mark.parametrize("public_url", PUBLIC_URLS.values(), ids=PUBLIC_URLS.keys())
@pytest.mark.parametrize("record", RECORDS.values(), ids=RECORDS.keys())
def test_a_statement_follows_the_xapi_rules(record: dict[str, Any], public_url: str) -> None:
    statement = xapi.statement(record, public_url)
    # JSON as an LRS receives it: the dict must survive the trip unchanged.
    sent = json.loads(json.dumps(statement, ensure_ascii=False))
    assert sent == statement
    jsonschema.validate(sent, STATEMENT_SCHEMA)
    for iri in iris_of(sent):
        assert is_absolute_iri(iri), iri
    assert all(iri.startswith(public_url + "/") for iri in iris_of(sent)[2:])
    answered = datetime.fromisoformat(sent["timestamp"])
    assert answered.tzinfo is not None and answered.utcoffset() == timedelta(0)
    assert sent["timestamp"].endswith("Z")
    # To the millisecond an LRS keeps, not later than the review and less than 1 ms before.
    assert timedelta(0) <= record["reviewed_at"] - answered < timedelta(milliseconds=1)


@pytest.mark.parametrize("public_url", PUBLIC_URLS.values(), ids=PUBLIC_URLS.keys())
def test_a_statement_says_who_answered_what_where(public_url: str) -> None:
    record = RECORDS["non-ASCII kanji"]
    statement = xapi.statement(record, public_url)
    assert statement["actor"] == {
        "objectType": "Agent",
        "account": {"homePage": public_url, "name": "learner-7"},
    }
    assert statement["verb"] == {"id": ANSWERED, "display": {"en-US": "answered"}}
    assert statement["object"] == {
        "objectType": "Activity",
        "id": f"{public_url}/words/12",
        "definition": {
            "name": {"ja": "鬱蒼とした", "ja-Latn": "ussō to shita"},
            "description": {"en": "dense"},
        },
    }
    context = statement["context"]
    assert context["registration"] == xapi.registration(5)
    assert [activity["id"] for activity in context["contextActivities"]["grouping"]] == [
        f"{public_url}/groups/2",
        f"{public_url}/study-activities/3",
    ]
    assert [
        activity["definition"]["name"] for activity in context["contextActivities"]["grouping"]
    ] == [{"en": "Core Verbs"}, {"en": "Flashcards"}]
    assert (context["platform"], context["language"]) == ("lang-portal", "ja")
    assert statement["timestamp"] == "2026-03-14T09:26:53.589Z"


def test_the_learner_is_known_by_account_only() -> None:
    statement = xapi.statement(review_record(), "https://portal.example.org")
    assert set(statement["actor"]) == {"objectType", "account"}  # no name, no mailbox


@pytest.mark.parametrize(
    ("rating", "duration_ms", "expected"),
    [
        (1, None, {"success": False, "response": "again"}),
        (2, 900, {"success": True, "response": "hard", "duration": "PT0.9S"}),
        (3, 1520, {"success": True, "response": "good", "duration": "PT1.52S"}),
        (4, 0, {"success": True, "response": "easy", "duration": "PT0S"}),
    ],
)
def test_the_result_is_the_answer(
    rating: int, duration_ms: int | None, expected: dict[str, Any]
) -> None:
    record = review_record(rating=rating, correct=rating != 1, duration_ms=duration_ms)
    assert xapi.statement(record, "https://x.example")["result"] == expected


def test_the_statement_id_is_a_uuid_of_the_review_and_nothing_else() -> None:
    first = xapi.statement(review_record(id=1), "https://a.example")
    again = xapi.statement(review_record(id=1, rating=4, kanji="見る"), "https://b.example")
    other = xapi.statement(review_record(id=2), "https://a.example")
    assert first["id"] == again["id"] == xapi.statement_id(1)
    assert other["id"] == xapi.statement_id(2) != first["id"]
    assert uuid.UUID(first["id"]).version == 5
    # The namespace is fixed forever: a changed one would make an LRS store every
    # review a second time. Pinned on purpose.
    assert xapi.statement_id(1) == "589c3476-2051-5066-8b29-700e71bc0b49"
    assert len({xapi.statement_id(review_id) for review_id in range(1, 1001)}) == 1000


def test_the_registration_is_a_uuid_of_the_study_session() -> None:
    assert xapi.registration(5) == xapi.registration(5) != xapi.registration(6)
    assert uuid.UUID(xapi.registration(5)).version == 5
    # A session and a review with the same number are not the same thing.
    assert xapi.registration(5) != xapi.statement_id(5)
    assert xapi.registration(1) == "95c48205-28fd-5ff7-9eea-e9271534dd01"  # pinned, as above


@pytest.mark.parametrize(
    ("milliseconds", "expected"),
    [
        (0, "PT0S"),
        (4, "PT0S"),  # under half a hundredth
        (5, "PT0.01S"),
        (10, "PT0.01S"),
        (1500, "PT1.5S"),
        (1520, "PT1.52S"),
        (1525, "PT1.53S"),
        (59_999, "PT1M"),
        (60_000, "PT1M"),
        (61_234, "PT1M1.23S"),
        (3_600_000, "PT1H"),
        (3_723_450, "PT1H2M3.45S"),
        (7_200_010, "PT2H0.01S"),
    ],
)
def test_durations_are_iso_8601_to_the_hundredth(milliseconds: int, expected: str) -> None:
    written = xapi.duration(milliseconds)
    assert written == expected
    assert re.fullmatch(DURATION_PATTERN, written)


def test_a_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        xapi.duration(-1)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05.000Z"),
        (
            datetime(2026, 1, 2, 12, 4, 5, 123_999, tzinfo=timezone(timedelta(hours=9))),
            "2026-01-02T03:04:05.123Z",
        ),
    ],
)
def test_timestamps_are_utc_with_z(moment: datetime, expected: str) -> None:
    assert xapi.timestamp(moment) == expected


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        xapi.timestamp(datetime(2026, 1, 2, 3, 4, 5))


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        ("", "http://localhost"),
        ("https://portal.example.org", "https://portal.example.org"),
        ("https://school.example/jp/", "https://school.example/jp"),
    ],
)
def test_the_home_page_is_the_public_url_or_an_absolute_fallback(
    public_url: str, expected: str
) -> None:
    assert xapi.home_page({"PUBLIC_URL": public_url}) == expected
    assert is_absolute_iri(xapi.home_page({"PUBLIC_URL": public_url}))


def test_a_trailing_slash_makes_no_double_slash() -> None:
    statement = xapi.statement(review_record(), "https://school.example/jp/")
    assert statement["object"]["id"] == "https://school.example/jp/words/12"
    assert statement["actor"]["account"]["homePage"] == "https://school.example/jp"


def test_the_schema_here_refuses_what_xapi_refuses() -> None:
    """The rules above can fail: each broken statement is refused."""
    good = xapi.statement(review_record(), "https://x.example")
    broken = [
        {key: value for key, value in good.items() if key != "verb"},
        good | {"id": "review-41"},
        good | {"stored": good["timestamp"]},
        good | {"actor": {**good["actor"], "mbox": "mailto:learner@example.org"}},
        good | {"result": {**good["result"], "success": "true"}},
        good | {"result": {**good["result"], "response": 3}},
        good | {"result": {**good["result"], "duration": "1.5 seconds"}},
        good | {"result": {**good["result"], "duration": "PT1.523S"}},
        good | {"result": {**good["result"], "duration": "PT"}},
        good | {"context": {**good["context"], "registration": "session-5"}},
    ]
    for statement in broken:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(statement, STATEMENT_SCHEMA)
    assert not is_absolute_iri("/words/12") and not is_absolute_iri("words/12")
