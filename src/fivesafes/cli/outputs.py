"""CLI for disclosure control: ``fivesafes outputs check-table``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import console, emit_json

outputs_app = typer.Typer(
    help="Statistical disclosure control of outputs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@outputs_app.command(
    "check-table",
    epilog="Example: [bold]fivesafes outputs check-table table.csv --value n "
    "--policy opensafely --out safe.csv[/]",
)
def check_table(
    table: Annotated[Path, typer.Argument(help="Long-format CSV: category columns and a value.")],
    value: Annotated[str, typer.Option("--value", help="The count (or magnitude) column.")],
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="A preset (ons-srs, uk-llc, opensafely, opensafely-midpoint6, acro) or a TOML "
            "file; it can only tighten the TRE's policy ($FIVESAFES_POLICY, default acro).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the safe version here (CSV).")
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print the JSON report instead.")] = False,
) -> None:
    """Check a table made anywhere (R, Stata, a spreadsheet) against the disclosure policy."""
    import time

    from fivesafes.outputs.check import check_table_csv
    from fivesafes.outputs.policy import effective_policy

    t0 = time.perf_counter()
    rules = effective_policy(policy)
    result = check_table_csv(table, value, rules, out=out)
    seconds = round(time.perf_counter() - t0, 3)
    if json_:
        emit_json(
            {
                "command": "outputs check-table",
                "table": str(table),
                "status": result.status,
                "counts": result.counts(),
                "seconds": seconds,
                "paths": [str(out)] if out else [],
                "report": result.to_dict(),
            }
        )
        return
    counts = result.counts()
    console.print(
        f"{table}: [bold]{result.status}[/] under policy {rules.name} {rules.version} — "
        + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        + (f"; safe version written to {out}" if out else "")
    )
    flagged = [v for v in result.verdicts if v.status != "pass"]
    if flagged:
        grid = Table(title="Cells that are not released as they are")
        for col in ("cell", "value", "status", "why"):
            grid.add_column(col)
        for v in flagged[:40]:
            grid.add_row(" × ".join(v.label), f"{v.value:g}", v.status, "; ".join(v.reasons))
        console.print(grid)
        if len(flagged) > 40:
            console.print(f"... and {len(flagged) - 40} more (see --json).")
