"""CLI for the safe setting: ``fivesafes runner`` claims queued jobs and runs each
in the sandbox; ``fivesafes job run`` runs a script in the same sandbox against
any workspace file (the synthetic twin on a laptop), so that a script that works
on the twin works inside."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fivesafes.cli.output import console, emit_json

job_app = typer.Typer(
    help="Jobs: a script run in the sandbox.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def runner(
    db: Annotated[
        str | None,
        typer.Option("--db", help="Application database URL (default: SQLite in the state dir)."),
    ] = None,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="The store (workspaces given relative to it)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then stop.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", min=1, max=64, help="Jobs run at once.")] = 1,
) -> None:
    """Claim queued jobs and run each in the sandbox (several runners may share a
    PostgreSQL queue), with a heartbeat every FIVESAFES_JOB_HEARTBEAT seconds (10).
    Refuses to start where the sandbox cannot be set up or a setting is bad."""
    from fivesafes.appdb import migrate, session_factory
    from fivesafes.jobs.runner import Runner, heartbeat_from_env

    heartbeat = heartbeat_from_env()  # a bad setting stops it before anything is done
    migrate(db)

    def said(job_id: int, state: str) -> None:
        console.print(f"job {job_id}: {state}")

    r = Runner(session_factory(db), store=store, jobs=jobs, on_job=said, heartbeat_every=heartbeat)
    console.print("runner: the sandbox works; waiting for jobs" + (" (once)" if once else ""))
    n = r.run(once=once)
    console.print(f"runner: {n} job{'s' if n != 1 else ''} run")


@job_app.command(
    "run",
    epilog="Example: [bold]fivesafes job run analysis.py --workspace twin.duckdb --out out[/]",
)
def job_run(
    script: Annotated[Path, typer.Argument(help="The analysis script (one Python file).")],
    workspace: Annotated[Path, typer.Option("--workspace", help="A workspace file.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the job's outputs.")],
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON summary.")] = False,
) -> None:
    """Run a script in the sandbox against a workspace file and check its outputs."""
    from fivesafes.errors import FivesafesError
    from fivesafes.jobs.outputs import check_output
    from fivesafes.jobs.runner import _state_and_reason
    from fivesafes.sandbox import Limits, run_in_sandbox

    if not script.is_file():
        raise FivesafesError(f"{script}: no such script")
    if not workspace.is_file():
        raise FivesafesError(f"{workspace}: no such workspace file")
    if out.exists() and any(out.iterdir()):
        raise FivesafesError(f"{out} is not empty; give a new folder for the outputs")
    limits = Limits.from_env()
    result = run_in_sandbox(
        "script",
        script.name,
        script.read_bytes(),
        workspace=workspace.resolve(),
        outputs=out,
        limits=limits,
    )
    state, reason = _state_and_reason(result, limits)
    outputs: list[dict[str, Any]] = []
    for path in result.outputs:
        name = path.relative_to(out).as_posix()
        checked = check_output(name, path.read_bytes())
        outputs.append({"name": name, "verdict": checked.verdict, "note": checked.note})
    summary = {
        "command": "job run",
        "state": state.value,
        "exit_code": result.exit_code,
        "error": result.error,
        "reason": reason,
        "limit": result.limit,
        "seconds": round(result.duration, 3),
        "outputs": outputs,
    }
    if json_:
        emit_json(summary)
        return
    console.print(result.log.decode("utf-8", "replace"), end="", markup=False, highlight=False)
    console.print(
        f"[bold]{state.value}[/] (exit code {result.exit_code}) in {result.duration:.1f} s"
        + (f": {reason}" if reason else "")
    )
    for o in outputs:
        console.print(f"  {o['name']}: {o['verdict']} ({o['note']})")
