"""The lang-portal benchmark: real `lang-portal serve` servers driven over loopback by wrk.

    python bench/run.py                      # everything, 20-30 minutes (see bench/README.md)
    python bench/run.py --large 0            # skip the 1M-session databases
    python bench/run.py --baseline-ref 38acdf5 --large 0 --rss-requests 0   # writes: then vs now
    python bench/run.py --json results.json  # also write every number as JSON

It measures, in one run and against the targets of issues 7 and 15:

1. POST /api/study-sessions throughput as a share of the floor: bench/floor_app.py, a
   bare Flask app that parses the same JSON and answers 201 without a database, under
   the same server and options (lang_portal.server.serve, 2 workers) and the
   same load (wrk, 4 connections). Rounds alternate ours and the floor; the median of
   the per-round ratios is reported. Each round also measures how many SQLite commits
   per second (WAL, synchronous=FULL, one thread) the disk takes right then: with one
   fsync per created session, that is the ceiling for ours. With ``--baseline-ref REF``
   the code of that commit (``git archive REF src``) is served as well, on its own
   fresh database, and each round runs the floor, the baseline and ours in a rotating
   order: the per-round ratios to the floor of both, and the median of ours/baseline.
2. p50/p99 latency of every read route of the API (taken from the route registry, so
   new routes are measured without editing this file), one request at a time, as one
   learner: on a database with ``--small`` sessions and one with ``--large`` sessions,
   both spread over learners with ``--sessions-per-learner`` sessions each, so that one
   learner's history is equally deep in both; both are served at once and measured
   alternately, and the growth of p50 from one to the other is reported. The learner
   read is the one with the most sessions (besides the default learner), read in the
   open mode by the default learner, a teacher, with ``?learner_id=`` on every
   learner-scoped route; session ids in URLs are that learner's.
3. The session lists once more on two single-learner databases of ``--small`` and
   ``--large`` sessions (``--depth``): how one learner's history depth shows.
4. p50 of POST /api/study-sessions/<id>/review with 50 reviews.
5. The RSS of each worker before and after ``--rss-requests`` mixed requests.

Databases are made with bench/generate.py under ``--workdir`` and reused by later runs
(``--fresh`` makes them again). The servers run with LANG_PORTAL_RATE_LIMIT=off, or the
write rate limit (600/minute by default) would answer most of the load with 429.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import requests

BENCH = Path(__file__).resolve().parent
LANG_PORTAL = Path(sys.executable).parent / "lang-portal"
WORKERS = 2
WRITE_CONNECTIONS = 4
SERVER_SETTINGS = {"RATE_LIMIT": "off"}

# Targets from issue 7, and from issue 15 (learners) against the code before it.
TARGET_POST_RATIO = 0.6
TARGET_POST_AGAINST_BASELINE = 0.9
TARGET_READ_P50_MS = 5.0
TARGET_READ_P99_MS = 25.0
TARGET_GROWTH = 1.5
TARGET_BATCH_P50_MS = 10.0
TARGET_RSS_GROWTH_MB = 5.0

# Ranges for the ids in URLs, by the name of the URL argument; the learner's session ids
# and "learner_id" are filled in per database.
ID_RANGES = {"group_id": (1, 7), "word_id": (1, 263), "study_activity_id": (1, 3)}
URL_ARGUMENTS = ("group_id", "word_id", "study_activity_id", "study_session_id", "learner_id")
# Read routes measured with query strings besides their defaults: a sort key other than
# the default, page 1,000 (deep in a single learner's 1M sessions, past the end of one
# learner's ~1,000) and page 100 (the last of one learner's ~1,000 sessions).
EXTRA_READS = (
    "/api/words?sort_by=correct_count&order=desc",
    "/api/groups/{group_id}/study-sessions?sort_by=end_time&order=desc",
    "/api/study-sessions?page=1000",
    "/api/study-sessions?page=100",
)

LUA_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "seconds": %.6f, "p50_us": %d, '
    .. '"p90_us": %d, "p99_us": %d, "max_us": %d, "non2xx": %d, "socket_errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
"""

LUA_RANDOM_PATH = """
local pattern = %(pattern)s
local ranges = %(ranges)s
local lists = %(lists)s
math.randomseed(%(seed)d)
request = function()
  local path = string.gsub(pattern, "{([%%w_]+)}", function(name)
    local list = lists[name]
    if list then
      return tostring(list[math.random(1, #list)])
    end
    local range = ranges[name]
    return tostring(math.random(range[1], range[2]))
  end)
  return wrk.format("GET", path)
end
"""

LUA_NEW_SESSION = """
math.randomseed(%(seed)d)
local headers = {["Content-Type"] = "application/json"}
request = function()
  local body = string.format('{"group_id": %%d, "study_activity_id": %%d}',
    math.random(1, 7), math.random(1, 3))
  return wrk.format("POST", "/api/study-sessions", headers, body)
end
"""

LUA_REVIEW_BATCH = """
math.randomseed(%(seed)d)
local headers = {["Content-Type"] = "application/json"}
request = function()
  local items = {}
  for i = 1, %(size)d do
    items[i] = string.format('{"word_id": %%d, "is_correct": %%s}', math.random(1, 263),
      math.random() < 0.7 and "true" or "false")
  end
  local body = '{"reviews": [' .. table.concat(items, ", ") .. ']}'
  local path = string.format("/api/study-sessions/%%d/review", math.random(1, %(sessions)d))
  return wrk.format("POST", path, headers, body)
end
"""

# The mix of the memory run: mostly writes (they allocate the most), and the busiest reads.
LUA_MIX = """
math.randomseed(%(seed)d)
local json = {["Content-Type"] = "application/json"}
local n = 0
request = function()
  n = n + 1
  local kind = n %% 10
  if kind < 4 then
    return wrk.format("POST", "/api/study-sessions", json,
      string.format('{"group_id": %%d, "study_activity_id": %%d}', math.random(1, 7),
        math.random(1, 3)))
  elseif kind < 6 then
    local body = string.format('{"reviews": [{"word_id": %%d, "correct": true}, '
      .. '{"word_id": %%d, "correct": false}]}', math.random(1, 263), math.random(1, 263))
    return wrk.format("POST", string.format("/api/study-sessions/%%d/review",
      math.random(1, %(sessions)d)), json, body)
  elseif kind == 6 then
    return wrk.format("GET", "/api/study-sessions")
  elseif kind == 7 then
    return wrk.format("GET", "/api/dashboard/stats")
  elseif kind == 8 then
    return wrk.format("GET", string.format("/api/study-sessions/%%d", math.random(1, %(sessions)d)))
  end
  return wrk.format("GET", string.format("/api/groups/%%d/words", math.random(1, 7)))
end
"""


def lua_string(value: str) -> str:
    """A Lua string literal."""
    return json.dumps(value)


def lua_table(ranges: dict[str, tuple[int, int]]) -> str:
    """A Lua table literal {name = {low, high}, ...}."""
    return "{" + ", ".join(f"{name} = {{{lo}, {hi}}}" for name, (lo, hi) in ranges.items()) + "}"


def lua_lists(lists: dict[str, list[int]]) -> str:
    """A Lua table literal {name = {id, id, ...}, ...}."""
    return (
        "{"
        + ", ".join(f"{name} = {{{', '.join(map(str, ids))}}}" for name, ids in lists.items())
        + "}"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """A server (lang-portal or the floor) in its own process group."""

    name: str
    command: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    ready_path: str = "/api/groups"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> Server:
        """Start and wait until ``ready_path`` answers (any status)."""
        command = [*self.command, "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(WORKERS)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise click.ClickException(f"{self.name} exited early; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                requests.get(self.url + self.ready_path, timeout=1)
                if len(self.worker_pids()) == WORKERS:
                    return self
            time.sleep(0.2)
        self.stop()
        raise click.ClickException(f"{self.name} did not answer; see {self.log_path}")

    def connections_per_worker(self) -> dict[int, int] | None:
        """Established client connections on each worker right now (None without ``ss``)."""
        if shutil.which("ss") is None:
            return None
        listing = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{self.port} )"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        counts = dict.fromkeys(self.worker_pids(), 0)
        for pid in re.findall(r"pid=(\d+)", listing):
            if int(pid) in counts:
                counts[int(pid)] += 1
        return counts

    def worker_pids(self) -> list[int]:
        """The worker processes: the children of the master."""
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return sorted(int(child) for child in children.read_text().split())

    def stop(self) -> None:
        """SIGTERM the process group; SIGKILL it after 15 seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def lang_portal_server(
    name: str, database: Path, workdir: Path, source: Path | None = None
) -> Server:
    """``lang-portal serve`` on a SQLite file with the benchmark's settings.

    ``source``: a directory holding another version's ``lang_portal`` package (see
    :func:`baseline_source`), served instead of the installed one, with the same
    interpreter, dependencies and options.
    """
    env = {f"LANG_PORTAL_{key}": value for key, value in SERVER_SETTINGS.items()}
    env["LANG_PORTAL_DATABASE_URL"] = f"sqlite:///{database}"
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, (str(source), os.environ.get("PYTHONPATH")))
        )
    return Server(name, [str(LANG_PORTAL), "serve"], workdir / f"{name}.log", env)


def init_database(server: Server) -> None:
    """``lang-portal init-db`` with the server's environment: its own code, its own file."""
    command = [str(LANG_PORTAL), "init-db"]
    with server.log_path.open("ab") as log:
        subprocess.run(
            command,
            env={**os.environ, **server.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )


def baseline_source(ref: str, workdir: Path) -> tuple[str, Path]:
    """The commit ``ref`` names and a fresh copy of its ``src`` (``git archive``).

    Returns (commit, the directory to put on PYTHONPATH).
    """
    root = BENCH.parent
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = workdir / f"baseline-{commit[:12]}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    archive = subprocess.Popen(
        ["git", "-C", str(root), "archive", commit, "src"], stdout=subprocess.PIPE
    )
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    assert archive.stdout is not None
    archive.stdout.close()
    if archive.wait():
        raise click.ClickException(f"git archive {commit} src failed")
    source = target / "src"
    if not (source / "lang_portal" / "__init__.py").exists():
        raise click.ClickException(f"{ref} has no src/lang_portal")
    return commit, source


def floor_server(workdir: Path) -> Server:
    """bench/floor_app.py under the same server and options."""
    command = [sys.executable, str(BENCH / "floor_app.py")]
    return Server("floor", command, workdir / "floor.log", ready_path="/")


class Wrk:
    """Runs wrk with a Lua script and returns its RESULT line as a dict."""

    def __init__(self, workdir: Path) -> None:
        self.scripts = workdir / "lua"
        self.scripts.mkdir(parents=True, exist_ok=True)

    def run(
        self,
        url: str,
        script: str,
        seconds: float,
        connections: int = 1,
        threads: int = 1,
    ) -> dict[str, Any]:
        digest = hashlib.sha256(script.encode()).hexdigest()[:16]
        path = self.scripts / f"{digest}.lua"
        path.write_text(script + LUA_REPORT)
        command = [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
        ]
        command += ["--timeout", "10s", "-s", str(path), url]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        if finished.returncode:
            raise click.ClickException(f"wrk failed: {finished.stderr or finished.stdout}")
        output = finished.stdout
        for line in output.splitlines():
            if line.startswith("RESULT "):
                result = json.loads(line.removeprefix("RESULT "))
                result["rps"] = result["requests"] / result["seconds"]
                return result
        raise click.ClickException(f"wrk printed no result:\n{output}")


@dataclass(frozen=True)
class Read:
    """A read to measure: its label, its URL pattern, and whether it is learner-scoped."""

    label: str
    pattern: str
    scoped: bool

    def url(self, learner_id: int) -> str:
        """The pattern, reading ``learner_id``'s history when the route is learner-scoped."""
        if not self.scoped:
            return self.pattern
        return f"{self.pattern}{'&' if '?' in self.pattern else '?'}learner_id={learner_id}"

    @property
    def session_list(self) -> bool:
        """A list of study sessions: what a learner's history depth could slow down."""
        return self.label.partition("?")[0].endswith(("/study-sessions", "/sessions"))


def read_routes() -> list[Read]:
    """Every GET route of the API, plus EXTRA_READS (learner-scoped as their route is)."""
    import lang_portal.api  # noqa: F401  (registers the routes)
    from lang_portal.api import routing

    reads = []
    for route in routing.routes.declared:
        if route.method != "GET":
            continue
        path = route.paths()[0]
        for argument in URL_ARGUMENTS:
            path = path.replace(f"<id:{argument}>", "{" + argument + "}")
        reads.append(Read(path, path, getattr(route, "scoped", False)))
    scoped = {read.pattern: read.scoped for read in reads}
    for extra in EXTRA_READS:
        reads.append(Read(extra, extra, scoped.get(extra.partition("?")[0], False)))
    return reads


@dataclass
class Reader:
    """A server read as one learner: whose history, and which session ids are theirs."""

    server: Server
    learner_id: int
    session_ids: list[int]
    sessions: int
    learners: int

    def lua_arguments(self) -> tuple[str, str]:
        """The Lua tables of id ranges and id lists for this learner's URLs."""
        ranges = {**ID_RANGES, "learner_id": (self.learner_id, self.learner_id)}
        lists = {}
        ids = self.session_ids or [1]
        if ids == list(range(ids[0], ids[0] + len(ids))):
            ranges["study_session_id"] = (ids[0], ids[-1])
        else:
            lists["study_session_id"] = ids
        return lua_table(ranges), lua_lists(lists)


def busiest_learner(database: Path) -> tuple[int, list[int]]:
    """The learner with the most sessions (not the default learner unless alone) and
    the ids of their sessions."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        row = connection.execute(
            "SELECT learner_id FROM study_sessions GROUP BY learner_id"
            " ORDER BY learner_id = 1, count(*) DESC, learner_id LIMIT 1"
        ).fetchone()
        learner_id = row[0] if row else 1
        ids = [
            session_id
            for (session_id,) in connection.execute(
                "SELECT id FROM study_sessions WHERE learner_id = ? ORDER BY id", (learner_id,)
            )
        ]
    finally:
        connection.close()
    return learner_id, ids


def rss_kib(pid: int) -> int:
    """A process's resident set size in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy it was."""
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


def learners_for(sessions: int, per_learner: int) -> int:
    """How many learners ``sessions`` are spread over (``per_learner`` 0: one)."""
    return max(1, round(sessions / per_learner)) if per_learner else 1


def database_path(workdir: Path, sessions: int, learners: int) -> Path:
    return workdir / f"sessions-{sessions}-learners-{learners}.db"


def ensure_database(
    path: Path, sessions: int, reviews: int, seed: int, learners: int, fresh: bool
) -> None:
    """Generate the database unless a matching one is already there."""
    marker = path.with_suffix(".json")
    wanted = {
        "sessions": sessions,
        "reviews_per_session": reviews,
        "seed": seed,
        "learners": learners,
    }
    reusable = not fresh and path.exists() and marker.exists()
    if reusable and json.loads(marker.read_text()) == wanted:
        click.echo(f"Reusing {path} ({sessions} sessions, {learners} learners)")
        return
    for stale in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    command = [sys.executable, str(BENCH / "generate.py"), "--database-url", f"sqlite:///{path}"]
    command += ["--sessions", str(sessions), "--reviews-per-session", str(reviews)]
    command += ["--seed", str(seed), "--learners", str(learners)]
    subprocess.run(command, check=True)
    marker.write_text(json.dumps(wanted))


def commit_rate(directory: Path, seconds: float = 1.0) -> float:
    """Commits per second one thread gets from SQLite here: WAL, synchronous=FULL.

    Each commit inserts one row, as lang-portal's do; every commit waits for an fsync.
    """
    path = directory / "commit-probe.db"
    for stale in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, at REAL)")
        commits, began = 0, time.perf_counter()
        while time.perf_counter() - began < seconds:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO probe (at) VALUES (?)", (time.time(),))
            connection.execute("COMMIT")
            commits += 1
        return commits / (time.perf_counter() - began)
    finally:
        connection.close()


def balanced_run(
    wrk: Wrk, server: Server, script: str, seconds: float, tries: int = 4
) -> dict[str, Any]:
    """A write run of ``WRITE_CONNECTIONS`` connections that reached every worker.

    The workers accept from one shared socket, so now and then all of wrk's connections
    land on one worker, and one process then serves the whole load: about two thirds of
    the rate with both busy, whoever the server is. Such a run is noted and run again,
    up to ``tries`` times in all; ``connections`` is how the last run was spread.
    """
    discarded = []
    for _ in range(tries):
        spread: dict[int, int] = {}
        timer = threading.Timer(
            min(1.0, seconds / 2),
            lambda spread=spread: spread.update(server.connections_per_worker() or {}),
        )
        timer.start()
        result = wrk.run(server.url, script, seconds, WRITE_CONNECTIONS, 2)
        timer.join()
        result["connections"] = sorted(spread.values())
        if not spread or min(spread.values()) > 0:
            break
        discarded.append(round(result["rps"]))
    result["discarded_rps"] = discarded
    return result


def measure_writes(
    wrk: Wrk, contenders: dict[str, Server], rounds: int, seconds: float, workdir: Path
) -> dict[str, Any]:
    """POST /api/study-sessions throughput of each contender, in turn, ``rounds`` times.

    ``contenders`` maps names to servers; one of them is "floor". The order rotates
    each round, so each goes first in turn. Reported per round: requests per second of
    each, each one's ratio to the floor in that round, and with a "baseline" also
    "ours" / "baseline" (the ratio of their ratios to the floor, which is the same
    number). Medians over the rounds.
    """
    script = LUA_NEW_SESSION % {"seed": 7}
    names = list(contenders)
    rows = []
    for number in range(rounds):
        shift = number % len(names)
        order = names[shift:] + names[:shift]
        result: dict[str, Any] = {"order": order}
        for name in order:
            result[name] = balanced_run(wrk, contenders[name], script, seconds)
        floor_rps = result["floor"]["rps"]
        result["ratios"] = {n: result[n]["rps"] / floor_rps for n in names if n != "floor"}
        result["ratio"] = result["ratios"]["ours"]
        if "baseline" in result["ratios"]:
            result["against_baseline"] = result["ratios"]["ours"] / result["ratios"]["baseline"]
        result["disk_commits"] = commit_rate(workdir)
        rows.append(result)
        non2xx = {n: result[n]["non2xx"] for n in names if result[n]["non2xx"]}
        click.echo(
            f"  round {number + 1} ({', '.join(order)}): "
            + ", ".join(f"{n} {result[n]['rps']:.0f}/s" for n in names)
            + "; "
            + ", ".join(f"{n}/floor {r:.3f}" for n, r in result["ratios"].items())
            + (
                f"; ours/baseline {result['against_baseline']:.3f}"
                if "against_baseline" in result
                else ""
            )
            + f"; the disk takes {result['disk_commits']:.0f} commits/s"
            + (f" (non-2xx: {non2xx}!)" if non2xx else "")
            + "".join(
                f"; {n}: {result[n]['discarded_rps']}/s run again (one worker had every connection)"
                for n in names
                if result[n]["discarded_rps"]
            )
        )
    summary: dict[str, Any] = {
        "rounds": rows,
        "contenders": names,
        "ours_rps": statistics.median(r["ours"]["rps"] for r in rows),
        "floor_rps": statistics.median(r["floor"]["rps"] for r in rows),
        "ratio": statistics.median(r["ratio"] for r in rows),
        "disk_commits": statistics.median(r["disk_commits"] for r in rows),
        "non2xx": sum(r[n]["non2xx"] for r in rows for n in names),
    }
    if "baseline" in contenders:
        summary["baseline_rps"] = statistics.median(r["baseline"]["rps"] for r in rows)
        summary["baseline_ratio"] = statistics.median(r["ratios"]["baseline"] for r in rows)
        summary["against_baseline"] = statistics.median(r["against_baseline"] for r in rows)
    return summary


def measure_batch(wrk: Wrk, ours: Server, seconds: float, sessions: int) -> dict[str, Any]:
    """Latency of a 50-review batch POST, one request at a time."""
    script = LUA_REVIEW_BATCH % {"seed": 11, "size": 50, "sessions": sessions}
    return wrk.run(ours.url, script, seconds)


def measure_reads(
    wrk: Wrk,
    readers: dict[str, Reader],
    reads: list[Read],
    rounds: int,
    seconds: float,
) -> list[dict[str, Any]]:
    """p50/p99 of each read on each server, as its learner, alternating servers within a read."""
    results = []
    for read in reads:
        row: dict[str, Any] = {"route": read.label}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in readers}
        for number in range(rounds):
            for name, reader in readers.items():
                ranges, lists = reader.lua_arguments()
                script = LUA_RANDOM_PATH % {
                    "pattern": lua_string(read.url(reader.learner_id)),
                    "ranges": ranges,
                    "lists": lists,
                    "seed": 3 + number,
                }
                runs[name].append(wrk.run(reader.server.url, script, seconds))
        for name, measured in runs.items():
            row[name] = {
                "p50_ms": statistics.median(r["p50_us"] for r in measured) / 1000,
                "p99_ms": statistics.median(r["p99_us"] for r in measured) / 1000,
                "requests": sum(r["requests"] for r in measured),
                "non2xx": sum(r["non2xx"] for r in measured),
            }
        results.append(row)
        click.echo(
            f"  {read.label}: "
            + ", ".join(
                f"{name} p50 {row[name]['p50_ms']:.2f} ms p99 {row[name]['p99_ms']:.2f} ms"
                + (f" ({row[name]['non2xx']} non-2xx!)" if row[name]["non2xx"] else "")
                for name in readers
            )
        )
    return results


def measure_memory(wrk: Wrk, ours: Server, total: int, sessions: int) -> dict[str, Any]:
    """Worker RSS after a warm-up and again after ``total`` more mixed requests."""
    script = LUA_MIX % {"seed": 13, "sessions": sessions}
    wrk.run(ours.url, script, 5, WRITE_CONNECTIONS, 2)  # warm-up: caches, pools, imports
    pids = ours.worker_pids()
    before = {pid: rss_kib(pid) for pid in pids}
    done = 0
    while done < total:
        result = wrk.run(ours.url, script, 10, WRITE_CONNECTIONS, 2)
        done += result["requests"]
        click.echo(f"  {done} requests, RSS {[rss_kib(pid) // 1024 for pid in pids]} MiB")
    if ours.worker_pids() != pids:
        raise click.ClickException("a worker was replaced during the memory run; see the log")
    after = {pid: rss_kib(pid) for pid in pids}
    growth_mb = max((after[pid] - before[pid]) / 1024 for pid in pids)
    return {"requests": done, "before_kib": before, "after_kib": after, "growth_mb": growth_mb}


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _thousands(sessions: int) -> str:
    return f"{sessions // 1000}k" if sessions >= 1000 else str(sessions)


def read_rows(
    rows: list[dict[str, Any]], readers: dict[str, dict[str, Any]], small: str, large: str
) -> list[str]:
    """Table rows of reads: the large database's p50/p99, and the growth from the small one."""
    lines = []
    for row in rows:
        big = large if large in row else small
        p50, p99 = row[big]["p50_ms"], row[big]["p99_ms"]
        ok = p50 <= TARGET_READ_P50_MS and p99 <= TARGET_READ_P99_MS
        text = f"p50 {p50:.2f} / p99 {p99:.2f} ms"
        if small in row and big == large:
            growth = p50 / row[small]["p50_ms"]
            ok = ok and growth <= TARGET_GROWTH
            text += (
                f"; {_thousands(readers[small]['sessions'])} p50 {row[small]['p50_ms']:.2f} / "
                f"p99 {row[small]['p99_ms']:.2f} ms, growth {growth:.2f}x"
            )
        errors = sum(row[name]["non2xx"] for name in (small, large) if name in row)
        if errors:
            ok = False
            text += f" ({errors} non-2xx!)"
        lines.append(
            f"| GET {row['route']} at {_thousands(readers[big]['sessions'])} | {text} "
            f"| p50 <= {TARGET_READ_P50_MS}, p99 <= {TARGET_READ_P99_MS}, growth <= "
            f"{TARGET_GROWTH}x | {verdict(ok)} |"
        )
    return lines


def describe_reader(reader: dict[str, Any]) -> str:
    return (
        f"learner {reader['learner_id']} ({reader['learner_sessions']:,} of "
        f"{reader['sessions']:,} sessions, {reader['learners']:,} "
        f"learner{'s' if reader['learners'] != 1 else ''})"
    )


def summary_table(results: dict[str, Any]) -> list[str]:
    """The summary: one line per target with the measured value and met / NOT MET."""
    lines = ["| what | measured | target | |", "| --- | --- | --- | --- |"]
    writes = results.get("writes")
    if writes:
        lines.append(
            f"| POST /api/study-sessions, share of the floor | {writes['ratio']:.2f} "
            f"({writes['ours_rps']:.0f}/s vs {writes['floor_rps']:.0f}/s; the disk took "
            f"{writes['disk_commits']:.0f} commits/s) "
            f"| >= {TARGET_POST_RATIO} | {verdict(writes['ratio'] >= TARGET_POST_RATIO)} |"
        )
        if "against_baseline" in writes:
            against = writes["against_baseline"]
            lines.append(
                f"| POST /api/study-sessions against {results['baseline']['commit'][:7]}, "
                f"median of per-round (ours/floor) / (baseline/floor) | {against:.3f} "
                f"(baseline/floor {writes['baseline_ratio']:.3f}, ours/floor "
                f"{writes['ratio']:.3f}) | >= {TARGET_POST_AGAINST_BASELINE} "
                f"| {verdict(against >= TARGET_POST_AGAINST_BASELINE)} |"
            )
    for name, batch in results.get("batch", {}).items():
        p50 = batch["p50_us"] / 1000
        errors = f" ({batch['non2xx']} non-2xx!)" if batch["non2xx"] else ""
        lines.append(
            f"| POST .../review, 50 reviews, p50 ({name}) | {p50:.2f} ms "
            f"(p99 {batch['p99_us'] / 1000:.2f}){errors} | <= {TARGET_BATCH_P50_MS} ms "
            f"| {verdict(p50 <= TARGET_BATCH_P50_MS and not batch['non2xx'])} |"
        )
    memory = results.get("memory")
    if memory:
        growth = memory["growth_mb"]
        lines.append(
            f"| worker RSS growth over {memory['requests']} requests | {growth:.1f} MB "
            f"| <= {TARGET_RSS_GROWTH_MB} MB | {verdict(growth <= TARGET_RSS_GROWTH_MB)} |"
        )
    readers = results.get("readers", {})
    if results.get("reads"):
        lines += read_rows(results["reads"], readers, "small", "large")
    if writes and len(writes["rounds"]) > 0:
        names = writes["contenders"]
        others = [n for n in names if n != "floor"]
        lines += ["", "| round | order | " + " | ".join(f"{n}/s" for n in names) + " | "]
        lines[-1] += " | ".join(f"{n}/floor" for n in others)
        lines[-1] += (" | ours/baseline" if "baseline" in names else "") + " | disk commits/s |"
        lines[-1] += " run again |"
        lines.append("| --- " * (4 + len(names) + len(others) + ("baseline" in names)) + "|")
        for number, row in enumerate(writes["rounds"], 1):
            cells = [str(number), ", ".join(row["order"])]
            cells += [f"{row[n]['rps']:.0f}" for n in names]
            cells += [f"{row['ratios'][n]:.3f}" for n in others]
            if "baseline" in names:
                cells.append(f"{row['against_baseline']:.3f}")
            cells.append(f"{row['disk_commits']:.0f}")
            again = [
                f"{n} ({', '.join(map(str, row[n]['discarded_rps']))}/s)"
                for n in names
                if row[n].get("discarded_rps")
            ]
            cells.append(", ".join(again) or "-")
            lines.append("| " + " | ".join(cells) + " |")
    if results.get("reads"):
        lines += ["", "Reads as " + describe_reader(readers["small"])]
        if "large" in readers:
            lines[-1] += " and as " + describe_reader(readers["large"])
        lines[-1] += "."
    if results.get("depth"):
        lines += [
            "",
            "One learner's whole history (single-learner databases), the session lists:",
            "",
            "| what | measured | target | |",
            "| --- | --- | --- | --- |",
        ]
        lines += read_rows(results["depth"], readers, "small_single", "large_single")
    return lines


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(tempfile.gettempdir()) / "lang-portal-bench",
    show_default=True,
    help="Where databases, logs and scripts go.",
)
@click.option("--small", default=10_000, show_default=True, help="Sessions in the small database.")
@click.option(
    "--large", default=1_000_000, show_default=True, help="Sessions in the large one (0: skip)."
)
@click.option(
    "--sessions-per-learner",
    default=1_000,
    show_default=True,
    help="Sessions per learner in both (the small and large databases get sessions/this "
    "learners); 0: one learner, the default one.",
)
@click.option(
    "--depth/--no-depth",
    default=True,
    show_default=True,
    help="Also measure the session lists on single-learner databases of both sizes.",
)
@click.option("--reviews-per-session", default=10, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--fresh", is_flag=True, help="Generate the databases again.")
@click.option(
    "--baseline-ref",
    help="A git commit (e.g. 38acdf5) whose src/ is served beside ours in the write rounds.",
)
@click.option(
    "--write-rounds", default=5, show_default=True, help="Rounds of ours vs the floor (0: none)."
)
@click.option("--write-seconds", default=5.0, show_default=True, help="Seconds per write run.")
@click.option("--reads/--no-reads", default=True, show_default=True, help="Measure the reads.")
@click.option("--read-rounds", default=3, show_default=True, help="Runs per route and database.")
@click.option("--read-seconds", default=2.0, show_default=True, help="Seconds per read run.")
@click.option("--rss-requests", default=200_000, show_default=True, help="Requests for the RSS.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
def main(
    workdir: Path,
    small: int,
    large: int,
    sessions_per_learner: int,
    depth: bool,
    reviews_per_session: int,
    seed: int,
    fresh: bool,
    baseline_ref: str | None,
    write_rounds: int,
    write_seconds: float,
    reads: bool,
    read_rounds: int,
    read_seconds: float,
    rss_requests: int,
    json_path: Path | None,
) -> None:
    """Run the benchmark and print a summary table of the targets, met or not."""
    if shutil.which("wrk") is None:
        raise click.ClickException("wrk is not installed; see bench/README.md")
    # Stopped with SIGTERM, still stop the servers (the finally below).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    workdir.mkdir(parents=True, exist_ok=True)
    wrk = Wrk(workdir)
    results: dict[str, Any] = {"machine": machine(), "settings": SERVER_SETTINGS}
    click.echo(f"Machine: {results['machine']}")

    # name -> (sessions, learners): the pair compared at equal depth per learner, and
    # with --depth the single-learner pair.
    sizes = {"small": small, **({"large": large} if large else {})}
    plan = {name: (n, learners_for(n, sessions_per_learner)) for name, n in sizes.items()}
    if depth and reads and large:
        plan |= {f"{name}_single": (n, 1) for name, n in sizes.items()}
    databases: dict[str, Path] = {}
    if reads:
        for name, (n, learners) in plan.items():
            databases[name] = database_path(workdir, n, learners)
            ensure_database(databases[name], n, reviews_per_session, seed, learners, fresh)

    servers: list[Server] = []
    try:
        contenders = {"floor": floor_server(workdir)}
        if baseline_ref:
            commit, source = baseline_source(baseline_ref, workdir)
            results["baseline"] = {"ref": baseline_ref, "commit": commit}
            contenders["baseline"] = lang_portal_server(
                "writes-baseline", fresh_file(workdir / "writes-baseline.db"), workdir, source
            )
        contenders["ours"] = lang_portal_server(
            "writes", fresh_file(workdir / "writes.db"), workdir
        )
        for name, server in contenders.items():
            if name != "floor":
                init_database(server)
            servers.append(server.start())
        ours = contenders["ours"]
        if write_rounds:
            click.echo(f"POST /api/study-sessions, {', '.join(contenders)}:")
            results["writes"] = measure_writes(
                wrk, contenders, write_rounds, write_seconds, workdir
            )
        contenders["floor"].stop()
        results["batch"] = {}
        # The batches go to sessions 1..1000, which the write rounds created.
        for name in ("baseline", "ours") if write_rounds else ():
            if name in contenders:
                click.echo(f"POST /api/study-sessions/<id>/review with 50 reviews ({name}):")
                results["batch"][name] = measure_batch(
                    wrk, contenders[name], read_seconds * 3, 1000
                )
                click.echo(f"  p50 {results['batch'][name]['p50_us'] / 1000:.2f} ms")
        if "baseline" in contenders:
            contenders["baseline"].stop()
        if rss_requests:
            click.echo(f"Worker memory over {rss_requests} requests:")
            results["memory"] = measure_memory(wrk, ours, rss_requests, 1000)
        ours.stop()

        if reads:
            routes = read_routes()
            results["readers"] = {}
            for group, wanted in (
                ("reads", routes),
                ("depth", [read for read in routes if read.session_list]),
            ):
                names = [n for n in plan if n.endswith("_single") == (group == "depth")]
                if not names:
                    continue
                readers = {}
                for name in names:
                    learner_id, ids = busiest_learner(databases[name])
                    server = lang_portal_server(name, databases[name], workdir).start()
                    servers.append(server)
                    readers[name] = Reader(server, learner_id, ids, *plan[name])
                    results["readers"][name] = {
                        "database": str(databases[name]),
                        "sessions": plan[name][0],
                        "learners": plan[name][1],
                        "learner_id": learner_id,
                        "learner_sessions": len(ids),
                    }
                    click.echo(f"{name}: reading as {describe_reader(results['readers'][name])}")
                click.echo(
                    "Read routes (one request at a time)"
                    + (", single-learner databases:" if group == "depth" else ":")
                )
                results[group] = measure_reads(wrk, readers, wanted, read_rounds, read_seconds)
                for reader in readers.values():
                    reader.server.stop()
    finally:
        for server in servers:
            server.stop()
    results["machine"]["load_average_after"] = os.getloadavg()

    click.echo("")
    for line in summary_table(results):
        click.echo(line)
    load = results["machine"]
    click.echo(
        f"\nLoad average before {tuple(round(x, 2) for x in load['load_average'])}, "
        f"after {tuple(round(x, 2) for x in load['load_average_after'])}."
    )
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, default=str))


def fresh_file(path: Path) -> Path:
    """``path`` with no database (nor its -wal and -shm) left from an earlier run."""
    for stale in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    return path


if __name__ == "__main__":
    main()
