"""The ``lang-portal`` command: set up the database, serve, import words."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from lang_portal import db, importing, migrate, names, queries, seed, settings

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
