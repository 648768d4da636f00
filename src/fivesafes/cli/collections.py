"""CLI for data collections: ``fivesafes collections ...``, a thin layer over
:mod:`fivesafes.collections`.

The application database is ``--db URL`` (default as for the airlock); the
collections folder (submitted files, reports, the collections store and
``accepted.duckdb``) is ``--dir`` (default ``$FIVESAFES_COLLECTIONS_DIR``, else
``<state dir>/collections``). ``--as NAME`` says who acts; a provider's member
sees and acts on its own provider's submissions only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from fivesafes.cli.output import console, emit_json, progress_bar

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Application database URL (default: SQLite in the state dir)."),
]
DirOption = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Collections folder (default: $FIVESAFES_COLLECTIONS_DIR or <state dir>/collections).",
    ),
]
AsOption = Annotated[str, typer.Option("--as", help="Who is acting (a user name).")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
]
SubmissionArg = Annotated[int, typer.Argument(help="Submission number.")]

collections_app = typer.Typer(
    help="Data collections: providers submit returns, the rules check them, accepted "
    "returns are stored for research and publication.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
providers_app = typer.Typer(
    help="Providers (local authorities, ...) and the data owners who submit for them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
collections_app.add_typer(providers_app, name="providers")


@contextmanager
def _session(db: str | None) -> Iterator[Session]:
    from fivesafes.appdb import migrate, session_factory

    migrate(db)
    with session_factory(db)() as session:
        yield session


def _print_submission(data: dict[str, Any]) -> None:
    colour = {"rejected": "red", "accepted": "green", "ready": "green"}.get(
        data["status"], "yellow"
    )
    console.print(
        f"Submission {data['id']}: {data['collection']} {data['year']} from "
        f"{data['provider_name']} ({data['provider']}), {data['rows']:,} rows — "
        f"[bold {colour}]{data['status'].replace('_', ' ')}[/] "
        f"({data['errors']:,} errors, {data['warnings']:,} warnings)."
    )
    console.print(f"Report: [bold]{data['report_html']}[/] and {data['report_csv']}")


@collections_app.command("list", epilog="Example: [bold]fivesafes collections list[/]")
def list_(json_: JsonOption = False) -> None:
    """List the collections (each a rule file a data manager edits)."""
    from fivesafes.collections import available, load_spec

    specs = [load_spec(name) for name in available()]
    if json_:
        emit_json(
            {
                "command": "collections list",
                "collections": [
                    {
                        "name": s.name,
                        "title": s.title,
                        "version": s.version,
                        "columns": len(s.columns),
                        "rules": len(s.rules),
                        "file": str(s.path),
                    }
                    for s in specs
                ],
            }
        )
        return
    table = Table(title="Collections")
    for col in ("collection", "title", "columns", "rules", "rule file"):
        table.add_column(col)
    for s in specs:
        table.add_row(s.name, s.title, str(len(s.columns)), str(len(s.rules)), str(s.path))
    console.print(table)


@collections_app.command("show", epilog="Example: [bold]fivesafes collections show cla_episodes[/]")
def show(
    name: Annotated[str, typer.Argument(help="Collection name, or a rule file (.yaml).")],
    json_: JsonOption = False,
) -> None:
    """Show a collection's columns and rules (checks the rule file too)."""
    from fivesafes.collections import load_spec

    s = load_spec(name)
    if json_:
        emit_json(
            {
                "command": "collections show",
                "collection": s.name,
                "title": s.title,
                "version": s.version,
                "file": str(s.path),
                "columns": [
                    {
                        "name": c.name,
                        "type": c.type,
                        "zone": c.zone,
                        "codes": list(c.codes) if c.codes else None,
                        "description": c.description,
                    }
                    for c in s.columns
                ],
                "rules": [
                    {
                        "id": r.id,
                        "check": r.check,
                        "kind": r.kind,
                        "severity": r.severity,
                        "field": r.field,
                        "message": r.message,
                    }
                    for r in s.rules
                ],
            }
        )
        return
    cols = Table(title=f"{s.name}: {s.title} (rule file {s.path})", title_justify="left")
    for col in ("column", "type", "zone", "codes", "description"):
        cols.add_column(col)
    for c in s.columns:
        codes = ", ".join(c.codes) if c.codes else ""
        cols.add_row(c.name, c.type, c.zone, codes, c.description)
    console.print(cols)
    rules = Table(title="Rules", title_justify="left")
    for col in ("id", "severity", "kind", "check", "message"):
        rules.add_column(col)
    for r in s.rules:
        rules.add_row(r.id, r.severity, r.kind, r.check, r.message)
    console.print(rules)


@collections_app.command(
    "submit",
    epilog="Example: [bold]fivesafes collections submit cla_episodes returns/X06000005_2022.csv "
    "--year 2022 --as data-eastholme[/]",
)
def submit(
    collection: Annotated[str, typer.Argument(help="Collection, e.g. cla_episodes.")],
    file: Annotated[Path, typer.Argument(help="The return (CSV, UTF-8, comma-separated).")],
    year: Annotated[
        str,
        typer.Option(
            "--year",
            help="Collection year (e.g. 2022 for 2022-23); for a monthly collection the "
            "month, YYYY-MM (e.g. 2025-04).",
        ),
    ],
    as_: AsOption,
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="Provider code, if you submit for more than one."),
    ] = None,
    directory: DirOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Submit a return: every rule is checked and a report (HTML, CSV) written."""
    from fivesafes.collections import submissions as subs
    from fivesafes.collections.spec import parse_period

    period = parse_period(year)
    with _session(db) as session, progress_bar(not json_, "checking") as update:
        result = subs.submit(
            session,
            as_,
            collection,
            period,
            file,
            provider=provider,
            directory=directory,
            progress=update,
        )
        data = subs.submission_dict(result.submission, directory)
    if json_:
        emit_json(
            {
                "command": "collections submit",
                "submission": data,
                "seconds": round(result.seconds, 3),
                "comparison": result.comparison,
            }
        )
        return
    _print_submission(data)
    if data["status"] == "rejected":
        console.print("Errors block acceptance: correct the file and submit it again.")
    elif data["status"] == "needs_explanation":
        console.print(
            "No errors, but every warning needs your explanation: "
            f"[bold]fivesafes collections explain {data['id']} --rule RULE --text '...'[/]"
        )
    else:
        console.print(f"Accept it with [bold]fivesafes collections accept {data['id']}[/].")


@collections_app.command(
    "report", epilog="Example: [bold]fivesafes collections report 3 --as data-eastholme[/]"
)
def report(
    submission: SubmissionArg,
    as_: AsOption,
    issues: Annotated[
        int, typer.Option("--issues", help="How many issues to print (0: none).")
    ] = 20,
    directory: DirOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Show a submission's report: counts per rule, the first issues, the report files."""
    import duckdb

    from fivesafes.collections import submissions as subs
    from fivesafes.collections.spec import load_spec

    with _session(db) as session:
        sub = subs.get_submission(session, as_, submission)
        data = subs.submission_dict(sub, directory)
        left = subs.outstanding(session, as_, submission, directory)
    csv_path = Path(data["report_csv"])
    rows: list[tuple[Any, ...]] = []
    if issues and csv_path.exists():
        con = duckdb.connect()
        try:
            rows = con.execute(
                "SELECT * FROM read_csv(?, all_varchar=true, header=true) LIMIT ?",
                [str(csv_path), issues],
            ).fetchall()
        finally:
            con.close()
    if json_:
        emit_json(
            {
                "command": "collections report",
                "submission": data,
                "unexplained_warnings": [{"rule": r, "row": n} for r, n in left],
                "issues": [
                    dict(
                        zip(
                            ("row", "field", "value", "rule", "severity", "message", "explanation"),
                            r,
                            strict=True,
                        )
                    )
                    for r in rows
                ],
            }
        )
        return
    _print_submission(data)
    spec = load_spec(data["collection"])
    if data["issues_by_rule"]:
        table = Table(title="Issues by rule", title_justify="left")
        for col in ("rule", "severity", "issues", "message"):
            table.add_column(col)
        for rule_id, n in data["issues_by_rule"].items():
            found = spec.rule(rule_id)
            table.add_row(rule_id, found.severity, f"{n:,}", found.message)
        console.print(table)
    if rows:
        table = Table(title=f"First {len(rows)} issues", title_justify="left")
        for col in ("row", "field", "value", "rule", "severity", "message", "explanation"):
            table.add_column(col)
        for r in rows:
            table.add_row(*[("" if v is None else str(v)) for v in r])
        console.print(table)
    if left:
        console.print(f"{len(left):,} warning(s) not yet explained.")


@collections_app.command(
    "explain",
    epilog="Examples: [bold]fivesafes collections explain 3 --rule CLA401 --text 'Two new "
    "children's homes opened' --as data-eastholme[/] (every warning of the rule) · "
    "[bold]... --rule CLA207 --row 12 --row 40 --text '...'[/] (those rows)",
)
def explain(
    submission: SubmissionArg,
    rule: Annotated[str, typer.Option("--rule", help="The warning's rule id.")],
    text: Annotated[str, typer.Option("--text", help="Your explanation, in words.")],
    as_: AsOption,
    row: Annotated[
        list[int] | None,
        typer.Option("--row", help="Explain only this row's warning (repeatable)."),
    ] = None,
    directory: DirOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Explain a warning (of given rows, or every one of a rule)."""
    from fivesafes.collections import submissions as subs

    with _session(db) as session:
        sub = subs.explain(session, as_, submission, rule, text, row, directory)
        data = subs.submission_dict(sub, directory)
        left = subs.outstanding(session, as_, submission, directory)
    if json_:
        emit_json(
            {
                "command": "collections explain",
                "submission": data,
                "unexplained_warnings": [{"rule": r, "row": n} for r, n in left],
            }
        )
        return
    _print_submission(data)
    if left:
        rules = sorted({r for r, _ in left})
        console.print(f"{len(left):,} warning(s) still to explain (rules {', '.join(rules)}).")
    else:
        console.print(f"Every warning explained: [bold]fivesafes collections accept {sub.id}[/].")


@collections_app.command(
    "accept", epilog="Example: [bold]fivesafes collections accept 3 --as data-eastholme[/]"
)
def accept(
    submission: SubmissionArg,
    as_: AsOption,
    directory: DirOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Accept a submission without errors whose warnings are explained; it is stored."""
    from fivesafes.collections import submissions as subs

    with _session(db) as session, progress_bar(not json_, "accepting") as update:
        update("storing", 0.2)
        sub = subs.accept(session, as_, submission, directory)
        data = subs.submission_dict(sub, directory)
    if json_:
        emit_json(
            {
                "command": "collections accept",
                "submission": data,
                "accepted_db": str(subs.accepted_path(directory)),
            }
        )
        return
    _print_submission(data)
    console.print(
        f"Stored split in {subs.store_path(directory)}; content in "
        f"[bold]{subs.accepted_path(directory)}[/] (table {data['collection']})."
    )


@collections_app.command(
    "submissions",
    epilog="Example: [bold]fivesafes collections submissions --as data-eastholme "
    "--collection cla_episodes[/]",
)
def submissions(
    as_: AsOption,
    collection: Annotated[str | None, typer.Option("--collection", help="Only this one.")] = None,
    year: Annotated[int | None, typer.Option("--year", help="Only this year.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only this status.")] = None,
    directory: DirOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """List the submissions you may see (a provider sees only its own)."""
    from fivesafes.collections import submissions as subs

    with _session(db) as session:
        found = subs.list_submissions(session, as_, collection, year, status)
        data = [subs.submission_dict(s, directory) for s in found]
    if json_:
        emit_json({"command": "collections submissions", "submissions": data})
        return
    table = Table(title=f"Submissions {as_} may see")
    for col in (
        "id",
        "collection",
        "year",
        "provider",
        "file",
        "rows",
        "errors",
        "warnings",
        "status",
    ):
        table.add_column(col)
    for d in data:
        table.add_row(
            str(d["id"]),
            d["collection"],
            str(d["year"]),
            d["provider"],
            d["file"],
            f"{d['rows']:,}",
            f"{d['errors']:,}",
            f"{d['warnings']:,}",
            d["status"].replace("_", " "),
        )
    console.print(table)


@collections_app.command(
    "returns",
    epilog="Example: [bold]fivesafes collections returns --out returns --seed 1 "
    "--error-share 0.2[/]",
)
def returns(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the returns into.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
    error_share: Annotated[
        float,
        typer.Option("--error-share", min=0.0, max=1.0, help="Share of files with mistakes."),
    ] = 0.0,
    json_: JsonOption = False,
) -> None:
    """Write synthetic returns of 22 local authorities for every collection (children
    looked after, children in need, adults and carers receiving support, the
    Performance and Improvement Framework and the monthly Social Services Checkpoint)."""
    from fivesafes.synth.collection_returns import make_returns
    from fivesafes.synth.returns import ReturnsConfig

    result = make_returns(out, ReturnsConfig(seed=seed), error_share=error_share)
    if json_:
        emit_json({"command": "collections returns", **result.to_dict()})
        return
    with_errors = sum(1 for f in result.files.values() if f["errors_planted"])
    console.print(
        f"Wrote {len(result.files)} returns to [bold]{out}[/] ({with_errors} with mistakes"
        + (f", listed in {out / 'planted.json'}" if with_errors else "")
        + ")."
    )


@providers_app.command("list", epilog="Example: [bold]fivesafes collections providers list[/]")
def providers_list(db: DbOption = None, json_: JsonOption = False) -> None:
    """List the providers and their members."""
    from fivesafes.collections import submissions as subs

    with _session(db) as session:
        data: list[dict[str, Any]] = [
            {"code": p.code, "name": p.name, "members": sorted(m.user.name for m in p.members)}
            for p in subs.list_providers(session)
        ]
    if json_:
        emit_json({"command": "collections providers list", "providers": data})
        return
    table = Table(title="Providers")
    for col in ("code", "name", "members"):
        table.add_column(col)
    for d in data:
        table.add_row(d["code"], d["name"], ", ".join(d["members"]))
    console.print(table)


@providers_app.command(
    "add",
    epilog="Example: [bold]fivesafes collections providers add X06000005 --name Eastholme "
    "--as admin[/]",
)
def providers_add(
    code: Annotated[str, typer.Argument(help="Provider code (e.g. a local authority code).")],
    name: Annotated[str, typer.Option("--name", help="Provider's name.")],
    as_: AsOption,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Register a provider (administrators)."""
    from fivesafes.collections import submissions as subs

    with _session(db) as session:
        p = subs.add_provider(session, code, name, actor=as_)
        data = {"code": p.code, "name": p.name}
    if json_:
        emit_json({"command": "collections providers add", "provider": data})
        return
    console.print(f"Provider {data['code']} ({data['name']}) added.")


@providers_app.command(
    "add-member",
    epilog="Example: [bold]fivesafes collections providers add-member X06000005 "
    "data-eastholme --as admin[/]",
)
def providers_add_member(
    code: Annotated[str, typer.Argument(help="Provider code.")],
    user: Annotated[str, typer.Argument(help="A user with the data_owner role.")],
    as_: AsOption,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Let a data owner submit for a provider (administrators)."""
    from fivesafes.collections import submissions as subs

    with _session(db) as session:
        subs.add_member(session, code, user, actor=as_)
    if json_:
        emit_json({"command": "collections providers add-member", "provider": code, "user": user})
        return
    console.print(f"{user} now submits for {code}.")


checkpoint_app = typer.Typer(
    help="The Social Services Checkpoint: never published; seen only by those granted it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
collections_app.add_typer(checkpoint_app, name="checkpoint")


@checkpoint_app.command(
    "grant",
    epilog="Example: [bold]fivesafes collections checkpoint grant data-eastholme "
    "--authority X06000005 --as admin[/]",
)
def checkpoint_grant(
    user: Annotated[str, typer.Argument(help="Who may see it (a user name).")],
    as_: AsOption,
    authority: Annotated[
        str | None, typer.Option("--authority", help="Only this authority (a provider code).")
    ] = None,
    national: Annotated[
        bool, typer.Option("--national", help="Every authority (a national stakeholder).")
    ] = False,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Let a user see the checkpoint of one authority, or of all (administrators)."""
    from fivesafes.collections import checkpoint as cp
    from fivesafes.errors import FivesafesError

    if national == (authority is not None):
        raise FivesafesError("give either --authority CODE or --national")
    with _session(db) as session:
        g = cp.grant(session, as_, user, authority)
        data = {"id": g.id, "user": user, "authority": g.provider_code or cp.NATIONAL}
    if json_:
        emit_json({"command": "collections checkpoint grant", "grant": data})
        return
    console.print(f"{user} may see the checkpoint of {data['authority']} (grant {data['id']}).")


@checkpoint_app.command(
    "revoke", epilog="Example: [bold]fivesafes collections checkpoint revoke 3 --as admin[/]"
)
def checkpoint_revoke(
    grant_id: Annotated[int, typer.Argument(help="The grant's number (see `show --as ADMIN`).")],
    as_: AsOption,
    db: DbOption = None,
) -> None:
    """Take a grant back (administrators)."""
    from fivesafes.collections import checkpoint as cp

    with _session(db) as session:
        cp.revoke(session, as_, grant_id)
    console.print(f"Grant {grant_id} revoked.")


@checkpoint_app.command(
    "show", epilog="Example: [bold]fivesafes collections checkpoint show --as data-eastholme[/]"
)
def checkpoint_show(
    as_: AsOption,
    directory: DirOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """The checkpoint as you may see it (the view is audited)."""
    from fivesafes.collections import checkpoint as cp

    with _session(db) as session:
        view = cp.dashboard(session, as_, directory)
    if json_:
        emit_json({"command": "collections checkpoint show", **view.to_dict()})
        return
    for a in view.authorities:
        table = Table(title=f"{a.name} ({a.code}): {a.latest}")
        for col in ("measure", a.latest, a.previous or "", "label"):
            table.add_column(col)
        for r in a.rows:
            table.add_row(r["measure"], str(r["value"]), str(r["before"] or ""), r["label"])
        console.print(table)
    if not view.authorities:
        console.print("No checkpoint return has been accepted yet for the authorities you may see.")
