"""CLI for the regression-type methods over a CSV table: ``fivesafes analyse
logit | ordinal | oaxaca | fixed-effects`` (registered in :mod:`fivesafes.cli.analyse`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from fivesafes.cli.output import comma_list, console, emit_json
from fivesafes.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from fivesafes.analysis.result import AnalysisResult

TableArgument = Annotated[Path, typer.Argument(help="CSV with one row per unit.")]
ConfidenceOption = Annotated[float, typer.Option("--confidence", min=0.5, max=0.999)]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one machine-readable JSON summary instead.")
]
OutOption = Annotated[Path | None, typer.Option("--out", help="Write the main table here (CSV).")]
ClusterOption = Annotated[
    str | None,
    typer.Option("--cluster", help="Cluster-robust standard errors over this column."),
]
FormulaOption = Annotated[
    str,
    typer.Option("--formula", help="Model formula: 'outcome ~ x + C(category) + I(age**2)'."),
]


def read_table(path: Path, text: tuple[str, ...] = ()) -> pd.DataFrame:
    """A CSV table made anywhere (types inferred, blank fields missing; the
    ``text`` columns kept as written, e.g. an ordinal outcome's levels)."""
    import pandas as pd

    try:
        return pd.read_csv(path, dtype=dict.fromkeys(text, str))
    except pd.errors.EmptyDataError:
        raise InputError(str(path), "the file is empty (it needs a header row)") from None
    except pd.errors.ParserError as exc:
        raise InputError(str(path), f"this is not a readable CSV file ({exc})") from None


def report_result(
    command: str,
    table_path: Path,
    result: AnalysisResult,
    main: str,
    out: Path | None,
    json_: bool,
    t0: float,
) -> None:
    frame = result.table(main)
    if out is not None:
        frame.to_csv(out, index=False)
    if json_:
        emit_json(
            {
                "command": command,
                "table": str(table_path),
                **result.to_dict(),
                "seconds": round(time.perf_counter() - t0, 3),
                "paths": [str(out)] if out else [],
            }
        )
        return
    shown = Table(title=result.tables[main].description, title_justify="left")
    for col in frame.columns:
        shown.add_column(str(col), justify="left" if frame[col].dtype == object else "right")
    for row in frame.itertuples(index=False):
        shown.add_row(*(_fmt(v) for v in row))
    console.print(shown)
    s = result.summary
    facts = ", ".join(
        f"{k} {_fmt(v)}" for k, v in s.items() if isinstance(v, int | float) and k != "confidence"
    )
    console.print(facts)
    for note in result.notes:
        console.print(f"[yellow]note[/] {note}")
    if out is not None:
        console.print(f"Table written to [bold]{out}[/].")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    return str(v)


LOGIT_EPILOG = (
    "Example: [bold]fivesafes analyse logit pupils.csv --formula "
    '"convicted ~ C(group) + male + looked_after" --out odds_ratios.csv[/]'
)


def logit(
    table: TableArgument,
    formula: FormulaOption,
    confidence: ConfidenceOption = 0.95,
    cluster: ClusterOption = None,
    out: OutOption = None,
    json_: JsonOption = False,
) -> None:
    """Binary logistic regression: odds ratios with confidence intervals (statsmodels)."""
    from fivesafes.analysis.regression import logistic

    t0 = time.perf_counter()
    result = logistic(
        read_table(table), formula, confidence=confidence, cluster=cluster, source=str(table)
    )
    report_result("analyse logit", table, result, "coefficients", out, json_, t0)


ORDINAL_EPILOG = (
    "Example: [bold]fivesafes analyse ordinal pupils.csv --formula "
    '"justice ~ excluded + male" --levels none,caution,conviction,custody[/]'
)


def ordinal_command(
    table: TableArgument,
    formula: FormulaOption,
    levels: Annotated[
        str, typer.Option("--levels", help="The outcome's levels, lowest first, comma-separated.")
    ],
    confidence: ConfidenceOption = 0.95,
    cluster: ClusterOption = None,
    out: OutOption = None,
    json_: JsonOption = False,
) -> None:
    """Ordinal (proportional-odds) logistic regression: cumulative odds ratios."""
    from fivesafes.analysis.regression import ordinal

    t0 = time.perf_counter()
    data = read_table(table, text=(formula.split("~", 1)[0].strip(),))
    names = comma_list(levels)
    result = ordinal(
        data, formula, levels=names, confidence=confidence, cluster=cluster, source=str(table)
    )
    report_result("analyse ordinal", table, result, "coefficients", out, json_, t0)


OAXACA_EPILOG = (
    "Example: [bold]fivesafes analyse oaxaca pay.csv --outcome log_pay --group immigrant "
    '--group-a 0 --covariates "age + I(age**2) + C(skill) + female" --cluster person_id '
    "--seed 1[/]"
)


def oaxaca_command(
    table: TableArgument,
    outcome: Annotated[str, typer.Option("--outcome", help="The outcome column.")],
    group: Annotated[str, typer.Option("--group", help="The column of the two groups.")],
    group_a: Annotated[
        str, typer.Option("--group-a", help="Group A's value: the gap is mean(A) - mean(B).")
    ],
    covariates: Annotated[
        str, typer.Option("--covariates", help="Right-hand side: 'age + C(skill) + female'.")
    ],
    reference: Annotated[
        str,
        typer.Option(
            "--reference", help="Twofold reference: pooled, neumark, A, B, reimers, cotton."
        ),
    ] = "pooled",
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap replicates for standard errors.")
    ] = 200,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="Resample whole clusters (e.g. a person id column)."),
    ] = None,
    out: OutOption = None,
    json_: JsonOption = False,
) -> None:
    """Oaxaca-Blinder decomposition of a gap between two groups (twofold and threefold)."""
    from fivesafes.analysis.decomposition import oaxaca

    t0 = time.perf_counter()
    data = read_table(table, text=(group,))
    result = oaxaca(
        data,
        outcome,
        group,
        covariates,
        group_a=group_a,
        reference=reference,
        bootstrap=bootstrap,
        seed=seed,
        cluster=cluster,
        source=str(table),
    )
    if not json_:
        console.print(
            result.tables["threefold"].description
            + ":\n"
            + "  ".join(
                f"{r.component} {r.estimate:.4g} (se {r.se:.3g})"
                for r in result.table("threefold").itertuples()
            )
        )
    report_result("analyse oaxaca", table, result, "twofold", out, json_, t0)


FE_EPILOG = (
    "Example: [bold]fivesafes analyse fixed-effects pay.csv --formula "
    '"log_pay ~ immigrant + age | employer_id" --cluster person_id[/]'
)


def fixed_effects_command(
    table: TableArgument,
    formula: Annotated[
        str,
        typer.Option(
            "--formula", help="fixest formula, fixed effects after '|': 'y ~ x + z | employer'."
        ),
    ],
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster", help="Cluster the standard errors on this column (a+b: two-way)."
        ),
    ] = None,
    vcov: Annotated[
        str, typer.Option("--vcov", help="Without --cluster: hetero (robust, HC1) or iid.")
    ] = "hetero",
    out: OutOption = None,
    json_: JsonOption = False,
) -> None:
    """Linear regression within employers or schools (fixed effects, pyfixest)."""
    from fivesafes.analysis.fixed_effects import fixed_effects

    t0 = time.perf_counter()
    result = fixed_effects(
        read_table(table), formula, cluster=cluster, vcov=vcov, source=str(table)
    )
    if not json_:
        console.print("Each coefficient without fixed effects → within them (same rows):")
        for r in result.table("comparison").itertuples():
            console.print(f"  {r.term}: {r.without_fe:.4g} → {r.within_fe:.4g}")
    report_result("analyse fixed-effects", table, result, "coefficients", out, json_, t0)
