"""CLI for publication: ``fivesafes publish collections|indicators|table``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from fivesafes.cli.output import comma_list, console, emit_json, progress_bar
from fivesafes.errors import FivesafesError

publish_app = typer.Typer(
    help="Publish safe statistics: tables of accepted collections and indicator dashboards "
    "(CSV, JSON with metadata, HTML pages with charts), under the disclosure policy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Folder to publish into (default: the folder the web app serves, "
        "$FIVESAFES_PUBLISHED_DIR or <state dir>/published; indicators go to its indicators/).",
    ),
]
PolicyOption = Annotated[
    str | None,
    typer.Option(
        "--policy",
        help="Stricter disclosure rules: a preset or a TOML file; it can only tighten the "
        "TRE's policy ($FIVESAFES_POLICY, default acro).",
    ),
]
ReleaseOption = Annotated[
    str | None,
    typer.Option("--release-date", help="Release date to print, YYYY-MM-DD (default: today)."),
]
AsOption = Annotated[
    str | None,
    typer.Option(
        "--as", help="Who publishes, for the audit log (default: the operating system user)."
    ),
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="State database URL (default: the settings default).")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
]


def _release(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise FivesafesError(f"--release-date {text!r} is not a date like 2026-01-15") from exc


def _audit(
    actor: str | None, kind: str, summary: dict[str, Any], policy: Any, db: str | None
) -> None:
    """Record the publication in the audit log; its entry number goes in the summary."""
    import getpass

    from fivesafes.collections.publish import record_publication

    who = actor or getpass.getuser()
    summary["audit_entry"] = record_publication(who, kind, summary["paths"], policy, db_url=db)


def _report(command: str, out: Path, summary: dict[str, Any], json_: bool) -> None:
    if json_:
        emit_json({"command": f"publish {command}", "out": str(out), **summary})
        return
    for table in summary.get("tables", []):
        counts = table["counts"]
        console.print(
            f"[bold]{table['title']}[/]: {table['cells']} cells, "
            f"{counts.get('suppress', 0)} suppressed → {table['paths']['html']}"
        )
    if "indicators" in summary:
        ind = summary["indicators"]
        console.print(
            f"[bold]Indicator dashboard[/]: {ind['series']} area × indicator rows, "
            f"{ind['periods_suppressed']} values suppressed, {ind['periods_missing']} missing → "
            f"{ind['paths']['html']}"
        )
    if "index" in summary:
        console.print(f"Index: [bold]{summary['index']}[/]")
    console.print(f"Recorded in the audit log (entry {summary['audit_entry']}).")


@publish_app.command(
    "collections",
    epilog="Example: [bold]fivesafes publish collections --dir collections --out site[/]"
    " (the tables of every accepted collection, and an index page)",
)
def publish_collections(
    out: OutOption = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="The collections folder (default: $FIVESAFES_COLLECTIONS_DIR, else "
            "<state dir>/collections); its accepted.duckdb is read, read-only.",
        ),
    ] = None,
    policy: PolicyOption = None,
    release_date: ReleaseOption = None,
    actor: AsOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Publish the standard tables of the accepted collections (children looked after
    and children in need at 31 March, by local authority)."""
    from fivesafes.collections.publish import published_dir, write_index
    from fivesafes.collections.publish_collections import publish_accepted
    from fivesafes.collections.submissions import accepted_path
    from fivesafes.outputs.policy import effective_policy

    out = out or published_dir()
    rules = effective_policy(policy)
    with progress_bar(not json_, "publish") as update:
        pubs = publish_accepted(
            accepted_path(directory),
            out,
            policy=rules,
            release_date=_release(release_date),
            progress=update,
        )
    index = write_index(out, pubs)
    summary = {
        "policy": rules.label,
        "index": str(index),
        "tables": [p.to_dict() for p in pubs],
        "paths": [str(index)] + [str(x) for p in pubs for x in p.paths.values()],
    }
    _audit(actor, "collections", summary, rules, db)
    _report("collections", out, summary, json_)


@publish_app.command(
    "indicators",
    epilog="Example: [bold]fivesafes publish indicators cjs_indicators.csv --out site/indicators"
    " --window 4[/]",
)
def publish_indicators_command(
    table: Annotated[
        Path,
        typer.Argument(help="Long-format CSV: area, indicator, period, value.", show_default=False),
    ],
    out: OutOption = None,
    window: Annotated[
        int | None,
        typer.Option(
            "--window", min=1, help="Average over the last N available periods (default: all)."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option("--title", help="The dashboard's title.")] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="Where the data come from.")
    ] = None,
    policy: PolicyOption = None,
    release_date: ReleaseOption = None,
    actor: AsOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Publish an indicator dashboard: a table and a chart per indicator, CSV exports."""
    from fivesafes.collections.publish import published_dir
    from fivesafes.collections.publish_indicators import SOURCE, TITLE, publish_indicators
    from fivesafes.outputs.policy import effective_policy

    out = out or published_dir() / "indicators"
    rules = effective_policy(policy)
    dash = publish_indicators(
        table,
        out,
        window=window,
        policy=rules,
        release_date=_release(release_date),
        title=title or TITLE,
        source=source or SOURCE,
    )
    summary = {"indicators": dash.to_dict(), "paths": [str(p) for p in dash.paths.values()]}
    _audit(actor, "indicators", summary, rules, db)
    _report("indicators", out, summary, json_)


def _columns(text: str | None) -> tuple[str, ...]:
    return tuple(comma_list(text))


@publish_app.command(
    "table",
    epilog="Example: [bold]fivesafes publish table episodes.csv --dims local_authority,"
    "placement_type --by year --unit children --title 'Children looked after' "
    "--source 'SSDA903 returns' --out site[/]",
)
def publish_table_command(
    records: Annotated[
        Path, typer.Argument(help="CSV of records, one row per unit counted.", show_default=False)
    ],
    dims: Annotated[str, typer.Option("--dims", help="Categories of the table, comma-separated.")],
    title: Annotated[str, typer.Option("--title", help="The table's title.")],
    source: Annotated[str, typer.Option("--source", help="Where the records come from.")],
    out: OutOption = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Columns splitting it into tables with no total across them."),
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Count distinct values of this column.")
    ] = None,
    unit: Annotated[str, typer.Option("--unit", help="What is counted.")] = "records",
    slug: Annotated[str | None, typer.Option("--slug", help="File name stem.")] = None,
    policy: PolicyOption = None,
    release_date: ReleaseOption = None,
    actor: AsOption = None,
    db: DbOption = None,
    json_: JsonOption = False,
) -> None:
    """Publish one table of counts from a CSV of records made anywhere."""
    import pandas as pd

    from fivesafes.collections.publish import TableSpec, publish_table, published_dir
    from fivesafes.collections.publish_indicators import slugify
    from fivesafes.outputs.policy import effective_policy

    out = out or published_dir()
    rules = effective_policy(policy)
    try:
        df = pd.read_csv(records, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FivesafesError(f"{records}: cannot be read as CSV: {exc}") from exc
    d, b = _columns(dims), _columns(by)
    if not d:
        raise FivesafesError("give the table's categories with --dims (comma-separated)")
    spec = TableSpec(
        slug=slug or slugify(title),
        title=title,
        dims=d,
        by=b,
        key=key,
        source=source,
        unit=unit,
        chart=(b[0] if b else None, d[-1]),
    )
    pub = publish_table(df, spec, out, policy=rules, release_date=_release(release_date))
    summary = {
        "policy": rules.label,
        "tables": [pub.to_dict()],
        "paths": [str(p) for p in pub.paths.values()],
    }
    _audit(actor, f"table:{spec.slug}", summary, rules, db)
    _report("table", out, summary, json_)
