"""Answer only to the host names in LANG_PORTAL_ALLOWED_HOSTS.

A page on an attacker's domain can make that domain resolve to 127.0.0.1 (DNS
rebinding) and then call lang-portal as its own origin, past CORS. The browser still
sends the attacker's name in ``Host``, so refusing unknown hosts stops it.

Flask's own ``TRUSTED_HOSTS`` is not used: werkzeug cuts each entry at its first
``:``, so ``[::1]`` never matches, and it has no way to say "any host".
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask import Flask, abort, request

from lang_portal.errors import ApiError
from lang_portal.settings import ANY

log = logging.getLogger("lang_portal.hosts")


def host_name(host: str) -> str:
    """``host[:port]`` without the port, lowercase: ``[::1]:5000`` -> ``[::1]``."""
    host = host.lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.partition(":")[0]


def is_allowed(host: str, allowed: Iterable[str]) -> bool:
    """Whether ``host`` (a Host header, port optional) matches an ALLOWED_HOSTS entry.

    An entry is a name, ``.name`` for the name and all its subdomains, or ``*``. An
    empty host (missing, or with characters no host name has) matches only ``*``.
    """
    name = host_name(host)
    for entry in allowed:
        if entry == ANY:
            return True
        if not name:
            continue
        if entry.startswith("."):
            if name == entry[1:] or name.endswith(entry):
                return True
        elif name == entry:
            return True
    return False


def init_app(app: Flask) -> None:
    """Refuse, with a 400 and before any other work, requests for a host not allowed."""
    allowed = app.config["ALLOWED_HOSTS"]
    if ANY in allowed:
        return

    @app.before_request
    def refuse_unknown_hosts() -> None:
        # request.host is "" when the header has characters no host name has.
        if is_allowed(request.host, allowed):
            return
        log.warning(
            "refused a request for a host not in LANG_PORTAL_ALLOWED_HOSTS: %r",
            request.headers.get("Host", "")[:200],
        )
        message = "this service does not answer to that host name (LANG_PORTAL_ALLOWED_HOSTS)"
        if request.blueprint == "pages":
            abort(400, message[0].upper() + message[1:] + ".")
        raise ApiError(400, message)
