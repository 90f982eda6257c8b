"""What a query can find wrong with its arguments, in the terms of the domain.

The query functions raise these; they carry the ids they were given and know nothing
of HTTP. The API turns them into problem responses in one place
(:func:`lang_portal.errors.init_app`), deciding from the request whether the id came
from the URL (a 404) or from the body (a 400 pointing at the field).
"""

from __future__ import annotations

from typing import Any, ClassVar


class NotFound(Exception):
    """A row named by its id does not exist.

    Each kind is declared with ``what``, the kind of row in words ("study session"),
    and ``id_name``, the name the id goes by in the query's arguments, which is also
    its name in requests.
    """

    what: ClassVar[str]
    id_name: ClassVar[str]

    def __init_subclass__(cls, *, what: str, id_name: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.what, cls.id_name = what, id_name

    def __init__(self, id_: int) -> None:
        super().__init__(f"{self.what} {id_} does not exist")
        self.id = id_


class UnknownGroup(NotFound, what="group", id_name="group_id"):
    """No word group has this id."""


class UnknownStudyActivity(NotFound, what="study activity", id_name="study_activity_id"):
    """No study activity has this id."""


class UnknownStudySession(NotFound, what="study session", id_name="study_session_id"):
    """No study session has this id."""


class UnknownWord(NotFound, what="word", id_name="word_id"):
    """No word has this id; ``index`` is the position of the review that named it."""

    def __init__(self, word_id: int, index: int) -> None:
        super().__init__(word_id)
        self.index = index


class UnknownLearner(NotFound, what="learner", id_name="learner_id"):
    """No learner has this id."""


class NameTaken(Exception):
    """A learner already has this name (names are unique regardless of case)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a learner named {name!r} already exists")
        self.name = name


class TitleTaken(Exception):
    """A study activity already has this title (compared exactly, case included, as the
    unique index compares it)."""

    def __init__(self, title: str) -> None:
        super().__init__(f"a study activity titled {title!r} already exists")
        self.title = title


class ReviewTimeOutOfRange(Exception):
    """A review's ``reviewed_at`` is before its session started, or too far ahead of now.

    ``index`` is the review's position in its batch.
    """

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index
