"""The ``lang-portal`` command: set up the database, serve, import words."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from lang_portal import (
    activity_fields,
    db,
    importing,
    migrate,
    names,
    passwords,
    queries,
    seed,
    settings,
)

IMPORT_BATCH = 500


def _settings() -> dict[str, Any]:
    """Every setting, checked; a bad one stops the command with click's one-line error."""
    try:
        return settings.load()
    except settings.SettingError as error:
        raise click.ClickException(str(error)) from None


def _engine() -> Engine:
    return db.create_engine_from_settings(_settings())


def _where(database_url: str) -> str:
    path = db.sqlite_path(database_url)
    return str(path.resolve()) if path else database_url.split("@")[-1]


def prepare_database(engine: Engine) -> int:
    """Migrate to the newest schema and load the bundled data; returns words linked.

    Safe to run from several hosts at once: they take turns (see db.setup_lock).
    """
    with db.setup_lock(engine):
        migrate.upgrade(engine)
        with db.writing(engine) as connection:
            return seed.load(connection)


@click.group()
def main() -> None:
    """lang-portal: vocabulary, study sessions and a launchpad for study activities.

    Settings come from LANG_PORTAL_* environment variables (see the README).
    """


@main.command("init-db")
def init_db() -> None:
    """Create or migrate the database and load the bundled vocabulary.

    Safe to run again: it only adds what is missing.
    """
    engine = _engine()
    linked = prepare_database(engine)
    click.echo(f"Database ready at {_where(str(engine.url))} ({linked} words added).")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=2, show_default=True, type=int, help="Worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Migrate the database, then serve the API (see lang_portal.server)."""
    from lang_portal.server import run

    engine = _engine()
    prepare_database(engine)
    engine.dispose()
    click.echo(f"Database: {_where(str(engine.url))}")
    click.echo(f"Serving lang-portal on http://{host}:{port}/ with {workers} workers")
    run(host, port, workers)


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", "group_name", required=True, help="Group to add the words to.")
def import_words(file: Path, group_name: str) -> None:
    """Import words from FILE into a group, all or nothing.

    FILE is JSON in the seed format (an array of {kanji, romaji, english, parts})
    or CSV with kanji, romaji and english columns. Bad rows are listed with their
    line numbers and nothing is written. The group name is 1 to 100 characters.
    """
    try:
        group_name = names.checked(group_name)
    except names.BadName as error:
        raise click.ClickException(f"--group: {error}; nothing was imported") from None
    try:
        words = importing.read_words(file)
    except importing.ImportFailed as failure:
        for problem in failure.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{file}: {failure}; nothing was imported") from None
    linked = 0
    with db.writing(_prepared_engine()) as connection:
        group_id = queries.vocabulary.ensure_group(connection, group_name)
        batches: list[list[dict[str, Any]]] = [
            words[i : i + IMPORT_BATCH] for i in range(0, len(words), IMPORT_BATCH)
        ]
        with click.progressbar(length=len(words), label="Importing", file=sys.stderr) as bar:
            for batch in batches:
                linked += queries.vocabulary.add_words(connection, group_id, batch)
                bar.update(len(batch))
    click.echo(f"Imported {len(words)} words into {group_name!r} ({linked} new to the group).")


@main.group("learners")
def learners() -> None:
    """Manage learners: add one, list them, give one a new token.

    A token is printed once, when it is made, and stored only as a digest: keep it,
    or make a new one with `lang-portal learners token NAME`.
    """


def _prepared_engine() -> Engine:
    """The database engine, migrated to the newest schema first."""
    engine = _engine()
    with db.setup_lock(engine):
        migrate.upgrade(engine)
    return engine


@learners.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(queries.learners.ROLES),
    default=queries.learners.LEARNER,
    show_default=True,
    help="A teacher also manages learners and reads their progress.",
)
def add_learner(name: str, role: str) -> None:
    """Add a learner called NAME and print their first token, this once.

    NAME is 1 to 100 characters, unique regardless of case.
    """
    try:
        name = names.checked(name)
    except names.BadName as error:
        raise click.ClickException(f"NAME: {error}; no learner was added") from None
    with db.writing(_prepared_engine()) as connection:
        try:
            created = queries.learners.create(connection, name, role)
        except queries.problems.NameTaken as error:
            raise click.ClickException(f"{error}; no learner was added") from None
        token = queries.learners.issue_token(connection, created["id"])
    click.echo(f"Added {role} {name!r} (id {created['id']}). Their token, shown only now:")
    click.echo(token)


@learners.command("list")
def list_learners() -> None:
    """List every learner: id, role, name, sessions and last activity (UTC)."""
    engine = _prepared_engine()
    with db.reading(engine) as connection:
        total = queries.learners.count(connection)
        everyone = queries.learners.page(connection, 0, max(total, 1))
    click.echo(f"{'id':>6}  {'role':<8} {'sessions':>8}  {'last active':<17} name")
    for learner in everyone:
        active = learner["last_active_at"]
        shown = active.strftime("%Y-%m-%d %H:%M") if active else "never"
        click.echo(
            f"{learner['id']:>6}  {learner['role']:<8} {learner['total_sessions']:>8}  "
            f"{shown:<17} {learner['name']}"
        )


@learners.command("token")
@click.argument("name")
def rotate_token(name: str) -> None:
    """Give the learner called NAME a new token and print it, this once.

    Every earlier token of theirs stops working at once.
    """
    with db.writing(_prepared_engine()) as connection:
        learner = queries.learners.by_name(connection, name.strip())
        if learner is None:
            raise click.ClickException(f"there is no learner named {name!r}")
        token = queries.learners.issue_token(connection, learner["id"])
    click.echo(f"New token for {learner['name']!r} (id {learner['id']}); earlier ones are revoked:")
    click.echo(token)


@learners.command("password")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of prompting.",
)
@click.option(
    "--temporary",
    is_flag=True,
    help="The learner must choose a new password when they next sign in.",
)
def set_password(name: str, password_stdin: bool, temporary: bool) -> None:
    """Set the portal password of the learner called NAME (the accounts mode's sign-in).

    Prompts for it twice, without echoing it, or reads it from standard input with
    --password-stdin. At least 8 characters. Only its argon2id hash is stored, and
    every sign-in of that learner ends.
    """
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            "Password", hide_input=True, confirmation_prompt="Repeat the password"
        )
    try:
        password = passwords.checked(password)
    except passwords.BadPassword as error:
        raise click.ClickException(f"{error}; the password was not changed") from None
    password_hash = passwords.hashed(password)
    with db.writing(_prepared_engine()) as connection:
        learner = queries.learners.by_name(connection, name.strip())
        if learner is None:
            raise click.ClickException(f"there is no learner named {name!r}")
        queries.sign_ins.set_password(connection, learner["id"], password_hash, temporary)
    kind = "A temporary password" if temporary else "The password"
    click.echo(f"{kind} is set for {learner['name']!r} (id {learner['id']}); they are signed out.")


@main.group("activities")
def activities() -> None:
    """Manage study activities: register a school's own outside activity, list them all.

    An outside activity is a web app at an absolute http or https address; the
    launchpad opens its launch URL with group_id and session_id added. The same rules
    apply as to POST /api/study-activities.
    """


# Where each field of a new activity comes from on the command line, to name it in errors.
_ACTIVITY_ARGUMENTS = {
    "title": "TITLE",
    "description": "--description",
    "launch_url": "--launch-url",
    "preview_url": "--preview-url",
}


@activities.command("add")
@click.argument("title")
@click.option("--launch-url", required=True, help="Where the launchpad opens it: an http(s) URL.")
@click.option("--description", default="", help="At most 1000 characters.")
@click.option("--preview-url", default="", help="An image for the launchpad: an http(s) URL.")
def add_activity(title: str, launch_url: str, description: str, preview_url: str) -> None:
    """Register an outside study activity called TITLE and print its id.

    TITLE is 1 to 100 characters, unique (case included). Each URL is absolute, http or
    https, with a host and no user name or password, at most 500 characters.
    """
    try:
        activity = activity_fields.checked(title, description, launch_url, preview_url)
    except activity_fields.BadField as error:
        argument = _ACTIVITY_ARGUMENTS[error.field]
        raise click.ClickException(f"{argument}: {error}; no activity was added") from None
    with db.writing(_prepared_engine()) as connection:
        try:
            study_activity_id = queries.study_activities.add(
                connection,
                activity.title,
                activity.description,
                activity.launch_url,
                activity.preview_url,
            )
        except queries.problems.TitleTaken as error:
            raise click.ClickException(f"{error}; no activity was added") from None
    click.echo(study_activity_id)


@activities.command("list")
def list_activities() -> None:
    """List every study activity: id, title and launch URL.

    The bundled activities are served by lang-portal itself: their launch URLs start
    with LANG_PORTAL_PUBLIC_URL when it is set, else they are paths on the portal.
    """
    public_url = _settings()["PUBLIC_URL"]
    with db.reading(_prepared_engine()) as connection:
        everything = queries.study_activities.all_activities(connection, public_url)
    width = max([len("title"), *(len(activity["title"]) for activity in everything)])
    click.echo(f"{'id':>6}  {'title':<{width}}  launch_url")
    for activity in everything:
        click.echo(f"{activity['id']:>6}  {activity['title']:<{width}}  {activity['launch_url']}")


@main.group("export")
def export() -> None:
    """Export a word group for another tool: an Anki deck."""


# A group with more words than this shows a progress bar while its notes are written.
# genanki writes tens of thousands of notes a second, so a smaller group (every bundled
# one has about 40 words) is done in a blink, where a bar would only flicker.
PROGRESS_BAR_ABOVE = 5000


@export.command("anki")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--group", "group_name", required=True, help="The group to export, by its name.")
def export_anki(file: Path, group_name: str) -> None:
    """Write the words of a group to FILE as an Anki deck (.apkg) named after the group.

    One note per word: the kanji on the front, the romaji and the English on the back.
    Its ids are the same on every export, so importing a newer export into Anki updates
    the notes it made before instead of adding copies. FILE is replaced if it exists,
    and left alone if the export fails.
    """
    from lang_portal import anki

    with db.reading(_prepared_engine()) as connection:
        group = queries.groups.by_name(connection, group_name.strip())
        if group is None:
            raise click.ClickException(
                f"there is no group named {group_name!r}; nothing was written"
            )
        words = queries.words.group_words_with_parts(connection, group["id"])
    with click.progressbar(
        length=len(words),
        label="Writing notes",
        file=sys.stderr,
        hidden=len(words) <= PROGRESS_BAR_ABOVE,
        update_min_steps=max(1, len(words) // 100),
    ) as bar:
        deck = anki.build_deck(
            group["id"], group["group_name"], words, on_note_written=lambda: bar.update(1)
        )
        try:
            anki.write_package(deck, file)
        except OSError as error:
            raise click.ClickException(
                f"{file}: {error.strerror or error}; nothing was written"
            ) from None
    click.echo(f"Wrote {len(words)} notes of {group['group_name']!r} to {file.resolve()}.")


@main.group("xapi")
def xapi_statements() -> None:
    """Send reviews to a Learning Record Store as xAPI statements.

    Needs LANG_PORTAL_XAPI_ENDPOINT (and _USERNAME, _PASSWORD). Each review queues its
    statement; `lang-portal serve` sends them in the background (docs/xapi.md).
    """


def _lrs_sender() -> Any:
    """A sender to the LRS the settings name, on the migrated database."""
    from lang_portal import xapi, xapi_sender

    config = _settings()
    lrs = xapi_sender.Lrs.from_config(config)
    if lrs is None:
        raise click.ClickException("LANG_PORTAL_XAPI_ENDPOINT is not set: there is no LRS")
    return xapi_sender.Sender(_prepared_engine(), lrs, xapi.home_page(config))


@xapi_statements.command("push")
def push_statements() -> None:
    """Send every statement pending now, then say how many were sent, set aside and left.

    Statements waiting out a backoff are sent too. Exits with 1 if the LRS cannot be
    reached and statements are left; they stay queued, and nothing is lost.
    """
    from lang_portal import xapi_sender

    sender = _lrs_sender()
    with db.reading(sender.engine) as connection:
        pending = queries.xapi_outbox.totals(connection, datetime.now(UTC)).pending
    with click.progressbar(
        length=pending,
        label="Sending statements",
        file=sys.stderr,
        hidden=pending <= xapi_sender.BATCH_SIZE,  # one batch is done in a blink
    ) as bar:
        delivery = sender.push(bar.update)
    sender.close()
    with db.reading(sender.engine) as connection:
        left = queries.xapi_outbox.totals(connection, datetime.now(UTC)).pending
    click.echo(f"Sent {delivery.sent}, set aside {delivery.set_aside}, still pending {left}.")
    if delivery.set_aside:
        click.echo("`lang-portal xapi status` lists the set-aside statements and why.")
    if delivery.unreachable and left:
        raise click.ClickException(f"the LRS could not be reached: {delivery.unreachable}")


@xapi_statements.command("status")
@click.option("--limit", default=20, show_default=True, help="Set-aside statements listed.")
def statements_status(limit: int) -> None:
    """Count the statements pending and set aside, and list the latest set aside with the
    LRS's reason."""
    with db.reading(_prepared_engine()) as connection:
        totals = queries.xapi_outbox.totals(connection, datetime.now(UTC))
        rejected = queries.xapi_outbox.set_aside_rows(connection, limit)
    click.echo(f"Pending {totals.pending} ({totals.due} due now), set aside {totals.set_aside}.")
    for row in rejected:
        when = row.set_aside_at.strftime("%Y-%m-%d %H:%M")
        click.echo(f"review {row.review_id}, set aside {when} UTC: {row.last_error}")


@xapi_statements.command("retry")
def retry_statements() -> None:
    """Queue the set-aside statements again, once what the LRS rejected is fixed."""
    with db.writing(_lrs_sender().engine) as connection:
        queued = queries.xapi_outbox.retry_set_aside(connection, datetime.now(UTC))
    click.echo(f"Queued {queued} set-aside statements again.")


@xapi_statements.command("queue")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only reviews answered on this UTC day or later.",
)
def queue_statements(since: datetime | None) -> None:
    """Queue the statements of every review (answered --since a day) to be sent.

    For an LRS set up after reviews were recorded, or one that lost its data. Sending
    a statement again is harmless: it keeps its id, and an LRS stores it once.
    """
    start = since.replace(tzinfo=UTC) if since else None
    with db.writing(_lrs_sender().engine) as connection:
        queued = queries.xapi_outbox.queue_reviews(connection, datetime.now(UTC), start)
    click.echo(f"Queued {queued} statements.")
