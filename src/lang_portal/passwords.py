"""Portal passwords: what makes one acceptable, and its argon2id hash (argon2-cffi).

Only the hash is stored. :func:`verify` takes as long for a learner without a
password (or with no such name) as for a wrong one: it checks against a dummy hash,
so the time of an answer does not tell which names exist.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
# Longer passwords are refused rather than hashed: nobody types more, and a megabyte
# of "password" would be hashed before the body limit could matter.
MAX_LENGTH = 200

# argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes).
_HASHER = PasswordHasher()


class BadPassword(ValueError):
    """The password cannot be used; the message says why, in one line."""


def checked(password: str) -> str:
    """The password as given. Raises BadPassword when it is too short or too long."""
    if len(password) < MIN_LENGTH:
        raise BadPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise BadPassword(f"a password has at most {MAX_LENGTH} characters")
    return password


def hashed(password: str) -> str:
    """The argon2id hash of a password, salted, in PHC string form."""
    return _HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("no password is set for this learner")


def verify(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash``; None (no password set) never does,
    after the same work as a real check."""
    try:
        return _HASHER.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(stored_hash)
