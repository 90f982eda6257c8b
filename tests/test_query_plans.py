"""Reads stay flat as the history grows: query counts per request and SQLite query plans.

These are the regression tests behind docs/performance.md: not timings, but the two
things that make a read cost the same at 10k and at 1M sessions. Each request issues a
small, fixed number of statements (counted with a ``before_cursor_execute`` listener on
the app's engine), and no statement walks the review history or the session table:
SQLite's EXPLAIN QUERY PLAN shows no scan of word_review_items at all, and a scan of
study_sessions, or a search of every session of one learner (the whole history in the
single-user mode), only along an index and under a LIMIT (the newest-first page), never
a sort of every session. PostgreSQL picks plans by table statistics, which a test
database of a few rows does not have, so only its query counts are checked.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event

import lang_portal.api  # noqa: F401  (registers every route)
from lang_portal.api.routing import routes
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from tests.reliability.support import ACCOUNTS_ONLY

# Statements per request, at most. A new GET route must be given its budget here.
READ_BUDGETS = {
    "/api/dashboard/recent-session": 1,
    # The words (everyone's), the learner's word counters, day totals, active groups and
    # streak days: the vocabulary's size and the learner's word counters are in two
    # tables now (words, word_progress), one statement each.
    "/api/dashboard/stats": 7,  # and two for the cards: their counts, the recall days
    "/api/study-sessions": 2,
    "/api/study-sessions/<id:study_session_id>": 3,
    "/api/words": 2,
    "/api/words/<id:word_id>": 3,  # the word, its groups, the learner's card
    # The scope's size, the cards' summary (count, due, next due), the due cards, the
    # day's new-word allowance and the new words.
    "/api/study/due": 5,
    "/api/dashboard/forecast": 1,
    "/api/groups": 2,
    "/api/groups/<id:group_id>": 1,
    "/api/groups/<id:group_id>/words": 2,
    "/api/groups/<id:group_id>/words/raw": 2,
    "/api/groups/<id:group_id>/export.apkg": 2,  # the group, its words
    "/api/groups/<id:group_id>/study-sessions": 2,
    "/api/study-activities": 1,
    "/api/study-activities/<id:study_activity_id>": 1,
    "/api/study-activities/<id:study_activity_id>/sessions": 2,
    "/api/study-activities/<id:study_activity_id>/launch": 2,
    "/api/me": 1,
    # The learner, then one statement per list (sessions, reviews, cards), each streamed.
    "/api/me/export": 4,
    # A page of the learner's reviews with their words, sessions, groups and activities.
    "/api/xapi/statements": 1,
    # A page of learners and their total, then one statement per figure for the whole
    # page (sessions, words, cards due, streak days), never one per learner.
    "/api/learners": 6,
    "/api/learners/<id:learner_id>": 5,
}
# Sort orders and pages besides the defaults, each with the budget of its route.
READ_VARIANTS = [
    *(f"/api/words?sort_by={key}&order=desc" for key in ("romaji", "correct_count")),
    "/api/groups?sort_by=words_count&order=desc",
    "/api/groups/1/words?sort_by=wrong_count",
    "/api/study-sessions?page=3&per_page=2",
    "/api/study-activities/1/sessions?page=2&per_page=1",
    "/api/groups/1/study-sessions?page=2&per_page=1&sort_by=start_time&order=asc",
    "/api/study/due?group_id=1&limit=100",
    "/api/dashboard/forecast?days=90",
    "/api/xapi/statements?since=2000-01-01T00:00:00Z&limit=2",
    # after the cursor of (2000-01-01T00:00:00+00:00, review 1): the keyset page
    "/api/xapi/statements?after=MjAwMC0wMS0wMVQwMDowMDowMCswMDowMHwx&limit=2",
]
# Statements per portal page, at most, by URL rule: each page reads every row it shows
# once (a second read of the same row, like fetching a group again, breaks its budget).
# A new page must be given its budget here.
# Every page with the navigation counts the cards due now for its Review entry: one
# statement more, unless the page read that figure already (the dashboard, Review).
PAGE_BUDGETS = {
    "/": 10,  # the stats (5), the cards' figures (2), the last session, the chart's days,
    # the forecast
    "/portal": 0,  # redirects to /
    "/portal/": 0,
    "/portal/words": 3,
    "/portal/words/<id:word_id>": 3,
    "/portal/groups": 3,
    "/portal/groups/<id:group_id>": 5,  # the group, its words, its recent sessions, activities
    "/portal/groups/<id:group_id>/sessions": 3,
    "/portal/study-activities": 2,
    "/portal/study-activities/<id:study_activity_id>": 5,
    "/portal/sessions": 3,
    "/portal/sessions/<id:study_session_id>": 4,
    "/portal/settings": 2,
    "/portal/review": 9,  # the queue's counts over all groups and per group, the activity
    "/activities/flashcards/": 0,
    "/activities/typing-tutor/": 0,
    "/activities/kanji-match/": 0,
    "/activities/review/": 0,
}
REDIRECTS = {"/portal", "/portal/"}
PAGE_VARIANTS = [
    "/portal/words?sort_by=english&order=desc&page=2",
    "/portal/groups?sort_by=words_count&order=desc",
    "/portal/groups/1?sort_by=wrong_count&order=desc&page=2",
    "/portal/groups/1/sessions?page=2",
    "/portal/study-activities/1?page=2&group_id=3",
    "/portal/sessions?page=2",
    "/portal/sessions/1?page=2",
]
# A write touches a fixed number of rows, whatever the size of a review batch. Every
# write now first runs ``UPDATE learners SET last_active_at`` (queries.learners.touch):
# one statement more than before learners, which raised "session" from 4 to 5; the
# review writes issued 5 and now issue 6, within their budget of 6.
# Cards (issue 16) add one statement to a review write, the card UPDATE (the counters'
# upsert returns the cards it locks), and one more, the logs of the words to replay,
# when a review is older than its card's last one.
WRITE_BUDGETS = {"session": 5, "batch": 7, "single": 7, "late batch": 8}

# The reads whose purpose is the learner's whole history (their data export): they read
# every session of the learner, once, along an index and streamed; every other rule holds.
WHOLE_HISTORY_READS = {"/api/me/export"}
EVERY_SESSION = "reads every session of the learner"

TABLE_SCAN = re.compile(r"\bSCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?")
# Every session of one learner: an index searched on the learner alone. In the open
# (single-user) mode that is every session there is.
LEARNER_SESSIONS = re.compile(
    r"\bSEARCH study_sessions USING (?:COVERING )?INDEX \w+ \(learner_id=\?\)"
)


@contextmanager
def statements_of(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Collect (SQL, parameters) of every statement the engine sends, BEGIN aside."""
    seen: list[tuple[str, Any]] = []

    def record(connection, cursor, statement, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def history(client) -> dict[str, int]:
    """A few sessions with reviews, so that every read has rows to find."""
    ids = []
    for group_id, activity_id in ((1, 1), (1, 2), (2, 1), (3, 3)):
        created = client.post(
            "/api/study-sessions", json={"group_id": group_id, "study_activity_id": activity_id}
        )
        ids.append(created.get_json()["id"])
        reviews = [{"word_id": word_id, "correct": word_id % 3 > 0} for word_id in range(1, 9)]
        response = client.post(f"/api/study-sessions/{ids[-1]}/review", json={"reviews": reviews})
        assert response.status_code == 201
    return {
        "study_session_id": ids[0],
        "group_id": 1,
        "word_id": 2,
        "study_activity_id": 1,
        "learner_id": DEFAULT_LEARNER_ID,
    }


def read_urls(ids: dict[str, int]) -> list[tuple[str, str]]:
    """(route rule, URL) for every GET route with real ids, and the variants."""
    urls = []
    for route in routes.declared:
        if route.method != "GET":
            continue
        rule = route.paths()[0]
        url = rule
        for name, value in ids.items():
            url = url.replace(f"<id:{name}>", str(value))
        urls.append((rule, url))
    for variant in READ_VARIANTS:
        path = variant.split("?")[0]
        rule = next(r for r, u in urls if u == path)
        urls.append((rule, variant))
    return urls


def test_every_read_route_has_a_budget():
    rules = {route.paths()[0] for route in routes.declared if route.method == "GET"}
    assert rules == set(READ_BUDGETS)


def test_reads_issue_a_fixed_number_of_statements(client, engine, history):
    over = []
    for rule, url in read_urls(history):
        with statements_of(engine) as seen:
            response = client.get(url)
            response.get_data()  # a streamed body runs its statements as it is sent
        assert response.status_code == 200, url
        if len(seen) > READ_BUDGETS[rule]:
            over.append((url, len(seen), READ_BUDGETS[rule], [sql for sql, _ in seen]))
    assert over == []


def test_writes_issue_the_same_statements_for_any_batch_size(client, engine, history):
    session_path = f"/api/study-sessions/{history['study_session_id']}"
    with statements_of(engine) as seen:
        client.post("/api/study-sessions", json={"group_id": 2, "study_activity_id": 2})
    assert len(seen) <= WRITE_BUDGETS["session"], seen
    for size in (1, 50, 200):
        reviews = [{"word_id": 1 + i % 263, "correct": i % 2 == 0} for i in range(size)]
        with statements_of(engine) as seen:
            response = client.post(session_path + "/review", json={"reviews": reviews})
        assert response.status_code == 201
        assert len(seen) <= WRITE_BUDGETS["batch"], (size, [sql for sql, _ in seen])
    with statements_of(engine) as seen:
        response = client.post(session_path + "/words/7/review", json={"correct": True})
    assert response.status_code == 201
    assert len(seen) <= WRITE_BUDGETS["single"], seen
    # Reviews older than their cards' last ones: every word replayed, one statement more.
    started = client.get(session_path).get_json()["session"]["start_time"]
    for size in (1, 50, 200):
        reviews = [
            {"word_id": 1 + i % 263, "rating": "hard", "reviewed_at": started} for i in range(size)
        ]
        with statements_of(engine) as seen:
            response = client.post(session_path + "/review", json={"reviews": reviews})
        assert response.status_code == 201, response.get_json()
        assert len(seen) <= WRITE_BUDGETS["late batch"], (size, [sql for sql, _ in seen])


def sqlite_plan(engine: Engine, statement: str, parameters: Any) -> list[tuple[int, int, str]]:
    """SQLite's EXPLAIN QUERY PLAN as (node, parent node, detail) rows."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        return [(row[0], row[1], row[3]) for row in cursor.fetchall()]
    finally:
        raw.close()


def plan_problems(statement: str, plan: list[tuple[int, int, str]]) -> list[str]:
    """What in a plan would make the statement slower as the history grows."""
    problems = []
    limited = re.search(r"\bLIMIT\b", statement) is not None
    scopes: dict[int, list[str]] = defaultdict(list)
    for _, parent, line in plan:
        scopes[parent].append(line)
        for table, index in TABLE_SCAN.findall(line):
            if table == "word_review_items":
                problems.append(f"scans the review history: {line}")
            elif table == "study_sessions" and not (index and limited):
                problems.append(f"scans every session: {line}")
        if LEARNER_SESSIONS.search(line) and not limited:
            problems.append(f"{EVERY_SESSION}: {line}")
    # Sorting is harmless for the few sessions of one page looked up by id, and a
    # problem for sessions found by a scan or an index range: that sorts them all.
    for lines in scopes.values():
        if any("TEMP B-TREE FOR ORDER BY" in line for line in lines):
            found = [line for line in lines if re.search(r"\b(SCAN|SEARCH) study_sessions\b", line)]
            if any("INTEGER PRIMARY KEY (rowid=?)" not in line for line in found):
                problems.append("sorts sessions instead of reading them in index order")
    return problems


def page_rules(app) -> list[tuple[str, str]]:
    """(URL rule, URL with real ids) of every HTML page of the open mode that takes no
    free-form path (the accounts mode's own pages: ACCOUNTS_PAGE_BUDGETS)."""
    return [
        (rule.rule, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("pages.")
        and "<path:" not in rule.rule
        and "GET" in (rule.methods or ())
        and rule.endpoint not in ACCOUNTS_ONLY
    ]


def page_urls(app, ids: dict[str, int]) -> list[str]:
    """Every HTML page of the portal that takes no free-form path, with real ids."""
    urls = []
    for _, url in page_rules(app):
        for name, value in ids.items():
            url = url.replace(f"<id:{name}>", str(value))
        urls.append(url)
    return urls


def test_every_page_has_a_budget(app):
    assert {rule for rule, _ in page_rules(app)} == set(PAGE_BUDGETS)


def test_pages_issue_a_fixed_number_of_statements(app, client, engine, history):
    rules = [rule for rule, _ in page_rules(app)]
    urls = list(zip(rules, page_urls(app, history), strict=True))
    for variant in PAGE_VARIANTS:
        path = variant.split("?")[0]
        urls.append((next(rule for rule, url in urls if url == path), variant))
    over = []
    for rule, url in urls:
        with statements_of(engine) as seen:
            response = client.get(url)
        assert response.status_code == (302 if rule in REDIRECTS else 200), url
        if len(seen) > PAGE_BUDGETS[rule]:
            over.append((url, len(seen), PAGE_BUDGETS[rule], [sql for sql, _ in seen]))
    assert over == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_read_scans_the_history(app, client, engine, history):
    problems = []
    urls = [url for _, url in read_urls(history)] + page_urls(app, history)
    for url in urls:
        with statements_of(engine) as seen:
            response = client.get(url)
            response.get_data()  # a streamed body runs its statements as it is sent
            assert response.status_code in (200, 302), url
        for statement, parameters in seen:
            plan = sqlite_plan(engine, statement, parameters)
            found = plan_problems(statement, plan)
            if url in WHOLE_HISTORY_READS:
                found = [problem for problem in found if not problem.startswith(EVERY_SESSION)]
            problems += [(url, problem, statement) for problem in found]
    assert problems == []


@pytest.mark.parametrize(
    ("statement", "plan", "found"),
    [
        ("SELECT * FROM word_review_items", ["SCAN word_review_items"], True),
        (
            "SELECT study_session_id FROM word_review_items",
            ["SCAN word_review_items USING COVERING INDEX ix_word_review_items_session_word"],
            True,
        ),
        ("SELECT * FROM study_sessions", ["SCAN study_sessions"], True),
        (
            "SELECT * FROM study_sessions ORDER BY learner_id, created_at",
            ["SCAN study_sessions USING INDEX ix_study_sessions_learner_id_created_at_id"],
            True,
        ),
        (
            "SELECT * FROM study_sessions WHERE learner_id = ? ORDER BY created_at",
            [
                "SEARCH study_sessions USING INDEX ix_study_sessions_learner_id_created_at_id"
                " (learner_id=?)"
            ],
            True,
        ),
        (
            "SELECT * FROM study_sessions WHERE learner_id = ? AND group_id = ?"
            " ORDER BY review_items_count LIMIT ?",
            [
                "SEARCH study_sessions USING INDEX ix_study_sessions_learner_id_group_id"
                " (learner_id=? AND group_id=?)",
                "USE TEMP B-TREE FOR ORDER BY",
            ],
            True,
        ),
        (
            "SELECT * FROM study_sessions WHERE learner_id = ? ORDER BY created_at DESC LIMIT ?",
            [
                "SEARCH study_sessions USING INDEX ix_study_sessions_learner_id_created_at_id"
                " (learner_id=?)"
            ],
            False,
        ),
        (
            "SELECT * FROM study_sessions WHERE learner_id = ? AND study_activity_id = ?"
            " ORDER BY created_at DESC LIMIT ?",
            [
                "SEARCH study_sessions USING INDEX ix_study_sessions_learner_id_study_activity_id"
                " (learner_id=? AND study_activity_id=?)"
            ],
            False,
        ),
        (  # a page's ids from an index, then only those rows, sorted
            "SELECT * FROM study_sessions WHERE id IN (SELECT id FROM study_sessions"
            " WHERE learner_id = ? ORDER BY created_at DESC LIMIT ? OFFSET ?)"
            " ORDER BY created_at DESC",
            [
                "SEARCH study_sessions USING INTEGER PRIMARY KEY (rowid=?)",
                "LIST SUBQUERY 1",  # node 2: the subquery's rows hang under it
                (
                    "SEARCH study_sessions USING COVERING INDEX"
                    " ix_study_sessions_learner_id_created_at_id (learner_id=?)",
                    2,
                ),
                "USE TEMP B-TREE FOR ORDER BY",
            ],
            False,
        ),
        (
            "SELECT * FROM word_review_items WHERE study_session_id = ?",
            ["SEARCH word_review_items USING INDEX ix_word_review_items_session_word (...)"],
            False,
        ),
        ("SELECT * FROM words", ["SCAN words"], False),
    ],
)
def test_plan_problems_are_recognised(statement, plan, found):
    """A bare plan line hangs under the top of the plan; (line, node) under that node."""
    rows = []
    for node, line in enumerate(plan, start=1):
        detail, parent = (line, 0) if isinstance(line, str) else line
        rows.append((node, parent, detail))
    assert bool(plan_problems(statement, rows)) is found


# --- the accounts mode -------------------------------------------------------------------

# Statements of the accounts mode's own pages, for a signed-in teacher: the sign-in
# lookup (1) comes on top of each page's reads. The class reads every learner's figures
# in one query per figure, whatever the size of the class.
ACCOUNTS_PAGE_BUDGETS = {
    "/portal/sign-in": 0,  # nobody signed in: no lookup
    "/": PAGE_BUDGETS["/"] + 1,
    # the lookup, the count, the learners, their 4 figures' queries, the navigation's due count
    "/portal/class": 8,
    # the lookup, the profile, the learner's dashboard, the viewer's own due count
    "/portal/class/<id:learner_id>": PAGE_BUDGETS["/"] + 3,
}


def _signed_in_teacher(client, engine) -> None:
    """Sign the client in as a new teacher, through the sign-in form."""
    from lang_portal import db, passwords, queries

    with client.application.app_context(), db.writing() as connection:
        teacher = queries.learners.create(connection, "Budget Teacher", "teacher")
        password = passwords.hashed("a long enough password")
        queries.sign_ins.set_password(connection, teacher["id"], password, temporary=False)
    form = client.get("/portal/sign-in").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)[1]
    signed_in = client.post(
        "/portal/sign-in",
        data={"name": "Budget Teacher", "password": "a long enough password", "csrf_token": csrf},
    )
    assert signed_in.status_code == 302


@pytest.mark.parametrize("class_size", [2, 6])
def test_the_accounts_pages_issue_a_fixed_number_of_statements(database_url, class_size):
    from tests.accounts import OPERATOR, accounts_app

    with accounts_app(database_url) as app:
        client = app.test_client()
        engine = app.extensions["lang_portal.engine"]
        anonymous = app.test_client()
        for number in range(class_size):
            learner = client.post("/api/learners", json={"name": f"L{number}"}, headers=OPERATOR)
            token = learner.get_json()["token"]
            started = client.post(
                "/api/study-sessions",
                json={"group_id": 1, "study_activity_id": 1},
                headers={"Authorization": f"Bearer {token}"},
            )
            reviews = [{"word_id": word_id, "correct": True} for word_id in range(1, 4)]
            client.post(
                f"/api/study-sessions/{started.get_json()['id']}/review",
                json={"reviews": reviews},
                headers={"Authorization": f"Bearer {token}"},
            )
        _signed_in_teacher(client, engine)
        over = []
        for rule, budget in ACCOUNTS_PAGE_BUDGETS.items():
            url = rule.replace("<id:learner_id>", str(learner.get_json()["id"]))
            who = anonymous if rule == "/portal/sign-in" else client
            with statements_of(engine) as seen:
                assert who.get(url).status_code == 200, url
            if len(seen) > budget:
                over.append((url, len(seen), budget, [sql[:60] for sql, _ in seen]))
        assert over == []
