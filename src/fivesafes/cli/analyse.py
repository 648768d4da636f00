"""CLI for the analysis methods: ``fivesafes analyse ...`` over tables made anywhere."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Analysis methods (trajectories, regression, decomposition, spatial) over CSV tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


from fivesafes.cli.trajectories import EPILOG, trajectories  # noqa: E402

app.command("trajectories", epilog=EPILOG)(trajectories)
