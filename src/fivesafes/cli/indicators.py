"""CLI for quarterly indicators: ``fivesafes indicators TABLE.csv --out OUT.csv``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import console, emit_json

EPILOG = (
    "Example: [bold]fivesafes indicators cjs_indicators.csv --out summary.csv --window 4[/]"
    " · the input has columns area, indicator, period (2024Q1, or 2024 for a yearly"
    " indicator) and value (N/A or blank for a missing period)."
)


def indicators(
    table: Annotated[
        Path,
        typer.Argument(help="Long-format CSV: area, indicator, period, value.", show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", help="Write the summary here (CSV).")],
    window: Annotated[
        int | None,
        typer.Option(
            "--window",
            min=1,
            help="Average over the last N available periods (default: all available).",
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Stricter disclosure rules: a preset or a TOML file; it can only tighten "
            "the TRE's policy ($FIVESAFES_POLICY, default acro).",
        ),
    ] = None,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
    ] = False,
) -> None:
    """Quarterly indicators per area: latest value, change on the previous quarter, average.

    Small numbers are withheld under the disclosure policy before anything is
    written; a change or an average that would need a withheld value is withheld
    too, and the note column says why any figure is blank."""
    import time

    from fivesafes.analysis.indicators import calculate
    from fivesafes.outputs.policy import effective_policy

    t0 = time.perf_counter()
    rules = effective_policy(policy)
    result = calculate(table, window=window, policy=rules)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.write_csv(out)
    seconds = round(time.perf_counter() - t0, 3)
    if json_:
        emit_json(
            {
                "command": "indicators",
                "table": str(table),
                **result.to_dict(),
                "rows_written": len(result.summary),
                "seconds": seconds,
                "paths": [str(out)],
            }
        )
        return
    counts = result.counts()
    latest = ", ".join(f"{k} {v}" for k, v in result.latest.items())
    console.print(
        f"{counts['series']} area × indicator rows written to [bold]{out}[/] "
        f"(latest period: {latest}; average over "
        f"{'all available periods' if window is None else f'the last {window} available'}; "
        f"policy {rules.label}): {counts['periods_missing']} missing and "
        f"{counts['periods_suppressed']} suppressed period values."
    )
    shown = result.summary.head(20)
    grid = Table()
    for col in ("area", "indicator", "latest", "value", "previous", "change %", "average"):
        numeric = col in ("value", "previous", "change %", "average")
        grid.add_column(col, justify="right" if numeric else "left", no_wrap=numeric)
    grid.add_column("note", min_width=36, ratio=1)
    for row in shown.to_dict(orient="records"):
        grid.add_row(
            str(row["area"]),
            str(row["indicator"]),
            str(row["latest_period"]),
            _text(row["latest_value"]),
            _text(row["previous_value"]),
            _text(row["change_percent"], ".1f"),
            _text(row["average"]),
            str(row["note"]),
        )
    console.print(grid)
    if len(result.summary) > len(shown):
        console.print(f"... and {len(result.summary) - len(shown)} more rows in {out}.")


def _text(x: object, spec: str = "") -> str:
    if x is None:
        return ""
    return format(x, spec) if spec else f"{x:,}" if isinstance(x, int) else str(x)
