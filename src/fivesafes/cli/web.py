"""CLI of the web app: ``fivesafes serve`` and ``fivesafes web seed-demo``."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fivesafes.cli.output import console, emit_json

web_app = typer.Typer(
    help="The web app: seed a demo site (serve it with `fivesafes serve`).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: $FIVESAFES_DATABASE_URL, else "
        "sqlite:///~/.fivesafes/fivesafes.db).",
    ),
]
SECURE_ENV = "FIVESAFES_SECURE_COOKIES"


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    db: DbOption = None,
    no_runner: Annotated[
        bool,
        typer.Option(
            "--no-runner",
            help="Run no jobs in this process: leave them to separate `fivesafes runner`s.",
        ),
    ] = False,
) -> None:
    """Start the web app (migrates the database first), with a job runner in the same
    process unless --no-runner (its heartbeat: FIVESAFES_JOB_HEARTBEAT seconds).
    Behind HTTPS, set FIVESAFES_SECURE_COOKIES=1."""
    import uvicorn

    from fivesafes.appdb.db import database_url
    from fivesafes.jobs.runner import heartbeat_from_env
    from fivesafes.web.app import create_app

    secure = os.environ.get(SECURE_ENV, "") not in ("", "0", "false")
    # a bad setting stops the server before anything starts, as create_app's do
    heartbeat = None if no_runner else heartbeat_from_env()
    app = create_app(db, secure_cookies=secure)
    runner = None if no_runner else start_runner(app.state.db.writer, heartbeat)
    console.print(
        f"fivesafes web app on [bold]http://{host}:{port}/[/] "
        f"(database {database_url(db)}); Ctrl+C to stop."
    )
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if runner is not None:
            runner.stop()


def start_runner(factory: Any, heartbeat_every: float | None = None) -> Any:
    """The web app's in-process job runner, started (``None``, having said why, where
    the sandbox cannot be set up: jobs then wait for a runner where it can); its
    heartbeat every ``heartbeat_every`` seconds (default: FIVESAFES_JOB_HEARTBEAT,
    :func:`fivesafes.jobs.runner.heartbeat_from_env`)."""
    from fivesafes.jobs.runner import Runner
    from fivesafes.projects.applications import configured_store
    from fivesafes.sandbox import SandboxError

    runner = Runner(factory, store=configured_store(), heartbeat_every=heartbeat_every)
    try:
        runner.start()
    except SandboxError as exc:
        console.print(
            f"[yellow]warning:[/] jobs are not run in this process: {exc}. They stay "
            "queued until a `fivesafes runner` where the sandbox works takes them."
        )
        return None
    console.print("jobs: run here, in the sandbox (one at a time; --no-runner to leave them).")
    return runner


@web_app.command(
    "seed-demo",
    epilog="Example: [bold]fivesafes web seed-demo --db sqlite:///demo/fivesafes.db[/]",
)
def seed_demo(
    db: DbOption = None,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="A data store (e.g. the demo's): the approved project's workspace is "
            "provisioned from it and the example study runs there as a job.",
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help="A demo summary (summary.md, summary.json beside it) to add the safe "
            "setting's job to.",
        ),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
    ] = False,
) -> None:
    """Fill a fresh database with the demo site: a user for each role (with a fresh
    password each), courses, a project and outputs awaiting review; with --store, the
    project's workspace and the example study run on it as a job."""
    from fivesafes.demo.jobs import describe, run_demo_job
    from fivesafes.demo.site import seed_demo as run_seed
    from fivesafes.projects.applications import STORE_ENV

    if store is not None:
        os.environ[STORE_ENV] = str(store.resolve())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        users = run_seed(db)
    skipped = [str(w.message) for w in caught if "seeder" in str(w.message)]
    job = run_demo_job(db) if store is not None else None
    if job is not None and summary is not None:
        _add_to_summary(summary, job, describe(job))
    if json_:
        emit_json(
            {
                "users": [
                    {"email": u["email"], "password": u["password"], "roles": u["roles"]}
                    for u in users
                ],
                **({"job": job} if job is not None else {}),
            }
        )
        return
    for message in skipped:
        console.print(f"[yellow]warning:[/] {message}")
    table = Table(title="Demo users (the passwords are shown only now)", title_justify="left")
    for column in ("e-mail", "password", "roles"):
        table.add_column(column)
    for u in users:
        table.add_row(u["email"], u["password"], ", ".join(u["roles"]))
    console.print(table)
    if job is not None:
        console.print(("" if job["ran"] else "[yellow]warning:[/] ") + describe(job))
    console.print("Start the site with [bold]fivesafes serve[/] and log in with one of these.")


def _add_to_summary(path: Path, job: dict[str, Any], sentence: str) -> None:
    """Add the safe setting's job to the demo's summary.md and summary.json."""
    import json

    if path.is_file():
        path.write_text(path.read_text().rstrip() + f"\n\n## Safe setting\n\n- {sentence}\n")
    beside = path.with_suffix(".json")
    if beside.is_file():
        data = json.loads(beside.read_text())
        data["safe_setting"] = {**job, "summary": sentence}
        beside.write_text(json.dumps(data, indent=2, default=str))
