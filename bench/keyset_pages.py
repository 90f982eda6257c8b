"""Time one middle page of a learner's sessions by number (OFFSET) and by cursor (?after=).

The query alone, in this process, on a database bench/generate.py made (the 1M-session
single-learner one shows the difference): the first page, the middle page by
``queries.study_sessions.page`` and the same page by ``page_after``, median of 30 each,
and a check that both give the same rows. Usage::

    .venv/bin/python bench/keyset_pages.py /tmp/lang-portal-bench/sessions-1000000-learners-1.db
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import create_engine, select

from lang_portal import queries, schema

PER_PAGE = 20
SAMPLES = 30


def median_ms(run: Callable[[], Any]) -> tuple[float, Any]:
    """The median time of ``run`` in milliseconds, and what it returned last."""
    samples = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        result = run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), result


def main(path: str) -> None:
    engine = create_engine(f"sqlite:///{path}")
    sessions = queries.study_sessions
    with engine.connect() as connection:
        learner_id = connection.execute(
            select(schema.study_sessions.c.learner_id).limit(1)
        ).scalar_one()
        total = sessions.count(connection, learner_id)
        middle = total // 2 // PER_PAGE * PER_PAGE
        before = sessions.page(connection, learner_id, middle - PER_PAGE, PER_PAGE, total)
        after = (before[-1]["start_time"], before[-1]["id"])
        first, _ = median_ms(lambda: sessions.page(connection, learner_id, 0, PER_PAGE, total))
        by_offset, rows = median_ms(
            lambda: sessions.page(connection, learner_id, middle, PER_PAGE, total)
        )
        by_cursor, same = median_ms(
            lambda: sessions.page_after(connection, learner_id, after, PER_PAGE)
        )
    assert [row["id"] for row in rows] == [row["id"] for row in same]
    print(
        f"{total} sessions, a page of {PER_PAGE} at offset {middle}: first page {first:.2f} ms, "
        f"middle by number {by_offset:.2f} ms, the same page by cursor {by_cursor:.2f} ms"
    )


if __name__ == "__main__":
    main(sys.argv[1])
