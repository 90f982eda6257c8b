"""The counters reads rely on always equal a recomputation from the raw rows.

Reads never aggregate the review history: they trust words.correct_count/wrong_count,
study_sessions.review_items_count/correct_count/wrong_count/last_review_at,
groups.sessions_count/last_session_at/words_count, study_activities.sessions_count and
daily_activity, all kept by the writes. Here a seeded random mix of writes (new
sessions, review batches, single reviews, resets, rejected writes and idempotent
replays, on a clock that crosses UTC midnights) goes through the API, and after it
every counter is compared with what the rows say. bench/generate.py, which writes
counters itself, is held to the same check.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from lang_portal import schema
from lang_portal.queries import reviews as review_queries
from lang_portal.queries import study_sessions as study_session_queries

ROOT = Path(__file__).resolve().parent.parent
GROUPS, WORDS, ACTIVITIES = 7, 263, 3


def recompute(connection: Connection) -> dict[str, Any]:
    """Every counter, computed from the rows they count (in Python: the tests' data is small)."""
    word_counts: dict[int, list[int]] = {
        w: [0, 0] for w in connection.scalars(select(schema.words.c.id))
    }
    per_session: dict[int, list[Any]] = {}
    group_sessions: Counter[int] = Counter()
    group_last: dict[int, datetime] = {}
    activity_sessions: Counter[int] = Counter()
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in connection.execute(select(schema.study_sessions)):
        per_session[row.id] = [0, 0, 0, None]
        group_sessions[row.group_id] += 1
        group_last[row.group_id] = max(group_last.get(row.group_id, row.created_at), row.created_at)
        activity_sessions[row.study_activity_id] += 1
        days[row.created_at.date()][0] += 1
    for review in connection.execute(select(schema.word_review_items)):
        word_counts[review.word_id][0 if review.correct else 1] += 1
        counts = per_session[review.study_session_id]
        counts[0] += 1
        counts[1 if review.correct else 2] += 1
        counts[3] = review.created_at if counts[3] is None else max(counts[3], review.created_at)
        day = days[review.created_at.date()]
        day[1] += 1
        day[2] += review.correct
    members = Counter(connection.scalars(select(schema.word_groups.c.group_id)))
    return {
        "words": {w: tuple(c) for w, c in word_counts.items()},
        "study_sessions": {s: tuple(c) for s, c in per_session.items()},
        "groups": {
            g: (group_sessions[g], group_last.get(g), members[g])
            for g in connection.scalars(select(schema.groups.c.id))
        },
        "study_activities": {
            a: activity_sessions[a]
            for a in connection.scalars(select(schema.study_activities.c.id))
        },
        "daily_activity": {d: tuple(c) for d, c in days.items()},
    }


def stored(connection: Connection) -> dict[str, Any]:
    """Every counter as the writes left it."""
    return {
        "words": {
            r.id: (r.correct_count, r.wrong_count)
            for r in connection.execute(
                select(schema.words.c.id, schema.words.c.correct_count, schema.words.c.wrong_count)
            )
        },
        "study_sessions": {
            r.id: (r.review_items_count, r.correct_count, r.wrong_count, r.last_review_at)
            for r in connection.execute(select(schema.study_sessions))
        },
        "groups": {
            r.id: (r.sessions_count, r.last_session_at, r.words_count)
            for r in connection.execute(select(schema.groups))
        },
        "study_activities": {
            r.id: r.sessions_count for r in connection.execute(select(schema.study_activities))
        },
        "daily_activity": {
            r.day: (r.sessions_count, r.reviews_count, r.correct_count)
            for r in connection.execute(select(schema.daily_activity))
        },
    }


def assert_counters_match(engine) -> dict[str, Any]:
    """Stored counters equal the recomputation; returns the recomputation."""
    with engine.connect() as connection:
        expected, actual = recompute(connection), stored(connection)
    for name in expected:
        assert actual[name] == expected[name], name
    return expected


class Clock:
    """A UTC clock the test moves forward, standing in for datetime in the write queries."""

    def __init__(self, start: datetime) -> None:
        self.now_value = start

    def advance(self, rng: random.Random) -> None:
        # Mostly seconds apart, now and then hours, so some writes land on a new UTC day.
        self.now_value += timedelta(seconds=rng.choice([1, 7, 50, 3600 * 5, 3600 * 11]))

    def as_datetime_class(self) -> type[datetime]:
        clock = self

        class FrozenDatetime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
                return clock.now_value.astimezone(tz) if tz else clock.now_value

        return FrozenDatetime


def random_writes(client, rng: random.Random, clock: Clock, steps: int) -> Counter[str]:
    """Send ``steps`` random writes through the API; returns how many of each kind succeeded."""
    done: Counter[str] = Counter()
    session_ids: list[int] = []
    replay_keys: list[tuple[str, dict[str, int]]] = []
    for step in range(steps):
        clock.advance(rng)
        roll = rng.random()
        if roll < 0.30 or not session_ids:
            body = {
                "group_id": rng.randint(1, GROUPS),
                "study_activity_id": rng.randint(1, ACTIVITIES),
            }
            headers = {}
            if rng.random() < 0.2:
                key = f"key-{step}"
                headers["Idempotency-Key"] = key
                replay_keys.append((key, body))
            response = client.post("/api/study-sessions", json=body, headers=headers)
            assert response.status_code == 201
            session_ids.append(response.get_json()["id"])
            done["session"] += 1
        elif roll < 0.60:
            reviews = [
                {"word_id": rng.randint(1, WORDS), "is_correct": rng.random() < 0.7}
                for _ in range(rng.randint(1, 20))
            ]
            response = client.post(
                f"/api/study-sessions/{rng.choice(session_ids)}/review", json={"reviews": reviews}
            )
            assert response.status_code == 201
            assert response.get_json()["reviews_created"] == len(reviews)
            done["batch"] += 1
        elif roll < 0.78:
            path = f"/api/study-sessions/{rng.choice(session_ids)}/words/{rng.randint(1, WORDS)}"
            response = client.post(path + "/review", json={"correct": rng.random() < 0.5})
            assert response.status_code == 201
            done["single"] += 1
        elif roll < 0.86:  # all or nothing: one unknown word rejects the whole batch
            reviews = [{"word_id": rng.randint(1, WORDS), "correct": True} for _ in range(3)]
            reviews.insert(rng.randint(0, 3), {"word_id": 10_000 + step, "correct": False})
            response = client.post(
                f"/api/study-sessions/{rng.choice(session_ids)}/review", json={"reviews": reviews}
            )
            assert response.status_code == 400
            done["rejected"] += 1
        elif roll < 0.92:  # unknown group or activity, or a session that does not exist
            if rng.random() < 0.5:
                response = client.post(
                    "/api/study-sessions",
                    json={"group_id": 999, "study_activity_id": rng.randint(1, ACTIVITIES)},
                )
                assert response.status_code == 400
            else:
                response = client.post(
                    "/api/study-sessions/999999/review",
                    json={"reviews": [{"word_id": 1, "correct": True}]},
                )
                assert response.status_code == 404
            done["rejected"] += 1
        elif roll < 0.97 and replay_keys:
            key, body = rng.choice(replay_keys)
            response = client.post(
                "/api/study-sessions", json=body, headers={"Idempotency-Key": key}
            )
            assert response.status_code == 201
            assert response.headers["Idempotent-Replayed"] == "true"
            done["replay"] += 1
        elif roll >= 0.985 and step < steps * 3 // 4:  # leave history to check
            response = client.post("/api/study-sessions/reset", json={})
            assert response.status_code == 200
            session_ids.clear()
            replay_keys.clear()
            done["reset"] += 1
    return done


def test_counters_match_the_rows_after_random_writes(client, engine, monkeypatch):
    rng = random.Random(20261122)
    clock = Clock(datetime(2026, 3, 1, 21, 0, tzinfo=UTC))
    for query_module in (study_session_queries, review_queries):
        monkeypatch.setattr(query_module, "datetime", clock.as_datetime_class())

    done = random_writes(client, rng, clock, steps=200)

    # The mix really exercised every kind of write, and there is history left to check.
    assert {"session", "batch", "single", "rejected", "replay"} <= set(done)
    expected = assert_counters_match(engine)
    assert expected["study_sessions"] and len(expected["daily_activity"]) >= 2


def test_counters_are_zero_after_a_reset(client, engine):
    for group_id in (1, 2):
        created = client.post(
            "/api/study-sessions", json={"group_id": group_id, "study_activity_id": 1}
        )
        path = f"/api/study-sessions/{created.get_json()['id']}/review"
        assert (
            client.post(path, json={"reviews": [{"word_id": 5, "correct": True}]}).status_code
            == 201
        )

    assert client.post("/api/study-sessions/reset", json={}).status_code == 200

    expected = assert_counters_match(engine)
    assert expected["study_sessions"] == {} and expected["daily_activity"] == {}
    assert all(counts == (0, 0) for counts in expected["words"].values())


def load_generator() -> Any:
    """bench/generate.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_generator_leaves_the_counters_the_api_would(database_url, engine):
    generator = load_generator()

    report = generator.generate(
        database_url, sessions=300, reviews_per_session=4, seed=3, progress=False
    )

    assert report["sessions"] == 300 and report["reviews"] == 1200
    expected = assert_counters_match(engine)
    assert len(expected["study_sessions"]) == 300
    assert sum(counts[0] for counts in expected["study_sessions"].values()) == 1200
    with engine.connect() as connection:
        starts = connection.scalars(
            select(schema.study_sessions.c.created_at).order_by(schema.study_sessions.c.id)
        ).all()
    # Ids grow with time, as when the API creates sessions, over the last year.
    assert starts == sorted(starts)
    assert datetime.now(UTC) - timedelta(days=366) < starts[0] < starts[-1] <= datetime.now(UTC)
    # A second run would double the history and its counters: it refuses instead.
    with pytest.raises(generator.click.ClickException, match="already holds 300 study sessions"):
        generator.generate(database_url, sessions=10, reviews_per_session=1, seed=1, progress=False)
