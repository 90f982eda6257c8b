"""The floor: a bare Flask app that does what POST /api/study-sessions does, minus the database.

It parses the same JSON body, checks both ids are JSON integers and answers 201 with
a body of the same shape and a Location header. Nothing else: no database, no
validation models, no logging, no CORS. Its throughput under the same server and
options as lang-portal (lang_portal.server.serve) is the most the framework allows on
this machine, and bench/run.py reports lang-portal's write throughput as a share of it.

    python bench/floor_app.py --port 5099 --workers 2
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime

import click
from flask import Flask, Response, request

from lang_portal.server import serve


def create_floor_app() -> Flask:
    """A Flask app with the one route, answering 201 or 400."""
    app = Flask(__name__)
    ids = itertools.count(1)

    @app.post("/api/study-sessions")
    def create_study_session() -> Response:
        body = json.loads(request.get_data())
        group_id, study_activity_id = body.get("group_id"), body.get("study_activity_id")
        if type(group_id) is not int or type(study_activity_id) is not int:
            return Response('{"error": "bad request"}', 400, mimetype="application/json")
        study_session_id = next(ids)
        payload = {
            "id": study_session_id,
            "session_id": study_session_id,
            "group_id": group_id,
            "study_activity_id": study_activity_id,
            "created_at": datetime.now(UTC).isoformat(),
        }
        response = Response(json.dumps(payload), 201, mimetype="application/json")
        response.headers["Location"] = f"/api/study-sessions/{study_session_id}"
        return response

    return app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5099, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
def main(host: str, port: int, workers: int) -> None:
    """Serve the floor app with lang_portal.server.serve, as ``lang-portal serve`` does."""
    serve(create_floor_app, host, port, workers)


if __name__ == "__main__":
    main()
