"""CLI for a project workspace: ``fivesafes curate ...`` and ``fivesafes profile ...``.

``curate run`` runs derived-variable steps (the standard library, or a steps file:
YAML of SQL steps, or a Python file defining ``STEPS``) and re-runs only what
changed; ``curate list`` shows the steps in order with their state; ``curate
dictionary`` writes the data dictionary; ``curate reconcile`` reports how often
linked sources disagree on an attribute. ``profile`` profiles the workspace's
datasets; ``profile missingness`` tests whether a variable's missingness is
related to others.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.table import Table

from fivesafes.cli.output import comma_list, comma_lists, console, emit_json, progress_bar
from fivesafes.errors import FivesafesError, InputError

curate_app = typer.Typer(
    help="Derived variables as documented steps over a project workspace.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
profile_app = typer.Typer(
    help="Data-quality profile of a project workspace, and missingness analysis.",
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    invoke_without_command=True,
)

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
]
WorkspaceOption = Annotated[
    Path, typer.Option("--workspace", help="The project's workspace (a DuckDB file).")
]
StepsOption = Annotated[
    Path | None,
    typer.Option(
        "--steps",
        help="Steps file: YAML (name, description, inputs, outputs, sql, columns) or a "
        "Python file defining STEPS. Default: the standard steps.",
    ),
]
StandardOption = Annotated[
    bool,
    typer.Option("--standard", help="With --steps: run the standard steps as well."),
]


@contextlib.contextmanager
def open_workspace(path: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    if path.is_dir():
        path = path / "workspace.duckdb"
    if not path.exists():
        raise FivesafesError(
            f"{path} is not a workspace (no such file); make one with `fivesafes provision`"
        )
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        raise FivesafesError(f"{path} cannot be opened as a workspace: {exc}") from None
    try:
        yield con
    finally:
        con.close()


def _yaml_steps(path: Path) -> list[Any]:
    import yaml

    from fivesafes.analysis.curation.steps import CurationError, Step

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(str(path), f"is not valid YAML: {exc}", consequence="") from None
    items = doc.get("steps") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not items:
        raise InputError(
            str(path), "should hold a list of steps under 'steps:'", consequence="Nothing ran."
        )
    steps = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise InputError(str(path), "each step is a mapping", row=i, consequence="Nothing ran.")
        for key in ("name", "outputs", "sql"):
            if key not in item:
                raise InputError(
                    str(path),
                    f"the step has no '{key}'",
                    row=i,
                    field=key,
                    consequence="Nothing ran.",
                )
        unknown = set(item) - {"name", "description", "inputs", "outputs", "sql", "columns"}
        if unknown:
            raise InputError(
                str(path),
                f"unknown key(s) {', '.join(sorted(unknown))}",
                row=i,
                consequence="Nothing ran.",
            )

        def names(value: Any, key: str, row: int = i) -> tuple[str, ...]:
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError(
                    str(path),
                    "should be a list of table names",
                    row=row,
                    field=key,
                    consequence="Nothing ran.",
                )
            return tuple(value)

        try:
            steps.append(
                Step(
                    name=str(item["name"]),
                    description=str(item.get("description", "")),
                    inputs=names(item.get("inputs", []), "inputs"),
                    outputs=names(item["outputs"], "outputs"),
                    sql=str(item["sql"]),
                    columns={str(k): str(v) for k, v in (item.get("columns") or {}).items()},
                )
            )
        except CurationError as exc:
            raise InputError(str(path), str(exc), row=i, consequence="Nothing ran.") from None
    return steps


def _python_steps(path: Path) -> list[Any]:
    spec = importlib.util.spec_from_file_location(f"fivesafes_steps_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise FivesafesError(f"{path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    steps = getattr(module, "STEPS", None)
    if not isinstance(steps, list | tuple):
        raise FivesafesError(f"{path} defines no STEPS (a list of fivesafes Step objects)")
    return list(steps)


def load_pipeline(con: duckdb.DuckDBPyConnection, steps: Path | None, standard: bool) -> Any:
    from fivesafes.analysis.curation.standard_steps import standard_steps
    from fivesafes.analysis.curation.steps import Pipeline, table_names

    chosen: list[Any] = []
    if steps is None or standard:
        chosen += standard_steps(table_names(con))
    if steps is not None:
        if not steps.exists():
            raise FivesafesError(f"{steps}: no such steps file")
        chosen += _python_steps(steps) if steps.suffix == ".py" else _yaml_steps(steps)
    if not chosen:
        raise FivesafesError("the workspace holds no dataset the standard steps use")
    return Pipeline(chosen)


@curate_app.command(
    "run",
    epilog="Examples: [bold]fivesafes curate run --workspace ws.duckdb[/] · "
    "[bold]fivesafes curate run --workspace ws.duckdb --steps my-steps.yaml --standard[/]",
)
def curate_run(
    workspace: WorkspaceOption,
    steps: StepsOption = None,
    standard: StandardOption = False,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Run only these steps (comma-separated) and what they need."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Run every step again.")] = False,
    json_: JsonOption = False,
) -> None:
    """Run the derived-variable steps whose code or inputs changed."""
    names = comma_list(only) if only else None
    with open_workspace(workspace) as con:
        pipeline = load_pipeline(con, steps, standard)
        with progress_bar(not json_, "curate") as update:
            summary = pipeline.run(con, only=names, force=force, progress=update)
    if json_:
        emit_json({"command": "curate run", "workspace": str(workspace), **summary.to_dict()})
        return
    table = Table(title=f"Steps over {workspace}")
    for col in ("step", "status", "why", "rows written", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for r in summary.runs:
        rows = ", ".join(f"{t} {n:,}" for t, n in r.rows.items())
        colour = "green" if r.status == "ran" else "dim"
        table.add_row(
            r.step, f"[{colour}]{r.status}[/]", r.reason, rows, f"{r.seconds:.2f}" if r.rows else ""
        )
    console.print(table)
    console.print(
        f"{len(summary.ran)} step(s) ran, {len(summary.unchanged)} unchanged, "
        f"in {summary.seconds:.1f} s."
    )


@curate_app.command("list", epilog="Example: [bold]fivesafes curate list --workspace ws.duckdb[/]")
def curate_list(
    workspace: WorkspaceOption,
    steps: StepsOption = None,
    standard: StandardOption = False,
    json_: JsonOption = False,
) -> None:
    """List the steps in the order they run, with what they read and write."""
    from fivesafes.analysis.curation.steps import state

    with open_workspace(workspace, read_only=True) as con:
        pipeline = load_pipeline(con, steps, standard)
        ran = state(con)
    last = {str(r.step): str(r.ran_at)[:19] for r in ran.itertuples(index=False)}
    items = [
        {
            "step": name,
            "description": pipeline.steps[name].description,
            "inputs": list(pipeline.steps[name].inputs),
            "outputs": list(pipeline.steps[name].outputs),
            "last_ran": last.get(name),
        }
        for name in pipeline.order
    ]
    if json_:
        emit_json({"command": "curate list", "workspace": str(workspace), "steps": items})
        return
    table = Table(title=f"Steps over {workspace}, in the order they run")
    for col in ("step", "reads", "writes", "last ran", "description"):
        table.add_column(col)
    for it in items:
        table.add_row(
            it["step"],
            ", ".join(it["inputs"]),
            ", ".join(it["outputs"]),
            it["last_ran"] or "never",
            it["description"],
        )
    console.print(table)


@curate_app.command(
    "dictionary",
    epilog="Example: [bold]fivesafes curate dictionary --workspace ws.duckdb --out dictionary[/]",
)
def curate_dictionary(
    workspace: WorkspaceOption,
    out: Annotated[Path, typer.Option("--out", help="Folder for the dictionary (md, html, csv).")],
    steps: StepsOption = None,
    standard: StandardOption = False,
    json_: JsonOption = False,
) -> None:
    """Write the data dictionary of the derived dataset (run the steps first)."""
    from fivesafes.analysis.curation.dictionary import write_dictionary

    with open_workspace(workspace, read_only=True) as con:
        pipeline = load_pipeline(con, steps, standard)
        paths = write_dictionary(con, pipeline, out)
    import pandas as pd

    d = pd.read_csv(paths["csv"])
    if d.empty:
        raise FivesafesError(
            "no derived table is in the workspace yet; run `fivesafes curate run` first"
        )
    if json_:
        emit_json(
            {
                "command": "curate dictionary",
                "workspace": str(workspace),
                "tables": sorted(set(d["table"])),
                "columns": len(d),
                "paths": [str(p) for p in paths.values()],
            }
        )
        return
    console.print(
        f"Data dictionary of {d['table'].nunique()} tables ({len(d)} columns) written to "
        + ", ".join(f"[bold]{p}[/]" for p in paths.values())
    )


@curate_app.command(
    "reconcile",
    epilog="Example: [bold]fivesafes curate reconcile --workspace ws.duckdb --source "
    "census_2021.ethnicity --source pupil_census.ethnicity --source "
    "hospital_admissions.ethnicity --missing REFU,NOBT[/]",
)
def curate_reconcile(
    workspace: WorkspaceOption,
    source: Annotated[
        list[str],
        typer.Option(
            "--source",
            help="TABLE.COLUMN recording the attribute, repeated, most trusted first.",
        ),
    ],
    rule: Annotated[
        str, typer.Option("--rule", help="priority, most_recent or most_frequent.")
    ] = "priority",
    date: Annotated[
        list[str] | None,
        typer.Option(
            "--date", help="TABLE.COLUMN giving a record's date (for most_recent), repeated."
        ),
    ] = None,
    missing: Annotated[
        str, typer.Option("--missing", help="Codes that mean 'not known' (comma-separated).")
    ] = "",
    save_as: Annotated[
        str | None,
        typer.Option("--save-as", help="Write the reconciled values as this workspace table."),
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Reconcile an attribute recorded in several sources, and report disagreement."""
    import pandas as pd

    from fivesafes.analysis.curation.reconcile import reconcile
    from fivesafes.analysis.curation.steps import IDENTIFIER_NAMES, quote, table_names, write_frame

    dates: dict[str, str] = {}
    for item in date or []:
        table, _, col = item.partition(".")
        if not col:
            raise FivesafesError(f"--date {item!r}: give TABLE.COLUMN")
        dates[table] = col
    pairs = []
    for item in source:
        table, _, col = item.partition(".")
        if not col:
            raise FivesafesError(
                f"--source {item!r}: give TABLE.COLUMN, e.g. pupil_census.ethnicity"
            )
        pairs.append((table, col))
    with open_workspace(workspace, read_only=save_as is None) as con:
        present = table_names(con)
        parts = []
        for table, col in pairs:
            if table not in present:
                raise FivesafesError(f"--source {table}.{col}: the workspace has no table {table}")
            when = "NULL"
            if table in dates:
                kinds = dict(
                    con.execute(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_name = ? AND table_catalog = current_database()",
                        [table],
                    ).fetchall()
                )
                kind = str(kinds.get(dates[table], ""))
                when = quote(dates[table])
                if "INT" in kind:  # a year
                    when = f"make_date(CAST({when} AS INTEGER), 1, 1)"
            try:
                parts.append(
                    con.execute(
                        f"SELECT person_pseudonym AS person, '{table}' AS source, "
                        f"CAST({quote(col)} AS VARCHAR) AS value, CAST({when} AS TIMESTAMP) "
                        f"AS date FROM {quote(table)}"
                    ).df()
                )
            except duckdb.Error as exc:
                raise FivesafesError(f"--source {table}.{col}: {exc}") from None
        records = pd.concat(parts, ignore_index=True)
        result = reconcile(
            records,
            rule,  # type: ignore[arg-type]
            priority=[t for t, _ in pairs],
            date="date" if dates else None,
            missing=comma_list(missing),
        )
        if save_as:
            if save_as in present or save_as.lower() in IDENTIFIER_NAMES:
                raise FivesafesError(f"--save-as {save_as}: the workspace already has that table")
            values = result.values.rename(columns={"person": "person_pseudonym"})
            write_frame(con, save_as, values)
    report = result.to_dict()
    if json_:
        emit_json({"command": "curate reconcile", "workspace": str(workspace), **report})
        return
    for line in result.summary():
        console.print(f"- {line}")
    if save_as:
        console.print(f"Reconciled values written to the workspace table [bold]{save_as}[/].")


@profile_app.callback(
    epilog="Examples: [bold]fivesafes profile --workspace ws.duckdb --out profile[/] · "
    "[bold]fivesafes profile missingness --workspace ws.duckdb --table hospital_admissions "
    "--variable ethnicity --covariates sex,birth_year[/]",
)
def profile(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None, typer.Option("--workspace", help="The project's workspace (a DuckDB file).")
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="Datasets to profile (repeat, or comma-separated)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for profile.json, .csv and .md.")
    ] = None,
    json_: JsonOption = False,
) -> None:
    """Profile a workspace: completeness, distinct values, ranges, invalid codes, coverage."""
    if ctx.invoked_subcommand is not None:
        return
    if workspace is None:
        raise FivesafesError("give the workspace to profile with --workspace")
    from fivesafes.analysis.profile import profile_workspace, write_profile

    names = comma_lists(dataset)
    with open_workspace(workspace, read_only=True) as con:
        result = profile_workspace(con, names or None)
    paths = write_profile(result, out) if out else {}
    if json_:
        emit_json(
            {
                "command": "profile",
                "workspace": str(workspace),
                **json.loads(json.dumps(result.to_dict(), default=str)),
                "paths": [str(p) for p in paths.values()],
            }
        )
        return
    for d in result.datasets:
        who = f", {d.persons:,} persons" if d.persons is not None else ""
        table = Table(title=f"{d.dataset}: {d.rows:,} rows{who}", title_justify="left")
        for col in ("variable", "type", "complete", "distinct", "range", "invalid"):
            table.add_column(col, justify="right" if col in ("complete", "distinct") else "left")
        for v in d.variables:
            span = f"{v.minimum} to {v.maximum}" if v.minimum is not None else ""
            bad = ""
            if v.invalid:
                bad = f"[red]{v.invalid:,}[/] ({', '.join(v.invalid_examples)})"
            table.add_row(
                v.variable, v.type, f"{v.completeness_pct}%", f"{v.distinct:,}", span, bad
            )
        console.print(table)
        if d.time_column and len(d.by_time):
            p = d.by_time["period"].dropna()
            console.print(
                f"  over time ({d.time_column}): {p.min()} to {p.max()}, {len(p)} periods"
            )
    if paths:
        console.print("Written: " + ", ".join(f"[bold]{p}[/]" for p in paths.values()))


@profile_app.command(
    "missingness",
    epilog="Example: [bold]fivesafes profile missingness --workspace ws.duckdb --table "
    "hospital_admissions --variable ethnicity --covariates sex,ethnicity_5 --join ethnicity[/]",
)
def profile_missingness(
    workspace: WorkspaceOption,
    table: Annotated[str, typer.Option("--table", help="The table holding the variable.")],
    variable: Annotated[str, typer.Option("--variable", help="The variable whose missingness.")],
    covariates: Annotated[
        str, typer.Option("--covariates", help="Covariates to test (comma-separated).")
    ],
    join: Annotated[
        str | None,
        typer.Option(
            "--join", help="A person-level table to take covariates from (on person_pseudonym)."
        ),
    ] = None,
    categorical: Annotated[
        str, typer.Option("--categorical", help="Numeric covariates to treat as categories.")
    ] = "",
    missing: Annotated[
        str, typer.Option("--missing", help="Codes that mean 'not known' (comma-separated).")
    ] = "",
    json_: JsonOption = False,
) -> None:
    """Is a variable missing more often with some values of others? Tests and a model."""
    from fivesafes.analysis.curation.steps import quote, table_names
    from fivesafes.analysis.missingness import missingness

    covs = comma_list(covariates)
    with open_workspace(workspace, read_only=True) as con:
        present = table_names(con)
        for t in [table, *([join] if join else [])]:
            if t not in present:
                raise FivesafesError(f"the workspace has no table {t}")
        if join:
            sql = (
                f"SELECT t.*, j.* EXCLUDE (person_pseudonym) FROM {quote(table)} t "
                f"LEFT JOIN {quote(join)} j USING (person_pseudonym)"
            )
        else:
            sql = f"SELECT * FROM {quote(table)}"
        try:
            df = con.execute(sql).df()
        except duckdb.Error as exc:
            raise FivesafesError(f"cannot read {table}: {exc}") from None
    result = missingness(
        df,
        variable,
        covs,
        missing_codes=comma_list(missing),
        categorical=comma_list(categorical),
    )
    if json_:
        emit_json(
            {
                "command": "profile missingness",
                "workspace": str(workspace),
                "table": table,
                **json.loads(json.dumps(result.to_dict(), default=float)),
            }
        )
        return
    for line in result.summary():
        console.print(f"- {line}")
    if result.model is not None:
        grid = Table(title=f"Logistic model of {variable} being missing")
        for col in ("term", "odds ratio", "95% CI", "p"):
            grid.add_column(col)
        for r in result.model.itertuples(index=False):
            grid.add_row(
                str(r.term),
                f"{r.odds_ratio:.2f}",
                f"{r.ci_low:.2f} to {r.ci_high:.2f}",
                "< 0.001" if r.p_value < 0.001 else f"{r.p_value:.3f}",
            )
        console.print(grid)


__all__ = ["curate_app", "load_pipeline", "open_workspace", "profile_app"]
