"""CLI for disclosure control: ``fivesafes outputs check-table`` and ``check-model``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import console, emit_json, print_attacker_bounds

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
    value: Annotated[
        str,
        typer.Option(
            "--value", help="The count column (with --microdata: the amount to sum, any sign)."
        ),
    ],
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
    microdata: Annotated[
        bool,
        typer.Option(
            "--microdata",
            help="The CSV is microdata, one row per contribution: check the table of sums of "
            "--value over every combination of the other columns, with its margins, under "
            "the dominance rules. Amounts may be negative (profits and losses, changes).",
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
) -> None:
    """Check a table made anywhere (R, Stata, a spreadsheet) against the disclosure policy.

    With --microdata, check a table of sums (a magnitude table) from its rows."""
    import time

    from fivesafes.errors import FivesafesError
    from fivesafes.outputs.check import check_microdata_csv, check_table_csv
    from fivesafes.outputs.policy import effective_policy

    if person is not None and not microdata:
        raise FivesafesError("--person is for microdata: give it with --microdata")
    t0 = time.perf_counter()
    rules = effective_policy(policy)
    if microdata:
        result = check_microdata_csv(table, value, rules, out=out, person=person)
    else:
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
    for note in result.notes:
        console.print(f"Note: {note}")
    if result.attacker:
        print_attacker_bounds(
            result.attacker, "What an attacker knows of the withheld cells", most=40
        )


@outputs_app.command(
    "check-model",
    epilog="Example: [bold]fivesafes outputs check-model --model model.skops --train train.csv "
    "--test test.csv --target outcome[/]",
)
def check_model(
    model: Annotated[Path, typer.Option("--model", help="The fitted model, saved with skops.")],
    train: Annotated[Path, typer.Option("--train", help="CSV of the rows it was fitted on.")],
    test: Annotated[Path, typer.Option("--test", help="CSV of held-out rows it never saw.")],
    target: Annotated[str, typer.Option("--target", help="The label column in both CSVs.")],
    json_: Annotated[bool, typer.Option("--json", help="Print the JSON report instead.")] = False,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="A preset or a TOML file; it can only tighten the TRE's policy "
            "($FIVESAFES_POLICY, default acro).",
        ),
    ] = None,
    categorical: Annotated[
        str | None,
        typer.Option(
            "--categorical",
            help="Comma-separated feature columns the attribute attack (when the policy "
            "turns it on) treats as categorical; every other feature is quantitative. "
            "Default: whole-number columns with at most 10 distinct values.",
        ),
    ] = None,
) -> None:
    """Check a trained model with SACRO-ML's membership-inference and structural attacks
    (and its attribute-inference attack when the policy asks for it).

    Exits 0 whatever the verdict; 2 when the model is refused or the data unreadable."""
    from fivesafes.outputs.models import check_model_files
    from fivesafes.outputs.policy import effective_policy

    rules = effective_policy(policy)
    cats = None
    if categorical is not None:
        cats = [c.strip() for c in categorical.split(",") if c.strip()]
    with console.status("running the attacks (LiRA trains shadow models)..."):
        result = check_model_files(model, train, test, target, rules, categorical=cats)
    if json_:
        emit_json({"command": "outputs check-model", "model": str(model), **result.to_dict()})
        return
    console.print(
        f"{model}: [bold]{result.verdict}[/] ({result.model_type}, policy {result.policy})"
    )
    grid = Table(title="Attacks")
    for col in ("attack", "AUC", "unsafe", "why"):
        grid.add_column(col)
    for a in result.attacks:
        auc = "" if a.auc is None else f"{a.auc:.3f}"
        grid.add_row(a.name, auc, "yes" if a.unsafe else "no", "; ".join(a.reasons))
    console.print(grid)
    for reason in result.reasons:
        console.print(f"- {reason}")
