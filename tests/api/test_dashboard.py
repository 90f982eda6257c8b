"""The dashboard: the most recent session and each progress figure on known data.

Rows are inserted directly, with every counter kept as the writes keep it, so that
sessions can be placed at exact UTC times; the clock is frozen by replacing
``queries.dashboard.utc_now``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, Table, func, select, update

from lang_portal import schema
from lang_portal.queries import dashboard as dashboard_queries
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from lang_portal.queries.progress import STREAK_WINDOW_DAYS, current_streak
from tests.conftest import count_rows

STATS = "/api/dashboard/stats"
RECENT = "/api/dashboard/recent-session"
# The spaced-repetition figures of a learner without a card.
NO_CARDS = {"due_now": 0, "due_today": 0, "mature_words": 0, "retention_30d": None}


def group_name(engine, group_id: int) -> str:
    """The stored name of a group, as the recent session must name it."""
    with engine.connect() as connection:
        return connection.execute(
            select(schema.groups.c.name).where(schema.groups.c.id == group_id)
        ).scalar_one()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _count_day(connection: Connection, when: datetime, sessions: int, reviews: int, correct: int):
    day = when.astimezone(UTC).date()
    days = schema.daily_activity
    found = connection.execute(
        update(days)
        .where(days.c.learner_id == DEFAULT_LEARNER_ID, days.c.day == day)
        .values(
            sessions_count=days.c.sessions_count + sessions,
            reviews_count=days.c.reviews_count + reviews,
            correct_count=days.c.correct_count + correct,
        )
    ).rowcount
    if not found:
        connection.execute(
            days.insert().values(
                learner_id=DEFAULT_LEARNER_ID,
                day=day,
                sessions_count=sessions,
                reviews_count=reviews,
                correct_count=correct,
            )
        )


def _add_to_progress(connection: Connection, table: Table, key: dict[str, int], **added) -> None:
    """Add to the default learner's row of a *_progress table, creating it if needed.

    ``added`` maps a counter column to what it grows by; ``last_session_at`` is kept
    as the newest of the stored and the given time.
    """
    where = [table.c.learner_id == DEFAULT_LEARNER_ID, *(table.c[k] == v for k, v in key.items())]
    row = connection.execute(select(table).where(*where)).one_or_none()
    if row is None:
        connection.execute(table.insert().values(learner_id=DEFAULT_LEARNER_ID, **key, **added))
        return
    stored = row._mapping
    values = {
        name: max(stored[name], value) if name == "last_session_at" else stored[name] + value
        for name, value in added.items()
    }
    connection.execute(update(table).where(*where).values(**values))


def add_session(
    engine,
    created_at: datetime,
    group_id: int = 1,
    study_activity_id: int = 1,
    reviews: Iterable[tuple[int, bool]] = (),
) -> int:
    """Insert a session of the default learner (and its reviews, made at its start) with
    every counter kept."""
    reviews = list(reviews)
    correct = sum(1 for _, ok in reviews if ok)
    with engine.begin() as connection:
        study_session_id = connection.execute(
            schema.study_sessions.insert()
            .values(
                learner_id=DEFAULT_LEARNER_ID,
                group_id=group_id,
                study_activity_id=study_activity_id,
                created_at=created_at,
                review_items_count=len(reviews),
                correct_count=correct,
                wrong_count=len(reviews) - correct,
                last_review_at=created_at if reviews else None,
            )
            .returning(schema.study_sessions.c.id)
        ).scalar_one()
        for word_id, ok in reviews:
            connection.execute(
                schema.word_review_items.insert().values(
                    learner_id=DEFAULT_LEARNER_ID,
                    word_id=word_id,
                    study_session_id=study_session_id,
                    correct=ok,
                    rating=3 if ok else 1,
                    reviewed_at=created_at,
                    created_at=created_at,
                )
            )
            _add_to_progress(
                connection,
                schema.word_progress,
                {"word_id": word_id},
                correct_count=int(ok),
                wrong_count=int(not ok),
            )
        _add_to_progress(
            connection,
            schema.group_progress,
            {"group_id": group_id},
            sessions_count=1,
            last_session_at=created_at,
        )
        _add_to_progress(
            connection,
            schema.activity_progress,
            {"study_activity_id": study_activity_id},
            sessions_count=1,
        )
        _count_day(connection, created_at, 1, len(reviews), correct)
    return study_session_id


@pytest.fixture
def freeze(monkeypatch):
    """Set the dashboard's clock: ``freeze(datetime)``."""

    def set_now(now: datetime) -> None:
        monkeypatch.setattr(dashboard_queries, "utc_now", lambda: now)

    return set_now


class TestRecentSession:
    @pytest.mark.parametrize("path", [RECENT, "/dashboard/recent-session"])
    def test_null_without_sessions(self, client, path):
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "application/json"
        assert response.get_data(as_text=True) == "null"

    @pytest.mark.parametrize("path", [RECENT, "/dashboard/recent-session"])
    def test_the_newest_session_by_start_time(self, client, engine, path):
        newest = add_session(
            engine, at("2026-03-15T10:00:00"), 2, 3, [(1, True), (2, False), (3, True)]
        )
        add_session(engine, at("2026-03-14T10:00:00"), 1, 1, [(1, True)])  # a higher id, older
        body = client.get(path).get_json()
        assert body == {
            "id": newest,
            "group_id": 2,
            "group_name": group_name(engine, 2),
            "activity_name": "Kanji Match",
            "created_at": body["created_at"],
            "correct_count": 2,
            "wrong_count": 1,
        }
        assert datetime.fromisoformat(body["created_at"]) == at("2026-03-15T10:00:00")

    def test_follows_the_api_writes(self, client, engine):
        created = client.post("/study_sessions", json={"group_id": 4, "study_activity_id": 2})
        study_session_id = created.get_json()["session_id"]
        client.post(
            f"/study_sessions/{study_session_id}/review",
            json={"reviews": [{"word_id": 7, "correct": False}]},
        )
        body = client.get(RECENT).get_json()
        assert (body["id"], body["group_id"], body["group_name"], body["activity_name"]) == (
            study_session_id,
            4,
            group_name(engine, 4),
            "Typing Tutor",
        )
        assert (body["correct_count"], body["wrong_count"]) == (0, 1)
        assert body["created_at"] == created.get_json()["created_at"]


class TestStats:
    @pytest.mark.parametrize("path", [STATS, "/dashboard/stats", "/api/v1/dashboard/stats"])
    def test_an_empty_history(self, client, path):
        assert client.get(path).get_json() == {
            "total_vocabulary": 263,
            "total_words_studied": 0,
            "mastered_words": 0,
            "success_rate": 0,
            "total_sessions": 0,
            "active_groups": 0,
            "current_streak": 0,
            **NO_CARDS,
        }

    def test_every_figure_on_a_known_dataset(self, client, engine, freeze):
        now = at("2026-03-15T12:00:00")
        freeze(now)
        # word: (reviews, correct) -> mastered?
        # 1: 5, 4 (80 %) yes; 2: 5, 3 (60 %) no; 3: 4, 4 (too few) no;
        # 4: 10, 8 (exactly 80 %) yes; 5: 6, 5 (83 %) yes; 6: 1, 0 no.
        plan = {1: (5, 4), 2: (5, 3), 3: (4, 4), 4: (10, 8), 5: (6, 5), 6: (1, 0)}
        reviews = [
            (word_id, index < right)
            for word_id, (total, right) in plan.items()
            for index in range(total)
        ]
        # Spread the reviews over sessions in several groups and at several times.
        add_session(engine, now - timedelta(days=1), 1, 1, reviews[:10])
        add_session(engine, now - timedelta(days=29, hours=23), 2, 2, reviews[10:20])
        add_session(engine, now - timedelta(days=31), 3, 3, reviews[20:])
        add_session(engine, now - timedelta(days=40), 1, 2)
        body = client.get(STATS).get_json()
        assert body == {
            "total_vocabulary": 263,
            "total_words_studied": 6,
            "mastered_words": 3,
            "success_rate": pytest.approx(24 / 31),
            "total_sessions": 4,
            "active_groups": 2,  # groups 1 and 2; group 3 was last studied 31 days ago
            "current_streak": 1,  # yesterday only: nothing yet today, nothing the day before
            **NO_CARDS,  # add_session writes counters, not cards (see tests/api/test_cards.py)
        }
        # The counters the figures come from agree with the rows themselves.
        with engine.connect() as connection:
            assert (
                connection.execute(
                    select(func.count(func.distinct(schema.word_review_items.c.word_id)))
                ).scalar_one()
                == 6
            )
            assert count_rows(engine, "word_review_items") == 31
            assert (
                connection.execute(
                    select(func.count()).where(schema.word_review_items.c.correct.is_(True))
                ).scalar_one()
                == 24
            )
        assert count_rows(engine, "study_sessions") == 4

    def test_success_rate_is_a_fraction(self, client, engine, freeze):
        freeze(at("2026-03-15T12:00:00"))
        add_session(engine, at("2026-03-15T08:00:00"), reviews=[(1, True)] * 3 + [(2, False)])
        assert client.get(STATS).get_json()["success_rate"] == 0.75

    def test_all_correct_is_one(self, client, engine, freeze):
        freeze(at("2026-03-15T12:00:00"))
        add_session(engine, at("2026-03-15T08:00:00"), reviews=[(1, True)] * 5)
        body = client.get(STATS).get_json()
        assert body["success_rate"] == 1
        assert (body["mastered_words"], body["total_words_studied"]) == (1, 1)

    def test_active_groups_window_is_thirty_days(self, client, engine, freeze):
        now = at("2026-03-15T12:00:00")
        freeze(now)
        add_session(engine, now - timedelta(days=30) + timedelta(seconds=1), group_id=1)
        add_session(engine, now - timedelta(days=30) - timedelta(seconds=1), group_id=2)
        add_session(engine, now - timedelta(days=2), group_id=3)
        add_session(engine, now - timedelta(days=3), group_id=3)
        assert client.get(STATS).get_json()["active_groups"] == 2

    @pytest.mark.parametrize(
        ("now", "session_times", "streak"),
        [
            # Across a UTC day boundary two seconds apart: two days.
            ("2026-03-15T00:00:30", ["2026-03-14T23:59:59", "2026-03-15T00:00:01"], 2),
            # The same two seconds on the day before: nothing today, the streak ends yesterday.
            ("2026-03-15T12:00:00", ["2026-03-13T23:59:59", "2026-03-14T00:00:01"], 2),
            # Both ends of one day are one day.
            ("2026-03-15T12:00:00", ["2026-03-14T00:00:01", "2026-03-14T23:59:59"], 1),
            # Today, yesterday and the day before, then a gap.
            (
                "2026-03-15T12:00:00",
                [
                    "2026-03-15T09:00:00",
                    "2026-03-14T09:00:00",
                    "2026-03-13T09:00:00",
                    "2026-03-11T09:00:00",
                    "2026-03-10T09:00:00",
                ],
                3,
            ),
            # Today only; yesterday missing.
            ("2026-03-15T12:00:00", ["2026-03-15T00:00:00", "2026-03-13T09:00:00"], 1),
            # Nothing today or yesterday.
            ("2026-03-15T12:00:00", ["2026-03-13T23:59:59", "2026-03-12T09:00:00"], 0),
            # Just after midnight with nothing yet today: yesterday still counts.
            ("2026-03-15T00:00:01", ["2026-03-14T00:00:00", "2026-03-13T12:00:00"], 2),
            # A session stamped after "now" (a clock step) does not break the streak.
            ("2026-03-15T12:00:00", ["2026-03-16T01:00:00", "2026-03-15T01:00:00"], 1),
            # No sessions at all.
            ("2026-03-15T12:00:00", [], 0),
        ],
    )
    def test_current_streak_in_utc_days(self, client, engine, freeze, now, session_times, streak):
        freeze(at(now))
        for time in session_times:
            add_session(engine, at(time))
        body = client.get(STATS).get_json()
        assert body["current_streak"] == streak
        assert body["total_sessions"] == len(session_times) == count_rows(engine, "study_sessions")

    def test_a_long_streak(self, client, engine, freeze):
        now = at("2026-03-15T12:00:00")
        freeze(now)
        for days_ago in range(1, 41):  # 40 days up to yesterday, across a month boundary
            add_session(engine, now - timedelta(days=days_ago))
        assert client.get(STATS).get_json()["current_streak"] == 40
        add_session(engine, now)
        assert client.get(STATS).get_json()["current_streak"] == 41

    @pytest.mark.parametrize("days", [STREAK_WINDOW_DAYS - 1, STREAK_WINDOW_DAYS, 150])
    def test_a_streak_as_long_as_the_window_or_longer(self, client, engine, freeze, days):
        """A streak is first looked for in the last STREAK_WINDOW_DAYS days, then in all."""
        now = at("2026-03-15T12:00:00")
        freeze(now)
        for days_ago in range(days):  # today and the days before it, no gap
            add_session(engine, now - timedelta(days=days_ago))
        add_session(engine, now - timedelta(days=days + 1))  # after a one-day gap
        assert client.get(STATS).get_json()["current_streak"] == days

    def test_figures_after_api_writes_and_after_reset(self, client, engine):
        created = client.post("/api/study-sessions", json={"group_id": 5, "study_activity_id": 1})
        study_session_id = created.get_json()["id"]
        batch = [{"word_id": 10, "correct": True}] * 4 + [{"word_id": 10, "correct": False}]
        batch += [{"word_id": 11, "correct": False}]
        response = client.post(
            f"/api/study-sessions/{study_session_id}/review", json={"reviews": batch}
        )
        assert response.status_code == 201
        body = client.get(STATS).get_json()
        with engine.connect() as connection:
            dues = connection.execute(select(schema.word_progress.c.due)).scalars().all()
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        assert body == {
            "total_vocabulary": 263,
            "total_words_studied": 2,
            "mastered_words": 1,
            "success_rate": pytest.approx(4 / 6),
            "total_sessions": 1,
            "active_groups": 1,
            "current_streak": 1,
            # Both cards end on again: due again in minutes, not yet, and not mature.
            "due_now": 0,
            "due_today": sum(1 for due in dues if due.date() < tomorrow),
            "mature_words": 0,
            # Word 10: good, good (two learning steps: now in review), then good, good,
            # again in the review state: 2 of 3 recalled.
            "retention_30d": pytest.approx(2 / 3),
        }
        assert len(dues) == 2
        assert client.post("/api/study-sessions/reset", json={}).status_code == 200
        assert client.get(STATS).get_json() == {
            "total_vocabulary": 263,
            "total_words_studied": 0,
            "mastered_words": 0,
            "success_rate": 0,
            "total_sessions": 0,
            "active_groups": 0,
            "current_streak": 0,
            **NO_CARDS,
        }
        assert client.get(RECENT).get_json() is None


@pytest.mark.parametrize(
    ("days", "today", "streak"),
    [
        (["2026-03-15", "2026-03-14"], "2026-03-15", 2),
        (["2026-03-14", "2026-03-13"], "2026-03-15", 2),
        (["2026-03-13"], "2026-03-15", 0),
        (["2026-03-16", "2026-03-15"], "2026-03-15", 1),
        ([], "2026-03-15", 0),
    ],
)
def test_current_streak_function(days, today, streak):
    parsed = [date.fromisoformat(day) for day in days]
    assert current_streak(parsed, date.fromisoformat(today)) == streak
