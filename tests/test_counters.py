"""The counters reads rely on always equal a recomputation from the raw rows.

Reads never aggregate the review history: they trust, per learner,
word_progress.correct_count/wrong_count, group_progress.sessions_count/last_session_at,
activity_progress.sessions_count and daily_activity, and per session
study_sessions.review_items_count/correct_count/wrong_count/last_review_at (and
groups.words_count), all kept by the writes, and each learner's FSRS card of each word
(word_progress), which must equal its review log replayed in (reviewed_at, id) order.
Here a seeded random mix of writes (new sessions, review batches and single reviews with
every way of giving a rating, answered now, a little ahead or late enough to make the
card replay its log, resets, rejected writes and idempotent replays, on a clock that
crosses UTC midnights) goes through the API, as the default learner alone and as two
learners taking turns, and after it every learner's counters and cards are compared with
what their own rows say (tests.accounts.recount replays the cards with fsrs directly).
bench/generate.py, which writes counters and cards itself, is held to the same check.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, select

from lang_portal import schema
from lang_portal.queries import reviews as review_queries
from lang_portal.queries import study_sessions as study_session_queries
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.accounts import OPERATOR, accounts_app, add_learner, assert_counters_match_rows

ROOT = Path(__file__).resolve().parent.parent
GROUPS, WORDS, ACTIVITIES = 7, 263, 3


def recompute(connection: Connection) -> dict[str, Any]:
    """Every counter, computed from the rows they count (in Python: the tests' data is small).

    Per-learner counters are keyed by (learner id, word/group/activity id or day), from
    the learner of each session: a row exists only where the learner has activity.
    Sessions count on the UTC day they started, reviews on the day they were answered.
    """
    words: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    per_session: dict[int, list[Any]] = {}
    owner: dict[int, int] = {}
    group_sessions: Counter[tuple[int, int]] = Counter()
    group_last: dict[tuple[int, int], datetime] = {}
    activity_sessions: Counter[tuple[int, int]] = Counter()
    days: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    for row in connection.execute(select(schema.study_sessions)):
        learner_id = owner[row.id] = row.learner_id
        per_session[row.id] = [0, 0, 0, None]
        group = (learner_id, row.group_id)
        group_sessions[group] += 1
        group_last[group] = max(group_last.get(group, row.created_at), row.created_at)
        activity_sessions[learner_id, row.study_activity_id] += 1
        days[learner_id, row.created_at.date()][0] += 1
    for review in connection.execute(select(schema.word_review_items)):
        learner_id = owner[review.study_session_id]
        words[learner_id, review.word_id][0 if review.correct else 1] += 1
        counts = per_session[review.study_session_id]
        counts[0] += 1
        counts[1 if review.correct else 2] += 1
        answered = review.reviewed_at
        counts[3] = answered if counts[3] is None else max(counts[3], answered)
        day = days[learner_id, answered.date()]
        day[1] += 1
        day[2] += review.correct
    members = Counter(connection.scalars(select(schema.word_groups.c.group_id)))
    return {
        "word_progress": {key: tuple(counts) for key, counts in words.items()},
        "study_sessions": {s: tuple(c) for s, c in per_session.items()},
        "group_progress": {g: (n, group_last[g]) for g, n in group_sessions.items()},
        "groups": {g: members[g] for g in connection.scalars(select(schema.groups.c.id))},
        "activity_progress": dict(activity_sessions),
        "daily_activity": {d: tuple(c) for d, c in days.items()},
    }


def stored(connection: Connection) -> dict[str, Any]:
    """Every counter as the writes left it, every row of every learner."""
    return {
        "word_progress": {
            (r.learner_id, r.word_id): (r.correct_count, r.wrong_count)
            for r in connection.execute(select(schema.word_progress))
        },
        "study_sessions": {
            r.id: (r.review_items_count, r.correct_count, r.wrong_count, r.last_review_at)
            for r in connection.execute(select(schema.study_sessions))
        },
        "group_progress": {
            (r.learner_id, r.group_id): (r.sessions_count, r.last_session_at)
            for r in connection.execute(select(schema.group_progress))
        },
        "groups": {r.id: r.words_count for r in connection.execute(select(schema.groups))},
        "activity_progress": {
            (r.learner_id, r.study_activity_id): r.sessions_count
            for r in connection.execute(select(schema.activity_progress))
        },
        "daily_activity": {
            (r.learner_id, r.day): (r.sessions_count, r.reviews_count, r.correct_count)
            for r in connection.execute(select(schema.daily_activity))
        },
    }


PER_LEARNER = ("word_progress", "group_progress", "activity_progress", "daily_activity")


def of_learner(counters: dict[str, Any], learner_id: int) -> dict[str, Any]:
    """The per-learner counters of one learner, keyed without the learner id."""
    return {
        name: {key[1]: value for key, value in counters[name].items() if key[0] == learner_id}
        for name in PER_LEARNER
    }


def learners_in(counters: dict[str, Any]) -> set[int]:
    """The learners that have a per-learner counter."""
    return {key[0] for name in PER_LEARNER for key in counters[name]}


def assert_counters_match(engine) -> dict[str, Any]:
    """Stored counters equal the recomputation, every learner's row by row (no row of
    zeros either: a row exists only where its learner has activity), and so do the
    cards and the daily recall counters (tests.accounts); returns the recomputation."""
    with engine.connect() as connection:
        expected, actual = recompute(connection), stored(connection)
    for name in expected:
        assert actual[name] == expected[name], name
    assert_counters_match_rows(engine)
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


RATINGS: list[str | int] = ["again", "hard", "good", "easy", 1, 2, 3, 4]
# Offsets a device may give its reviewed_at: the server's time zone does not matter.
OFFSETS = [UTC, timezone(timedelta(hours=9)), timezone(-timedelta(hours=5, minutes=30))]


def random_answer(rng: random.Random) -> dict[str, Any]:
    """How one review is answered, in one of the ways the API takes: is_correct (or its
    synonym correct) alone, a rating by name or number alone, or both, agreeing."""
    roll = rng.random()
    if roll < 0.25:
        return {rng.choice(["is_correct", "correct"]): rng.random() < 0.7}
    rating = rng.choice(RATINGS)
    if roll < 0.4:
        return {"rating": rating, "is_correct": rating not in ("again", 1)}
    return {"rating": rating}


def random_time(rng: random.Random, now: datetime, started: datetime) -> datetime | None:
    """When a review was answered: now (None, the default), a little ahead (within the
    60 s a device's clock may be fast), a moment ago, or any time since the session
    started (often before the card's last review: a late sync)."""
    roll = rng.random()
    if roll < 0.3:
        return None
    if roll < 0.5:
        moment = now + timedelta(microseconds=rng.randint(0, 60_000_000))
    elif roll < 0.7:
        moment = now - timedelta(microseconds=rng.randint(0, 5_000_000))
    else:
        moment = started + (now - started) * rng.random()
    return max(moment, started)


def rfc_3339(moment: datetime, rng: random.Random) -> str:
    return moment.astimezone(rng.choice(OFFSETS)).isoformat()


def random_review(
    rng: random.Random, now: datetime, started: datetime, word_id: int | None = None
) -> tuple[dict[str, Any], datetime]:
    """A review item with a random answer, reviewed_at and duration_ms; and when it was
    answered (``now`` when the item leaves reviewed_at out)."""
    item: dict[str, Any] = {} if word_id is None else {"word_id": word_id}
    item.update(random_answer(rng))
    answered = random_time(rng, now, started)
    if answered is not None:
        item["reviewed_at"] = rfc_3339(answered, rng)
    if rng.random() < 0.5:
        item["duration_ms"] = rng.choice([0, rng.randint(1, 20_000), 3_600_000])
    return item, answered or now


def random_rejected_review(
    rng: random.Random, now: datetime, started: datetime
) -> tuple[dict[str, Any], str]:
    """A review item the API must refuse (400): its answer contradicts itself, it was
    answered before the session or too far ahead, or its duration is out of range."""
    kind = rng.choice(["conflict", "before", "ahead", "duration"])
    item: dict[str, Any] = {"rating": rng.choice(["good", 4]), "is_correct": True}
    if kind == "conflict":
        item = rng.choice(
            [{"rating": "again", "is_correct": True}, {"rating": 3, "correct": False}]
        )
    elif kind == "before":
        item["reviewed_at"] = rfc_3339(started - timedelta(microseconds=1), rng)
    elif kind == "ahead":
        item["reviewed_at"] = rfc_3339(now + timedelta(seconds=60, microseconds=1), rng)
    else:
        item["duration_ms"] = rng.choice([-1, 3_600_001])
    return item, kind


class LastAnswered:
    """The latest reviewed_at recorded for each (caller, word): a review answered before
    it makes the card replay its log."""

    def __init__(self) -> None:
        self.latest: dict[tuple[int, int], datetime] = {}

    def record(self, caller: int, word_id: int, answered: datetime) -> bool:
        """Note a recorded review; True when it came before the card's last review."""
        latest = self.latest.get((caller, word_id))
        self.latest[caller, word_id] = answered if latest is None else max(latest, answered)
        return latest is not None and answered < latest

    def forget(self, caller: int) -> None:
        for key in [key for key in self.latest if key[0] == caller]:
            del self.latest[key]


def random_writes(
    client, rng: random.Random, clock: Clock, steps: int, callers: list[dict[str, str]]
) -> Counter[str]:
    """Send ``steps`` random writes through the API, each as one of ``callers`` (the
    headers that identify a learner); returns how many of each kind succeeded, and how
    many recorded reviews came before their card's last one ("late")."""
    done: Counter[str] = Counter()
    session_ids: list[list[int]] = [[] for _ in callers]
    started: dict[int, datetime] = {}
    replay_keys: list[list[tuple[str, dict[str, int]]]] = [[] for _ in callers]
    answered = LastAnswered()
    for step in range(steps):
        clock.advance(rng)
        caller = rng.randrange(len(callers))
        identity, mine, keys = callers[caller], session_ids[caller], replay_keys[caller]
        roll = rng.random()
        if roll < 0.30 or not mine:
            body = {
                "group_id": rng.randint(1, GROUPS),
                "study_activity_id": rng.randint(1, ACTIVITIES),
            }
            headers = dict(identity)
            if rng.random() < 0.2:
                key = f"key-{step}"
                headers["Idempotency-Key"] = key
                keys.append((key, body))
            response = client.post("/api/study-sessions", json=body, headers=headers)
            assert response.status_code == 201
            mine.append(response.get_json()["id"])
            started[mine[-1]] = clock.now_value
            done["session"] += 1
        elif roll < 0.60:
            # Words from a small pool now and then, so that cards take many reviews.
            pool = rng.choice([WORDS, 12])
            study_session_id = rng.choice(mine)
            sent = [
                random_review(rng, clock.now_value, started[study_session_id], rng.randint(1, pool))
                for _ in range(rng.randint(1, 20))
            ]
            response = client.post(
                f"/api/study-sessions/{study_session_id}/review",
                json={"reviews": [item for item, _ in sent]},
                headers=identity,
            )
            assert response.status_code == 201, response.get_data(as_text=True)
            body = response.get_json()
            assert body["reviews_created"] == len(sent)
            assert [card["word_id"] for card in body["cards"]] == sorted(
                {item["word_id"] for item, _ in sent}
            )
            for item, moment in sent:
                if answered.record(caller, item["word_id"], moment):
                    done["late"] += 1
            done["batch"] += 1
        elif roll < 0.78:
            study_session_id, word_id = rng.choice(mine), rng.randint(1, 12)
            item, moment = random_review(rng, clock.now_value, started[study_session_id])
            response = client.post(
                f"/api/study-sessions/{study_session_id}/words/{word_id}/review",
                json=item,
                headers=identity,
            )
            assert response.status_code == 201, response.get_data(as_text=True)
            assert response.get_json()["card"]["last_review_at"]
            if answered.record(caller, word_id, moment):
                done["late"] += 1
            done["single"] += 1
        elif roll < 0.82:  # a review the API must refuse rejects its whole batch
            study_session_id = rng.choice(mine)
            refused, kind = random_rejected_review(rng, clock.now_value, started[study_session_id])
            reviews = [
                random_review(rng, clock.now_value, started[study_session_id], word_id)[0]
                for word_id in rng.sample(range(1, 13), 3)
            ]
            reviews.insert(rng.randint(0, 3), {"word_id": rng.randint(1, 12), **refused})
            response = client.post(
                f"/api/study-sessions/{study_session_id}/review",
                json={"reviews": reviews},
                headers=identity,
            )
            assert response.status_code == 400, (kind, response.get_data(as_text=True))
            done["rejected"] += 1
        elif roll < 0.86:  # all or nothing: one unknown word rejects the whole batch
            reviews = [{"word_id": rng.randint(1, WORDS), "correct": True} for _ in range(3)]
            reviews.insert(rng.randint(0, 3), {"word_id": 10_000 + step, "correct": False})
            response = client.post(
                f"/api/study-sessions/{rng.choice(mine)}/review",
                json={"reviews": reviews},
                headers=identity,
            )
            assert response.status_code == 400
            done["rejected"] += 1
        elif roll < 0.92:  # unknown group or activity, or a session that is not theirs
            others = [s for index, ids in enumerate(session_ids) if index != caller for s in ids]
            if rng.random() < 0.5:
                response = client.post(
                    "/api/study-sessions",
                    json={"group_id": 999, "study_activity_id": rng.randint(1, ACTIVITIES)},
                    headers=identity,
                )
                assert response.status_code == 400
            else:
                # A session that does not exist, or another learner's: to them, the same.
                study_session_id = rng.choice(others) if others else 999999
                response = client.post(
                    f"/api/study-sessions/{study_session_id}/review",
                    json={"reviews": [{"word_id": 1, "correct": True}]},
                    headers=identity,
                )
                assert response.status_code == 404
            done["rejected"] += 1
        elif roll < 0.97 and keys:
            key, body = rng.choice(keys)
            response = client.post(
                "/api/study-sessions", json=body, headers={**identity, "Idempotency-Key": key}
            )
            assert response.status_code == 201
            assert response.headers["Idempotent-Replayed"] == "true"
            done["replay"] += 1
        elif roll >= 0.985 and step < steps * 3 // 4:  # leave history to check
            response = client.post("/api/study-sessions/reset", json={}, headers=identity)
            assert response.status_code == 200
            mine.clear()
            keys.clear()
            answered.forget(caller)
            done["reset"] += 1
    return done


def freeze_the_writes(monkeypatch) -> Clock:
    """A clock that starts at 21:00 UTC, in place of datetime in the write queries."""
    clock = Clock(datetime(2026, 3, 1, 21, 0, tzinfo=UTC))
    for query_module in (study_session_queries, review_queries):
        monkeypatch.setattr(query_module, "datetime", clock.as_datetime_class())
    return clock


def test_counters_match_the_rows_after_random_writes(client, engine, monkeypatch):
    rng = random.Random(20261122)
    clock = freeze_the_writes(monkeypatch)

    done = random_writes(client, rng, clock, steps=200, callers=[{}])

    # The mix really exercised every kind of write, reviews answered before their card's
    # last one among them, and there is history left to check.
    assert {"session", "batch", "single", "rejected", "replay", "late"} <= set(done)
    expected = assert_counters_match(engine)
    assert expected["study_sessions"] and len(expected["daily_activity"]) >= 2
    # All of it is the default learner's, the one learner of the open mode.
    assert learners_in(expected) == {DEFAULT_LEARNER_ID}


def test_each_learners_counters_match_their_rows_after_random_writes(database_url, monkeypatch):
    """Two learners' writes interleaved: each one's counters count only their own rows,
    and neither's resets, keys or rejected writes touch the other's."""
    rng = random.Random(20261123)
    clock = freeze_the_writes(monkeypatch)
    with accounts_app(database_url) as app:
        client = app.test_client()
        aiko = add_learner(client, "Aiko")

        done = random_writes(client, rng, clock, steps=300, callers=[OPERATOR, aiko.headers])

        assert {"session", "batch", "single", "rejected", "replay", "reset", "late"} <= set(done)
        expected = assert_counters_match(app.extensions["lang_portal.engine"])
    assert learners_in(expected) == {DEFAULT_LEARNER_ID, aiko.id}
    for learner_id in (DEFAULT_LEARNER_ID, aiko.id):
        history = of_learner(expected, learner_id)
        assert history["word_progress"] and len(history["daily_activity"]) >= 2, learner_id


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
    with engine.connect() as connection:
        assert of_learner(stored(connection), DEFAULT_LEARNER_ID)["word_progress"] == {5: (2, 0)}

    assert client.post("/api/study-sessions/reset", json={}).status_code == 200

    expected = assert_counters_match(engine)
    assert expected["study_sessions"] == {}
    # No learner has a counter left: no row of zeros, no row at all.
    assert all(expected[name] == {} for name in PER_LEARNER)


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
    # The generated history is the default learner's, as a database from before learners.
    assert learners_in(expected) == {DEFAULT_LEARNER_ID}
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


def test_the_generator_spreads_the_history_over_learners_with_their_own_counters(
    database_url, engine
):
    generator = load_generator()

    report = generator.generate(
        database_url, sessions=90, reviews_per_session=3, seed=5, learners=3, progress=False
    )

    assert report["sessions"] == 90 and report["learners"] == 3
    expected = assert_counters_match(engine)
    assert learners_in(expected) == {DEFAULT_LEARNER_ID, 2, 3}
