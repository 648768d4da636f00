"""CLI for studies: ``fivesafes study run NAME --workspace W`` and ``fivesafes study list``.

A study is a script in the studies folder (``studies/`` of the repository, or
``--studies DIR``, or the ``FIVESAFES_STUDIES`` environment variable); running
one writes its outputs through the disclosure engine and its HTML report (see
:mod:`fivesafes.analysis.studies`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import console, emit_json, progress_bar

study_app = typer.Typer(
    help="Studies: short scripts over a project workspace, outputs checked, an HTML report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
]
StudiesOption = Annotated[
    Path | None,
    typer.Option(
        "--studies",
        help="Folder of study scripts (default: $FIVESAFES_STUDIES, else the repository's "
        "studies/).",
    ),
]


@study_app.command(
    "run",
    epilog="Example: [bold]fivesafes study run attainment_convictions --workspace "
    "store/workspaces/attainment-and-offending/workspace.duckdb --out study-out[/]",
)
def run(
    name: Annotated[str, typer.Argument(help="The study (see `fivesafes study list`).")],
    workspace: Annotated[
        Path, typer.Option("--workspace", help="The project's workspace (a DuckDB file).")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the outputs and report (default: beside W)."),
    ] = None,
    studies: StudiesOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the methods.")] = 1,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="A synthetic world's truth folder (or its effects.json): the planted "
            "values beside the estimates. Leave it out on a real workspace.",
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Run one study on a workspace: outputs checked by the disclosure rules, a report."""
    from fivesafes.analysis.report import NO_TRUTH
    from fivesafes.analysis.studies import run_study

    with progress_bar(not json_, f"study {name}") as update:
        result = run_study(
            name, workspace, out, studies_dir=studies, seed=seed, progress=update, truth=truth
        )
    if json_:
        emit_json({"command": "study run", **result})
        return
    console.print(f"[bold]{result['title']}[/] ({result['seconds']:.1f} s)")
    for line in result["findings"]:
        console.print(f"- {line}", markup=False, highlight=False)
    if not result["comparisons"]:
        console.print(NO_TRUTH, markup=False, highlight=False)
    table = Table(title="Planted truth and estimates", title_justify="left")
    for col in ("quantity", "planted", "estimate", "95% interval", "inside"):
        table.add_column(col, justify="left" if col == "quantity" else "right")
    for c in result["comparisons"]:
        interval = f"{c['lower']:.3g} to {c['upper']:.3g}" if c["lower"] is not None else ""
        est = "withheld" if c["estimate"] is None else f"{c['estimate']:.3g}"
        inside = "" if c["covered"] is None else ("yes" if c["covered"] else "no")
        table.add_row(c["quantity"], f"{c['planted']:.3g}", est, interval, inside)
    if result["comparisons"]:
        console.print(table)
    s = result["statuses"]
    console.print(
        f"Outputs checked under policy {result['policy']}: "
        + ", ".join(f"{n} {k}" for k, n in s.items() if n)
        + f"; written to [bold]{result['paths']['outputs']}[/], each with its check report."
    )
    console.print(f"Report: [bold]{result['paths']['report']}[/]")


@study_app.command("list", epilog="Example: [bold]fivesafes study list[/]")
def list_(studies: StudiesOption = None, json_: JsonOption = False) -> None:
    """List the studies: name, title and the datasets each needs."""
    from fivesafes.analysis.studies import find_studies, studies_folder

    found = find_studies(studies)
    if json_:
        emit_json(
            {
                "command": "study list",
                "folder": str(studies_folder(studies)),
                "studies": [s.to_dict() for s in found.values()],
            }
        )
        return
    table = Table(title=f"Studies in {studies_folder(studies)}", title_justify="left")
    for col in ("study", "title", "datasets"):
        table.add_column(col)
    for s in found.values():
        table.add_row(s.name, s.title, ", ".join(s.datasets))
    console.print(table)
