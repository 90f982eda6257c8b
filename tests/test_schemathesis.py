"""Schema-driven fuzzing: schemathesis holds the app to its own OpenAPI document.

Every operation in /api/openapi.json (every alias included) gets examples from
the document, boundary cases and random valid and invalid requests, sent to the
WSGI app on a seeded SQLite database. Each response must pass the five checks
below; none is ever loosened. When one fails, the code or the document is wrong,
and that is what gets fixed.

Both modes of LANG_PORTAL_AUTH are fuzzed, each against the document its app serves:
``open`` (no identity needed), and ``accounts``, where every request carries the
operator's token (a teacher) so that the fuzzing reaches past the 401.

The run is deterministic (derandomized Hypothesis, no example database) and
bounded by MAX_EXAMPLES per operation so that it fits the CI budget.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from lang_portal.openapi import build_document
from tests.conftest import make_app

MAX_EXAMPLES = 25
# The accounts mode shares every view with the open one; it adds the identity in front.
ACCOUNTS_MAX_EXAMPLES = 10
OPERATOR_TOKEN = "schemathesis-operator-token"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _app_on_a_copy(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, **settings: str
) -> Iterator[Flask]:
    path = tmp_path_factory.mktemp("schemathesis") / "lang-portal.db"
    shutil.copyfile(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", **settings)
    yield app
    app.extensions["lang_portal.engine"].dispose()


@pytest.fixture(scope="module")
def fuzzed_app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One app in the open mode on a seeded SQLite copy, shared by every operation's run."""
    yield from _app_on_a_copy(sqlite_template, tmp_path_factory)


@pytest.fixture(scope="module")
def fuzzed_accounts_app(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    """One app in the accounts mode, with an operator token, on its own seeded copy."""
    yield from _app_on_a_copy(
        sqlite_template, tmp_path_factory, AUTH="accounts", API_TOKEN=OPERATOR_TOKEN
    )


# The document as the app serves it (test_openapi checks that the two are the same);
# loaded at import time so that each operation is a test of its own.
# schemathesis' default settings, never the repository's schemathesis.toml (which is for the
# run against a served instance): the checks here are exactly as schemathesis ships them.
def _schema(auth_mode: str, max_examples: int) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_dict(
        build_document(auth_mode=auth_mode), config=SchemathesisConfig()
    )
    loaded.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        max_examples=max_examples,
        deterministic=True,
    )
    return loaded


schema = _schema("open", MAX_EXAMPLES)
accounts_schema = _schema("accounts", ACCOUNTS_MAX_EXAMPLES)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_conforms_to_the_document(
    case: schemathesis.Case, fuzzed_app: Flask
) -> None:
    case.call_and_validate(app=fuzzed_app, checks=CHECKS)


@pytest.mark.slow
@accounts_schema.parametrize()
@settings(
    max_examples=ACCOUNTS_MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_conforms_to_the_document_in_the_accounts_mode(
    case: schemathesis.Case, fuzzed_accounts_app: Flask
) -> None:
    case.call_and_validate(
        app=fuzzed_accounts_app,
        checks=CHECKS,
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )
