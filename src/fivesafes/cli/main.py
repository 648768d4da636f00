"""The ``fivesafes`` command: entry point, error handling and the commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fivesafes.cli.output import (
    comma_lists,
    console,
    emit_json,
    progress_bar,
    report_internal_error,
    report_user_error,
)
from fivesafes.errors import FivesafesError

app = typer.Typer(
    name="fivesafes",
    help="fivesafes: a trusted research environment for linked administrative data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
]


@app.command(
    epilog="Example: [bold]fivesafes synth --people 5000 --seed 1 --out world[/]",
)
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the world into.")],
    people: Annotated[int, typer.Option("--people", min=100, help="Number of people.")] = 5000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 1,
    json_: JsonOption = False,
) -> None:
    """Generate a synthetic world: provider files, reference data and the truth."""
    from fivesafes.synth import WorldConfig, make_world

    with progress_bar(not json_, "synth") as update:
        result = make_world(WorldConfig(people=people, seed=seed), out, update)
    if json_:
        emit_json({"command": "synth", **result.to_dict()})
        return
    table = Table(title=f"Synthetic world of {people:,} people (seed {seed})")
    table.add_column("dataset")
    table.add_column("files", justify="right")
    table.add_column("rows", justify="right")
    for name, rows in result.datasets.items():
        files = sum(1 for f in result.files if f.startswith(f"provider/{name}"))
        table.add_row(name, str(files), f"{rows:,}")
    console.print(table)
    console.print(
        f"Provider files in [bold]{out / 'provider'}[/], reference data in "
        f"[bold]{out / 'reference'}[/], truth (for evaluation only) in [bold]{out / 'truth'}[/]"
        f" — {result.seconds:.1f} s."
    )


@app.command(
    epilog="Examples: [bold]fivesafes ingest world --store store[/] (a whole synthetic world)"
    " · [bold]fivesafes ingest returns/cla_episodes.csv --store store[/]",
)
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Provider files, or folders of them.", show_default=False)
    ],
    store: Annotated[Path, typer.Option("--store", help="Store folder (created if new).")],
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="Dataset of the files, if their names do not say."),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Validate provider files and store identifiers apart from content."""
    from fivesafes.data import ingest as run_ingest

    with progress_bar(not json_, "ingest") as update:
        result = run_ingest(paths, store, dataset=dataset, progress=update)
    if json_:
        emit_json({"command": "ingest", **result.to_dict()})
        return
    d = result.to_dict()
    console.print(
        f"Ingested {d['files_ingested']} file(s), {d['rows_ingested']:,} rows "
        f"({d['files_already_ingested']} already ingested) into [bold]{store}[/] "
        f"in {result.seconds:.1f} s."
    )
    for skipped in result.skipped:
        console.print(f"[yellow]skipped[/] {skipped}: its name matches no dataset")


link_app = typer.Typer(
    help="Link records into persons (trusted third party), and report on the linkage.",
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    invoke_without_command=True,
)
app.add_typer(link_app, name="link")


@link_app.callback(
    epilog="Examples: [bold]fivesafes link --store store --threshold 0.95[/] · "
    "[bold]fivesafes link --store store --engine spark[/] · "
    "[bold]fivesafes link report --store store --truth world/truth/records.csv[/]",
)
def link(
    ctx: typer.Context,
    store: Annotated[
        Path | None, typer.Option("--store", help="Store folder (already ingested).")
    ] = None,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", help="Match probability at or above which two records are one person."
        ),
    ] = 0.95,
    engine: Annotated[
        str, typer.Option("--engine", help="duckdb (embedded, default) or spark.")
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            help="With --engine spark: a cluster's master URL (default: local mode).",
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Link every record into persons (trusted third party, identifier zone only)."""
    if ctx.invoked_subcommand is not None:
        return
    if store is None:
        raise FivesafesError("give the store to link with --store (a folder made by ingest)")
    from fivesafes.data.link import link as run_link

    with progress_bar(not json_, "link") as update:
        result = run_link(
            store, threshold=threshold, progress=update, engine=engine, spark_master=spark_master
        )
    if json_:
        emit_json({"command": "link", **result.to_dict()})
        return
    console.print(
        f"Linked {result.records:,} records into {result.persons:,} persons "
        f"({result.pairs_matched:,} of {result.pairs_scored:,} scored pairs at or above "
        f"{result.threshold}) on {result.engine} in {result.seconds:.1f} s; the map record id → "
        f"person id is in the identifier zone ({store / 'identifiers.duckdb'}, table person_map)."
    )


@link_app.command(
    "report",
    epilog="Example: [bold]fivesafes link report --store store --truth "
    "world/truth/records.csv --out store/reports[/]",
)
def link_report(
    store: Annotated[Path, typer.Option("--store", help="Store folder (linked).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for the reports (default: store/reports).")
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(
            "--truth",
            help="A synthetic world's truth/records.csv (or the world's folder), to "
            "measure against.",
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Write the linkage quality report (identifier zone) and the bias report (HTML, JSON)."""
    from fivesafes.data.link.report import link_report as run_report

    folder = out or store / "reports"
    result = run_report(store, folder, truth=truth)
    if json_:
        emit_json({"command": "link report", **result})
        return
    console.print(f"Linkage reports written to [bold]{folder}[/]:")
    for path in dict(result.get("paths", {})).values():
        console.print(f"  {path}")
    for line in result.get("headline", {}).get("summary", []):
        console.print(f"- {line}")


@app.command(
    epilog="Example: [bold]fivesafes provision --store store --project p001 "
    "--datasets pupil_census,justice_offences[/]",
)
def provision(
    store: Annotated[Path, typer.Option("--store", help="Store folder (linked).")],
    project: Annotated[str, typer.Option("--project", help="Project name (letters, digits, - _).")],
    datasets: Annotated[
        list[str],
        typer.Option(
            "--datasets", help="Approved datasets: comma-separated, or the option repeated."
        ),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Workspace file (default: in the store).")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Build a project workspace: approved content keyed by per-project pseudonyms."""
    from fivesafes.data.provision import provision as run_provision

    names = comma_lists(datasets)
    with progress_bar(not json_, "provision") as update:
        result = run_provision(store, project, names, out=out, progress=update)
    if json_:
        emit_json({"command": "provision", **result.to_dict()})
        return
    console.print(
        f"Workspace for project [bold]{project}[/] at [bold]{result.workspace}[/]: "
        + ", ".join(f"{name} ({rows:,} rows)" for name, rows in result.rows.items())
        + f"; {result.persons:,} persons under this project's own pseudonyms."
    )


@app.command(
    epilog="Example: [bold]fivesafes twin --workspace store/workspaces/p001/workspace.duckdb "
    "--out twin.duckdb[/]",
)
def twin(
    workspace: Annotated[Path, typer.Option("--workspace", help="The project's workspace file.")],
    out: Annotated[Path, typer.Option("--out", help="The twin's file (DuckDB).")],
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: a random twin).")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy", help="Disclosure policy whose threshold applies (default: the TRE's)."
        ),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Make a workspace's synthetic twin: same tables, columns and types, no real row."""
    from fivesafes.data.twin import make_twin
    from fivesafes.outputs.policy import effective_policy

    if workspace.is_dir():
        workspace = workspace / "workspace.duckdb"
    result = make_twin(workspace, out, policy=effective_policy(policy), seed=seed)
    if json_:
        emit_json({"command": "twin", **result.to_dict()})
        return
    console.print(
        f"Synthetic twin of [bold]{workspace}[/] at [bold]{result.out}[/]: "
        + ", ".join(f"{name} ({rows:,} rows)" for name, rows in result.rows.items())
        + f"; {result.persons:,} invented persons; nothing shared by fewer than "
        f"{result.threshold} persons ({result.policy})."
    )
    for note in result.notes:
        console.print(f"note: {note}", markup=False)


@app.command(epilog="Example: [bold]fivesafes store --store store[/]")
def store(
    store: Annotated[Path, typer.Option("--store", help="Store folder.")],
    json_: JsonOption = False,
) -> None:
    """Show what a store holds: rows per dataset in each zone."""
    import time

    from fivesafes.data import store_summary

    t0 = time.perf_counter()
    summary = store_summary(store)
    if json_:
        emit_json(
            {
                "command": "store",
                "store": str(store),
                "datasets": summary,
                "seconds": round(time.perf_counter() - t0, 3),
                "paths": [str(store / "identifiers.duckdb"), str(store / "content.duckdb")],
            }
        )
        return
    table = Table(title=f"Store {store}")
    for col in ("dataset", "files", "identifier zone rows", "content zone rows"):
        table.add_column(col, justify="left" if col == "dataset" else "right")
    for name, counts in summary.items():
        table.add_row(
            name,
            str(counts["files"]),
            f"{counts['identifier_rows']:,}",
            f"{counts['content_rows']:,}",
        )
    console.print(table)


@app.command(epilog="Example: [bold]fivesafes datasets pupil_census[/]")
def datasets(
    name: Annotated[str | None, typer.Argument(help="A dataset to describe.")] = None,
    json_: JsonOption = False,
) -> None:
    """List the provider datasets, or describe one: its columns, types and zones."""
    from fivesafes.datasets import BY_NAME, DATASETS

    if name is not None and name not in BY_NAME:
        raise FivesafesError(f"unknown dataset {name!r}; choose one of {', '.join(BY_NAME)}")
    chosen = [BY_NAME[name]] if name else list(DATASETS)
    if json_:
        emit_json(
            {
                "command": "datasets",
                "datasets": [
                    {
                        "name": d.name,
                        "title": d.title,
                        "provider": d.provider,
                        "yearly": d.yearly,
                        "file": d.file_name(2015 if d.yearly else None),
                        "columns": [
                            {
                                "name": c.name,
                                "kind": c.kind,
                                "zone": c.zone,
                                "required": c.required,
                                "codes": list(c.codes) if c.codes else None,
                                "description": c.description,
                            }
                            for c in d.columns
                        ],
                    }
                    for d in chosen
                ],
            }
        )
        return
    for d in chosen:
        table = Table(title=f"{d.name}: {d.title} ({d.provider})", title_justify="left")
        for col in ("column", "type", "zone", "required", "description"):
            table.add_column(col)
        for c in d.columns:
            table.add_row(c.name, c.kind, c.zone, "yes" if c.required else "", c.description)
        console.print(table)


@app.command(epilog="Example: [bold]fivesafes demo --out demo-output --people 10000[/]")
def demo(
    out: Annotated[Path, typer.Option("--out", help="Folder for everything the demo writes.")] = (
        Path("demo-output")
    ),
    people: Annotated[int, typer.Option("--people", min=100, help="Size of the world.")] = 10000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
    json_: JsonOption = False,
) -> None:
    """Run the whole pipeline on a synthetic world and write a summary."""
    from fivesafes.demo import run_demo

    with progress_bar(not json_, "demo") as update:
        result = run_demo(out, people=people, seed=seed, progress=update)
    if json_:
        emit_json({"command": "demo", **result})
        return
    console.print((out / "summary.md").read_text(), markup=False, highlight=False)


from fivesafes.cli import indicators as indicators_cli  # noqa: E402
from fivesafes.cli.airlock import airlock_app, audit_app, users_app  # noqa: E402
from fivesafes.cli.analyse import app as analyse_app  # noqa: E402
from fivesafes.cli.outputs import outputs_app  # noqa: E402
from fivesafes.cli.publish import publish_app  # noqa: E402

app.add_typer(outputs_app, name="outputs")
app.add_typer(airlock_app, name="airlock")
app.add_typer(users_app, name="users")
app.add_typer(audit_app, name="audit")
from fivesafes.cli.web import serve, web_app  # noqa: E402

app.command(epilog="Example: [bold]fivesafes serve --port 8000[/]")(serve)
app.add_typer(web_app, name="web")
app.command("indicators", epilog=indicators_cli.EPILOG)(indicators_cli.indicators)
app.add_typer(publish_app, name="publish")
app.add_typer(analyse_app, name="analyse")
from fivesafes.cli.collections import collections_app  # noqa: E402

app.add_typer(collections_app, name="collections")
from fivesafes.cli.workspace import curate_app, profile_app  # noqa: E402

app.add_typer(curate_app, name="curate")
app.add_typer(profile_app, name="profile")
from fivesafes.cli.study import study_app  # noqa: E402

app.add_typer(study_app, name="study")
from fivesafes.cli.jobs import job_app, runner  # noqa: E402

app.command(epilog="Example: [bold]fivesafes runner --db sqlite:///state.db --once[/]")(runner)
app.add_typer(job_app, name="job")


def main() -> None:
    """Run the CLI with fivesafes' exit codes: 0 ok, 2 user error, 1 internal error."""
    # Typer itself handles --help (0) and bad arguments (2, with a usage line).
    try:
        app()
    except FivesafesError as exc:
        sys.exit(report_user_error(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        if exc.filename is None:
            sys.exit(report_internal_error(exc))
        # A path the user gave that cannot be read or written: theirs to fix.
        sys.exit(report_user_error(FivesafesError(f"{exc.filename}: {exc.strerror}")))
    except Exception as exc:
        sys.exit(report_internal_error(exc))
    sys.exit(0)


if __name__ == "__main__":
    main()
