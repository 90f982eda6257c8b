"""The lang-portal React frontend works unchanged.

Over real HTTP, from the frontend's dev-server origin, this makes exactly the calls
the frontend makes, in the order a learner would cause them, preflighting each JSON
POST as a browser does, and checks every field the API contract lists for each.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import requests

from lang_portal import seed

ORIGIN = "http://localhost:5173"
TIMEOUT = 10

# The frontend's calls: (method, path template).
FRONTEND_CALLS = {
    ("GET", "/dashboard/recent-session"),
    ("GET", "/dashboard/stats"),
    ("GET", "/words"),
    ("GET", "/words/<id>"),
    ("GET", "/groups"),
    ("GET", "/groups/<id>"),
    ("GET", "/groups/<id>/words"),
    ("GET", "/groups/<id>/study_sessions"),
    ("GET", "/api/study-activities"),
    ("GET", "/api/study-activities/<id>"),
    ("GET", "/api/study-activities/<id>/sessions"),
    ("GET", "/api/study-activities/<id>/launch"),
    ("POST", "/study_sessions"),
    ("GET", "/api/study-sessions"),
    ("GET", "/api/study-sessions/<id>"),
    ("POST", "/api/study-sessions/reset"),
}
WORD = {"id": int, "kanji": str, "romaji": str, "english": str}
WORD_WITH_COUNTS = {**WORD, "correct_count": int, "wrong_count": int}
SESSION_ITEM = {
    "id": int,
    "group_id": int,
    "group_name": str,
    "activity_id": int,
    "activity_name": str,
    "start_time": "time",
    "end_time": "time",
    "review_items_count": int,
}
ACTIVITY = {
    "id": int,
    "title": str,
    "description": str,
    "launch_url": "url",
    "preview_url": "url",
}


def check_fields(value: dict, fields: dict) -> None:
    """``value`` has every listed field with the right type (ints are not booleans)."""
    for name, kind in fields.items():
        assert name in value, f"missing {name} in {value}"
        field = value[name]
        if kind == "time":
            moment = datetime.fromisoformat(field.replace("Z", "+00:00"))
            assert moment.utcoffset() == timedelta(0), field
        elif kind == "url":
            assert re.match(r"https?://", field), field
        elif kind is int:
            assert isinstance(field, int) and not isinstance(field, bool), (name, field)
        else:
            assert isinstance(field, kind), (name, field)


class Frontend:
    """A browser on the frontend's origin talking to the API, recording its calls."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        self.calls: set[tuple[str, str]] = set()

    def _record(self, method: str, path: str) -> None:
        template = re.sub(r"/\d+", "/<id>", path.split("?")[0])
        self.calls.add((method, template))

    def get(self, path: str) -> requests.Response:
        self._record("GET", path)
        response = self.http.get(self.base_url + path, headers={"Origin": ORIGIN}, timeout=TIMEOUT)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.headers.get("Access-Control-Allow-Origin") in ("*", ORIGIN), path
        return response

    def post_json(self, path: str, data: bytes) -> requests.Response:
        """Preflight, then POST ``data`` with Content-Type: application/json, as fetch() does."""
        self._record("POST", path)
        preflight = self.http.options(
            self.base_url + path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
            timeout=TIMEOUT,
        )
        assert preflight.status_code in (200, 204), (path, preflight.status_code)
        assert preflight.headers.get("Access-Control-Allow-Origin") in ("*", ORIGIN)
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        assert "content-type" in preflight.headers["Access-Control-Allow-Headers"].lower()
        response = self.http.post(
            self.base_url + path,
            data=data,
            headers={"Origin": ORIGIN, "Content-Type": "application/json"},
            timeout=TIMEOUT,
        )
        assert response.headers.get("Access-Control-Allow-Origin") in ("*", ORIGIN), path
        return response


@pytest.mark.slow
def test_the_frontend_works_unchanged(live_server, client):
    frontend = Frontend(live_server)

    # Dashboard, before any study.
    assert frontend.get("/dashboard/recent-session").json() is None
    stats = frontend.get("/dashboard/stats").json()
    check_fields(
        stats,
        {
            "total_vocabulary": int,
            "total_words_studied": int,
            "mastered_words": int,
            "success_rate": (int, float),
            "total_sessions": int,
            "active_groups": int,
            "current_streak": int,
        },
    )
    assert stats["total_vocabulary"] == 263 and stats["total_sessions"] == 0

    # Words.
    words = frontend.get("/words?page=1&sort_by=kanji&order=asc").json()
    check_fields(
        words, {"words": list, "total_pages": int, "current_page": int, "total_words": int}
    )
    assert (words["total_words"], words["total_pages"], words["current_page"]) == (263, 6, 1)
    assert len(words["words"]) == 50
    for word in words["words"]:
        check_fields(word, WORD_WITH_COUNTS)
    word_id = words["words"][0]["id"]
    word = frontend.get(f"/words/{word_id}").json()["word"]
    check_fields(word, {**WORD_WITH_COUNTS, "groups": list})
    assert word["id"] == word_id and word["groups"]
    for group in word["groups"]:
        check_fields(group, {"id": int, "name": str})

    # Groups.
    groups = frontend.get("/groups?page=1&sort_by=name&order=asc").json()
    check_fields(groups, {"groups": list, "total_pages": int, "current_page": int})
    for group in groups["groups"]:
        check_fields(group, {"id": int, "group_name": str, "word_count": int})
    group_id = groups["groups"][0]["id"]
    group = frontend.get(f"/groups/{group_id}").json()
    check_fields(group, {"id": int, "group_name": str, "word_count": int})
    group_words = frontend.get(f"/groups/{group_id}/words?page=1&sort_by=kanji&order=asc").json()
    check_fields(group_words, {"words": list, "total_pages": int, "current_page": int})
    assert group_words["words"]
    for item in group_words["words"]:
        check_fields(item, WORD_WITH_COUNTS)

    # Study activities and the launch page.
    activities = frontend.get("/api/study-activities").json()
    assert isinstance(activities, list) and len(activities) == len(seed.bundled_study_activities())
    for activity in activities:
        check_fields(activity, ACTIVITY)
    activity_id = activities[1]["id"]
    check_fields(frontend.get(f"/api/study-activities/{activity_id}").json(), ACTIVITY)
    launch = frontend.get(f"/api/study-activities/{activity_id}/launch").json()
    check_fields(launch, {"activity": dict, "groups": list})
    check_fields(launch["activity"], ACTIVITY)
    for item in launch["groups"]:
        check_fields(item, {"id": int, "name": str})

    # Launch: the frontend starts a session and reads session_id.
    body = b'{"group_id": %d, "study_activity_id": %d}' % (group_id, activity_id)
    created = frontend.post_json("/study_sessions", body)
    assert created.status_code == 201, created.text
    study_session_id = created.json()["session_id"]
    assert isinstance(study_session_id, int) and study_session_id == created.json()["id"]

    # The activity (not the frontend) records reviews; then the frontend reads them back.
    reviews = {"reviews": [{"word_id": word_id, "correct": True}, {"word_id": 2, "correct": False}]}
    assert (
        client.post(f"/study_sessions/{study_session_id}/review", json=reviews).status_code == 201
    )

    sessions = frontend.get(f"/api/study-activities/{activity_id}/sessions?page=1&per_page=10")
    page = sessions.json()
    check_fields(
        page, {"items": list, "total": int, "page": int, "per_page": int, "total_pages": int}
    )
    assert [item["id"] for item in page["items"]] == [study_session_id]
    check_fields(page["items"][0], SESSION_ITEM)

    group_sessions = frontend.get(
        f"/groups/{group_id}/study_sessions?page=1&sort_by=created_at&order=desc"
    ).json()
    check_fields(group_sessions, {"study_sessions": list, "total_pages": int, "current_page": int})
    (item,) = group_sessions["study_sessions"]
    check_fields(item, SESSION_ITEM)
    assert item["id"] == study_session_id and item["review_items_count"] == 2

    listing = frontend.get("/api/study-sessions?page=1&per_page=10").json()
    check_fields(
        listing, {"items": list, "total": int, "page": int, "per_page": int, "total_pages": int}
    )
    assert listing["total"] == 1
    check_fields(listing["items"][0], SESSION_ITEM)

    detail = frontend.get(f"/api/study-sessions/{study_session_id}?page=1&per_page=10").json()
    check_fields(
        detail,
        {
            "session": dict,
            "words": list,
            "total": int,
            "page": int,
            "per_page": int,
            "total_pages": int,
        },
    )
    check_fields(detail["session"], SESSION_ITEM)
    assert detail["total"] == 2
    for reviewed in detail["words"]:
        check_fields(reviewed, WORD_WITH_COUNTS)

    recent = frontend.get("/dashboard/recent-session").json()
    check_fields(
        recent,
        {
            "id": int,
            "group_id": int,
            "activity_name": str,
            "created_at": "time",
            "correct_count": int,
            "wrong_count": int,
        },
    )
    assert (recent["id"], recent["correct_count"], recent["wrong_count"]) == (
        study_session_id,
        1,
        1,
    )
    stats = frontend.get("/dashboard/stats").json()
    assert (stats["total_sessions"], stats["total_words_studied"]) == (1, 2)
    assert stats["success_rate"] == 0.5 and stats["current_streak"] == 1

    # Settings page: reset the history with an empty JSON body, as the frontend does.
    reset = frontend.post_json("/api/study-sessions/reset", b"")
    assert reset.status_code == 200, reset.text
    assert frontend.get("/api/study-sessions?page=1&per_page=10").json()["total"] == 0
    assert frontend.get("/dashboard/recent-session").json() is None

    assert frontend.calls == FRONTEND_CALLS
