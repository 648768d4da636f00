"""Load run of the web app: concurrent simulated users on loopback, on SQLite and on
PostgreSQL, with a check that no request was lost or duplicated.

For each database the script makes a fresh one (SQLite: a temporary file; PostgreSQL:
a temporary cluster made with initdb from /usr/lib/postgresql/15/bin and started on
a free port — as the current user, or as ``postgres`` when run by root, which initdb
refuses), seeds the demo site, starts ``fivesafes serve`` on it in its own process,
and lets N simulated users (asyncio + httpx, each its own cookie jar) work for the
given time. Each user registers (a unique e-mail), then loops over a visit:

- browses: the front page, the course catalogue and a course, the public register
  (HTML and JSON), the statistics;
- saves its profile (a new value each time; the last one must be in the database);
- enrols on the next course (if the learning pages exist), which may be refused
  when the course is full or closed;
- applies for a project (if the projects pages exist), a unique title each time;
- every fifth visit, logs out and logs in again.

(Each user registers once, at the start: argon2 makes a registration or a log-in
cost a large part of a second of CPU, by design.)

Every write carries a unique id; afterwards the rows in the database are counted and
must equal the successful responses exactly (none lost, none twice). Reported:
requests/s, p50/p95/p99 latency (overall and by kind), and errors (any exception,
5xx, or unexpected status).

On PostgreSQL it starts two server processes by default (``--processes``), each on
its own port, sharing one ``FIVESAFES_SECRET_KEY``; user *n* talks to process
*n* mod the number of processes. Afterwards the audit log's hash chain is verified
(one line, no gap, whichever process wrote each entry), and the summary line gives
the p95 of page reads and of writes other than log-ins and registrations (which pay
for argon2 by design).

    .venv/bin/python benchmarks/bench_web_load.py                 # both, 50 users, 60 s
    .venv/bin/python benchmarks/bench_web_load.py --db sqlite --users 10 --seconds 10
    .venv/bin/python benchmarks/bench_web_load.py --db postgresql --processes 2
    .venv/bin/python benchmarks/bench_web_load.py --think 1   # people, who read pages
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).parent))
from fivesafes.appdb.pgcluster import free_port, temporary_cluster
from machine_info import machine

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
COURSE_LINK = re.compile(r'href="/courses/([a-z0-9-]+)"')
PASSWORD = "load test password 42"
#: Mean pause before each request, in seconds (0: as fast as the server answers).
THINK = [0.0]


# -- databases ------------------------------------------------------------------------


@contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / 'fivesafes.db'}"


@contextmanager
def postgres_database(folder: Path) -> Iterator[str]:
    """A temporary PostgreSQL cluster on a free port; yields its URL."""
    with temporary_cluster(folder) as url:
        yield url


# -- the server ---------------------------------------------------------------------


@contextmanager
def servers(url: str, folder: Path, processes: int) -> Iterator[list[str]]:
    """``processes`` servers on one database (one shared secret key)."""
    from contextlib import ExitStack

    secret = uuid.uuid4().hex + uuid.uuid4().hex
    with ExitStack() as stack:
        yield [stack.enter_context(server(url, folder, n, secret)) for n in range(processes)]


@contextmanager
def server(url: str, folder: Path, number: int = 0, secret: str = "") -> Iterator[str]:
    port = free_port()
    log_path = folder / f"server-{number}.log"
    log = log_path.open("w")
    env = os.environ.copy()
    env.pop("FIVESAFES_PASSWORD_HASHING", None)  # the real argon2 parameters
    env["FIVESAFES_STATE_DIR"] = str(folder / "state")
    if secret:
        env["FIVESAFES_SECRET_KEY"] = secret
    process = subprocess.Popen(
        [sys.executable, "-m", "fivesafes.cli.main", "serve", "--db", url, "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=2).json() == {"status": "ok"}:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start; see {log_path}")
        time.sleep(0.2)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            print("the server did not stop within 30 s of SIGTERM; killed", flush=True)
            process.kill()
            process.wait()
        log.close()
        tail = log_path.read_text().splitlines()[-15:]
        if any("Error" in line or "Traceback" in line for line in tail):
            print("server log (end):", *tail, sep="\n  ", flush=True)


# -- simulated users ----------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    #: kind -> unique ids the server accepted (a 303 answer)
    accepted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: the last profile value each user saved (the database keeps only the last)
    profile_last: dict[str, str] = field(default_factory=dict)
    #: kind -> writes the server refused on purpose (e.g. a full course)
    refused: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 20:
            self.error_samples.append(f"{kind}: {what}")


@dataclass
class Site:
    courses: list[str]
    enrol: bool
    projects: bool
    datasets: list[str]


class User:
    def __init__(self, site: Site, tally: Tally, number: int, run: str, base: str) -> None:
        self.site, self.tally, self.number, self.run = site, tally, number, run
        self.client = httpx.AsyncClient(base_url=base, timeout=60, follow_redirects=False)
        self.visits = 0
        self.email = ""

    async def call(
        self, kind: str, method: str, path: str, expect: tuple[int, ...] = (200,), **kw: Any
    ) -> httpx.Response | None:
        if THINK[0] > 0:  # a person reads the page before the next click
            await asyncio.sleep(random.expovariate(1 / THINK[0]))
        start = time.perf_counter()
        try:
            response = await self.client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            self.tally.error(kind, f"{type(exc).__name__}: {exc}")
            return None
        finally:
            self.tally.requests += 1
        self.tally.latencies[kind].append(time.perf_counter() - start)
        if response.status_code not in expect:
            self.tally.error(kind, f"{method} {path} -> {response.status_code}")
            return None
        return response

    async def token(self, path: str, kind: str | None = None) -> str | None:
        page = await self.call(kind or f"GET {path}", "GET", path)
        found = CSRF.search(page.text) if page is not None else None
        return found.group(1) if found else None

    async def browse(self) -> None:
        for path in ("/", "/courses", "/projects/public", "/projects/public.json", "/statistics"):
            if path == "/" or path in PATHS:
                await self.call(f"GET {path}", "GET", path)
        if self.site.courses:
            slug = self.site.courses[self.visits % len(self.site.courses)]
            await self.call("GET /courses/{slug}", "GET", f"/courses/{slug}")

    async def register(self) -> bool:
        token = await self.token("/register")
        if token is None:
            return False
        self.email = f"load-{self.run}-{self.number}@example.org"
        registered = await self.call(
            "POST /register",
            "POST",
            "/register",
            expect=(303,),
            data={
                "csrf_token": token,
                "display_name": f"Load User {self.number}",
                "email": self.email,
                "organisation": "Load Test University",
                "role_requested": "researcher",
                "research_interests": "",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            },
        )
        if registered is not None:
            self.tally.accepted["registration"].append(self.email)
        return registered is not None

    async def log_in_again(self) -> bool:
        token = await self.token("/profile")
        if token:
            await self.call(
                "POST /logout", "POST", "/logout", expect=(303,), data={"csrf_token": token}
            )
        token = await self.token("/login")
        return token is not None and (
            await self.call(
                "POST /login",
                "POST",
                "/login",
                expect=(303,),
                data={"csrf_token": token, "email": self.email, "password": PASSWORD},
            )
            is not None
        )

    async def visit(self) -> None:
        """Browse; save the profile (a new value each time); enrol on the next course;
        apply for a project (a new title each time); every fifth visit, log out and in."""
        self.visits += 1
        uid = f"{self.run}-{self.number}-{self.visits}"
        await self.browse()
        token = await self.token("/profile")
        if token and (
            await self.call(
                "POST /profile",
                "POST",
                "/profile",
                expect=(303,),
                data={
                    "csrf_token": token,
                    "display_name": f"Load User {self.number}",
                    "email": self.email,
                    "organisation": "Load Test University",
                    "research_interests": f"id {uid}",
                },
            )
        ):
            self.tally.profile_last[self.email] = uid
        if self.site.enrol and self.visits <= len(self.site.courses):
            slug = self.site.courses[self.visits - 1]
            token = await self.token(f"/courses/{slug}", "GET /courses/{slug}")
            answer = (
                await self.call(
                    "POST /courses/{slug}/enrol",
                    "POST",
                    f"/courses/{slug}/enrol",
                    expect=(303,),
                    data={"csrf_token": token},
                )
                if token
                else None
            )
            # Enrolled: on to the course's lessons; refused (full, closed): back to it.
            if answer is not None and answer.headers["location"].startswith("/learning/"):
                self.tally.accepted["enrolment"].append(f"{self.email}|{slug}")
            elif answer is not None:
                self.tally.refused["enrolment"] += 1
        if self.site.projects:
            token = await self.token("/projects/new")
            title = f"Load study {uid}"
            if token and await self.call(
                "POST /projects/new",
                "POST",
                "/projects/new",
                expect=(303,),
                data={
                    "csrf_token": token,
                    "title": title,
                    "lay_summary": "How school absence relates to later earnings, studied on "
                    "linked records of pupils and employees, to guide attendance support.",
                    "public_benefit": "Better targeted support for pupils who miss school, "
                    "and evidence for policy on attendance.",
                    "organisation": "Load Test University",
                    "datasets": self.site.datasets[:2],
                    "members": "",
                },
            ):
                self.tally.accepted["application"].append(title)
        if self.visits % 5 == 0:
            await self.log_in_again()

    async def run_until(self, deadline: float) -> None:
        async with self.client:
            await self.browse()
            if not await self.register():
                return
            while time.monotonic() < deadline:
                await self.visit()


PATHS: set[str] = set()


def discover(base: str) -> Site:
    import importlib

    from fastapi import FastAPI

    from fivesafes.datasets import DATASETS
    from fivesafes.web.access import route_table
    from fivesafes.web.app import ROUTER_MODULES

    app = FastAPI()
    for name in ROUTER_MODULES:
        app.include_router(importlib.import_module(f"fivesafes.web.routes.{name}").router)
    table = {(m, info.path) for info in route_table(app.routes) for m in info.methods}
    PATHS.update(path for _, path in table)
    courses: list[str] = []
    if ("GET", "/courses") in table:
        page = httpx.get(base + "/courses")
        courses = sorted(set(COURSE_LINK.findall(page.text)))
    return Site(
        courses=courses,
        enrol=("POST", "/courses/{slug}/enrol") in table,
        projects=("POST", "/projects/new") in table,
        datasets=[d.name for d in DATASETS],
    )


def count_rows(url: str, run: str) -> dict[str, list[str]]:
    """What the database holds of this run, by kind (one entry per row)."""
    engine = create_engine(url)
    out: dict[str, list[str]] = {}
    with engine.connect() as c:
        out["registration"] = list(
            c.execute(
                text("SELECT email FROM users WHERE email LIKE :p"), {"p": f"load-{run}-%"}
            ).scalars()
        )
        out["profile (last value per user)"] = [
            s.removeprefix("id ")
            for s in c.execute(
                text(
                    "SELECT research_interests FROM users WHERE email LIKE :p "
                    "AND research_interests LIKE 'id %'"
                ),
                {"p": f"load-{run}-%"},
            ).scalars()
        ]
        tables = set(c.dialect.get_table_names(c))
        if "enrolments" in tables:
            out["enrolment"] = [
                f"{email}|{slug}"
                for email, slug in c.execute(
                    text(
                        "SELECT u.email, c.slug FROM enrolments e JOIN users u ON u.id = e.user_id "
                        "JOIN courses c ON c.id = e.course_id WHERE u.email LIKE :p"
                    ),
                    {"p": f"load-{run}-%"},
                )
            ]
        if "courses" in tables and "enrolments" in tables:
            out["over capacity"] = [
                slug
                for slug, capacity, enrolled, counted in c.execute(
                    text(
                        "SELECT c.slug, c.capacity, c.enrolled_count, "
                        "(SELECT count(*) FROM enrolments e WHERE e.course_id = c.id) "
                        "FROM courses c WHERE c.capacity IS NOT NULL"
                    )
                )
                if counted > capacity or enrolled != counted
            ]
        if "projects" in tables:
            out["application"] = list(
                c.execute(
                    text("SELECT title FROM projects WHERE title LIKE :p"),
                    {"p": f"Load study {run}-%"},
                ).scalars()
            )
    engine.dispose()
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


async def drive(
    site: Site, bases: list[str], users: int, seconds: float, run: str
) -> tuple[Tally, float]:
    tally = Tally()
    start = time.monotonic()
    deadline = start + seconds
    crowd = [User(site, tally, n, run, bases[n % len(bases)]) for n in range(users)]
    await asyncio.gather(*(u.run_until(deadline) for u in crowd))
    tally.accepted["profile (last value per user)"] = list(tally.profile_last.values())
    return tally, time.monotonic() - start


#: Writes that pay for argon2 on purpose (left out of the writes' p95 target).
ARGON2 = ("POST /login", "POST /register")


def verify_chain(url: str) -> str:
    """The audit log's chain, verified: a sentence."""
    from sqlalchemy.orm import Session

    from fivesafes.audit.log import verify

    engine = create_engine(url)
    with Session(engine) as session:
        found = verify(session)
    engine.dispose()
    return (
        f"verified: {found.entries:,} entries, one line"
        if found.ok
        else f"BROKEN at entry {found.first_bad_seq}: {found.problem}"
    )


@dataclass
class Result:
    backend: str
    users: int
    seconds: float
    tally: Tally
    rows: dict[str, list[str]]
    processes: int = 1
    chain: str = ""

    def p95(self, writes: bool) -> float:
        return pct(
            [
                x
                for kind, values in self.tally.latencies.items()
                if kind.startswith("POST") == writes and kind not in ARGON2
                for x in values
            ],
            95,
        )

    @property
    def all_latencies(self) -> list[float]:
        return [x for v in self.tally.latencies.values() for x in v]

    def integrity(self) -> dict[str, str]:
        verdicts = {}
        for kind, accepted in self.tally.accepted.items():
            stored = self.rows.get(kind)
            if stored is None:
                verdicts[kind] = "not counted"
                continue
            lost = Counter(accepted) - Counter(stored)
            extra = Counter(stored) - Counter(accepted)
            twice = [k for k, n in Counter(stored).items() if n > 1]
            verdicts[kind] = (
                f"{len(accepted)} accepted = {len(stored)} stored"
                if not lost and not extra and not twice
                else f"MISMATCH: {len(accepted)} accepted, {len(stored)} stored, "
                f"{sum(lost.values())} lost, {sum(extra.values())} extra, {len(twice)} twice"
            )
        return verdicts

    def markdown(self) -> str:
        lat = self.all_latencies
        processes = f", {self.processes} server processes" if self.processes > 1 else ""
        if THINK[0] > 0:
            processes += f", mean think time {THINK[0]:g} s"
        lines = [
            f"**{self.backend}** — {self.users} users{processes}, {self.seconds:.0f} s: "
            f"{self.tally.requests:,} requests, "
            f"{self.tally.requests / self.seconds:.1f} requests/s, "
            f"latency p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, "
            f"p99 {pct(lat, 99):.0f} ms; errors: {sum(self.tally.errors.values())}",
            "",
            f"Page reads p95 {self.p95(False):.0f} ms; writes other than log-ins and "
            f"registrations p95 {self.p95(True):.0f} ms; audit chain {self.chain}.",
            "",
            "| request | count | p50 ms | p95 ms | p99 ms | errors |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for kind in sorted(self.tally.latencies, key=lambda k: (not k.startswith("POST"), k)):
            values = self.tally.latencies[kind]
            lines.append(
                f"| {kind} | {len(values):,} | {pct(values, 50):.0f} | {pct(values, 95):.0f} | "
                f"{pct(values, 99):.0f} | {self.tally.errors.get(kind, 0)} |"
            )
        lines += ["", "Writes, accepted by the server vs rows in the database afterwards:", ""]
        lines += [f"- {kind}: {verdict}" for kind, verdict in self.integrity().items()]
        for kind, n in self.tally.refused.items():
            lines.append(f"- {kind}: {n} refused by the service on purpose (course full or closed)")
        if "over capacity" in self.rows:
            over = self.rows["over capacity"]
            lines.append(
                "- courses with a capacity: "
                + (
                    f"OVER CAPACITY OR MISCOUNTED: {', '.join(over)}"
                    if over
                    else "none over capacity; enrolled counts equal the enrolment rows"
                )
            )
        if self.tally.error_samples:
            lines += ["", "First errors:", ""] + [f"- `{e}`" for e in self.tally.error_samples]
        return "\n".join(lines)


def run_one(backend: str, users: int, seconds: float, processes: int) -> Result | None:
    from fivesafes.demo.site import seed_demo

    folder = Path(tempfile.mkdtemp(prefix=f"fivesafes-load-{backend}-"))
    maker = sqlite_database if backend == "sqlite" else postgres_database
    try:
        with maker(folder) as url:
            print(f"[{backend}] seeding the demo site ...", flush=True)
            seed_demo(url)
            with servers(url, folder, processes) as bases:
                site = discover(bases[0])
                print(
                    f"[{backend}] {users} users for {seconds:.0f} s on {', '.join(bases)} "
                    f"(courses: {len(site.courses)}, enrol: {site.enrol}, "
                    f"project applications: {site.projects}) ...",
                    flush=True,
                )
                run = uuid.uuid4().hex[:8]
                tally, elapsed = asyncio.run(drive(site, bases, users, seconds, run))
            rows = count_rows(url, run)
            return Result(backend, users, elapsed, tally, rows, processes, verify_chain(url))
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        print(f"[{backend}] skipped: {exc} {detail}".strip(), flush=True)
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean pause before each request, s (exponential; default 0: users click as "
        "fast as the server answers, a stress test rather than people)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="server processes (default: 1 on SQLite, 2 on PostgreSQL)",
    )
    args = parser.parse_args()
    THINK[0] = args.think
    backends = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = [
        r
        for b in backends
        if (
            r := run_one(b, args.users, args.seconds, args.processes or (1 if b == "sqlite" else 2))
        )
        is not None
    ]
    print(f"\nMachine: {machine()}\n")
    for result in results:
        print(result.markdown(), end="\n\n")
    bad = [
        r
        for r in results
        if any("MISMATCH" in v for v in r.integrity().values())
        or r.rows.get("over capacity")
        or "BROKEN" in r.chain
    ]
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
