"""Isolation in the ``accounts`` mode, as tables: two learners (Aiko and Ben) and a teacher
against every learner-scoped route, each answer checked, and the database after every write.

The world every test starts from, made through the API:

- Aiko: session ``a1`` (group 1, activity 1) with reviews w1 ✓ w1 ✓ w2 ✗ w2 ✓, and
  session ``a2`` (group 2, activity 2) with one review w3 ✓ (the single-review route);
- Ben: session ``b1`` (group 1, activity 1) with reviews w1 ✗ w1 ✗ w1 ✓ w2 ✓;
- the teacher (a learner with the role ``teacher``): session ``t1`` (group 1, activity 3)
  with one review w1 ✓;
- the default learner (the operator token): nothing.

Nobody sees or writes another's history; a teacher reads anyone's with ``?learner_id=``
and writes only their own. The last tests cover the open mode, where everyone is the
default learner, and Idempotency-Keys, which are scoped to the learner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select

from lang_portal import schema
from lang_portal.api.routing import routes
from tests.accounts import (
    CHALLENGE,
    DEFAULT_LEARNER_ID,
    HISTORY_TABLES,
    JSON,
    OPERATOR,
    Learner,
    accounts_app,
    add_learner,
    assert_counters_match_rows,
    bearer,
    learner_rows,
    review,
    start_session,
)
from tests.conftest import make_app
from tests.support import assert_problem, snapshot

UNKNOWN_LEARNER_ID = 999_999


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app in the ``accounts`` mode on a fresh seeded database."""
    with accounts_app(database_url) as application:
        yield application


@dataclass
class World:
    """The learners, sessions and words of the module docstring."""

    client: Any
    engine: Engine
    learners: dict[str, Learner]
    sessions: dict[str, int]
    words: dict[str, int]

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "nobody":
            return {}
        if caller == "invalid":
            return bearer("an-invalid-token-of-plausible-length-0123456789")
        return self.learners[caller].headers

    def learner_id(self, name: str) -> str:
        """The ``?learner_id=`` value that names ``name`` (or a bad or unknown one)."""
        if name in self.learners:
            return str(self.learners[name].id)
        if name == "A and B":  # the parameter given twice
            return f"{self.learners['A'].id}&learner_id={self.learners['B'].id}"
        return {"unknown": str(UNKNOWN_LEARNER_ID)}.get(name, name)


def single_review(client: Any, learner: Learner, study_session_id: int, word_id: int) -> None:
    response = client.post(
        f"/api/study-sessions/{study_session_id}/words/{word_id}/review",
        json={"correct": True},
        headers=learner.headers,
    )
    assert response.status_code == 201, response.get_json()


@pytest.fixture
def world(client, engine) -> World:
    aiko = add_learner(client, "Aiko")
    ben = add_learner(client, "Ben")
    teacher = add_learner(client, "Sensei", role="teacher")
    operator = Learner(DEFAULT_LEARNER_ID, "default", "teacher", OPERATOR["Authorization"][7:])

    def words_of(group_id: int) -> list[int]:
        response = client.get(f"/api/groups/{group_id}/words/raw", headers=OPERATOR)
        return [word["id"] for word in response.get_json()["words"]]

    group_1 = words_of(1)
    w1, w2 = group_1[:2]
    w3 = next(word for word in words_of(2) if word not in group_1)

    a1 = start_session(client, aiko, group_id=1, study_activity_id=1)
    review(client, aiko, a1, [(w1, True), (w1, True), (w2, False), (w2, True)])
    a2 = start_session(client, aiko, group_id=2, study_activity_id=2)
    single_review(client, aiko, a2, w3)
    b1 = start_session(client, ben, group_id=1, study_activity_id=1)
    review(client, ben, b1, [(w1, False), (w1, False), (w1, True), (w2, True)])
    t1 = start_session(client, teacher, group_id=1, study_activity_id=3)
    review(client, teacher, t1, [(w1, True)])
    assert_counters_match_rows(engine)
    return World(
        client,
        engine,
        {"A": aiko, "B": ben, "teacher": teacher, "operator": operator},
        {"a1": a1, "a2": a2, "b1": b1, "t1": t1},
        {"w1": w1, "w2": w2, "w3": w3},
    )


# --- Reads -----------------------------------------------------------------------------------
#
# Each scoped read: its path, what of its answer shows whose history it is, and that part
# expected for each subject ("A", "B", "teacher", "default"), or a status.


@dataclass(frozen=True)
class Read:
    path: str
    view: Callable[[Any], Any]
    expected: Callable[[World, str], Any]


def _session_list(body: Any) -> tuple[int, list[tuple[int, int]]]:
    return body["total"], sorted((item["id"], item["review_items_count"]) for item in body["items"])


def _group_sessions(body: Any) -> list[tuple[int, int]]:
    return sorted((item["id"], item["review_items_count"]) for item in body["study_sessions"])


def _counts(words: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """The words reviewed at all, with their counts (every reviewed word has a right answer
    in this world, so a list sorted by correct_count shows them all on page 1)."""
    return {
        word["id"]: (word["correct_count"], word["wrong_count"])
        for word in words
        if word["correct_count"] or word["wrong_count"]
    }


# Per subject: the sessions (id key, review count) and the word counts.
SESSIONS = {
    "A": [("a1", 4), ("a2", 1)],
    "B": [("b1", 4)],
    "teacher": [("t1", 1)],
    "default": [],
}
GROUP_OF = {"a1": 1, "a2": 2, "b1": 1, "t1": 1}
ACTIVITY_OF = {"a1": 1, "a2": 2, "b1": 1, "t1": 3}
WORD_COUNTS = {
    "A": {"w1": (2, 0), "w2": (1, 1), "w3": (1, 0)},
    "B": {"w1": (1, 2), "w2": (1, 0)},
    "teacher": {"w1": (1, 0)},
    "default": {},
}
# (total_sessions, total_words_studied, mastered_words, success_rate, active_groups,
#  current_streak)
STATS = {
    "A": (2, 3, 0, 0.8, 2, 1),
    "B": (1, 2, 0, 0.5, 1, 1),
    "teacher": (1, 1, 0, 1.0, 1, 1),
    "default": (0, 0, 0, 0.0, 0, 0),
}
# The due queue: (due_count, new_count). Every card is fresh (due in minutes or days,
# not now); the day's 20 new words less the words the subject first reviewed today.
DUE = {"A": (0, 17), "B": (0, 18), "teacher": (0, 19), "default": (0, 20)}
# The newest session: (key, group, correct, wrong).
RECENT = {"A": ("a2", 2, 1, 0), "B": ("b1", 1, 2, 2), "teacher": ("t1", 1, 1, 0)}


def sessions_of(world: World, subject: str, where: Callable[[str], bool] = bool):
    return sorted((world.sessions[key], count) for key, count in SESSIONS[subject] if where(key))


def word_counts(world: World, subject: str, words: tuple[str, ...] = ("w1", "w2", "w3")):
    return {
        world.words[word]: counts for word, counts in WORD_COUNTS[subject].items() if word in words
    }


def session_detail(world: World, subject: str) -> Any:
    if subject != "A":
        return 404  # another learner's session does not exist for them
    return (
        world.sessions["a1"],
        sorted([(world.words["w1"], 2, 0), (world.words["w2"], 1, 1)]),
    )


def recent(world: World, subject: str) -> Any:
    if subject not in RECENT:
        return None
    key, group_id, right, wrong = RECENT[subject]
    return (world.sessions[key], group_id, right, wrong)


READS = {
    "study sessions": Read(
        "/api/study-sessions?per_page=100",
        _session_list,
        lambda w, s: (len(SESSIONS[s]), sessions_of(w, s)),
    ),
    "study session detail": Read(
        "/api/study-sessions/{a1}",
        lambda body: (
            body["session"]["id"],
            sorted((word["id"], word["correct_count"], word["wrong_count"])
                   for word in body["words"]),
        ),
        session_detail,
    ),
    # One a page: total_pages is the subject's count (at most 1), not everyone's (3).
    "group 1 sessions": Read(
        "/api/groups/1/study-sessions?per_page=1",
        lambda body: (_group_sessions(body), body["total_pages"]),
        lambda w, s: (sessions_of(w, s, lambda key: GROUP_OF[key] == 1), 1),
    ),
    "group 2 sessions (legacy path)": Read(
        "/groups/2/study_sessions",
        _group_sessions,
        lambda w, s: sessions_of(w, s, lambda key: GROUP_OF[key] == 2),
    ),
    "activity 1 sessions": Read(
        "/api/study-activities/1/sessions?per_page=100",
        _session_list,
        lambda w, s: (
            len(sessions_of(w, s, lambda key: ACTIVITY_OF[key] == 1)),
            sessions_of(w, s, lambda key: ACTIVITY_OF[key] == 1),
        ),
    ),
    "activity 3 sessions": Read(
        "/api/study_activities/3/sessions",
        _session_list,
        lambda w, s: (
            len(sessions_of(w, s, lambda key: ACTIVITY_OF[key] == 3)),
            sessions_of(w, s, lambda key: ACTIVITY_OF[key] == 3),
        ),
    ),
    "dashboard stats": Read(
        "/api/dashboard/stats",
        lambda body: (body["total_sessions"], body["total_words_studied"],
                      body["mastered_words"], round(body["success_rate"], 6),
                      body["active_groups"], body["current_streak"]),
        lambda w, s: STATS[s],
    ),
    "due queue": Read(
        "/api/study/due?limit=100",
        lambda body: (body["due_count"], body["new_count"]),
        lambda w, s: DUE[s],
    ),
    # Every card of the subject, each due within 90 days: one per word reviewed.
    "forecast": Read(
        "/api/dashboard/forecast?days=90",
        lambda body: sum(day["due"] for day in body["days"]),
        lambda w, s: len(WORD_COUNTS[s]),
    ),
    "recent session": Read(
        "/api/dashboard/recent-session",
        lambda body: body and (body["id"], body["group_id"], body["correct_count"],
                               body["wrong_count"]),
        recent,
    ),
    "words": Read(
        "/api/words?sort_by=correct_count&order=desc&per_page=100",
        lambda body: _counts(body["words"]),
        word_counts,
    ),
    "words (legacy path)": Read(
        "/words?sort_by=correct_count&order=desc",
        lambda body: _counts(body["words"]),
        word_counts,
    ),
    "word w1": Read(
        "/api/words/{w1}",
        lambda body: (body["word"]["correct_count"], body["word"]["wrong_count"]),
        lambda w, s: WORD_COUNTS[s].get("w1", (0, 0)),
    ),
    "word w2 (legacy path)": Read(
        "/words/{w2}",
        lambda body: (body["word"]["correct_count"], body["word"]["wrong_count"]),
        lambda w, s: WORD_COUNTS[s].get("w2", (0, 0)),
    ),
    "group 1 words": Read(
        "/api/groups/1/words?sort_by=correct_count&order=desc&per_page=100",
        lambda body: _counts(body["words"]),
        lambda w, s: word_counts(w, s, ("w1", "w2")),
    ),
    # Whose reviews the statements are (the actor), and how many: A 5, B 4, teacher 1.
    "xapi statements": Read(
        "/api/xapi/statements?limit=500",
        lambda body: [*sorted({s["actor"]["account"]["name"] for s in body["statements"]}),
                      len(body["statements"])],
        lambda w, s: {"A": [f"learner-{w.learners['A'].id}", 5],
                      "B": [f"learner-{w.learners['B'].id}", 4],
                      "teacher": [f"learner-{w.learners['teacher'].id}", 1],
                      "default": [0]}[s],
    ),
    # The whole history: whose it is, the sessions (id, review count), the reviews, the cards.
    "data export": Read(
        "/api/me/export",
        lambda body: (body["learner"]["id"],
                      sorted((s["id"], s["review_items_count"]) for s in body["study_sessions"]),
                      len(body["reviews"]), len(body["cards"])),
        lambda w, s: (w.learners["operator" if s == "default" else s].id, sessions_of(w, s),
                      sum(count for _, count in SESSIONS[s]), len(WORD_COUNTS[s])),
    ),
}  # fmt: skip

# (caller, ?learner_id=, whose history the answer shows, or the status expected).
# "operator" is the operator token: the default learner, a teacher.
READ_CASES = [
    ("A", None, "A"),
    ("B", None, "B"),
    ("teacher", None, "teacher"),
    ("operator", None, "default"),
    ("A", "A", "A"),
    ("teacher", "A", "A"),
    ("teacher", "B", "B"),
    ("teacher", "teacher", "teacher"),
    ("operator", "A", "A"),
    ("operator", "teacher", "teacher"),
    ("teacher", "operator", "default"),
    ("B", "A", 403),
    ("A", "B", 403),
    ("A", "teacher", 403),
    ("B", "operator", 403),
    ("A", "unknown", 403),  # a learner learns nothing about which ids exist
    ("teacher", "unknown", 404),
    ("operator", "unknown", 404),
    ("A", "abc", 400),
    ("teacher", "abc", 400),
    ("teacher", "0", 400),
    ("teacher", "-1", 400),
    ("teacher", "1.0", 400),
    ("teacher", "２", 400),  # a full-width digit
    ("teacher", str(2**63), 400),
    ("teacher", "A and B", 400),
    ("nobody", None, 401),
    ("nobody", "A", 401),
    ("invalid", None, 401),
    ("invalid", "A", 401),
]


def with_learner_id(path: str, learner_id: str | None) -> str:
    if learner_id is None:
        return path
    return f"{path}{'&' if '?' in path else '?'}learner_id={learner_id}"


def answer_of(response: Any, read: Read) -> Any:
    """What the answer shows: the read's view of a 200, else the status (checked to be a
    problem, with the challenge on a 401)."""
    if response.status_code == 200:
        return read.view(response.get_json())
    assert_problem(response, response.status_code)
    if response.status_code == 401:
        assert response.headers["WWW-Authenticate"] == CHALLENGE
    return response.status_code


@pytest.mark.parametrize("name", list(READS))
def test_every_scoped_read_shows_only_the_subjects_history(world, name):
    read = READS[name]
    path = read.path.format(**world.sessions, **world.words)
    before = snapshot(world.engine)

    wrong = []
    for caller, learner_id, expected in READ_CASES:
        response = world.client.get(
            with_learner_id(path, learner_id and world.learner_id(learner_id)),
            headers=world.headers(caller),
        )
        want = expected if isinstance(expected, int) else read.expected(world, expected)
        got = answer_of(response, read)
        if got != want:
            wrong.append(f"{caller} ?learner_id={learner_id}: expected {want!r}, got {got!r}")

    assert wrong == []
    assert snapshot(world.engine) == before  # reads write nothing, not even last_active_at


def test_the_read_table_covers_every_scoped_read(app):
    """A new learner-scoped read must join READS (and so the isolation table)."""
    adapter = app.url_map.bind("localhost")
    covered = {adapter.match(read.path.split("?")[0].format(a1=1, w1=1, w2=1))[0]
               for read in READS.values()}  # fmt: skip
    scoped_reads = {route.endpoint for route in routes.declared if route.scoped and not route.write}
    assert covered == scoped_reads


def test_a_learner_id_that_is_not_an_id_names_the_parameter(world):
    response = world.client.get(
        "/api/study-sessions?learner_id=abc", headers=world.headers("teacher")
    )
    assert_problem(response, 400, "#/learner_id")


@pytest.mark.parametrize(
    "path",
    [
        "/api/words?sort_by={column}&order=desc&per_page=1",
        "/words?sort_by={column}&order=desc&per_page=1",
        "/api/groups/1/words?sort_by={column}&order=desc&per_page=1",
    ],
)
@pytest.mark.parametrize("column", ["correct_count", "wrong_count"])
def test_sorting_by_a_count_sorts_by_the_subjects_counts(world, path, column):
    """Aiko answers w2 more often (right and wrong) than anyone; Ben does w1. Each list's
    top word is the subject's own."""
    aiko, ben = world.learners["A"], world.learners["B"]
    w1, w2 = world.words["w1"], world.words["w2"]
    review(world.client, aiko, world.sessions["a1"], [(w2, True)] * 5 + [(w2, False)] * 5)
    review(world.client, ben, world.sessions["b1"], [(w1, True)] * 7 + [(w1, False)] * 7)
    url = path.format(column=column)

    tops = {}
    for caller, learner_id in [("A", None), ("B", None), ("teacher", "A"), ("teacher", "B")]:
        response = world.client.get(
            with_learner_id(url, learner_id and world.learner_id(learner_id)),
            headers=world.headers(caller),
        )
        assert response.status_code == 200
        tops[caller, learner_id] = response.get_json()["words"][0]["id"]
    assert tops == {("A", None): w2, ("B", None): w1, ("teacher", "A"): w2, ("teacher", "B"): w1}


# --- Writes ----------------------------------------------------------------------------------


def _create(world: World, headers: dict[str, str], target: str, query: str) -> Any:
    return world.client.post(
        f"/api/study-sessions{query}", json={"group_id": 3, "study_activity_id": 2}, headers=headers
    )


def _batch(world: World, headers: dict[str, str], target: str, query: str) -> Any:
    return world.client.post(
        f"/api/study-sessions/{world.sessions[target]}/review{query}",
        json={"reviews": [{"word_id": world.words["w3"], "is_correct": False}] * 2},
        headers=headers,
    )


def _single(world: World, headers: dict[str, str], target: str, query: str) -> Any:
    return world.client.post(
        f"/api/study-sessions/{world.sessions[target]}/words/{world.words['w2']}/review{query}",
        json={"correct": False},
        headers=headers,
    )


def _legacy_batch(world: World, headers: dict[str, str], target: str, query: str) -> Any:
    return world.client.post(
        f"/study_sessions/{world.sessions[target]}/review{query}",
        json={"reviews": [{"word_id": world.words["w1"], "correct": True}]},
        headers=headers,
    )


def _reset(world: World, headers: dict[str, str], target: str, query: str) -> Any:
    return world.client.post(f"/api/study-sessions/reset{query}", headers={**JSON, **headers})


WRITES = {
    "create": _create,
    "batch review": _batch,
    "single review": _single,
    "legacy batch review": _legacy_batch,
    "reset": _reset,
}
SUCCESS = {"create": 201, "batch review": 201, "single review": 201,
           "legacy batch review": 201, "reset": 200}  # fmt: skip
SESSION_WRITES = ["batch review", "single review", "legacy batch review"]

# (caller, the session written into, ?learner_id=, status): every refusal writes nothing.
WRITE_CASES = [
    *[(kind, "B", "a1", None, 404) for kind in SESSION_WRITES],
    *[(kind, "A", "b1", None, 404) for kind in SESSION_WRITES],
    # A teacher does not own a learner's session, and may not write into it either way.
    *[(kind, "teacher", "a1", None, 404) for kind in SESSION_WRITES],
    *[(kind, "operator", "a1", None, 404) for kind in SESSION_WRITES],
    *[(kind, "teacher", "a1", "A", 403) for kind in [*SESSION_WRITES, "create", "reset"]],
    *[(kind, "operator", "b1", "B", 403) for kind in [*SESSION_WRITES, "create", "reset"]],
    *[(kind, "B", "a1", "A", 403) for kind in [*SESSION_WRITES, "create", "reset"]],
    *[(kind, "B", "b1", "A", 403) for kind in [*SESSION_WRITES, "create", "reset"]],
    ("create", "teacher", "t1", "unknown", 403),
    ("create", "A", "a1", "abc", 400),
    ("reset", "teacher", "t1", "abc", 400),
    *[(kind, "nobody", "a1", None, 401) for kind in WRITES],
    *[(kind, "invalid", "a1", None, 401) for kind in WRITES],
    *[(kind, "nobody", "a1", "A", 401) for kind in WRITES],
    # Naming oneself is fine.
    *[(kind, "A", "a1", "A", None) for kind in WRITES],
    *[(kind, "A", "a1", None, None) for kind in WRITES],
    *[(kind, "B", "b1", None, None) for kind in WRITES],
    *[(kind, "teacher", "t1", None, None) for kind in WRITES],
]


def everyones_rows(world: World) -> dict[str, Any]:
    return {
        name: learner_rows(world.engine, learner.id) for name, learner in world.learners.items()
    }


@pytest.mark.parametrize(
    ("kind", "caller", "target", "learner_id", "status"),
    WRITE_CASES,
    ids=[f"{c[0]}-{c[1]}-into-{c[2]}-as-{c[3]}" for c in WRITE_CASES],
)
def test_writes_touch_only_the_callers_history(world, kind, caller, target, learner_id, status):
    before = snapshot(world.engine)
    rows_before = everyones_rows(world)
    query = "" if learner_id is None else f"?learner_id={world.learner_id(learner_id)}"

    response = WRITES[kind](world, world.headers(caller), target, query)

    if status is not None:  # refused: nothing at all is written
        assert_problem(response, status)
        if status == 401:
            assert response.headers["WWW-Authenticate"] == CHALLENGE
        assert snapshot(world.engine) == before
        return
    assert response.status_code == SUCCESS[kind], response.get_json()
    rows_after = everyones_rows(world)
    for name in world.learners:
        if name != caller:
            assert rows_after[name] == rows_before[name], name
    mine = rows_after[caller]
    assert (
        mine["learners"][0]["last_active_at"] > rows_before[caller]["learners"][0]["last_active_at"]
    )
    if kind == "create":
        new = [
            row
            for row in mine["study_sessions"]
            if row not in rows_before[caller]["study_sessions"]
        ]
        assert [(row["id"], row["learner_id"], row["group_id"]) for row in new] == [
            (response.get_json()["id"], world.learners[caller].id, 3)
        ]
    elif kind == "reset":
        assert all(mine[table] == [] for table in HISTORY_TABLES)
    else:
        added = len(mine["word_review_items"]) - len(rows_before[caller]["word_review_items"])
        assert added == {"batch review": 2, "single review": 1, "legacy batch review": 1}[kind]
        assert {row["study_session_id"] for row in mine["word_review_items"][-added:]} == {
            world.sessions[target]
        }
    assert_counters_match_rows(world.engine)


def test_the_write_table_covers_every_scoped_write(app):
    scoped_writes = {route.endpoint for route in routes.declared if route.scoped and route.write}
    assert scoped_writes == {
        "create_study_session",
        "review_words",
        "review_word",
        "reset_study_history",
        # Writes no history; another learner's session is a 404 there too
        # (tests/api/test_launch_tokens.py).
        "create_launch_token",
    }


def test_a_reset_deletes_only_the_callers_history(world):
    """Ben resets: every row of his history goes, and nobody else's changes."""
    client, engine = world.client, world.engine
    # Keys stored for Aiko and Ben, to see that the reset leaves Aiko's.
    for caller in ("A", "B"):
        response = client.post(
            "/api/study-sessions",
            json={"group_id": 1, "study_activity_id": 1},
            headers={**world.headers(caller), "Idempotency-Key": "same-key"},
        )
        assert response.status_code == 201
    others = {name: rows for name, rows in everyones_rows(world).items() if name != "B"}
    assert all(others["A"][table] for table in (*HISTORY_TABLES, "idempotency_keys"))
    stats_before = {
        name: client.get("/api/dashboard/stats", headers=world.headers(name)).get_json()
        for name in ("A", "teacher")
    }

    response = client.post("/api/study-sessions/reset", headers={**JSON, **world.headers("B")})

    assert response.status_code == 200
    after = everyones_rows(world)
    for table in (*HISTORY_TABLES, "idempotency_keys"):
        assert after["B"][table] == [], table
    assert after["B"]["learner_tokens"]  # the reset is of the history, not of the account
    assert {name: rows for name, rows in after.items() if name != "B"} == others
    for name, stats in stats_before.items():
        assert client.get("/api/dashboard/stats", headers=world.headers(name)).get_json() == stats
    ben = client.get("/api/dashboard/stats", headers=world.headers("B")).get_json()
    assert (ben["total_sessions"], ben["total_words_studied"]) == (0, 0)
    assert_counters_match_rows(engine)
    # Ben's old session is gone for Ben, and Aiko's are still there for her.
    assert_problem(
        client.get(f"/api/study-sessions/{world.sessions['b1']}", headers=world.headers("B")), 404
    )
    for key in ("a1", "a2"):
        shown = client.get(f"/api/study-sessions/{world.sessions[key]}", headers=world.headers("A"))
        assert shown.status_code == 200


# --- Identity on every route -----------------------------------------------------------------


def every_route_path(world: World) -> list[tuple[str, str]]:
    """(method, path) for every path of every declared API route, ids filled in."""
    values = {
        "study_session_id": world.sessions["a1"],
        "word_id": world.words["w1"],
        "group_id": 1,
        "study_activity_id": 1,
        "learner_id": world.learners["A"].id,
    }
    paths = []
    for route in routes.declared:
        for path in route.paths():
            for name, value in values.items():
                path = path.replace(f"<id:{name}>", str(value))
            assert "<" not in path, path
            paths.append((route.method, path))
    return paths


@pytest.mark.parametrize("headers", [{}, bearer("not-a-token"), {"Authorization": "Bearer"}],
                         ids=["no token", "invalid token", "empty bearer"])  # fmt: skip
def test_every_api_route_needs_an_identity(world, headers):
    before = snapshot(world.engine)
    wrong = []
    for method, path in every_route_path(world) + [
        ("HEAD", path) for method, path in every_route_path(world) if method == "GET"
    ]:
        response = world.client.open(path, method=method, json={}, headers=headers)
        challenge = response.headers.get("WWW-Authenticate")
        if response.status_code != 401 or challenge != CHALLENGE:
            wrong.append(f"{method} {path}: {response.status_code} {challenge}")
        elif method != "HEAD":  # a HEAD answer has no body
            assert_problem(response, 401)
    assert wrong == []
    assert snapshot(world.engine) == before


def test_browsers_preflight_every_route_without_an_identity(world):
    """A browser sends no Authorization header on a CORS preflight, so it must pass; the
    401 a page then gets is readable by it."""
    origin = {"Origin": "http://localhost:5173"}
    wrong = []
    for method, path in every_route_path(world):
        preflight = world.client.open(
            path,
            method="OPTIONS",
            headers={
                **origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
            },
        )
        allowed = preflight.headers.get("Access-Control-Allow-Headers", "").lower()
        if (
            preflight.status_code != 200
            or preflight.headers.get("Access-Control-Allow-Origin") != origin["Origin"]
            or "authorization" not in allowed
        ):
            wrong.append(f"OPTIONS {path} ({method}): {preflight.status_code} {allowed!r}")
    assert wrong == []
    refused = world.client.get("/api/me", headers=origin)
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == origin["Origin"]


def test_the_api_documents_answer_without_an_identity(client):
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/docs").status_code == 200


# --- Idempotency-Keys are per learner --------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ['"8e03978e-40d5-43e8-bc93-6894a57f9324"', "shared-key"],
    ids=["quoted", "bare"],
)
def test_one_key_used_by_two_learners_makes_two_sessions(world, key):
    client, engine = world.client, world.engine
    body = {"group_id": 4, "study_activity_id": 1}
    first = {}
    for caller in ("A", "B"):
        response = client.post(
            "/api/study-sessions",
            json=body,
            headers={**world.headers(caller), "Idempotency-Key": key},
        )
        assert response.status_code == 201, response.get_json()
        assert "Idempotent-Replayed" not in response.headers  # not the other learner's answer
        first[caller] = response
    assert first["A"].get_json()["id"] != first["B"].get_json()["id"]

    # Each replay answers with the learner's own stored response.
    for caller in ("B", "A"):
        again = client.post(
            "/api/study-sessions",
            json=body,
            headers={**world.headers(caller), "Idempotency-Key": key},
        )
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.get_json() == first[caller].get_json()
        assert again.headers["Location"] == first[caller].headers["Location"]

    with engine.connect() as connection:
        sessions = connection.execute(
            select(schema.study_sessions.c.id, schema.study_sessions.c.learner_id).where(
                schema.study_sessions.c.group_id == 4
            )
        ).all()
        keys = connection.execute(
            select(schema.idempotency_keys.c.learner_id, schema.idempotency_keys.c.status_code)
        ).all()
    assert sorted(tuple(row) for row in sessions) == sorted(
        (first[caller].get_json()["id"], world.learners[caller].id) for caller in ("A", "B")
    )
    assert sorted(tuple(row) for row in keys) == sorted(
        (world.learners[caller].id, 201) for caller in ("A", "B")
    )
    assert_counters_match_rows(engine)


def test_one_key_with_different_bodies_for_two_learners_is_no_conflict(world):
    """B's body differs from A's under the same key: for B the key is new, not a 422."""
    client = world.client
    headers = {"Idempotency-Key": "k-1"}
    a = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1},
                    headers={**world.headers("A"), **headers})  # fmt: skip
    b = client.post("/api/study-sessions", json={"group_id": 2, "study_activity_id": 2},
                    headers={**world.headers("B"), **headers})  # fmt: skip
    assert (a.status_code, b.status_code) == (201, 201)
    assert b.get_json()["group_id"] == 2
    rows = {
        name: [
            row["id"]
            for row in learner_rows(world.engine, world.learners[name].id)["study_sessions"]
        ]
        for name in ("A", "B")
    }
    assert a.get_json()["id"] in rows["A"] and b.get_json()["id"] in rows["B"]


def test_one_key_on_review_batches_of_two_learners_records_both(world):
    client, engine = world.client, world.engine
    body = {"reviews": [{"word_id": world.words["w3"], "is_correct": True}]}
    answers = {}
    for caller, key in (("A", "a1"), ("B", "b1")):
        response = client.post(
            f"/api/study-sessions/{world.sessions[key]}/review",
            json=body,
            headers={**world.headers(caller), "Idempotency-Key": "review-key"},
        )
        assert response.status_code == 201
        assert "Idempotent-Replayed" not in response.headers
        answers[caller] = response.get_json()
    recorded = {
        caller: (answer["session_id"], answer["reviews_created"], answer["cards"][0]["word_id"])
        for caller, answer in answers.items()
    }
    assert recorded == {
        "A": (world.sessions["a1"], 1, world.words["w3"]),
        "B": (world.sessions["b1"], 1, world.words["w3"]),
    }
    # Each learner's own card: A reviewed w3 before, B never did.
    assert (answers["A"]["cards"][0]["reps"], answers["B"]["cards"][0]["reps"]) == (2, 1)
    for caller, key in (("A", "a1"), ("B", "b1")):
        items = learner_rows(engine, world.learners[caller].id)["word_review_items"]
        assert (items[-1]["study_session_id"], items[-1]["word_id"]) == (
            world.sessions[key],
            world.words["w3"],
        )
    assert_counters_match_rows(engine)


# --- The open mode ---------------------------------------------------------------------------


def test_in_the_open_mode_everything_is_the_default_learners(database_url):
    application = make_app(database_url)
    engine = application.extensions["lang_portal.engine"]
    client = application.test_client()
    try:
        created = client.post("/api/study-sessions", json={"group_id": 1, "study_activity_id": 1})
        assert created.status_code == 201
        own = client.post(
            "/api/study-sessions?learner_id=1", json={"group_id": 2, "study_activity_id": 1}
        )
        assert own.status_code == 201
        reviewed = client.post(
            f"/api/study-sessions/{created.get_json()['id']}/review?learner_id=1",
            json={"reviews": [{"word_id": 1, "is_correct": True}]},
        )
        assert reviewed.status_code == 201
        with engine.connect() as connection:
            owners = connection.execute(select(schema.study_sessions.c.learner_id)).scalars().all()
        assert owners == [DEFAULT_LEARNER_ID, DEFAULT_LEARNER_ID]
        assert_counters_match_rows(engine)

        for read in READS.values():
            path = read.path.format(a1=created.get_json()["id"], w1=1, w2=2)
            plain = client.get(path)
            assert plain.status_code == 200, path
            # Compared through the read's view: intervals and retrievability move with time.
            named = client.get(with_learner_id(path, "1"))
            assert read.view(named.get_json()) == read.view(plain.get_json()), path
            assert_problem(client.get(with_learner_id(path, "abc")), 400)
            assert_problem(client.get(with_learner_id(path, str(UNKNOWN_LEARNER_ID))), 404)
        assert client.get("/api/me").get_json()["id"] == DEFAULT_LEARNER_ID
    finally:
        engine.dispose()
