"""The accounts mode in real Chromium: a teacher, a learner, and an outside activity.

A teacher signs in, adds a learner (Aiko) in the class view, sees her token once and
gives her a temporary password. Aiko signs in in a browser of her own, is sent to
Settings to choose her own password, plays a Flashcards round and sees it on her
dashboard; the database puts the session and every review in her history and nobody
else's. The teacher finds her progress in the class view and on her read-only
dashboard. Signing out ends the sign-in: Back shows the sign-in page, not a private
page, and a copy of the old cookie opens nothing.

An outside activity on another origin is launched from the portal: it gets a launch
token in the URL's fragment (which never reaches its server), reads the session and
records a review with it, and the review lands in Aiko's session.

With LANG_PORTAL_UPDATE_SCREENSHOTS=1 the run also writes docs/screenshots/sign-in.png and
docs/screenshots/class-view.png.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import requests
from sqlalchemy import insert, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from lang_portal import db, passwords, queries, schema
from lang_portal.queries.learners import DEFAULT_LEARNER_ID
from lang_portal.sign_in import COOKIE_NAME
from tests.accounts import Learner, review, start_session, token_digest
from tests.browser.conftest import (
    GROUP_ID,
    ROOT,
    BrowserErrors,
    Portal,
    answer_cards,
    session_reviews,
)
from tests.servers import free_port

try:
    from playwright.sync_api import Page, expect
except ImportError:
    Page = expect = None

pytestmark = [pytest.mark.parametrize("database_url", ["sqlite"], indirect=True), pytest.mark.slow]

GROUP_NAME = "Food and Drink"
TEACHER_NAME = "Ms Tanaka"
TEACHER_PASSWORD = "teacher-password-2024"
TEMPORARY_PASSWORD = "temporary-sakura-17"
AIKO_PASSWORD = "aiko-chose-this-one"
SCREENSHOTS = ROOT / "docs" / "screenshots"
TAKE_SCREENSHOTS = "LANG_PORTAL_UPDATE_SCREENSHOTS"


# -- setting up ---------------------------------------------------------------------------


def accounts_portal(start_portal: Callable[..., Portal]) -> Portal:
    return start_portal(AUTH="accounts")


def add_learner_with_password(
    portal: Portal, name: str, role: str, password: str, temporary: bool = False
) -> int:
    """A learner made in the database with a password; returns their id."""
    with portal.app.app_context(), db.writing() as connection:
        learner_id = queries.learners.create(connection, name, role)["id"]
        queries.sign_ins.set_password(
            connection, learner_id, passwords.hashed(password), temporary=temporary
        )
    return learner_id


def add_learner_with_token(portal: Portal, name: str) -> Learner:
    """A learner made in the database with an API token (no password)."""
    with portal.app.app_context(), db.writing() as connection:
        learner_id = queries.learners.create(connection, name, queries.learners.LEARNER)["id"]
        token = queries.learners.issue_token(connection, learner_id)
    return Learner(learner_id, name, queries.learners.LEARNER, token)


def group_word_ids(portal: Portal, group_id: int) -> list[int]:
    with portal.engine.connect() as connection:
        return list(
            connection.execute(
                select(schema.word_groups.c.word_id)
                .where(schema.word_groups.c.group_id == group_id)
                .order_by(schema.word_groups.c.word_id)
            ).scalars()
        )


def learner_row(portal: Portal, learner_id: int):
    with portal.engine.connect() as connection:
        return connection.execute(
            select(schema.learners).where(schema.learners.c.id == learner_id)
        ).one()


def history_counts(portal: Portal, learner_id: int) -> tuple[int, int]:
    """(sessions, reviews) stored for a learner: the reviews both by their own
    learner_id and by their session's owner, which must agree."""
    sessions, reviews = schema.study_sessions, schema.word_review_items
    with portal.engine.connect() as connection:
        session_count = len(
            connection.execute(
                select(sessions.c.id).where(sessions.c.learner_id == learner_id)
            ).all()
        )
        by_review = connection.execute(
            select(reviews.c.id).where(reviews.c.learner_id == learner_id)
        ).all()
        by_session = connection.execute(
            select(reviews.c.id)
            .join(sessions, sessions.c.id == reviews.c.study_session_id)
            .where(sessions.c.learner_id == learner_id)
        ).all()
    assert sorted(by_review) == sorted(by_session)
    return session_count, len(by_review)


def sign_ins_of(portal: Portal, learner_id: int) -> int:
    with portal.engine.connect() as connection:
        return len(
            connection.execute(
                select(schema.sign_ins.c.id).where(schema.sign_ins.c.learner_id == learner_id)
            ).all()
        )


def sign_in(page: Page, portal: Portal, name: str, password: str) -> None:
    """Fill in and send the sign-in form."""
    page.goto(portal.url + "/portal/sign-in")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_cookie(page: Page) -> str:
    [cookie] = [c for c in page.context.cookies() if c["name"] == COOKIE_NAME]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    return cookie["value"]


def save_screenshot(page: Page, name: str, full_page: bool = False) -> None:
    """Keep a screenshot for the docs, only when LANG_PORTAL_UPDATE_SCREENSHOTS=1 (CI leaves
    the committed files alone)."""
    if os.environ.get(TAKE_SCREENSHOTS) == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


# -- the teacher and the learner ------------------------------------------------------------


def test_a_teacher_adds_a_learner_who_studies_and_the_teacher_sees_her_progress(
    page: Page, second_page: Page, start_portal, page_errors: BrowserErrors
):
    portal = accounts_portal(start_portal)
    teacher_id = add_learner_with_password(
        portal, TEACHER_NAME, queries.learners.TEACHER, TEACHER_PASSWORD
    )
    teacher = page

    # 1. The teacher signs in (a private page sends her to the sign-in form first).
    teacher.goto(portal.url + "/portal/class")
    expect(teacher).to_have_url(f"{portal.url}/portal/sign-in?next=/portal/class")
    expect(teacher.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    save_screenshot(teacher, "sign-in.png")
    teacher.get_by_label("Name").fill(TEACHER_NAME)
    teacher.get_by_label("Password").fill(TEACHER_PASSWORD)
    teacher.get_by_role("button", name="Sign in").click()
    expect(teacher).to_have_url(f"{portal.url}/portal/class")
    expect(teacher.locator("#signed-in-name")).to_have_text(TEACHER_NAME)
    expect(teacher.get_by_role("heading", name="Class", level=1)).to_be_visible()

    # She adds Aiko and sees Aiko's token, once.
    teacher.get_by_label("Name").fill("Aiko")
    teacher.get_by_label("Role").select_option("learner")
    teacher.get_by_role("button", name="Add learner").click()
    expect(teacher.get_by_role("heading", name="Aiko's dashboard", level=1)).to_be_visible()
    token = teacher.locator("#new-token").inner_text()
    assert len(token) >= 32
    with portal.engine.connect() as connection:
        [aiko_id] = connection.execute(
            select(schema.learners.c.id).where(schema.learners.c.name == "Aiko")
        ).scalars()
        stored = connection.execute(
            select(schema.learner_tokens.c.token_hash).where(
                schema.learner_tokens.c.learner_id == aiko_id
            )
        ).scalars()
        assert list(stored) == [token_digest(token)]
    aiko_row = learner_row(portal, aiko_id)
    assert (aiko_row.role, aiko_row.password_hash) == ("learner", None)
    teacher.goto(f"{portal.url}/portal/class/{aiko_id}")
    expect(teacher.locator("#read-only-note")).to_be_visible()
    expect(teacher.locator("#new-token")).to_have_count(0)
    assert token not in teacher.content()

    # She sets a temporary password for Aiko.
    teacher.locator("#temporary-password").fill(TEMPORARY_PASSWORD)
    teacher.locator("#set-password").click()
    expect(teacher).to_have_url(f"{portal.url}/portal/class/{aiko_id}?done=temporary")
    expect(teacher.locator("#password-set")).to_be_visible()
    aiko_row = learner_row(portal, aiko_id)
    assert aiko_row.password_is_temporary is True
    assert passwords.verify(aiko_row.password_hash, TEMPORARY_PASSWORD)

    # 2. Aiko signs in with it in her own browser and is sent to Settings first.
    aiko = second_page
    sign_in(aiko, portal, "Aiko", TEMPORARY_PASSWORD)
    expect(aiko).to_have_url(f"{portal.url}/portal/settings#password")
    expect(aiko.locator("#signed-in-name")).to_have_text("Aiko")
    expect(aiko.locator("#temporary-password")).to_be_visible()
    expect(main_nav(aiko).get_by_role("link", name="Class")).to_have_count(0)
    aiko.goto(f"{portal.url}/portal/groups/{GROUP_ID}")
    expect(aiko).to_have_url(f"{portal.url}/portal/settings#password")

    aiko.locator("#current-password").fill(TEMPORARY_PASSWORD)
    aiko.locator("#new-password").fill(AIKO_PASSWORD)
    aiko.locator("#repeat-password").fill(AIKO_PASSWORD)
    aiko.get_by_role("button", name="Change password").click()
    expect(aiko).to_have_url(f"{portal.url}/portal/settings?done=password#password")
    expect(aiko.locator("#password-changed")).to_be_visible()
    expect(aiko.locator("#temporary-password")).to_have_count(0)
    aiko_row = learner_row(portal, aiko_id)
    assert aiko_row.password_is_temporary is False
    assert passwords.verify(aiko_row.password_hash, AIKO_PASSWORD)
    assert sign_ins_of(portal, aiko_id) == 1  # this browser stays signed in

    # She plays a Flashcards round from the group page.
    main_nav(aiko).get_by_role("link", name="Groups").click()
    aiko.get_by_role("link", name=GROUP_NAME).click()
    aiko.get_by_role("button", name="Start Flashcards").click()
    aiko.wait_for_url(re.compile(r"/activities/flashcards/\?"))
    assert aiko.url.startswith(portal.url + "/activities/flashcards/?")  # no fragment
    assert "#" not in aiko.url
    study_session_id = int(parse_qs(urlparse(aiko.url).query)["session_id"][0])
    total = len(group_word_ids(portal, GROUP_ID))
    right, wrong = answer_cards(aiko, total, lambda index: index % 4 != 0)
    assert right and wrong
    expect(aiko.locator("#fc-save-text")).to_have_text(f"All {total} answers are saved.")

    # Her dashboard (the activity's header links to it) counts the round.
    aiko.locator("header a.brand").click()
    expect(aiko.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(aiko.locator("#stat-sessions")).to_have_text("1")
    expect(aiko.locator("#stat-studied")).to_have_text(re.compile(rf"^{total} of \d+$"))
    expect(aiko.locator("#recent-correct")).to_have_text(str(right))
    expect(aiko.locator("#recent-wrong")).to_have_text(str(wrong))
    expect(aiko.get_by_role("link", name="Study this group again")).to_be_visible()

    # The database: the session and every review are Aiko's, nobody else's.
    with portal.engine.connect() as connection:
        stored = connection.execute(
            select(schema.study_sessions).where(schema.study_sessions.c.id == study_session_id)
        ).one()
    assert (stored.learner_id, stored.group_id, stored.study_activity_id) == (aiko_id, GROUP_ID, 1)
    assert (stored.review_items_count, stored.correct_count) == (total, right)
    assert session_reviews(portal, study_session_id) == (total, right, total)
    assert history_counts(portal, aiko_id) == (1, total)
    assert history_counts(portal, teacher_id) == (0, 0)
    assert history_counts(portal, DEFAULT_LEARNER_ID) == (0, 0)

    # A learner has no class view.
    response = aiko.goto(portal.url + "/portal/class")
    assert response is not None and response.status == 403
    expect(aiko.get_by_text("Only a teacher can see the class")).to_be_visible()

    # 3. Two more learners study through the API with their tokens, then the teacher
    # looks at the class: Aiko's row has her figures, and her read-only dashboard.
    word_ids = group_word_ids(portal, 1)
    client = portal.app.test_client()
    for name, answers in (("Ben", [True, True, False]), ("Chiara", [True] * 6 + [False] * 2)):
        learner = add_learner_with_token(portal, name)
        study_session = start_session(client, learner, group_id=1)
        review(client, learner, study_session, list(zip(word_ids, answers, strict=False)))

    main_nav(teacher).get_by_role("link", name="Class").click()
    expect(teacher).to_have_url(f"{portal.url}/portal/class")
    row = teacher.locator(f'#class-table tr[data-learner-id="{aiko_id}"]')
    expect(row.get_by_role("link", name="Aiko")).to_be_visible()
    expect(row.locator(".col-words_studied")).to_have_text(str(total))
    expect(row.locator(".col-last_active_at time")).to_have_attribute(
        "datetime", re.compile(r"^\d{4}-\d\d-\d\dT")
    )
    teacher_row = teacher.locator(f'#class-table tr[data-learner-id="{teacher_id}"]')
    expect(teacher_row.locator(".col-words_studied")).to_have_text("0")
    expect(teacher_row.locator(".col-last_active_at")).to_have_text("never")
    expect(teacher.locator("#class-table tbody tr")).to_have_count(5)
    save_screenshot(teacher, "class-view.png", full_page=True)

    row.get_by_role("link", name="Aiko").click()
    expect(teacher).to_have_url(f"{portal.url}/portal/class/{aiko_id}")
    expect(teacher.get_by_role("heading", name="Aiko's dashboard", level=1)).to_be_visible()
    expect(teacher.locator("#read-only-note")).to_be_visible()
    expect(teacher.locator("#stat-sessions")).to_have_text("1")
    expect(teacher.locator("#stat-studied")).to_have_text(re.compile(rf"^{total} of \d+$"))
    expect(teacher.locator("#recent-correct")).to_have_text(str(right))
    expect(teacher.get_by_role("link", name="Study this group again")).to_have_count(0)

    # 4. Aiko signs out: Back shows the sign-in page, and her old cookie opens nothing.
    with aiko.expect_navigation() as navigation:
        main_nav(aiko).get_by_role("link", name="Dashboard").click()
    dashboard = navigation.value
    assert dashboard is not None and dashboard.headers["cache-control"] == "no-store"
    expect(aiko.locator("#stat-sessions")).to_have_text("1")
    old_cookie = {COOKIE_NAME: sign_in_cookie(aiko)}
    # The cookie works until then (so the checks below can fail).
    assert requests.get(portal.url + "/", cookies=old_cookie, timeout=10).status_code == 200
    assert requests.get(f"{portal.url}/api/me", cookies=old_cookie, timeout=10).status_code == 200

    aiko.get_by_role("button", name="Sign out").click()
    expect(aiko).to_have_url(f"{portal.url}/portal/sign-in?signed_out=1")
    expect(aiko.locator("#signed-out")).to_be_visible()
    expect(aiko.locator("#signed-in-name")).to_have_count(0)
    assert sign_ins_of(portal, aiko_id) == 0
    # (The sign-in form's page sets a new cookie, holding only its CSRF token.)
    assert sign_in_cookie(aiko) != old_cookie[COOKIE_NAME]

    # Back asks the server for the dashboard again (no-store), which sends it here.
    aiko.go_back()
    assert urlparse(aiko.url).path == "/portal/sign-in"
    expect(aiko).to_have_url(f"{portal.url}/portal/sign-in?next=/")
    expect(aiko.get_by_role("heading", name="Sign in", level=1)).to_be_visible()
    expect(aiko.locator("#signed-in-name")).to_have_count(0)
    expect(aiko.locator("#stat-studied")).to_have_count(0)
    expect(aiko.get_by_text("Aiko")).to_have_count(0)

    answer = requests.get(portal.url + "/", cookies=old_cookie, allow_redirects=False, timeout=10)
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/portal/sign-in?next=/"
    answer = requests.get(f"{portal.url}/api/me", cookies=old_cookie, timeout=10)
    assert answer.status_code == 401
    # The teacher's sign-in is untouched by Aiko's.
    teacher.reload()
    expect(teacher.locator("#signed-in-name")).to_have_text(TEACHER_NAME)
    assert page_errors.unexpected(r"403") == []


# -- an outside activity on another origin -------------------------------------------------

OUTSIDE_ACTIVITY = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Outside Cards</title></head>
<body data-state="running">
<h1>Outside Cards</h1>
<pre id="result"></pre>
<script>
(async () => {
  const portal = __PORTAL__;
  const query = new URLSearchParams(location.search);
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
  const sessionId = query.get("session_id");
  const result = { landed_at: location.href };

  const session = await fetch(`${portal}/api/study-sessions/${sessionId}`, { headers });
  result.session_status = session.status;
  result.session = (await session.json()).session;

  const words = await fetch(`${portal}/api/groups/${query.get("group_id")}/words/raw`, { headers });
  result.words_status = words.status;
  const [first, second] = (await words.json()).words;

  const reviews = [
    { word_id: first.id, is_correct: true },
    { word_id: second.id, is_correct: false },
  ];
  const saved = await fetch(`${portal}/api/study-sessions/${sessionId}/review`, {
    method: "POST",
    headers: { ...headers, "Content-Type": "application/json" },
    body: JSON.stringify({ reviews }),
  });
  result.review_status = saved.status;
  result.reviews = reviews;

  // The token is for this session only: another group is refused.
  const other = await fetch(`${portal}/api/groups/1`, { headers });
  result.other_group_status = other.status;

  document.getElementById("result").textContent = JSON.stringify(result);
  document.body.dataset.state = "done";
})().catch((error) => {
  document.getElementById("result").textContent = String(error);
  document.body.dataset.state = "failed";
});
</script>
</body>
</html>
"""


@dataclass
class OutsideServer:
    """A tiny web server for an outside activity; ``requests`` holds each request line
    it was sent (method and the raw target), to show what reached it."""

    url: str
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def outside_server() -> Iterator[Callable[[str], OutsideServer]]:
    """Start an outside activity's server on a free port: ``start(portal_url)`` serves
    OUTSIDE_ACTIVITY at ``/activity/``, calling the API of ``portal_url``. Its URL uses
    the name localhost, so its origin differs from the portal's (127.0.0.1) by host
    and port."""
    stops: list[Callable[[], None]] = []

    def start(portal_url: str) -> OutsideServer:
        port = free_port()
        served = OutsideServer(f"http://localhost:{port}")
        html = OUTSIDE_ACTIVITY.replace("__PORTAL__", json.dumps(portal_url))

        @Request.application
        def application(request: Request) -> Response:
            target = request.environ.get("REQUEST_URI") or request.full_path
            served.requests.append(f"{request.method} {target}")
            if request.path == "/activity/":
                return Response(html, mimetype="text/html")
            return Response("not here", status=404)

        server = make_server("127.0.0.1", port, application, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        stops.append(lambda: (server.shutdown(), thread.join(timeout=5)))
        return served

    yield start
    for stop in stops:
        stop()


def test_an_outside_activity_uses_the_launch_token_from_the_fragment(
    page: Page, start_portal, outside_server, page_errors: BrowserErrors
):
    portal = accounts_portal(start_portal)
    aiko_id = add_learner_with_password(portal, "Aiko", queries.learners.LEARNER, AIKO_PASSWORD)
    activity = outside_server(portal.url)
    with portal.engine.begin() as connection:
        activity_id = connection.execute(
            insert(schema.study_activities)
            .values(
                name="Outside Cards",
                description="Flashcards served by another site.",
                url=activity.url + "/activity/",
                preview_url="",
            )
            .returning(schema.study_activities.c.id)
        ).scalar_one()

    sign_in(page, portal, "Aiko", AIKO_PASSWORD)
    expect(page.locator("#signed-in-name")).to_have_text("Aiko")
    page.goto(f"{portal.url}/portal/study-activities/{activity_id}")
    page.get_by_label("Word group").select_option(label=GROUP_NAME)
    page.get_by_role("button", name="Start Outside Cards").click()

    # The browser lands on the activity, with the launch token in the fragment.
    page.wait_for_url(re.compile(re.escape(activity.url) + r"/activity/\?.*#token="))
    landed = urlparse(page.url)
    query = parse_qs(landed.query)
    assert query["group_id"] == [str(GROUP_ID)]
    study_session_id = int(query["session_id"][0])
    fragment = parse_qs(landed.fragment)
    launch_token = unquote(fragment["token"][0])
    assert "." in launch_token
    with portal.engine.connect() as connection:
        stored = connection.execute(
            select(schema.study_sessions).where(schema.study_sessions.c.id == study_session_id)
        ).one()
    assert (stored.learner_id, stored.group_id, stored.study_activity_id) == (
        aiko_id,
        GROUP_ID,
        activity_id,
    )

    # Its script read the session and recorded a review with that token.
    expect(page.locator("body")).to_have_attribute("data-state", "done")
    result = json.loads(page.locator("#result").inner_text())
    assert result["session_status"] == 200
    assert result["session"]["id"] == study_session_id
    assert result["session"]["activity_name"] == "Outside Cards"
    assert result["words_status"] == 200
    assert result["review_status"] == 201
    assert result["other_group_status"] == 403
    items = schema.word_review_items
    with portal.engine.connect() as connection:
        recorded = connection.execute(
            select(items.c.learner_id, items.c.word_id, items.c.correct)
            .where(items.c.study_session_id == study_session_id)
            .order_by(items.c.id)
        ).all()
    assert [tuple(row) for row in recorded] == [
        (aiko_id, review["word_id"], review["is_correct"]) for review in result["reviews"]
    ]
    assert history_counts(portal, aiko_id) == (1, 2)
    assert history_counts(portal, DEFAULT_LEARNER_ID) == (0, 0)

    # The fragment never reached the activity's server: it saw the page's path and query.
    assert activity.requests == [
        f"GET /activity/?group_id={GROUP_ID}&session_id={study_session_id}"
    ]
    assert not any("token" in line for line in activity.requests)
    assert page_errors.unexpected(r"403") == []
