"""The lang-portal benchmark: real `lang-portal serve` servers driven over loopback by wrk.

    python bench/run.py                      # everything, 15-25 minutes (see bench/README.md)
    python bench/run.py --large 0            # skip the 1M-session database
    python bench/run.py --json results.json  # also write every number as JSON

It measures, in one run and against the targets of issue 7:

1. POST /api/study-sessions throughput as a share of the floor: bench/floor_app.py, a
   bare Flask app that parses the same JSON and answers 201 without a database, under
   the same server and options (lang_portal.server.serve, 2 workers) and the
   same load (wrk, 4 connections). Rounds alternate ours and the floor; the median of
   the per-round ratios is reported. Each round also measures how many SQLite commits
   per second (WAL, synchronous=FULL, one thread) the disk takes right then: with one
   fsync per created session, that is the ceiling for ours.
2. p50/p99 latency of every read route of the API (taken from the route registry, so
   new routes are measured without editing this file), one request at a time, on a
   database with ``--small`` sessions and one with ``--large`` sessions, both served at
   once and measured alternately, and the growth of p50 from one to the other.
3. p50 of POST /api/study-sessions/<id>/review with 50 reviews.
4. The RSS of each worker before and after ``--rss-requests`` mixed requests.

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
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
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

# Targets from issue 7.
TARGET_POST_RATIO = 0.6
TARGET_READ_P50_MS = 5.0
TARGET_READ_P99_MS = 25.0
TARGET_GROWTH = 1.5
TARGET_BATCH_P50_MS = 10.0
TARGET_RSS_GROWTH_MB = 5.0

# Ranges for the ids in URLs, by the name of the URL argument; "sessions" is filled in.
ID_RANGES = {"group_id": (1, 7), "word_id": (1, 263), "study_activity_id": (1, 3)}
# Read routes measured with query strings besides their defaults.
EXTRA_READS = (
    "/api/words?sort_by=correct_count&order=desc",
    "/api/groups/{group_id}/study-sessions?sort_by=end_time&order=desc",
    "/api/study-sessions?page=1000",
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
math.randomseed(%(seed)d)
request = function()
  local path = string.gsub(pattern, "{([%%w_]+)}", function(name)
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


def lang_portal_server(name: str, database: Path, workdir: Path) -> Server:
    """``lang-portal serve`` on a SQLite file with the benchmark's settings."""
    env = {f"LANG_PORTAL_{key}": value for key, value in SERVER_SETTINGS.items()}
    env["LANG_PORTAL_DATABASE_URL"] = f"sqlite:///{database}"
    return Server(name, [str(LANG_PORTAL), "serve"], workdir / f"{name}.log", env)


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


def read_routes() -> list[tuple[str, str]]:
    """(label, URL pattern) for every GET route of the API, plus EXTRA_READS."""
    import lang_portal.api  # noqa: F401  (registers the routes)
    from lang_portal.api import routing

    reads = []
    for route in routing.routes.declared:
        if route.method != "GET":
            continue
        path = route.paths()[0]
        for argument in ("group_id", "word_id", "study_activity_id", "study_session_id"):
            path = path.replace(f"<id:{argument}>", "{" + argument + "}")
        reads.append((path, path))
    reads += [(extra, extra) for extra in EXTRA_READS]
    return reads


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


def ensure_database(path: Path, sessions: int, reviews: int, seed: int, fresh: bool) -> None:
    """Generate the database unless a matching one is already there."""
    marker = path.with_suffix(".json")
    wanted = {"sessions": sessions, "reviews_per_session": reviews, "seed": seed}
    reusable = not fresh and path.exists() and marker.exists()
    if reusable and json.loads(marker.read_text()) == wanted:
        click.echo(f"Reusing {path} ({sessions} sessions)")
        return
    for stale in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    command = [sys.executable, str(BENCH / "generate.py"), "--database-url", f"sqlite:///{path}"]
    command += ["--sessions", str(sessions), "--reviews-per-session", str(reviews)]
    command += ["--seed", str(seed)]
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


def measure_writes(
    wrk: Wrk, ours: Server, floor: Server, rounds: int, seconds: float, workdir: Path
) -> dict[str, Any]:
    """POST /api/study-sessions throughput, ours and the floor alternately."""
    script = LUA_NEW_SESSION % {"seed": 7}
    rows = []
    for number in range(rounds):
        order = [(ours, "ours"), (floor, "floor")]
        if number % 2:
            order.reverse()
        result: dict[str, Any] = {}
        for server, name in order:
            result[name] = wrk.run(server.url, script, seconds, WRITE_CONNECTIONS, 2)
        result["ratio"] = result["ours"]["rps"] / result["floor"]["rps"]
        result["disk_commits"] = commit_rate(workdir)
        rows.append(result)
        click.echo(
            f"  round {number + 1}: ours {result['ours']['rps']:.0f}/s, floor "
            f"{result['floor']['rps']:.0f}/s, ratio {result['ratio']:.2f}; the disk takes "
            f"{result['disk_commits']:.0f} commits/s"
            + (f" ({result['ours']['non2xx']} non-2xx!)" if result["ours"]["non2xx"] else "")
        )
    return {
        "rounds": rows,
        "ours_rps": statistics.median(r["ours"]["rps"] for r in rows),
        "floor_rps": statistics.median(r["floor"]["rps"] for r in rows),
        "ratio": statistics.median(r["ratio"] for r in rows),
        "disk_commits": statistics.median(r["disk_commits"] for r in rows),
        "non2xx": sum(r["ours"]["non2xx"] for r in rows),
    }


def measure_batch(wrk: Wrk, ours: Server, seconds: float, sessions: int) -> dict[str, Any]:
    """Latency of a 50-review batch POST, one request at a time."""
    script = LUA_REVIEW_BATCH % {"seed": 11, "size": 50, "sessions": sessions}
    return wrk.run(ours.url, script, seconds)


def measure_reads(
    wrk: Wrk,
    servers: dict[str, Server],
    sizes: dict[str, int],
    rounds: int,
    seconds: float,
) -> list[dict[str, Any]]:
    """p50/p99 of every read route on each server, alternating servers within a route."""
    results = []
    for label, pattern in read_routes():
        row: dict[str, Any] = {"route": label}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
        for number in range(rounds):
            for name, server in servers.items():
                ranges = {**ID_RANGES, "study_session_id": (1, max(1, sizes[name]))}
                script = LUA_RANDOM_PATH % {
                    "pattern": lua_string(pattern),
                    "ranges": lua_table(ranges),
                    "seed": 3 + number,
                }
                runs[name].append(wrk.run(server.url, script, seconds))
        for name, measured in runs.items():
            row[name] = {
                "p50_ms": statistics.median(r["p50_us"] for r in measured) / 1000,
                "p99_ms": statistics.median(r["p99_us"] for r in measured) / 1000,
                "requests": sum(r["requests"] for r in measured),
                "non2xx": sum(r["non2xx"] for r in measured),
            }
        results.append(row)
        click.echo(
            f"  {label}: "
            + ", ".join(
                f"{name} p50 {row[name]['p50_ms']:.2f} ms p99 {row[name]['p99_ms']:.2f} ms"
                + (f" ({row[name]['non2xx']} non-2xx!)" if row[name]["non2xx"] else "")
                for name in servers
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


def summary_table(results: dict[str, Any], small: int, large: int) -> list[str]:
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
    batch = results.get("batch")
    if batch:
        p50 = batch["p50_us"] / 1000
        lines.append(
            f"| POST .../review, 50 reviews, p50 | {p50:.2f} ms (p99 {batch['p99_us'] / 1000:.2f})"
            f" | <= {TARGET_BATCH_P50_MS} ms | {verdict(p50 <= TARGET_BATCH_P50_MS)} |"
        )
    memory = results.get("memory")
    if memory:
        growth = memory["growth_mb"]
        lines.append(
            f"| worker RSS growth over {memory['requests']} requests | {growth:.1f} MB "
            f"| <= {TARGET_RSS_GROWTH_MB} MB | {verdict(growth <= TARGET_RSS_GROWTH_MB)} |"
        )
    for row in results.get("reads", []):
        big = "large" if "large" in row else "small"
        p50, p99 = row[big]["p50_ms"], row[big]["p99_ms"]
        ok = p50 <= TARGET_READ_P50_MS and p99 <= TARGET_READ_P99_MS
        text = f"p50 {p50:.2f} / p99 {p99:.2f} ms"
        if "small" in row and big == "large":
            growth = p50 / row["small"]["p50_ms"]
            ok = ok and growth <= TARGET_GROWTH
            text += f"; {small // 1000}k p50 {row['small']['p50_ms']:.2f} ms, growth {growth:.2f}x"
        lines.append(
            f"| GET {row['route']} at {(large if big == 'large' else small) // 1000}k | {text} "
            f"| p50 <= {TARGET_READ_P50_MS}, p99 <= {TARGET_READ_P99_MS}, growth <= "
            f"{TARGET_GROWTH}x | {verdict(ok)} |"
        )
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
@click.option("--reviews-per-session", default=10, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--fresh", is_flag=True, help="Generate the databases again.")
@click.option("--write-rounds", default=5, show_default=True, help="Rounds of ours vs the floor.")
@click.option("--write-seconds", default=5.0, show_default=True, help="Seconds per write run.")
@click.option("--read-rounds", default=3, show_default=True, help="Runs per route and database.")
@click.option("--read-seconds", default=2.0, show_default=True, help="Seconds per read run.")
@click.option("--rss-requests", default=200_000, show_default=True, help="Requests for the RSS.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path))
def main(
    workdir: Path,
    small: int,
    large: int,
    reviews_per_session: int,
    seed: int,
    fresh: bool,
    write_rounds: int,
    write_seconds: float,
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

    sizes = {"small": small, **({"large": large} if large else {})}
    databases = {name: workdir / f"{name}-{n}.db" for name, n in sizes.items()}
    for name, path in databases.items():
        ensure_database(path, sizes[name], reviews_per_session, seed, fresh)
    write_db = workdir / "writes.db"
    for stale in (write_db, *(write_db.with_name(write_db.name + s) for s in ("-wal", "-shm"))):
        stale.unlink(missing_ok=True)

    servers: list[Server] = []
    try:
        ours = lang_portal_server("writes", write_db, workdir).start()
        floor = floor_server(workdir).start()
        servers += [ours, floor]
        click.echo("POST /api/study-sessions, ours vs the floor:")
        results["writes"] = measure_writes(wrk, ours, floor, write_rounds, write_seconds, workdir)
        floor.stop()
        click.echo("POST /api/study-sessions/<id>/review with 50 reviews:")
        results["batch"] = measure_batch(wrk, ours, read_seconds * 3, 1000)
        click.echo(f"  p50 {results['batch']['p50_us'] / 1000:.2f} ms")
        if rss_requests:
            click.echo(f"Worker memory over {rss_requests} requests:")
            results["memory"] = measure_memory(wrk, ours, rss_requests, 1000)
        ours.stop()

        readers = {
            name: lang_portal_server(name, path, workdir).start()
            for name, path in databases.items()
        }
        servers += list(readers.values())
        click.echo("Read routes (one request at a time):")
        results["reads"] = measure_reads(wrk, readers, sizes, read_rounds, read_seconds)
    finally:
        for server in servers:
            server.stop()
    results["machine"]["load_average_after"] = os.getloadavg()

    click.echo("")
    for line in summary_table(results, small, large):
        click.echo(line)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
