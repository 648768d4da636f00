"""CLI for the airlock, users and the audit log: thin layers over
:mod:`fivesafes.outputs.airlock`, :mod:`fivesafes.appdb` and :mod:`fivesafes.audit`.

The application database is ``--db URL`` (or ``$FIVESAFES_DATABASE_URL``, else a
SQLite file in ``$FIVESAFES_STATE_DIR``); it is migrated to the current schema on
first use. ``--as NAME`` says who acts: the command line trusts it, as a TRE's
own shell does its logged-in user; the web app authenticates instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from fivesafes.cli.output import console, emit_json, print_attacker_bounds

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Application database URL (default: SQLite in the state dir)."),
]
AsOption = Annotated[str, typer.Option("--as", help="Who is acting (a user name).")]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
]
RequestArg = Annotated[int, typer.Argument(help="Release request number.")]

airlock_app = typer.Typer(
    help="Release requests: outputs checked by the rules, reviewed by two checkers, released.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
users_app = typer.Typer(
    help="Users and their roles.", no_args_is_help=True, pretty_exceptions_enable=False
)
audit_app = typer.Typer(
    help="The tamper-evident audit log.", no_args_is_help=True, pretty_exceptions_enable=False
)


@contextmanager
def _session(db: str | None) -> Iterator[Session]:
    from fivesafes.appdb import migrate, session_factory

    migrate(db)
    with session_factory(db)() as session:
        yield session


def _show(req: Any, json_: bool, done: str) -> None:
    from fivesafes.outputs import airlock

    data = airlock.summary(req)
    if json_:
        emit_json({"command": f"airlock {done}", "request": data})
        return
    console.print(
        f"Request {data['id']} ({data['title']}, project {data['project']}): "
        f"[bold]{data['state']}[/]. Next: {', '.join(data['allowed_actions']) or 'nothing'}."
    )
    if data["outputs"]:
        table = Table()
        for col in ("output", "verdict", "approvals", "needed", "held back by", "sha256"):
            table.add_column(col)
        for out in data["outputs"]:
            model = out.get("model")
            table.add_row(
                out["name"]
                + (f" (model: {model['verdict'] or 'not checked yet'})" if model else ""),
                str(out["verdict"] or ""),
                ", ".join(out["approvals"]),
                str(out["required"]),
                ", ".join(out["held_back_by"]),
                out["sha256"][:12],
            )
        console.print(table)
    for out in data["outputs"]:
        if "table" not in out:
            continue
        for note in out["notes"]:
            console.print(f"{out['name']}: {note}")
        if not out["attacker_bounds"]:
            continue
        print_attacker_bounds(
            out["attacker_bounds"],
            f"What an attacker knows of the withheld cells of {out['name']}",
        )
    for out in data["outputs"]:
        rows = (out.get("model") or {}).get("attributes")
        if not rows:
            continue
        grid = Table(title=f"Attribute inference on {out['name']}")
        for col in ("feature", "kind", "risk ratio", "p-value", "passed"):
            grid.add_column(col)
        for row in rows:
            ratio = row["risk_ratio"]
            grid.add_row(
                row["name"],
                "categorical" if row["kind"] == "categorical" else "numeric",
                "" if ratio is None else f"{ratio:.2f}",
                f"{row['p_value']:.2g}",
                "no" if row["at_risk"] else "yes",
            )
        console.print(grid)


#: Attempts at a step that collided with another user's step at the same moment.
ATTEMPTS = 3


def _act(db: str | None, json_: bool, done: str, fn: Callable[[Session], Any]) -> None:
    """Run one airlock step. Two people acting at the same moment (two checkers
    approving together) can collide on the audit log's next entry; the step was
    then rolled back whole, and is simply tried again on the new state."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(1, ATTEMPTS + 1):
        try:
            with _session(db) as session:
                req = fn(session)
                _show(req, json_, done)
            return
        except (IntegrityError, OperationalError):
            if attempt == ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)


@airlock_app.command(
    "create",
    epilog="Example: [bold]fivesafes airlock create --as ana --project p001 "
    "--title 'Attainment and convictions tables'[/]",
)
def create(
    as_: AsOption,
    project: Annotated[str, typer.Option("--project", help="Project the outputs come from.")],
    title: Annotated[str, typer.Option("--title", help="What the request is for.")],
    co_author: Annotated[
        list[str] | None, typer.Option("--co-author", help="Another author (repeatable).")
    ] = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Start a release request (draft)."""
    from fivesafes.outputs import airlock

    _act(
        db,
        json_,
        "create",
        lambda s: airlock.create_request(s, as_, project, title, co_authors=co_author or ()),
    )


@airlock_app.command(
    "add",
    epilog="Example: [bold]fivesafes airlock add 1 --as ana --name convictions "
    "--file safe.csv --description 'Convictions by trajectory group, persons'[/]",
)
def add(
    request: RequestArg,
    as_: AsOption,
    name: Annotated[str, typer.Option("--name", help="A short name for the output.")],
    file: Annotated[Path, typer.Option("--file", help="The output file.")],
    description: Annotated[
        str, typer.Option("--description", help="What it shows and how it was made.")
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace an output of that name (resets reviews).")
    ] = False,
    value: Annotated[
        str | None,
        typer.Option(
            "--value",
            help="For a long-format table: its count column (with --microdata: the amount "
            "to sum, any sign). The disclosure rules check it now, and the safe version is "
            "what goes into the request.",
        ),
    ] = None,
    microdata: Annotated[
        bool,
        typer.Option(
            "--microdata",
            help="--file is microdata, one row per contribution: the output is the table of "
            "sums of --value over every combination of the other columns, with its margins, "
            "checked as 'fivesafes outputs check-table --microdata' does. Only the safe table "
            "goes into the request; the microdata stays inside the TRE.",
        ),
    ] = False,
    person: Annotated[
        str | None,
        typer.Option(
            "--person",
            help="With --microdata: the column naming whose contribution each row is "
            "(a person's rows are summed into one contribution); not a category.",
        ),
    ] = None,
    policy: Annotated[
        str | None, typer.Option("--policy", help="A stricter policy than the TRE's, if wanted.")
    ] = None,
    train: Annotated[
        Path | None,
        typer.Option(
            "--train",
            help="For a trained model (--file a skops file): the CSV it was fitted on. "
            "It stays inside the TRE; the model check reads it on submission.",
        ),
    ] = None,
    test: Annotated[
        Path | None, typer.Option("--test", help="For a model: the CSV of held-out rows.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="For a model: the label column of both CSVs.")
    ] = None,
    categorical: Annotated[
        str | None,
        typer.Option(
            "--categorical",
            help="For a model: comma-separated feature columns the attribute-inference "
            "attack (when the policy runs it) treats as categorical; every other feature is "
            "numeric. Default: whole-number columns with at most 10 distinct values.",
        ),
    ] = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Add an output (or, with --replace, change one) in a draft or returned request.

    A trained model is a skops file given with --train, --test and --target (and,
    optionally, --categorical): only the model file can ever be released, and the
    airlock's model check (membership-inference and structural attacks, and
    attribute inference when the policy asks for it) runs when the request is
    submitted.

    A table of sums (amounts of any sign) is given as its microdata with --microdata
    --value (and, optionally, --person): the airlock checks the table of sums under
    the negative-aware rules and keeps its safe version; the microdata is never
    stored with the request nor released."""
    import tempfile

    from fivesafes.errors import FivesafesError
    from fivesafes.outputs import airlock

    model = None
    table = None
    if person is not None and not microdata:
        raise FivesafesError("--person is for microdata: give it with --microdata")
    if microdata:
        if value is None:
            raise FivesafesError("--microdata needs --value: the amount column to sum")
        table = airlock.MicrodataTable(value, person)
    given = {"--train": train, "--test": test, "--target": target}
    if any(v is not None for v in given.values()):
        missing = [k for k, v in given.items() if v is None]
        if missing:
            raise FivesafesError(
                f"a trained model needs --train, --test and --target together; "
                f"{', '.join(missing)} missing"
            )
        if value is not None or microdata:
            raise FivesafesError("--value and --microdata are for a table, not a trained model")
        assert train is not None and test is not None and target is not None
        cats = None
        if categorical is not None:
            cats = tuple(c.strip() for c in categorical.split(",") if c.strip())
        model = airlock.ModelInputs(train, test, target, cats)
    elif categorical is not None:
        raise FivesafesError(
            "--categorical is for a trained model: give it with --train, --test and --target"
        )

    with tempfile.TemporaryDirectory() as tmp:
        path, report = file, None
        table_policy = None
        if table is not None:
            from fivesafes.outputs.policy import effective_policy

            table_policy = effective_policy(policy)
        elif value is not None:
            path, report = checked_table(file, value, policy, Path(tmp))

        def run(s: Session) -> Any:
            if replace:
                airlock.update_output(
                    s,
                    request,
                    as_,
                    name,
                    path=path,
                    description=description,
                    check_report=report,
                    model=model,
                    microdata=table,
                    policy=table_policy,
                )
            else:
                airlock.add_output(
                    s,
                    request,
                    as_,
                    name,
                    path,
                    description,
                    check_report=report,
                    model=model,
                    microdata=table,
                    policy=table_policy,
                )
            return airlock.get_request(s, request, as_)

        _act(db, json_, "add", run)


#: The airlock's verdict for each overall status of a disclosure check.
VERDICTS = {"pass": "pass", "round": "suppress", "suppress": "suppress", "review": "review"}


def checked_table(
    file: Path, value: str, policy: str | None, folder: Path
) -> tuple[Path, dict[str, Any]]:
    """Check a long-format table and return its safe version and the report."""
    from fivesafes.outputs.check import check_table_csv
    from fivesafes.outputs.policy import effective_policy

    safe = folder / file.name
    result = check_table_csv(file, value, effective_policy(policy), out=safe)
    report = result.to_dict()
    report["verdict"] = VERDICTS.get(result.status, "review")
    return safe, report


@airlock_app.command("submit", epilog="Example: [bold]fivesafes airlock submit 1 --as ana[/]")
def submit(
    request: RequestArg, as_: AsOption, db: DbOption = None, json_: JsonOption = False
) -> None:
    """Submit a request; the disclosure rules then check every output (a trained
    model with SACRO-ML's attacks, under the TRE's policy: this takes a while)."""
    from fivesafes.outputs import airlock

    def run(s: Session) -> Any:
        airlock.submit(s, request, as_)
        # Each table's report was made when it was added; an output the rules cannot
        # read (a figure, a document) is left for the checkers ("review").
        return airlock.record_automatic_check(s, request)

    _act(db, json_, "submit", run)


@airlock_app.command(
    "review",
    epilog="Example: [bold]fivesafes airlock review 1 --as bo --output convictions "
    "--decision approve --comment 'Counts of persons, all above 10'[/]",
)
def review(
    request: RequestArg,
    as_: AsOption,
    output: Annotated[str, typer.Option("--output", help="The output reviewed.")],
    decision: Annotated[
        str, typer.Option("--decision", help="approve, reject or request_changes.")
    ],
    comment: Annotated[str, typer.Option("--comment", help="Why.")] = "",
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Review one output (output checkers only; never your own request)."""
    from fivesafes.outputs import airlock

    def run(s: Session) -> Any:
        req = airlock.get_request(s, request, as_)
        if req.state == airlock.State.CHECKED.value:
            airlock.start_review(s, request, as_)
        airlock.review(s, request, output, as_, decision, comment)
        return airlock.get_request(s, request, as_)

    _act(db, json_, "review", run)


@airlock_app.command(
    "return", epilog="Example: [bold]fivesafes airlock return 1 --as bo --comment 'Round'[/]"
)
def return_(
    request: RequestArg,
    as_: AsOption,
    comment: Annotated[str, typer.Option("--comment", help="What the authors should change.")],
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Return a request to its authors with comments."""
    from fivesafes.outputs import airlock

    _act(db, json_, "return", lambda s: airlock.return_to_researcher(s, request, as_, comment))


@airlock_app.command(
    "reject", epilog="Example: [bold]fivesafes airlock reject 1 --as bo --reason '...'[/]"
)
def reject(
    request: RequestArg,
    as_: AsOption,
    reason: Annotated[str, typer.Option("--reason", help="Why nothing of it can leave.")],
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Reject a request: nothing of it can be released."""
    from fivesafes.outputs import airlock

    _act(db, json_, "reject", lambda s: airlock.reject(s, request, as_, reason))


@airlock_app.command(
    "release", epilog="Example: [bold]fivesafes airlock release 1 --as bo --out released[/]"
)
def release(
    request: RequestArg,
    as_: AsOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for the released bundle.")],
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Release an approved request as a bundle with a SHA-256 manifest."""
    from fivesafes.outputs import airlock

    with _session(db) as session:
        path = airlock.release(session, request, as_, out)
        req = airlock.get_request(session, request, as_)
        if json_:
            emit_json(
                {
                    "command": "airlock release",
                    "bundle": str(path),
                    "paths": [str(path)],
                    "request": airlock.summary(req),
                }
            )
            return
    console.print(f"Released request {request} as [bold]{path}[/].")


@airlock_app.command("show", epilog="Example: [bold]fivesafes airlock show 1 --as bo[/]")
def show(
    request: RequestArg, as_: AsOption, db: DbOption = None, json_: JsonOption = False
) -> None:
    """Show a request: its state, outputs, verdicts and reviews."""
    from fivesafes.outputs import airlock

    _act(db, json_, "show", lambda s: airlock.get_request(s, request, as_))


@airlock_app.command("list", epilog="Example: [bold]fivesafes airlock list --as bo[/]")
def list_(as_: AsOption, db: DbOption = None, json_: JsonOption = False) -> None:
    """List the requests you may see."""
    from fivesafes.outputs import airlock

    with _session(db) as session:
        reqs = [airlock.summary(r) for r in airlock.list_requests(session, as_)]
    if json_:
        emit_json({"command": "airlock list", "requests": reqs})
        return
    table = Table()
    for col in ("id", "project", "title", "author", "state", "outputs"):
        table.add_column(col)
    for r in reqs:
        table.add_row(
            str(r["id"]), r["project"], r["title"], r["author"], r["state"], str(len(r["outputs"]))
        )
    console.print(table)


@users_app.command("add", epilog="Example: [bold]fivesafes users add bo --role output_checker[/]")
def users_add(
    name: Annotated[str, typer.Argument(help="User name.")],
    role: Annotated[str, typer.Option("--role", help="researcher, output_checker, ...")],
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Add a user with a role."""
    from fivesafes.appdb import add_user

    with _session(db) as session:
        user = add_user(session, name, role)
        data = {"name": user.name, "role": user.role}
    if json_:
        emit_json({"command": "users add", "user": data})
        return
    console.print(f"Added {data['name']} as {data['role']}.")


@users_app.command("list", epilog="Example: [bold]fivesafes users list[/]")
def users_list(db: DbOption = None, json_: JsonOption = False) -> None:
    """List users and roles."""
    from fivesafes.appdb import list_users

    with _session(db) as session:
        users = [{"name": u.name, "role": u.role} for u in list_users(session)]
    if json_:
        emit_json({"command": "users list", "users": users})
        return
    for u in users:
        console.print(f"{u['name']}: {u['role']}")


@users_app.command(
    "members-to-review", epilog="Example: [bold]fivesafes users members-to-review[/]"
)
def users_members_to_review(db: DbOption = None, json_: JsonOption = False) -> None:
    """List project members who do not meet today's membership rule (the researcher
    role and a valid safe researcher accreditation): their project's data and
    outputs are closed to them until they do. Read-only; after an upgrade it shows
    the members added before invitations existed who never met the rule."""
    from fivesafes.projects.applications import members_to_review

    with _session(db) as session:
        found = members_to_review(session)
    if json_:
        emit_json({"command": "users members-to-review", "members": found})
        return
    if not found:
        console.print("Every project member meets today's membership rule.")
        return
    table = Table(title="Members who do not meet the membership rule")
    for col in ("project", "member", "role", "joined by invitation", "why"):
        table.add_column(col)
    for m in found:
        table.add_row(
            f"{m['project']}: {m['title']}",
            m["member"],
            m["role"],
            "yes" if m["by_invitation"] else "no (before invitations)",
            m["reason"],
        )
    console.print(table)


def _anchor(text: str | None) -> tuple[int, str] | None:
    """``SEQ:HASH``, or a bundle (folder or zip) whose manifest has an audit head."""
    from fivesafes.errors import FivesafesError
    from fivesafes.outputs.bundle import read_manifest

    if text is None:
        return None
    seq, sep, digest = text.partition(":")
    if sep and seq.isdigit() and len(digest) == 64:
        return int(seq), digest
    path = Path(text)
    if path.exists():
        head = read_manifest(path).get("audit_head")
        if head:
            return int(head["seq"]), str(head["hash"])
        raise FivesafesError(f"{path}: its manifest records no audit head")
    raise FivesafesError(
        f"--anchor {text!r} is neither SEQ:HASH (a sequence number and a SHA-256) nor a bundle"
    )


@audit_app.command("verify", epilog="Example: [bold]fivesafes audit verify[/]")
def audit_verify(
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="A head kept elsewhere, as SEQ:HASH, or a released bundle whose manifest "
            "records one: history rewritten from before it is then found too.",
        ),
    ] = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Check the audit log's hash chain: any edited, deleted or reordered entry is found."""
    from fivesafes.audit import verify
    from fivesafes.errors import FivesafesError

    with _session(db) as session:
        result = verify(session, anchor=_anchor(anchor))
    if json_:
        emit_json({"command": "audit verify", **result.to_dict()})
    elif result.ok:
        console.print(f"The audit log is intact: {result.entries:,} entries, chain verified.")
    if not result.ok:
        raise FivesafesError(
            f"the audit log has been tampered with at entry {result.first_bad_seq}: "
            f"{result.problem}; preserve the database and tell the TRE's administrator"
        )


@audit_app.command("bundle", epilog="Example: [bold]fivesafes audit bundle released/request-1[/]")
def audit_bundle(
    path: Annotated[Path, typer.Argument(help="A released bundle (folder or zip).")],
    json_: JsonOption = False,
) -> None:
    """Check a released bundle against its manifest (SHA-256 of every file)."""
    from fivesafes.errors import FivesafesError
    from fivesafes.outputs.bundle import verify_bundle

    result = verify_bundle(path)
    if json_:
        emit_json({"command": "audit bundle", **result.to_dict()})
    elif result.ok:
        console.print(f"{path}: every file matches the manifest.")
    if not result.ok:
        raise FivesafesError(f"{path} does not match its manifest: {'; '.join(result.problems)}")
