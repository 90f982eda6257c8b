"""The previous release's code, run on a test's database in a subprocess.

A migration test needs a database that the previous release's code wrote, at that
release's schema revision: the current code can no longer write one. :func:`run`
extracts the package of commit :data:`PREVIOUS_RELEASE` with ``git archive`` and
runs this file under it (``PYTHONPATH=<extracted>/src``, the same interpreter): the
old code migrates and seeds the database, makes the requests of a job through its
Flask test client, and writes every answer to a JSON file.

:func:`tables` and :func:`summed_history` compare databases across the learners
migration (0003): the second turns a database at head into what the previous
release's schema holds, every learner's counters summed into the global ones.

Run as a script it is the subprocess's side, which imports only the old package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# The release before learners (issue 15): its code writes the schema of revision 0002.
PREVIOUS_RELEASE = "38acdf5"
PREVIOUS_HEAD = "0002"
REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_LEARNER_ID = 1
# The settings every test app uses (tests/conftest.py), for the old app too.
TEST_SETTINGS = {"TESTING": True, "RATE_LIMIT": "off", "LOG_LEVEL": "WARNING"}

_extracted: dict[str, Path] = {}


def source(directory: Path) -> Path:
    """The previous release's ``src`` directory, extracted once per run under ``directory``.

    Fails the test with the reason when git or the commit is missing (CI has a full clone).
    """
    import pytest

    if PREVIOUS_RELEASE in _extracted:
        return _extracted[PREVIOUS_RELEASE]
    git = shutil.which("git")
    if git is None:
        pytest.fail(f"git is needed to extract the previous release {PREVIOUS_RELEASE}")
    found = subprocess.run(
        [git, "-C", str(REPOSITORY), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if found.returncode != 0:
        pytest.fail(
            f"commit {PREVIOUS_RELEASE} (the previous release) is not in {REPOSITORY}: "
            f"the migration tests need a full clone ({found.stderr.strip()})"
        )
    directory.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        [git, "-C", str(REPOSITORY), "archive", "--format=tar", PREVIOUS_RELEASE, "src"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    _extracted[PREVIOUS_RELEASE] = directory / "src"
    return directory / "src"


def run(
    src: Path,
    work: Path,
    database_url: str,
    *,
    revision: str | None = None,
    settings: dict[str, Any] | None = None,
    sessions: Iterable[int] = (),
    writes: Iterable[dict[str, Any]] = (),
    reads: Iterable[str] = (),
) -> dict[str, Any]:
    """Run a job on ``database_url`` with the previous release's code from ``src``.

    ``revision``: migrate the (empty) database to it with the old code and seed it;
    None uses the database as it is. ``settings`` go over TEST_SETTINGS. ``writes``
    are sent in order, each ``{method (POST), path, json | data, headers, status,
    session}``, and ``reads`` are paths to GET. Paths are templates: ``{0}`` is the
    first id of ``sessions`` followed by the sessions the writes created (a write with
    ``session: true`` creates one). ``work`` is a directory for the answers file.

    Returns ``{lang_portal, revision, sessions, writes, reads}``: the old package's
    file, the revision after the job, the session ids, and ``[status, JSON body]`` of
    each write and each read.
    """
    import pytest

    output = work / "previous-release-answers.json"
    # The job's settings alone: no LANG_PORTAL_* variable of the test run reaches the app.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LANG_PORTAL_")}
    environment["PYTHONPATH"] = str(src)
    done = subprocess.run(
        [sys.executable, __file__],
        input=json.dumps(
            {
                "database_url": database_url,
                "revision": revision,
                "settings": settings or {},
                "sessions": list(sessions),
                "writes": list(writes),
                "reads": list(reads),
                "output": str(output),
            }
        ),
        env=environment,
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"the previous release failed:\n{done.stdout}\n{done.stderr}")
    answers = json.loads(output.read_text())
    assert Path(answers["lang_portal"]).is_relative_to(src), answers["lang_portal"]
    return answers


def write_all(
    client: Any, writes: list[dict[str, Any]], sessions: Iterable[int] = ()
) -> tuple[list[int], list[list[Any]]]:
    """Send each write (see :func:`run`) through ``client``; returns the session ids (those given,
    then those created) and each write's ``[status, JSON body]``."""
    created = list(sessions)
    answers = []
    for write in writes:
        response = client.open(
            write["path"].format(*created),
            method=write.get("method", "POST"),
            json=write.get("json"),
            data=write.get("data"),
            headers=write.get("headers", {}),
        )
        body = response.get_json(silent=True)
        assert response.status_code == write["status"], (write, response.status_code, body)
        if write.get("session"):
            created.append(body["id"])
        answers.append([response.status_code, body])
    return created, answers


def read(client: Any, path: str, index: int) -> list[Any]:
    """GET ``path`` as the ``index``-th read of a job: ``[status, JSON body]``.

    The request id is fixed, so that error bodies (which carry it) can be compared.
    """
    response = client.get(path, headers={"X-Request-ID": f"compared-read-{index}"})
    return [response.status_code, response.get_json(silent=True)]


def read_all(client: Any, paths: Iterable[str], sessions: list[int]) -> list[list[Any]]:
    """:func:`read` each path template, filled with the session ids."""
    return [read(client, path.format(*sessions), index) for index, path in enumerate(paths)]


def tables(engine: Any) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the database holds now (reflected), in primary-key order."""
    from sqlalchemy import MetaData, select

    reflected = MetaData()
    reflected.reflect(engine)
    with engine.connect() as connection:
        return {
            name: [
                row._asdict()
                for row in connection.execute(
                    select(table).order_by(*(table.primary_key.columns or table.columns))
                )
            ]
            for name, table in reflected.tables.items()
            if name != "alembic_version"
        }


def summed_history(head: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """What the previous release's schema holds of ``head`` (tables at head, see :func:`tables`).

    Each word's, group's and activity's counters are every learner's summed (a group's
    newest session the latest of them), each day's counters likewise, sessions lose their
    learner, and only the default learner's Idempotency-Keys remain.
    """
    words = _totals(head["word_progress"], "word_id", ("correct_count", "wrong_count"))
    groups = _totals(head["group_progress"], "group_id", ("sessions_count",))
    latest = _latest(head["group_progress"], "group_id", "last_session_at")
    activities = _totals(head["activity_progress"], "study_activity_id", ("sessions_count",))
    days = _totals(
        head["daily_activity"], "day", ("sessions_count", "reviews_count", "correct_count")
    )
    keys = [row for row in head["idempotency_keys"] if row["learner_id"] == DEFAULT_LEARNER_ID]
    left = set(head) - {
        "learners",
        "learner_tokens",
        "word_progress",
        "group_progress",
        "activity_progress",
    }
    summed = {name: head[name] for name in left}
    summed["words"] = [{**row, **words[row["id"]]} for row in head["words"]]
    summed["groups"] = [
        {**row, **groups[row["id"]], "last_session_at": latest.get(row["id"])}
        for row in head["groups"]
    ]
    summed["study_activities"] = [
        {**row, **activities[row["id"]]} for row in head["study_activities"]
    ]
    summed["study_sessions"] = [_without_learner(row) for row in head["study_sessions"]]
    summed["daily_activity"] = [{"day": day, **days[day]} for day in sorted(days)]
    summed["idempotency_keys"] = sorted(map(_without_learner, keys), key=lambda row: row["key"])
    return summed


def _totals(rows: list[dict[str, Any]], key: str, counters: tuple[str, ...]) -> Any:
    totals: defaultdict[Any, dict[str, int]] = defaultdict(lambda: dict.fromkeys(counters, 0))
    for row in rows:
        for counter in counters:
            totals[row[key]][counter] += row[counter]
    return totals


def _latest(rows: list[dict[str, Any]], key: str, column: str) -> dict[Any, Any]:
    latest: dict[Any, Any] = {}
    for row in rows:
        value = row[column]
        if value is not None and (row[key] not in latest or latest[row[key]] < value):
            latest[row[key]] = value
    return latest


def _without_learner(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name != "learner_id"}


def _main() -> None:
    """The subprocess: run the job on stdin with the previous release's code."""
    job = json.load(sys.stdin)
    from alembic.migration import MigrationContext

    import lang_portal
    from lang_portal import cli, create_app, db, migrate, seed

    app = create_app({"DATABASE_URL": job["database_url"], **TEST_SETTINGS, **job["settings"]})
    engine = app.extensions["lang_portal.engine"]
    revision = job["revision"]
    if revision == PREVIOUS_HEAD:
        cli.prepare_database(engine)
    elif revision is not None:
        migrate.upgrade(engine, revision)
        with db.writing(engine) as connection:
            seed.load(connection)
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()

    client = app.test_client()
    sessions, writes = write_all(client, job["writes"], job["sessions"])
    answers = {
        "lang_portal": lang_portal.__file__,
        "revision": current,
        "sessions": sessions,
        "writes": writes,
        "reads": read_all(client, job["reads"], sessions),
    }
    engine.dispose()
    Path(job["output"]).write_text(json.dumps(answers))


if __name__ == "__main__":
    _main()
