"""Reading a learner's cards: the due queue, the due counts and the forecast.

Cards live in the learner's ``word_progress`` rows (written with the reviews, see
:mod:`lang_portal.queries.reviews`). Every read here walks the index on
``(learner_id, due, word_id)`` or the learner's rows of one group, never the review
history, so it costs the same with a hundred reviews or ten million. The new-word
allowance counts today's first reviews on ``(learner_id, first_reviewed_at)``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, select

from lang_portal import scheduling, schema
from lang_portal.queries.problems import UnknownGroup

_progress = schema.word_progress
_words = schema.words
_members = schema.word_groups
_CARD_COLUMNS = [_progress.c[name] for name in scheduling.CARD_FIELDS]
_WORD_COLUMNS = (_words.c.id, _words.c.kanji, _words.c.romaji, _words.c.english, _words.c.parts)
RETENTION_WINDOW_DAYS = 30


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _cards_of(learner_id: int, group_id: int | None) -> Select[Any]:
    """The learner's cards, of one group's words when ``group_id`` is given."""
    query = select().select_from(_progress).where(_progress.c.learner_id == learner_id)
    if group_id is not None:
        query = query.join(
            _members,
            and_(_members.c.word_id == _progress.c.word_id, _members.c.group_id == group_id),
        )
    return query


def _count(connection: Connection, query: Select[Any], *where: ColumnElement[bool]) -> int:
    return connection.execute(query.add_columns(func.count()).where(*where)).scalar_one()


def card_of(connection: Connection, learner_id: int, word_id: int) -> scheduling.Card | None:
    """The learner's card for a word, or None when they never reviewed it."""
    row = connection.execute(
        select(*_CARD_COLUMNS).where(
            _progress.c.learner_id == learner_id, _progress.c.word_id == word_id
        )
    ).one_or_none()
    return None if row is None else scheduling.from_row(row)


def due_now_of(connection: Connection, learner_ids: list[int], now: datetime) -> dict[int, int]:
    """Cards due at ``now`` for each of these learners (0 for none), in one statement."""
    counts = dict.fromkeys(learner_ids, 0)
    rows = connection.execute(
        select(_progress.c.learner_id, func.count())
        .where(_progress.c.learner_id.in_(learner_ids), _progress.c.due <= now)
        .group_by(_progress.c.learner_id)
    )
    counts.update((learner_id, due) for learner_id, due in rows)
    return counts


def new_words_left_today(
    connection: Connection, learner_id: int, now: datetime, new_words_per_day: int
) -> int:
    """How many words the learner may still see for the first time today (UTC), across
    all groups: the day's allowance less the words first reviewed since midnight."""
    started_today = _count(
        connection,
        _cards_of(learner_id, None),
        _progress.c.first_reviewed_at >= _start_of_day(now.date()),
    )
    return max(0, new_words_per_day - started_today)


def _unseen_words(learner_id: int, group_id: int | None) -> Select[Any]:
    """Words the learner has never reviewed (of one group's), by word id."""
    reviewed = select(_progress.c.word_id).where(
        _progress.c.learner_id == learner_id, _progress.c.word_id == _words.c.id
    )
    query = select(*_WORD_COLUMNS).where(~reviewed.exists())
    if group_id is not None:
        query = query.join(
            _members, and_(_members.c.word_id == _words.c.id, _members.c.group_id == group_id)
        )
    return query.order_by(_words.c.id)


def _words_in(connection: Connection, group_id: int | None) -> int:
    """How many words the scope holds: the vocabulary, or the group's (its counter).

    Raises UnknownGroup for a group that does not exist.
    """
    if group_id is None:
        return connection.execute(select(func.count()).select_from(_words)).scalar_one()
    words_count = connection.execute(
        select(schema.groups.c.words_count).where(schema.groups.c.id == group_id)
    ).scalar_one_or_none()
    if words_count is None:
        raise UnknownGroup(group_id)
    return words_count


def due_queue(
    connection: Connection,
    learner_id: int,
    now: datetime,
    new_words_per_day: int,
    limit: int,
    group_id: int | None = None,
) -> dict[str, Any]:
    """What the learner should study now, in one group or in all.

    ``items``: up to ``limit`` of ``{word, card}``, the cards due at ``now``, most overdue
    first, then words never reviewed (``card`` None), by word id, as many as today's
    remaining allowance. ``due_count``: cards due now in scope; ``new_count``: new words
    still allowed today in scope; ``next_due_at``: the earliest due time after now.

    Raises UnknownGroup for a group that does not exist.
    """
    in_scope = _words_in(connection, group_id)
    cards = _cards_of(learner_id, group_id)
    summary = connection.execute(
        cards.add_columns(
            func.count().label("cards"),
            func.count().filter(_progress.c.due <= now).label("due"),
            func.min(_progress.c.due).filter(_progress.c.due > now).label("next_due_at"),
        )
    ).one()
    due_rows = connection.execute(
        cards.add_columns(*_WORD_COLUMNS, *_CARD_COLUMNS)
        .join(_words, _words.c.id == _progress.c.word_id)
        .where(_progress.c.due <= now)
        .order_by(_progress.c.due, _progress.c.word_id)
        .limit(limit)
    ).all()
    items = [{"word": _word(row), "card": scheduling.from_row(row)} for row in due_rows]
    allowed = new_words_left_today(connection, learner_id, now, new_words_per_day)
    new_count = min(allowed, max(0, in_scope - summary.cards))
    room = min(limit - len(items), new_count)
    if room > 0:
        unseen = connection.execute(_unseen_words(learner_id, group_id).limit(room))
        items += [{"word": _word(row), "card": None} for row in unseen]
    return {
        "items": items,
        "due_count": summary.due,
        "new_count": new_count,
        "next_due_at": summary.next_due_at,
    }


def _word(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kanji": row.kanji,
        "romaji": row.romaji,
        "english": row.english,
        "parts": row.parts,
    }


def due_counts_by_group(
    connection: Connection, learner_id: int, now: datetime, new_words_per_day: int
) -> list[dict[str, Any]]:
    """Every group with the learner's cards due now and new words allowed today in it,
    by group name: ``[{group_id, group_name, due_count, new_count}]``."""
    groups = schema.groups.c
    due = func.count().filter(_progress.c.due <= now)
    counts = {
        row.group_id: (row.due, row.reviewed)
        for row in connection.execute(
            select(_members.c.group_id, due.label("due"), func.count().label("reviewed"))
            .select_from(_progress)
            .join(_members, _members.c.word_id == _progress.c.word_id)
            .where(_progress.c.learner_id == learner_id)
            .group_by(_members.c.group_id)
        )
    }
    allowed = new_words_left_today(connection, learner_id, now, new_words_per_day)
    rows = connection.execute(
        select(groups.id, groups.name, groups.words_count).order_by(groups.name, groups.id)
    )
    result = []
    for row in rows:
        due_count, reviewed = counts.get(row.id, (0, 0))
        new_count = min(allowed, max(0, row.words_count - reviewed))
        result.append(
            {
                "group_id": row.id,
                "group_name": row.name,
                "due_count": due_count,
                "new_count": new_count,
            }
        )
    return result


def figures(connection: Connection, learner_id: int, now: datetime) -> dict[str, Any]:
    """The dashboard's spaced-repetition figures.

    - due_now: cards due at ``now``;
    - due_today: cards due before the end of the UTC day;
    - mature_words: cards with a stability of at least 21 days;
    - retention_30d: the share of the last 30 days' reviews of cards in the review
      state that were not again; None when there were none.
    """
    tomorrow = _start_of_day(now.date() + timedelta(days=1))
    counts = connection.execute(
        _cards_of(learner_id, None).add_columns(
            func.count().filter(_progress.c.due <= now).label("due_now"),
            func.count().filter(_progress.c.due < tomorrow).label("due_today"),
            func.count()
            .filter(_progress.c.stability >= scheduling.MATURE_STABILITY_DAYS)
            .label("mature_words"),
        )
    ).one()
    days = schema.daily_activity.c
    recalls, recalled = connection.execute(
        select(func.sum(days.recall_reviews_count), func.sum(days.recalled_count)).where(
            days.learner_id == learner_id,
            days.day > now.date() - timedelta(days=RETENTION_WINDOW_DAYS),
        )
    ).one()
    return {
        **counts._asdict(),
        "retention_30d": recalled / recalls if recalls else None,
    }


def forecast(connection: Connection, learner_id: int, now: datetime, days: int) -> list[dict]:
    """Cards due on each UTC day from today, ``[{day, due}]`` for ``days`` days; today
    includes the overdue ones."""
    today = now.date()
    end = _start_of_day(today + timedelta(days=days))
    per_day = dict.fromkeys((today + timedelta(days=n) for n in range(days)), 0)
    due_times = connection.execute(
        _cards_of(learner_id, None).add_columns(_progress.c.due).where(_progress.c.due < end)
    ).scalars()
    for due in due_times:
        per_day[max(due.date(), today)] += 1
    return [{"day": day, "due": count} for day, count in per_day.items()]
